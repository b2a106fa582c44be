"""The trainyard operator (imported as ``trainyard.operator``): kopf handlers, child builders and
scaling policy. Run with ``trainyard operator`` (which execs ``kopf run -m trainyard.operator.main``)."""
