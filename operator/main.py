"""Entry point of the operator: importing this module registers every handler with kopf.

Run with ``trainyard operator`` (or ``kopf run -m trainyard.operator.main``)."""

from trainyard.operator import settings  # noqa: F401  (registers the startup handler)
from trainyard.operator.computecluster import handlers as computecluster  # noqa: F401
from trainyard.operator.registeredmodel import handlers as registeredmodel  # noqa: F401
from trainyard.operator.trainingrun import handlers as trainingrun  # noqa: F401
