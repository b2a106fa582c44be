"""The chart's CRDs are generated from crds/ (the one source) and may not drift; the values the
main job passes for each kind of cluster, as data."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

from trainyard.local import appimages, chart

REPO = Path(__file__).resolve().parents[2]


def _gen_module():
    loader = importlib.machinery.SourceFileLoader("gen_chart_crds", str(REPO / "scripts" / "gen-chart-crds"))
    spec = importlib.util.spec_from_loader("gen_chart_crds", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_chart_crds_are_generated_copies_of_crds_dir():
    gen = _gen_module()
    assert gen.drift() == [], "charts/trainyard/crds drifted from crds/: run scripts/gen-chart-crds"
    names = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (REPO / "charts/trainyard/crds").glob("*.yaml")) == names
    for name in names:
        body = (REPO / "charts/trainyard/crds" / name).read_text()
        assert body.startswith("# GENERATED from crds/")
        assert body.split("\n", 1)[1] == (REPO / "crds" / name).read_text()


REFS = {
    "runtime": "localhost/trainyard/runtime:sklearn-1.7",
    "operator": "localhost/trainyard/operator:abc123",
    "minio": "localhost/trainyard/minio:def456",
}


def test_image_values_point_at_local_images_never_pulled():
    assert appimages.chart_values(REFS) == {
        "operator": {"image": {"repository": "localhost/trainyard/operator", "tag": "abc123", "pullPolicy": "Never"}},
        "runtime": {
            "image": {"repository": "localhost/trainyard/runtime", "tag": "sklearn-1.7", "pullPolicy": "Never"},
            "servingImages": {"1.7": "localhost/trainyard/runtime:sklearn-1.7"},
        },
        "objectStore": {
            "minio": {"image": {"repository": "localhost/trainyard/minio", "tag": "def456", "pullPolicy": "Never"}}
        },
    }


def test_local_node_values_use_a_hostpath_volume_and_cache_under_the_state_dir():
    v = chart.local_values(appimages.chart_values(REFS), Path("/state"))
    assert v["objectStore"]["minio"]["persistence"] == {
        "type": "hostPath",
        "size": "10Gi",
        "hostPath": "/state/minio-data",
    }
    assert v["objectStore"]["minio"]["image"]["tag"] == "def456"  # merged, not replaced
    assert v["runtime"]["nodeCachePath"] == "/state/node/cache"
    assert v["runtime"]["image"]["pullPolicy"] == "Never"


def test_kind_values_use_the_standard_class_and_the_mapped_node_port():
    v = chart.kind_values(appimages.chart_values(REFS))
    assert v["objectStore"]["minio"]["persistence"] == {"type": "pvc", "storageClass": "standard"}
    assert v["objectStore"]["minio"]["service"] == {"type": "NodePort", "nodePort": 30900}
    kind_config = (REPO / "kind-config.yaml").read_text()
    assert "containerPort: 30900, hostPort: 9000" in kind_config


def test_kind_config_has_a_control_plane_and_two_default_pool_workers():
    import yaml

    cfg = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    assert all(n["labels"] == {"trainyard.dev/pool": "default"} for n in cfg["nodes"][1:])
    from trainyard.local.nodeconfig import NODE_LABELS

    assert NODE_LABELS["trainyard.dev/pool"] == "default"  # the local node joins the same pool


def test_merge_is_deep_and_right_biased():
    assert chart.merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"c": 3}, "e": 4}) == {
        "a": {"b": 1, "c": 3},
        "d": 1,
        "e": 4,
    }
