"""No-code deployment objects as exact data, the traffic split, and the rollout rule."""

import base64

import pytest

from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.registeredmodel import serving
from trainyard.operator.registeredmodel.status import Problem

CFG = OperatorConfig(s3_endpoint="http://minio:9000", s3_endpoint_for_pods="http://minio.trainyard:9000")
SHA = "c" * 64
OWNER = [
    {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "RegisteredModel",
        "name": "mnist",
        "uid": "m-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
]


def model(**deployment) -> dict:
    return {
        "metadata": {"name": "mnist", "namespace": "team-a", "uid": "m-uid"},
        "spec": {
            "source": {"uri": "s3://b/m.pkl"},
            "framework": "ScikitLearn",
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "deployment": deployment,
        },
    }


def entry(version: int) -> dict:
    return {
        "version": version,
        "uri": f"s3://trainyard/models/team-a/mnist/{version}/model.pkl",
        "sha256": SHA,
        "framework": "ScikitLearn",
        "frameworkVersion": "1.9.1",
    }


def test_deployment_is_exact():
    dep = serving.build_deployment(model(replicas=2), entry(3), "rt:sk1.9", CFG, 2)
    labels = {
        "app.kubernetes.io/managed-by": "trainyard",
        "app.kubernetes.io/component": "model-server",
        "trainyard.dev/model": "mnist",
        "trainyard.dev/model-version": "3",
    }
    assert dep == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "mnist-v3", "namespace": "team-a", "labels": labels, "ownerReferences": OWNER},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"trainyard.dev/model": "mnist", "trainyard.dev/model-version": "3"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"trainyard.dev/model-sha256": SHA}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "initContainers": [
                        {
                            "name": "fetch",
                            "image": "rt:sk1.9",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-m", "trainyard.runtime.serving.fetch"],
                            "env": [
                                {
                                    "name": "TRAINYARD_MODEL_URI",
                                    "value": "s3://trainyard/models/team-a/mnist/3/model.pkl",
                                },
                                {"name": "TRAINYARD_MODEL_SHA256", "value": SHA},
                                {"name": "TRAINYARD_MODEL_PATH", "value": "/model/model.pkl"},
                            ],
                            "envFrom": [{"secretRef": {"name": "mnist-model-store"}}],
                            "volumeMounts": [{"name": "model", "mountPath": "/model"}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "containers": [
                        {
                            "name": "server",
                            "image": "rt:sk1.9",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-m", "trainyard.runtime.serving"],
                            "env": [
                                {"name": "TRAINYARD_SERVE_MODEL", "value": "/model/model.pkl"},
                                {"name": "TRAINYARD_SERVE_NAME", "value": "mnist"},
                                {"name": "TRAINYARD_SERVE_MODEL_VERSION", "value": "3"},
                                {"name": "TRAINYARD_SERVE_HOST", "value": "0.0.0.0"},
                                {"name": "TRAINYARD_SERVE_PORT", "value": "8080"},
                                {"name": "TRAINYARD_SERVE_GRPC_PORT", "value": "8081"},
                                {"name": "TRAINYARD_SERVE_DRAIN_SECONDS", "value": "3"},
                            ],
                            "ports": [
                                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                                {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/v2/health/ready", "port": "http"},
                                "periodSeconds": 1,
                                "timeoutSeconds": 1,
                                "failureThreshold": 2,
                                "successThreshold": 1,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/v2/health/live", "port": "http"},
                                "periodSeconds": 10,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
                            "volumeMounts": [{"name": "model", "mountPath": "/model", "readOnly": True}],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "volumes": [{"name": "model", "emptyDir": {}}],
                },
            },
        },
    }


def test_service_selects_every_version_and_hpa_targets_one():
    svc = serving.build_service(model())
    assert svc == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "mnist-serving",
            "namespace": "team-a",
            "ownerReferences": OWNER,
            "labels": {
                "app.kubernetes.io/managed-by": "trainyard",
                "app.kubernetes.io/component": "model-server",
                "trainyard.dev/model": "mnist",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"trainyard.dev/model": "mnist", "app.kubernetes.io/component": "model-server"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {
                    "name": "grpc",
                    "port": 8081,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }
    hpa = serving.build_hpa(model(), 2, (1, 4), 70)
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mnist-v2"},
        "minReplicas": 1,
        "maxReplicas": 4,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    }
    assert hpa["metadata"]["name"] == "mnist-v2" and hpa["metadata"]["ownerReferences"] == OWNER
    assert serving.endpoint(model()) == "http://mnist-serving.team-a.svc/score"
    assert serving.service_name("3d-model") == "m-3d-model-serving"


def test_autoscaled_deployments_leave_replicas_to_the_hpa():
    m = model(
        autoscaling={"minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 60},
        traffic=[{"version": 1, "percent": 90}, {"version": 2, "percent": 10}],
    )
    served = [(entry(1), 90, "rt"), (entry(2), 10, "rt")]
    objs = serving.serving_objects(m, served, CFG)
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Service", "mnist-serving"),
        ("Deployment", "mnist-v1"),
        ("HorizontalPodAutoscaler", "mnist-v1"),
        ("Deployment", "mnist-v2"),
        ("HorizontalPodAutoscaler", "mnist-v2"),
    ]
    assert "replicas" not in objs[1]["spec"]
    assert [
        (o["spec"]["minReplicas"], o["spec"]["maxReplicas"]) for o in objs if o["kind"].startswith("Horizontal")
    ] == [(2, 9), (1, 1)]
    assert objs[2]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60


@pytest.mark.parametrize(
    "total, percent, replicas", [(4, 75, 3), (4, 25, 1), (1, 10, 1), (10, 10, 1), (10, 0, 0), (0, 50, 0), (3, 50, 2)]
)
def test_replicas_split_by_percent_with_at_least_one_per_served_version(total, percent, replicas):
    assert serving.split_replicas(total, percent) == replicas


def test_traffic_defaults_to_the_current_version_and_names_missing_versions():
    versions = [entry(1), entry(2)]
    assert serving.traffic(model(), versions, 2) == [(entry(2), 100)]
    split = model(traffic=[{"version": 2, "percent": 20}, {"version": 1, "percent": 80}])
    assert serving.traffic(split, versions, 2) == [(entry(1), 80), (entry(2), 20)]
    drained = model(traffic=[{"version": 2, "percent": 100}, {"version": 1, "percent": 0}])
    assert serving.traffic(drained, versions, 2) == [(entry(2), 100)]
    with pytest.raises(Problem, match=r"version\(s\) 7, which are not registered \(registered: 1, 2\)") as info:
        serving.traffic(model(traffic=[{"version": 7, "percent": 100}]), versions, 2)
    assert info.value.reason == "TrafficVersionNotRegistered"
    with pytest.raises(Problem) as info:
        serving.traffic(model(), [], None)
    assert info.value.reason == "NothingToServe"


def dep(replicas=1, available=1, generation=1, observed=1):
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": available,
            "availableReplicas": available,
            "readyReplicas": available,
        },
    }


def test_old_versions_retire_only_when_every_new_one_is_available():
    assert serving.retire({2}, {1: dep(), 2: dep(available=0)}) == ([], ["version 2: 0/1 replicas available"])
    assert serving.retire({2}, {1: dep()}) == ([], ["version 2: Deployment not created yet"])
    assert serving.retire({2}, {1: dep(), 2: dep(generation=2, observed=1)})[0] == []
    assert serving.retire({2}, {1: dep(), 2: dep()}) == ([1], [])
    assert serving.retire({1, 2}, {1: dep(), 2: dep(replicas=2, available=2)}) == ([], [])


def test_store_secret_and_read_policy_are_scoped_to_the_model():
    secret = serving.build_store_secret(model(), CFG, "ak", "sk", "tok")
    assert secret["metadata"]["name"] == "mnist-model-store"
    assert base64.b64decode(secret["data"]["TRAINYARD_S3_ENDPOINT"]).decode() == "http://minio.trainyard:9000"
    assert serving.model_read_policy(model(), "trainyard") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::trainyard/models/team-a/mnist/*"],
            },
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::trainyard"]},
        ],
    }
