"""The shared API layer: group/version/kinds, condition types and reasons, and condition helpers.

Imported by the operator, the runtime and the CLI alike; imports nothing of theirs."""
