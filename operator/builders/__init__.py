"""Pure builders of the objects the operator creates: each takes the custom resource and returns
a dict, tested as exact data."""
