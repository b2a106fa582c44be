"""RegisteredModel: its handlers, its reconcile, the registry rules (pure), the model store, serving."""
