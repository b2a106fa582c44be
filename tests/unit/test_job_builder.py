"""Where a TrainingRun becomes a Job — tested as exact data."""

import json

from trainyard.operator.core import names
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.trainingrun import access, job

CFG = OperatorConfig(
    runtime_image="trainyard/runtime:test",
    s3_endpoint="http://minio:9000",
    s3_access_key="ak",
    s3_secret_key="sk",
    s3_bucket="trainyard",
)


def run(**spec):
    base = {
        "experiment": "mnist",
        "compute": "cpu-cluster",
        "source": {"snapshot": "s3://trainyard/snapshots/" + "a" * 64 + ".tar.gz"},
        "entryScript": "train.py",
        "args": ["--data-folder", "$(TRAINYARD_INPUT_MNIST)"],
        "inputs": [{"name": "mnist", "uri": "s3://trainyard/datasets/mnist/", "mode": "download"}],
        "maxRetries": 2,
        "suspend": False,
        "priority": 0,
    }
    base.update(spec)
    return {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": "mnist-1",
            "namespace": "team-a",
            "uid": "uid-1",
            "generation": 1,
            "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "5s", "other": "x"},
        },
        "spec": base,
    }


CLUSTER = {
    "metadata": {"name": "cpu-cluster"},
    "spec": {
        "instanceType": "Standard_D2_v2",
        "nodeSelector": {"pool": "cpu"},
        "priority": "spot",
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "defaultRunResources": {"cpu": "2", "memory": "4Gi"},
        "provider": {"type": "kwok"},
    },
}


def test_the_whole_job_as_data():
    r = run(timeoutSeconds=600)
    got = job.build_job(r, CLUSTER, CFG)
    labels = {
        "app.kubernetes.io/managed-by": "trainyard",
        "trainyard.dev/run": "mnist-1",
        "trainyard.dev/experiment": "mnist",
        "trainyard.dev/compute": "cpu-cluster",
    }
    env = [
        {"name": "TRAINYARD_RUN_NAME", "value": "mnist-1"},
        {"name": "TRAINYARD_RUN_NAMESPACE", "value": "team-a"},
        {"name": "TRAINYARD_RUN_UID", "value": "uid-1"},
        {"name": "TRAINYARD_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TRAINYARD_EXPERIMENT", "value": "mnist"},
        {"name": "TRAINYARD_SOURCE", "value": json.dumps(r["spec"]["source"], sort_keys=True)},
        {"name": "TRAINYARD_ENTRY_SCRIPT", "value": "train.py"},
        {"name": "TRAINYARD_ARGS", "value": '["--data-folder", "$(TRAINYARD_INPUT_MNIST)"]'},
        {
            "name": "TRAINYARD_INPUTS",
            "value": '[{"mode": "download", "name": "mnist", "uri": "s3://trainyard/datasets/mnist/"}]',
        },
        {"name": "TRAINYARD_WORKDIR", "value": "/workspace"},
        {"name": "TRAINYARD_CACHE_DIR", "value": "/var/cache/trainyard"},
        {"name": "TRAINYARD_TERMINATION_LOG", "value": "/dev/termination-log"},
    ]
    mounts = [{"name": "workspace", "mountPath": "/workspace"}, {"name": "cache", "mountPath": "/var/cache/trainyard"}]
    common = {
        "image": "trainyard/runtime:test",
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "envFrom": [{"secretRef": {"name": "mnist-1-store"}}],
        "workingDir": "/workspace",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    assert got == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "mnist-1",
            "namespace": "team-a",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "trainyard.dev/v1alpha1",
                    "kind": "TrainingRun",
                    "name": "mnist-1",
                    "uid": "uid-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 2,
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
            },
            "podReplacementPolicy": "Failed",
            "activeDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": labels, "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "5s"}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "mnist-1-run",
                    "enableServiceLinks": False,
                    "initContainers": [
                        {
                            "name": "stage",
                            "command": ["python", "-m", "trainyard.runtime.stage"],
                            "volumeMounts": mounts,
                            **common,
                        }
                    ],
                    "containers": [
                        {
                            "name": "run",
                            "command": ["python", "-m", "trainyard.runtime.run"],
                            "volumeMounts": mounts,
                            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
                            **common,
                        }
                    ],
                    "volumes": [
                        {"name": "workspace", "emptyDir": {}},
                        {"name": "cache", "hostPath": {"path": "/var/cache/trainyard", "type": "DirectoryOrCreate"}},
                    ],
                    "nodeSelector": {"pool": "cpu", "node.kubernetes.io/instance-type": "Standard_D2_v2"},
                    "tolerations": [
                        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
                        {"key": "trainyard.dev/spot", "operator": "Exists", "effect": "NoSchedule"},
                        {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
                    ],
                    # A pool that scales packs its runs onto busy nodes so idle ones can go.
                    "affinity": {
                        "podAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": {"trainyard.dev/compute": "cpu-cluster"}},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                },
            },
        },
    }


def test_no_deadline_without_timeout_and_run_resources_win():
    got = job.build_job(run(resources={"cpu": "500m", "memory": "1Gi"}), CLUSTER, CFG)
    assert "activeDeadlineSeconds" not in got["spec"]
    assert got["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }


def test_configmap_source_is_mounted_for_the_stage_step_only():
    got = job.build_job(run(source={"configMap": {"name": "code"}}), None, CFG)
    pod = got["spec"]["template"]["spec"]
    assert {"name": "source", "configMap": {"name": "code"}} in pod["volumes"]
    assert {"name": "source", "mountPath": "/trainyard/source", "readOnly": True} in pod["initContainers"][0][
        "volumeMounts"
    ]
    assert all(m["name"] != "source" for m in pod["containers"][0]["volumeMounts"])
    assert {"name": "TRAINYARD_SOURCE_DIR", "value": "/trainyard/source"} in pod["containers"][0]["env"]
    assert "nodeSelector" not in pod and "tolerations" not in pod and "affinity" not in pod
    assert pod["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_environment_image_pip_and_primary_metric():
    got = job.build_job(
        run(environment={"image": "my/img:1", "pip": ["lightgbm==4.5.0"]}, primaryMetric="accuracy"), None, CFG
    )
    c = got["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "my/img:1"
    assert {"name": "TRAINYARD_PIP_REQUIREMENTS", "value": '["lightgbm==4.5.0"]'} in c["env"]
    assert {"name": "TRAINYARD_PRIMARY_METRIC", "value": "accuracy"} in c["env"]


def test_access_objects_are_owned_and_least_privilege():
    r = run()
    role = access.build_role(r)
    assert role["rules"] == [
        {
            "apiGroups": ["trainyard.dev"],
            "resources": ["trainingruns/status"],
            "resourceNames": ["mnist-1"],
            "verbs": ["get", "patch"],
        },
        {"apiGroups": ["trainyard.dev"], "resources": ["trainingruns"], "resourceNames": ["mnist-1"], "verbs": ["get"]},
        {"apiGroups": ["trainyard.dev"], "resources": ["registeredmodels"], "verbs": ["get", "create", "patch"]},
    ]
    binding = access.build_role_binding(r)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mnist-1-run", "namespace": "team-a"}]
    assert binding["roleRef"]["name"] == "mnist-1-run"
    secret = access.build_store_secret(r, CFG, "tmp-ak", "tmp-sk", "tok")
    assert secret["metadata"]["name"] == "mnist-1-store"
    assert set(secret["data"]) == {
        "TRAINYARD_S3_ENDPOINT",
        "TRAINYARD_S3_BUCKET",
        "TRAINYARD_S3_ACCESS_KEY",
        "TRAINYARD_S3_SECRET_KEY",
        "TRAINYARD_S3_SESSION_TOKEN",
    }
    for obj in (role, binding, secret, access.build_service_account(r)):
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_names_are_dns_safe_and_bounded():
    assert names.job_name("mnist-1") == "mnist-1"
    long = "a" * 53
    assert len(names.job_name(long)) <= 57
    assert len(names.run_service_account(long)) <= 63 and names.run_service_account(long).endswith("-run")
    assert names.safe_name("Weird_Name") != names.safe_name("weird-name")
    assert names.safe_name("x" * 80, "store") != names.safe_name("x" * 79 + "y", "store")


def test_a_static_pool_is_left_to_the_schedulers_spreading():
    static = {**CLUSTER, "spec": {**CLUSTER["spec"], "provider": {"type": "static"}}}
    assert "affinity" not in job.build_job(run(), static, CFG)["spec"]["template"]["spec"]
    assert job.packing({"metadata": {"name": "c"}, "spec": {"provider": {"type": "clusterAPI"}}}) is not None
