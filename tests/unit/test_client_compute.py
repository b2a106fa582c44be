"""Provisioning configurations as ComputeCluster specs, and Azure's status shape."""

import pytest

from trainyard.core.compute import AmlCompute, BatchAiCompute, ComputeTarget, _spec
from trainyard.core.exceptions import ComputeTargetException


def spec_of(config, defaults=None):
    return _spec.cluster_spec(defaults=defaults, **config.settings)


def test_amlcompute_maps_vm_size_to_the_instance_type():
    cfg = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=4, vm_priority="lowpriority", idle_seconds_before_scaledown=120
    )
    assert spec_of(cfg) == {
        "minNodes": 0,
        "maxNodes": 4,
        "priority": "spot",
        "provider": {"type": "static"},
        "instanceType": "STANDARD_D2_V2",
        "idleSecondsBeforeScaleDown": 120,
    }


def test_the_workspace_config_maps_a_vm_size_to_a_node_selector_and_a_provider():
    cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=2)
    defaults = {
        "provider": "kwok",
        "vm_sizes": {"standard_d2_v2": {"trainyard.dev/pool": "default"}},
        "nodeResources": {"cpu": "2", "memory": "4Gi"},
    }
    assert spec_of(cfg, defaults) == {
        "minNodes": 0,
        "maxNodes": 2,
        "priority": "dedicated",
        "provider": {"type": "kwok"},
        "nodeSelector": {"trainyard.dev/pool": "default"},
        "nodeResources": {"cpu": "2", "memory": "4Gi"},
    }


def test_batchai_autoscale_and_fixed_size():
    auto = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", autoscale_enabled=True, cluster_min_nodes=0, cluster_max_nodes=4
    )
    assert (spec_of(auto)["minNodes"], spec_of(auto)["maxNodes"]) == (0, 4)
    fixed = BatchAiCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", cluster_max_nodes=2)
    assert (spec_of(fixed)["minNodes"], spec_of(fixed)["maxNodes"]) == (2, 2)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"max_nodes": 0}, "max_nodes"),
        ({"min_nodes": 5, "max_nodes": 4}, "min_nodes"),
        ({"vm_priority": "cheap"}, "vm_priority"),
        ({"vm_size": "bad size"}, "vm_size"),
    ],
)
def test_bad_settings_are_one_line(kw, match):
    with pytest.raises(ComputeTargetException, match=match):
        spec_of(AmlCompute.provisioning_configuration(**kw))


def test_names_are_dns_labels():
    with pytest.raises(ComputeTargetException, match="not valid"):
        _spec.cluster_body("Train_Cluster", "ns", {})


def test_status_view_is_azures_shape():
    obj = {
        "metadata": {"generation": 2},
        "spec": {"minNodes": 0, "maxNodes": 4, "instanceType": "STANDARD_D2_V2"},
        "status": {
            "observedGeneration": 2,
            "currentNodes": 2,
            "readyNodes": 2,
            "busyNodes": 1,
            "desiredNodes": 2,
            "conditions": [{"type": "ProviderError", "status": "False"}],
        },
    }
    v = _spec.status_view(obj)
    assert v["provisioningState"] == "Succeeded" and v["allocationState"] == "Steady"
    assert v["nodeStateCounts"]["idleNodeCount"] == 1 and v["nodeStateCounts"]["runningNodeCount"] == 1
    assert v["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT1800S"}
    assert _spec.status_view({"metadata": {"generation": 1}, "spec": {}})["provisioningState"] == "Creating"


def test_compute_target_of_a_name_is_an_amlcompute_and_batchai_is_not_the_class():
    obj = {"metadata": {"name": "c"}, "spec": {}}
    assert isinstance(AmlCompute._from_object(None, obj), ComputeTarget)
    assert ComputeTarget.__new__(ComputeTarget, object(), "c").__class__ is AmlCompute
