"""Issue 19 item 2 on the real API server and MinIO, with a run that really executes: a TrainingRun
and its RegisteredModel deleted and re-created under the same names write a new run prefix and a
new model version; nothing the first pair wrote is rewritten."""

from __future__ import annotations

import hashlib

from tests.conftest import wait_for_phase
from tests.integration.test_mnist_example import configmap_run
from tests.integration.test_model_registry import condition, from_run, registered, registered_model, store

# Trained on random data: each run's model has other bytes, so a rewrite could not pass unseen.
SCRIPT = """
import os, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
x = np.random.default_rng().normal(size=(60, 4))
clf = LogisticRegression().fit(x, x[:, 0] > 0)
os.makedirs("outputs", exist_ok=True)
joblib.dump(clf, "outputs/model.pkl")
print("trained")
"""


def snapshot(prefix: str) -> dict[str, str]:
    """SHA-256 of every object under `prefix`."""
    client = store()
    out = {}
    for obj in client.list_objects("trainyard", prefix=prefix, recursive=True):
        resp = client.get_object("trainyard", obj.object_name)
        try:
            out[obj.object_name] = hashlib.sha256(resp.read()).hexdigest()
        finally:
            resp.close()
            resp.release_conn()
    return out


def run_and_register(kubectl, namespace: str) -> tuple[dict, dict]:
    configmap_run(kubectl, namespace, "iris", SCRIPT)
    st = wait_for_phase(kubectl, "iris", namespace, ("Completed", "Failed"), timeout=180)
    assert st["phase"] == "Completed", st.get("message")
    kubectl.apply(registered_model("iris", from_run("iris", "outputs/model.pkl")), namespace)
    model = registered(kubectl, namespace, "iris", timeout=90)
    assert condition(model, "Registered")["reason"] == "Registered", model["conditions"]
    return kubectl.json("get", "tr", "iris", "-n", namespace), model


def test_recreated_run_and_model_never_rewrite_a_version(kubectl, namespace, operator, process_kubelet):
    run1, model1 = run_and_register(kubectl, namespace)
    uid1 = run1["metadata"]["uid"]
    prefix1 = f"runs/{namespace}/iris/{uid1}/"
    assert run1["status"]["artifactsUri"] == f"s3://trainyard/{prefix1}"
    assert model1["version"] == 1 and model1["uri"] == f"s3://trainyard/models/{namespace}/iris/1/model.pkl"
    run_files, model_files = snapshot(prefix1), snapshot(f"models/{namespace}/iris/")
    assert f"{prefix1}outputs/model.pkl" in run_files and f"{prefix1}manifest.json" in run_files
    assert sorted(model_files) == [f"models/{namespace}/iris/1/manifest.json", f"models/{namespace}/iris/1/model.pkl"]

    # `kubectl delete -k` then `kubectl apply -k` at once: the same names, new objects. Deletion
    # cascades in the background, so the new run may still meet the old run's Job and pods: it must
    # never adopt them (operator/trainingrun/reconcile.py `_ours`, `_pods_of`).
    kubectl.run("delete", "rm", "iris", "-n", namespace, "--wait=true")
    kubectl.run("delete", "tr", "iris", "-n", namespace, "--cascade=background", "--wait=true")
    kubectl.run("delete", "configmap", "iris-code", "-n", namespace)

    run2, model2 = run_and_register(kubectl, namespace)
    uid2 = run2["metadata"]["uid"]
    assert uid2 != uid1
    # The second run made its own Job: the first run's, if it was still there, was not adopted.
    job2 = kubectl.json("get", "job", run2["status"]["jobName"], "-n", namespace)
    assert [r["uid"] for r in job2["metadata"]["ownerReferences"]] == [uid2]
    assert run2["status"]["attempts"] == 1, run2["status"]
    prefix2 = f"runs/{namespace}/iris/{uid2}/"
    assert run2["status"]["artifactsUri"] == f"s3://trainyard/{prefix2}"
    assert model2["version"] == 2, model2
    assert [v["version"] for v in model2["versions"]] == [2]
    (v2,) = model2["versions"]
    assert v2["runUid"] == uid2 and v2["uri"] == f"s3://trainyard/models/{namespace}/iris/2/model.pkl"

    # Nothing of the first run or of version 1 was written again: same keys, same bytes.
    assert snapshot(prefix1) == run_files
    after = snapshot(f"models/{namespace}/iris/")
    assert {k: v for k, v in after.items() if "/iris/1/" in k} == model_files
    # version 2 is the second run's model, which differs from the first's
    new_run_files = snapshot(prefix2)
    assert after[f"models/{namespace}/iris/2/model.pkl"] == new_run_files[f"{prefix2}outputs/model.pkl"] == v2["sha256"]
    assert v2["sha256"] != run_files[f"{prefix1}outputs/model.pkl"]
