"""The trainyard operator (imported as ``trainyard.operator``): kopf handlers, child builders and
scaling policy. Run with ``trainyard operator`` or ``kopf run -m trainyard.operator.main``."""
