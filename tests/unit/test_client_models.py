"""Model and Webservice pure parts: Azure names as resource names, frameworks, resources, endpoints."""

import pytest

from trainyard.core.exceptions import UserErrorException
from trainyard.core.model import Model, framework_name, resource_name, resources_from_spec
from trainyard.core.resource_configuration import ResourceConfiguration
from trainyard.core.webservice import service_of


def test_azure_model_names_become_dns_names():
    assert resource_name("sklearn_mnist") == "sklearn-mnist"
    assert resource_name("Sklearn-Iris") == "sklearn-iris"
    with pytest.raises(UserErrorException, match="at most 52"):
        resource_name("x" * 60)
    with pytest.raises(UserErrorException):
        resource_name("__")


def test_frameworks():
    assert framework_name(Model.Framework.SCIKITLEARN) == "ScikitLearn"
    assert framework_name("scikit-learn") == "ScikitLearn"
    assert framework_name(None) == "ScikitLearn"
    assert framework_name(Model.Framework.ONNX) == "Custom"


@pytest.mark.parametrize(
    "cpu, mem, spec",
    [(1, 0.5, {"cpu": "1", "memory": "512Mi"}), (0.25, 2, {"cpu": "250m", "memory": "2048Mi"}), (None, None, None)],
)
def test_resource_configuration_round_trips(cpu, mem, spec):
    assert ResourceConfiguration(cpu=cpu, memory_in_gb=mem)._resources() == spec
    back = resources_from_spec(spec)
    if spec:
        assert (back.cpu, back.memory_in_gb) == (cpu, mem)
    assert resources_from_spec({"cpu": "500m", "memory": "1Gi"}).serialize()["memoryInGB"] == 1.0


def test_service_of_an_endpoint():
    assert service_of("http://sklearn-iris-serving.team-a.svc/score") == ("sklearn-iris-serving", "team-a", "score")
    assert service_of(None) is None and service_of("https://x") is None
