"""trainyard: the Azure Machine Learning workflow on any Kubernetes cluster.

Inside a training script: ``from trainyard import Run; run = Run.get_context()``.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # The SDK lives in trainyard.runtime; import it lazily so `import trainyard` stays cheap for
    # the CLI and the operator.
    if name == "Run":
        from trainyard.runtime.sdk import Run

        return Run
    raise AttributeError(name)
