"""The registry on the real API server and MinIO: TrainingRuns complete on KWOK nodes with outputs
whose bytes and manifest this test put in MinIO (what a run's pod uploads), the operator runs
in-process, and RegisteredModels become versions — with lineage, no duplicates on re-apply, named
reasons for bad sources, and serving objects owned by the model."""

from __future__ import annotations

import hashlib
import io
import json
import pickle

import joblib
import pytest
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from tests.conftest import get_status, wait_for, wait_for_phase
from tests.integration.test_operator_loop import kwok_cluster, simulated_run

API = "trainyard.dev/v1alpha1"
PATH = "outputs/model.pkl"


def store():
    from trainyard.storage.config import StoreConfig

    return StoreConfig.from_env().client()


def put(key: str, data: bytes) -> str:
    store().put_object("trainyard", key, io.BytesIO(data), len(data))
    return hashlib.sha256(data).hexdigest()


def get(key: str) -> bytes:
    resp = store().get_object("trainyard", key)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


@pytest.fixture(scope="module")
def artifacts():
    x, y = load_digits(return_X_y=True)
    out = {}
    for c in (0.5, 2.0):
        buf = io.BytesIO()
        joblib.dump(LogisticRegression(C=c, max_iter=200).fit(x[:300], y[:300]), buf)
        out[c] = buf.getvalue()
    return out


def seed_run_outputs(namespace: str, run: str, uid: str, files: dict[str, bytes], metrics: dict[str, float]) -> None:
    """What a run's pod uploads when its script ends: files, metrics.jsonl, manifest.json."""
    prefix = f"runs/{namespace}/{run}/{uid}/"
    manifest = [{"path": p, "size": len(b), "sha256": put(prefix + p, b)} for p, b in files.items()]
    put(
        prefix + "metrics.jsonl",
        "".join(json.dumps({"name": k, "value": v}) + "\n" for k, v in metrics.items()).encode(),
    )
    put(prefix + "manifest.json", json.dumps({"files": manifest}).encode())


def completed_run(kubectl, namespace: str, name: str, model_bytes: bytes, accuracy: float, delay: str = "1s"):
    """The run's prefix holds its uid, so its outputs are seeded once it exists — well before its
    simulated pod completes (`delay` after it starts), which is checked."""
    run = simulated_run(name, experiment="digits")
    run["metadata"]["annotations"]["pod-complete.stage.kwok.x-k8s.io/delay"] = delay
    kubectl.apply([kwok_cluster(), run], namespace)
    uid = kubectl.json("get", "tr", name, "-n", namespace)["metadata"]["uid"]
    seed_run_outputs(namespace, name, uid, {PATH: model_bytes}, {"accuracy": accuracy})
    phase = get_status(kubectl, "tr", name, namespace).get("phase")
    assert phase not in ("Completed", "Failed"), f"run {name} ended ({phase}) before its outputs were seeded"
    return uid


def registered_model(name: str, source: dict, **spec) -> dict:
    return {
        "apiVersion": API,
        "kind": "RegisteredModel",
        "metadata": {"name": name},
        "spec": {"source": source, **spec},
    }


def from_run(run: str, path: str = PATH) -> dict:
    return {"trainingRun": {"name": run, "path": path}}


def registered(kubectl, namespace: str, name: str, timeout: float = 60) -> dict:
    """The status once Registered reflects the current generation (True or a final False)."""

    def check():
        obj = kubectl.json("get", "rm", name, "-n", namespace)
        st = obj.get("status") or {}
        reg = next((c for c in st.get("conditions") or () if c["type"] == "Registered"), None)
        if (
            reg
            and reg.get("observedGeneration") == obj["metadata"]["generation"]
            and reg["reason"] not in ("SourceRunNotFound", "SourceRunNotCompleted")
        ):
            return st
        return None

    return wait_for(check, what=f"model {name} to settle", timeout=timeout)


def condition(status: dict, ctype: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def test_versions_lineage_and_reapply(kubectl, namespace, operator, artifacts):
    completed_run(kubectl, namespace, "train-a", artifacts[0.5], 0.91)
    completed_run(kubectl, namespace, "train-b", artifacts[2.0], 0.94)
    for run in ("train-a", "train-b"):
        assert wait_for_phase(kubectl, run, namespace, ("Completed", "Failed"))["phase"] == "Completed"

    kubectl.apply(registered_model("digits", from_run("train-a")), namespace)
    st = registered(kubectl, namespace, "digits")
    assert condition(st, "Registered")["reason"] == "Registered", st["conditions"]
    assert st["phase"] == "Registered" and st["version"] == 1
    (v1,) = st["versions"]
    sha_a = hashlib.sha256(artifacts[0.5]).hexdigest()
    run_a = kubectl.json("get", "tr", "train-a", "-n", namespace)
    assert v1["run"] == "train-a" and v1["runUid"] == run_a["metadata"]["uid"] and v1["experiment"] == "digits"
    assert v1["metrics"] == {"accuracy": 0.91} and v1["path"] == PATH
    assert v1["framework"] == "ScikitLearn" and v1["frameworkVersion"] == sklearn.__version__
    assert v1["sha256"] == sha_a and v1["size"] == len(artifacts[0.5])
    assert v1["sourceKey"] == f"run:{run_a['metadata']['uid']}/{PATH}@sha256:{sha_a}"
    key1 = f"models/{namespace}/digits/1/model.pkl"
    assert v1["uri"] == st["uri"] == f"s3://trainyard/{key1}"
    assert hashlib.sha256(get(key1)).hexdigest() == sha_a
    assert json.loads(get(f"models/{namespace}/digits/1/manifest.json"))["files"] == [
        {"path": "model.pkl", "size": len(artifacts[0.5]), "sha256": sha_a}
    ]

    # The same source again (a spec change elsewhere): no new version.
    kubectl.apply(registered_model("digits", from_run("train-a"), description="first try"), namespace)
    st = registered(kubectl, namespace, "digits")
    assert [v["version"] for v in st["versions"]] == [1] and condition(st, "Registered")["reason"] == "SourceUnchanged"
    assert st["versions"][0] == v1

    # A new source: version 2; version 1 untouched, in status and in the store.
    kubectl.apply(registered_model("digits", from_run("train-b")), namespace)
    st = registered(kubectl, namespace, "digits")
    assert st["version"] == 2 and [v["version"] for v in st["versions"]] == [1, 2]
    assert st["versions"][0] == v1 and st["versions"][1]["metrics"] == {"accuracy": 0.94}
    assert hashlib.sha256(get(key1)).hexdigest() == sha_a
    assert get(f"models/{namespace}/digits/2/model.pkl") == artifacts[2.0]

    # Back to the first source: it is version 1 again, nothing copied, no version 3.
    kubectl.apply(registered_model("digits", from_run("train-a")), namespace)
    st = registered(kubectl, namespace, "digits")
    assert st["version"] == 1 and len(st["versions"]) == 2 and st["uri"] == v1["uri"]
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=digits")
    assert (
        sorted(e["reason"] for e in events["items"] if e["reason"] == "VersionRegistered") == ["VersionRegistered"] * 2
    )

    out = kubectl.run("get", "rm", "digits", "-n", namespace).stdout
    assert "Registered" in out and "ScikitLearn" in out


def test_a_model_waits_for_its_run_then_registers(kubectl, namespace, operator, artifacts):
    kubectl.apply(registered_model("early", from_run("later")), namespace)
    reg = wait_for(
        lambda: next(
            (
                c
                for c in get_status(kubectl, "rm", "early", namespace).get("conditions") or ()
                if c["type"] == "Registered"
            ),
            None,
        ),
        what="a Registered condition",
    )
    assert reg["status"] == "False" and reg["reason"] == "SourceRunNotFound", reg
    assert "TrainingRun 'later' does not exist" in reg["message"]
    assert get_status(kubectl, "rm", "early", namespace)["phase"] == "Registering"
    completed_run(kubectl, namespace, "later", artifacts[0.5], 0.9, delay="3s")
    wait_for(
        lambda: (
            condition(get_status(kubectl, "rm", "early", namespace), "Registered")["reason"] == "SourceRunNotCompleted"
        ),
        what="the model to wait on the running run",
        timeout=30,
    )
    st = registered(kubectl, namespace, "early", timeout=60)
    assert condition(st, "Registered")["status"] == "True" and st["version"] == 1


def test_bad_sources_have_named_reasons(kubectl, namespace, operator, artifacts):
    failed = simulated_run("crashed")
    failed["metadata"]["annotations"]["trainyard.dev/simulated-exit-code"] = "3"
    kubectl.apply(failed, namespace)
    completed_run(kubectl, namespace, "good", artifacts[0.5], 0.9)
    put(f"uploads/{namespace}/dict.pkl", pickle.dumps({"weights": [1, 2, 3]}))
    put(f"uploads/{namespace}/garbage.bin", b"\x00not a pickle at all")
    # The same estimator as if saved by scikit-learn 1.3.2, which no curated image loads.
    assert len(sklearn.__version__) == 5, "the rewrite below keeps the pickle's string lengths"
    old = artifacts[0.5].replace(sklearn.__version__.encode(), b"1.3.2")
    put(f"uploads/{namespace}/old.pkl", old)
    uri = f"s3://trainyard/uploads/{namespace}"
    cases = {
        "from-failed-run": (from_run("crashed"), {}, "SourceRunFailed", "ended Failed"),
        "wrong-path": (from_run("good", "outputs/nope.pkl"), {}, "PathNotInOutputs", PATH),
        "not-sklearn": ({"uri": f"{uri}/dict.pkl"}, {}, "NotScikitLearn", "framework: Custom"),
        "garbage": ({"uri": f"{uri}/garbage.bin"}, {}, "ArtifactUnreadable", "not a pickle"),
        "missing": ({"uri": f"{uri}/absent.pkl"}, {}, "ArtifactNotFound", "does not exist"),
        "declared-wrong": (
            from_run("good"),
            {"frameworkVersion": "1.2"},
            "FrameworkVersionMismatch",
            "spec.frameworkVersion is 1.2",
        ),
    }
    kubectl.apply([registered_model(name, src, **spec) for name, (src, spec, _, _) in cases.items()], namespace)
    for name, (_, _, reason, words) in cases.items():
        st = registered(kubectl, namespace, name, timeout=90)
        reg = condition(st, "Registered")
        assert (reg["status"], reg["reason"]) == ("False", reason), (name, reg)
        assert words in reg["message"], (name, reg["message"])
        assert st["phase"] == "Failed" and not st.get("versions"), (name, st)
    # Nothing half-registered: no object under any refused model's prefix.
    assert not [o.object_name for o in store().list_objects("trainyard", f"models/{namespace}/", recursive=True)]

    # A model no runtime image can serve is registered, and its deployment says why it is not served.
    kubectl.apply(registered_model("old-sklearn", {"uri": f"{uri}/old.pkl"}, deployment={"replicas": 1}), namespace)
    st = wait_for(
        lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
            get_status(kubectl, "rm", "old-sklearn", namespace)
        ),
        what="old-sklearn to fail to deploy",
    )
    ready = condition(st, "Ready")
    assert st["versions"][0]["frameworkVersion"].startswith("1.3") and ready["reason"] == "NoRuntimeImage"
    assert "TRAINYARD_SERVING_IMAGES" in ready["message"]
    assert kubectl.json("get", "deployments", "-n", namespace)["items"] == []


def test_deployment_objects_are_owned_and_go_with_the_model(kubectl, namespace, operator, artifacts):
    completed_run(kubectl, namespace, "train-s", artifacts[2.0], 0.9)
    # A request no node can meet keeps the pods Pending whichever nodes this session has.
    kubectl.apply(
        registered_model(
            "served", from_run("train-s"), resources={"cpu": "64", "memory": "1Gi"}, deployment={"replicas": 2}
        ),
        namespace,
    )
    st = wait_for(
        lambda: (
            lambda s: (
                s
                if any(c["type"] == "Ready" and c["reason"] == "RollingOut" for c in s.get("conditions") or ())
                else None
            )
        )(get_status(kubectl, "rm", "served", namespace)),
        what="the rollout to start",
        timeout=60,
    )
    assert "version 1: 0/2 replicas available" in condition(st, "Ready")["message"]
    assert st["phase"] == "Deploying" and "endpoint" not in st
    dep = kubectl.json("get", "deployment", "served-v1", "-n", namespace)
    assert dep["spec"]["replicas"] == 2 and dep["metadata"]["ownerReferences"][0]["kind"] == "RegisteredModel"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "trainyard/runtime:0.1.0-sklearn1.9"
    svc = kubectl.json("get", "service", "served-serving", "-n", namespace)
    assert svc["spec"]["selector"] == {"trainyard.dev/model": "served", "app.kubernetes.io/component": "model-server"}
    kubectl.run("get", "secret", "served-model-store", "-n", namespace)
    # Autoscaling bounds replace the replica count with an HPA.
    kubectl.apply(
        registered_model(
            "served",
            from_run("train-s"),
            resources={"cpu": "64", "memory": "1Gi"},
            deployment={"autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
        ),
        namespace,
    )
    hpa = wait_for(
        lambda: (lambda p: p.returncode == 0 and json.loads(p.stdout))(
            kubectl.run("get", "hpa", "served-v1", "-n", namespace, "-o", "json", check=False)
        ),
        what="the HPA",
    )
    assert (
        hpa["spec"]["maxReplicas"] == 3
        and "replicas"
        not in kubectl.json("get", "deployment", "served-v1", "-n", namespace, "--show-managed-fields")["metadata"][
            "managedFields"
        ][0]["fieldsV1"]["f:spec"]
    )
    kubectl.run("delete", "rm", "served", "-n", namespace, "--wait=true", "--timeout=30s")
    wait_for(
        lambda: not kubectl.json("get", "deployments,services,hpa", "-n", namespace)["items"],
        what="garbage collection of the serving objects",
        timeout=60,
    )
    assert get(f"models/{namespace}/served/1/model.pkl") == artifacts[2.0], "artifacts are kept"


def test_a_crash_between_copy_and_record_converges_without_a_duplicate(kubectl, namespace, artifacts, monkeypatch):
    """The reconcile itself, called directly against the API server and MinIO (no operator)."""
    from kubernetes.client.rest import ApiException

    from trainyard.operator.core.config import OperatorConfig
    from trainyard.operator.registeredmodel import reconcile as reconcile_model

    put(f"uploads/{namespace}/m.pkl", artifacts[2.0])
    kubectl.apply(registered_model("crashy", {"uri": f"s3://trainyard/uploads/{namespace}/m.pkl"}), namespace)
    cfg, events = OperatorConfig.from_env(), []
    real_write = reconcile_model.write_status

    def crash(*args, **kwargs):
        raise RuntimeError("operator killed before the status write")

    monkeypatch.setattr(reconcile_model, "write_status", crash)
    with pytest.raises(RuntimeError, match="killed"):
        reconcile_model.reconcile(namespace, "crashy", cfg, store(), lambda *a: events.append(a))
    assert get(f"models/{namespace}/crashy/1/m.pkl") == artifacts[2.0], "copied, verified..."
    assert not get_status(kubectl, "rm", "crashy", namespace).get("versions"), "...but not recorded"

    monkeypatch.setattr(reconcile_model, "write_status", real_write)
    out = reconcile_model.reconcile(namespace, "crashy", cfg, store(), lambda *a: events.append(a))
    assert [v["version"] for v in out["versions"]] == [1]
    again = reconcile_model.reconcile(namespace, "crashy", cfg, store(), lambda *a: events.append(a))
    st = get_status(kubectl, "rm", "crashy", namespace)
    assert again["versions"] == st["versions"] and len(st["versions"]) == 1
    assert [e[2] for e in events] == ["VersionRegistered"]
    # A write from a stale read is refused by the API server, never applied over a newer status.
    stale = kubectl.json("get", "rm", "crashy", "-n", namespace)["metadata"]["resourceVersion"]
    kubectl.run("annotate", "rm", "crashy", "-n", namespace, "touched=yes")
    with pytest.raises(ApiException) as info:
        reconcile_model.write_status(namespace, "crashy", stale, {"versions": []})
    assert info.value.status == 409
