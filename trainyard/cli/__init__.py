"""The `trainyard` command line. Never imports kopf (the operator is a separate layer)."""
