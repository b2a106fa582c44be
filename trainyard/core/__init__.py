"""The notebook's side of trainyard, with the names and call shapes of azureml-core v1: porting a
notebook is replacing `azureml` with `trainyard` in its imports.

    from trainyard.core import Workspace, Experiment, ScriptRunConfig, Environment
    ws = Workspace.from_config()
    run = Experiment(ws, "sklearn-mnist").submit(ScriptRunConfig(".", "train.py", compute_target="cpu-cluster"))
    run.wait_for_completion(show_output=True)

Everything talks to the Kubernetes API with the user's kubeconfig and to the object store with
the workspace's store settings. Imports are light: the kubernetes client loads on first use.
"""

from trainyard import __version__ as VERSION  # noqa: N812  (Azure's azureml.core.VERSION)
from trainyard.core.compute import ComputeTarget
from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.core.dataset import Dataset
from trainyard.core.datastore import Datastore
from trainyard.core.environment import Environment
from trainyard.core.experiment import Experiment
from trainyard.core.model import Model
from trainyard.core.resource_configuration import ResourceConfiguration
from trainyard.core.run import Run
from trainyard.core.runconfig import RunConfiguration
from trainyard.core.script_run_config import ScriptRunConfig
from trainyard.core.webservice import Webservice
from trainyard.core.workspace import Workspace

__all__ = [
    "VERSION",
    "ComputeTarget",
    "CondaDependencies",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "Model",
    "ResourceConfiguration",
    "Run",
    "RunConfiguration",
    "ScriptRunConfig",
    "Webservice",
    "Workspace",
]
