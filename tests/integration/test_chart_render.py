"""The Helm chart as data: `helm lint`, `helm template` with assertions on the rendered objects,
the schema's rejections, and a server-side dry-run of the rendered objects on a real API server
(which validates them against the built-in types and our CRDs)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from trainyard.local import appimages, chart
from trainyard.local.build import binary_path

REFS = {
    "runtime": "localhost/trainyard/runtime:sklearn-1.7",
    "operator": "localhost/trainyard/operator:abc",
    "minio": "localhost/trainyard/minio:def",
}


@pytest.fixture(scope="module")
def helm() -> str:
    return str(binary_path("helm"))


def render(helm: str, values: dict | None = None, *sets: str, ns: str = "trainyard") -> subprocess.CompletedProcess:
    argv = [helm, "template", "trainyard", str(chart.CHART), "-n", ns, "-f", "-"]
    for s in sets:
        argv += ["--set", s]
    return subprocess.run(argv, input=json.dumps(values or {}), capture_output=True, text=True)


def objects(helm: str, values: dict | None = None, *sets: str) -> dict[tuple[str, str], dict]:
    proc = render(helm, values, *sets)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_helm_lint_is_clean(helm):
    proc = subprocess.run([helm, "lint", "--strict", str(chart.CHART)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_default_render_has_operator_rbac_store_and_default_cluster(helm):
    objs = objects(helm)
    assert sorted(objs) == [
        ("ClusterRole", "trainyard-cleanup"),
        ("ClusterRole", "trainyard-operator"),
        ("ClusterRoleBinding", "trainyard-cleanup"),
        ("ClusterRoleBinding", "trainyard-operator"),
        ("ComputeCluster", "cpu-cluster"),
        ("ConfigMap", "trainyard-store"),
        ("Deployment", "trainyard-operator"),
        ("Job", "trainyard-cleanup"),
        ("Role", "trainyard-store-reader"),
        ("RoleBinding", "trainyard-store-reader"),
        ("Secret", "trainyard-store"),
        ("Service", "trainyard-minio"),
        ("ServiceAccount", "trainyard-cleanup"),
        ("ServiceAccount", "trainyard-operator"),
        ("StatefulSet", "trainyard-minio"),
    ]
    # The pre-delete hook removes the release's ComputeClusters while the operator can still
    # release their finalizers.
    hook = objs[("Job", "trainyard-cleanup")]
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    assert objs[("ClusterRole", "trainyard-cleanup")]["rules"] == [
        {"apiGroups": ["trainyard.dev"], "resources": ["computeclusters"], "verbs": ["get", "list", "delete"]}
    ]
    dep = objs[("Deployment", "trainyard-operator")]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    op = pod["containers"][0]
    assert op["command"][:4] == ["kopf", "run", "--standalone", "--all-namespaces"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in op["command"]
    assert op["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert op["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert op["resources"]["requests"] and op["resources"]["limits"]["memory"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in op["env"]}
    assert (
        env["TRAINYARD_S3_ENDPOINT"]
        == env["TRAINYARD_S3_ENDPOINT_FOR_PODS"]
        == "http://trainyard-minio.trainyard.svc:9000"
    )
    assert env["TRAINYARD_S3_SECRET_KEY"] == {"secretKeyRef": {"name": "trainyard-store", "key": "secretKey"}}
    assert json.loads(env["TRAINYARD_SERVING_IMAGES"]) == {"1.7": "trainyard/runtime:0.1.0-sklearn1.7"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert [c["name"] for c in pod["initContainers"]] == ["bucket"]
    # The store the operator reads, published for clients (trainyard submit), with the id the
    # init container writes into the bucket.
    init_env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["initContainers"][0]["env"]}
    assert pod["initContainers"][0]["command"] == ["python", "-m", "trainyard.storage.identity"]
    info = objs[("ConfigMap", "trainyard-store")]
    assert info["metadata"]["namespace"] == "kube-public"
    assert info["data"] == {
        "endpoint": env["TRAINYARD_S3_ENDPOINT"],
        "bucket": "trainyard",
        "storeId": init_env["TRAINYARD_STORE_ID"],
        "namespace": "trainyard",
        "credentialsSecret": "trainyard-store",
        "service": "trainyard-minio",
        "port": "9000",
    }
    assert len(info["data"]["storeId"]) == 16 and init_env["TRAINYARD_CREATE_BUCKET"] == "true"
    reader = objs[("Role", "trainyard-store-reader")]
    assert reader["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["trainyard-store"], "verbs": ["get"]}
    ]
    assert objs[("RoleBinding", "trainyard-store-reader")]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}
    ]
    cc = objs[("ComputeCluster", "cpu-cluster")]
    assert cc["metadata"]["namespace"] == "default"
    assert cc["spec"]["nodeSelector"] == {"trainyard.dev/pool": "default"}
    sts = objs[("StatefulSet", "trainyard-minio")]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_rbac_is_least_privilege(helm):
    rules = objects(helm)[("ClusterRole", "trainyard-operator")]["rules"]
    verbs = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert all("*" not in v for v in verbs.values()) and all("*" not in k for k in verbs)
    assert verbs[("", "secrets")] == {"get", "create"}  # never list/watch every Secret
    assert verbs[("", "pods")] == {"get", "list", "watch", "delete"}  # pods come from Jobs, not from us
    assert ("", "pods/exec") not in verbs
    # get only, to tell a run whose code ConfigMap does not exist before its pod waits on the mount
    # for good (issue 19 item 3); never list/watch every ConfigMap.
    assert verbs[("", "configmaps")] == {"get"}
    assert verbs[("rbac.authorization.k8s.io", "roles")] == {"create"}
    assert ("rbac.authorization.k8s.io", "clusterroles") not in verbs
    assert "create" not in verbs[("trainyard.dev", "trainingruns")]
    # a run's Role grants registeredmodels/create (SDK register_model): the operator must hold it
    from trainyard.operator.trainingrun import access

    run = {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r", "namespace": "n", "uid": "u"},
        "spec": {"compute": "c"},
    }
    for rule in access.build_role(run)["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                assert set(rule["verbs"]) <= verbs[(g, r)], (g, r)


def test_local_values_render_a_hostpath_volume_bound_to_the_claim(helm):
    objs = objects(helm, chart.local_values(appimages.chart_values(REFS), __import__("pathlib").Path("/st")))
    pv = next(o for (k, _), o in objs.items() if k == "PersistentVolume")
    assert pv["spec"]["hostPath"] == {"path": "/st/minio-data", "type": "DirectoryOrCreate"}
    assert pv["spec"]["claimRef"] == {"namespace": "trainyard", "name": "data-trainyard-minio-0"}
    sts = objs[("StatefulSet", "trainyard-minio")]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "trainyard-hostpath"
    assert [c["name"] for c in sts["spec"]["template"]["spec"]["initContainers"]] == ["chown-data"]
    op = objs[("Deployment", "trainyard-operator")]["spec"]["template"]["spec"]["containers"][0]
    assert op["image"] == "localhost/trainyard/operator:abc" and op["imagePullPolicy"] == "Never"
    env = {e["name"]: e.get("value") for e in op["env"]}
    assert env["TRAINYARD_RUNTIME_IMAGE"] == REFS["runtime"] and env["TRAINYARD_IMAGE_PULL_POLICY"] == "Never"
    assert env["TRAINYARD_NODE_CACHE_PATH"] == "/st/node/cache"


def test_emptydir_mode_has_no_claim_and_external_mode_has_no_minio(helm):
    objs = objects(helm, None, "objectStore.minio.persistence.type=emptyDir")
    sts = objs[("StatefulSet", "trainyard-minio")]
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in sts["spec"]["template"]["spec"]["volumes"]
    ext = objects(
        helm,
        {
            "objectStore": {
                "mode": "external",
                "external": {"endpoint": "https://s3.example.com", "existingSecret": "my-s3", "region": "eu-west-1"},
            }
        },
    )
    assert not [k for k in ext if k[0] in ("StatefulSet", "Service", "Secret")]
    env = {
        e["name"]: e.get("value", e.get("valueFrom"))
        for e in ext[("Deployment", "trainyard-operator")]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TRAINYARD_S3_ENDPOINT"] == "https://s3.example.com" and env["TRAINYARD_S3_REGION"] == "eu-west-1"
    assert env["TRAINYARD_S3_ACCESS_KEY"] == {"secretKeyRef": {"name": "my-s3", "key": "accessKey"}}
    info = ext[("ConfigMap", "trainyard-store")]["data"]
    assert info["endpoint"] == "https://s3.example.com" and info["credentialsSecret"] == "my-s3"
    assert "service" not in info
    # Without createBucket the init container still writes the store id, and creates nothing.
    pod = objects(helm, None, "objectStore.createBucket=false")[("Deployment", "trainyard-operator")]["spec"]
    init = pod["template"]["spec"]["initContainers"][0]
    assert {e["name"]: e.get("value") for e in init["env"]}["TRAINYARD_CREATE_BUCKET"] == "false"


@pytest.mark.parametrize(
    "sets, complaint",
    [
        (("objectStore.mode=external",), "existingSecret"),
        (("objectStore.mode=s3",), "objectStore/mode"),
        (("operator.logLevel=loud",), "operator/logLevel"),
        (("objectStore.bucket=Bad_Bucket",), "objectStore/bucket"),
        (("objectStore.minio.persistence.type=nfs",), "persistence/type"),
        (("runtime.nodeCachePath=relative/dir",), "nodeCachePath"),
        (("operator.imag.tag=x",), "additional properties"),
    ],
)
def test_schema_rejects_bad_values(helm, sets, complaint):
    proc = render(helm, None, *sets)
    assert proc.returncode != 0
    assert complaint in proc.stderr


def test_rendered_chart_passes_server_side_dry_run(helm, local_cluster, kubectl, namespace):
    """The API server (with our CRDs installed) accepts every rendered object."""
    proc = render(
        helm,
        {
            "computeClusters": [
                {
                    "name": "cpu-cluster",
                    "namespace": namespace,
                    "spec": {
                        "nodeSelector": {"trainyard.dev/pool": "default"},
                        "maxNodes": 4,
                        "provider": {"type": "static"},
                    },
                }
            ]
        },
        ns=namespace,
    )
    assert proc.returncode == 0, proc.stderr
    # Every namespaced object names its namespace (the store info lives in kube-public), as helm
    # install applies them.
    out = kubectl.run("apply", "--dry-run=server", "-f", "-", input=proc.stdout, check=False)
    assert out.returncode == 0, out.stderr
    assert "statefulset.apps/trainyard-minio created (server dry run)" in out.stdout
