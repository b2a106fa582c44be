"""Azure ML's `azureml.exceptions`, as `trainyard.exceptions` (the classes live in trainyard.core)."""

from trainyard.core.exceptions import (  # noqa: F401
    ActivityFailedException,
    AzureMLException,
    ComputeTargetException,
    ModelNotFoundException,
    RunFailedException,
    TrainyardException,
    UserErrorException,
    WebserviceException,
)
