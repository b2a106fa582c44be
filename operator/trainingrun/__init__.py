"""TrainingRun: its handlers, its reconcile, its pure status and Job builders, its identity."""
