"""One module of kopf handlers per resource kind."""
