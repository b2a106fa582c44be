"""The CRD files in crds/ — the one source of each schema — are well formed and structural."""

from pathlib import Path

import pytest
import yaml

CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))


def load(path):
    return yaml.safe_load(path.read_text())


def walk(schema, path="$"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_three_crds():
    kinds = sorted(load(p)["spec"]["names"]["kind"] for p in CRDS)
    assert kinds == ["ComputeCluster", "RegisteredModel", "TrainingRun"]


@pytest.mark.parametrize("path", CRDS, ids=lambda p: p.name)
def test_crd_shape(path):
    crd = load(path)
    spec = crd["spec"]
    assert path.name == crd["metadata"]["name"] + ".yaml"
    assert spec["group"] == "trainyard.dev" and spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["trainyard"]
    assert len(spec["names"]["shortNames"]) == 1
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    assert "spec" in schema["required"]
    for where, node in walk(schema):
        # Structural: every node has a type, or is an explicit int-or-string.
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path.name}: {where} has no type"
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{path.name}: {where} has a CEL rule without a message"
    cols = [c["name"] for c in version["additionalPrinterColumns"]]
    assert cols[-1] == "Age"
    for col in version["additionalPrinterColumns"]:
        node = schema
        for part in col["jsonPath"].lstrip(".").split("."):
            node = (
                (node.get("properties") or {}).get(part)
                if part != "metadata"
                else {"properties": {"creationTimestamp": {"type": "string"}}}
            )
            assert node is not None, f"printer column {col['name']} points at a missing field {col['jsonPath']}"


def test_list_fields_that_feed_cel_rules_are_bounded():
    # CEL rules over unbounded lists or strings blow the API server's cost budget.
    run = load(next(p for p in CRDS if p.name.startswith("trainingruns")))
    spec = run["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for name in ("args", "inputs"):
        assert spec["properties"][name]["maxItems"] <= 256
    assert spec["properties"]["args"]["items"]["maxLength"] <= 2048
