"""TrainingRun condition types, reasons and phases — kept next to the schema in crds/."""

# Condition types
ACCEPTED = "Accepted"

# Reasons
REASON_ACCEPTED = "Accepted"
