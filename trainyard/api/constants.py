"""Names of the trainyard API: group, version, kinds and well-known labels."""

GROUP = "trainyard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

TRAINING_RUN = "TrainingRun"
COMPUTE_CLUSTER = "ComputeCluster"
REGISTERED_MODEL = "RegisteredModel"

PLURALS = {
    TRAINING_RUN: "trainingruns",
    COMPUTE_CLUSTER: "computeclusters",
    REGISTERED_MODEL: "registeredmodels",
}

LABEL_EXPERIMENT = f"{GROUP}/experiment"
LABEL_RUN = f"{GROUP}/run"
LABEL_COMPUTE = f"{GROUP}/compute"
LABEL_MODEL = f"{GROUP}/model"
