"""A "process kubelet" for the integration tier: a Node whose pods run as local processes.

It does what a kubelet does for the pods the scheduler binds to its node, minus containers: runs
the init containers then the main container as subprocesses with the pod's env (values, Secret and
ConfigMap refs, envFrom), volumes as per-pod directories (emptyDir), a node-wide directory
(hostPath) or files (configMap/secret), a service-account token from the TokenRequest API, and
writes the pod's status back through the API (container states, exit codes, termination
messages, phase). Deleting a pod kills its process and confirms the deletion. The end-to-end tier
runs the same pods on a real kubelet.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import kubernetes
from kubernetes.client.rest import ApiException


def _micro_now():
    # A Lease's renewTime is a MicroTime: the client must send fractional seconds.
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(microsecond=max(1, now.microsecond))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ProcessKubelet:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        node: str,
        root: Path,
        *,
        api_url: str,
        ca_file: Path,
        labels: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.core = kubernetes.client.CoreV1Api(api)
        self.coord = kubernetes.client.CoordinationV1Api(api)
        self.node, self.root, self.api_url, self.ca_file = node, root, api_url, ca_file
        self.labels = labels or {}
        self.extra_env = extra_env or {}
        self._stop = threading.Event()
        self._seen: set[str] = set()
        self._procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self.started_pods: list[str] = []

    # ---- node ------------------------------------------------------------------------------
    def register(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", **self.labels},
            },
        }
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._heartbeat()

    def _heartbeat(self) -> None:
        now = _now()
        cap = {"cpu": "8", "memory": "32Gi", "pods": "110"}
        self.core.patch_node_status(
            self.node,
            {
                "status": {
                    "capacity": cap,
                    "allocatable": cap,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "process kubelet",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                    ],
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                }
            },
        )
        lease = {
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": _micro_now()},
        }
        try:
            self.coord.patch_namespaced_lease(self.node, "kube-node-lease", {"spec": lease["spec"]})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", lease)

    # ---- loop ------------------------------------------------------------------------------
    def start(self) -> ProcessKubelet:
        self.register()
        t = threading.Thread(target=self._loop, name=f"process-kubelet-{self.node}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for _uid, proc in list(self._procs.items()):
            if proc.poll() is None:
                proc.kill()
        for t in self._threads:
            t.join(timeout=10)

    def _loop(self) -> None:
        last_beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_beat > 10:
                    self._heartbeat()
                    last_beat = time.monotonic()
                pods = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node}").items
                for pod in pods:
                    uid = pod.metadata.uid
                    if pod.metadata.deletion_timestamp is not None:
                        self._kill_and_confirm(pod)
                    elif uid not in self._seen and pod.status.phase == "Pending":
                        self._seen.add(uid)
                        t = threading.Thread(target=self._run_pod, args=(pod,), daemon=True)
                        t.start()
                        self._threads.append(t)
            except Exception as exc:  # keep serving; a test will fail on the pod's state if this matters
                print(f"process-kubelet: {exc}", file=sys.stderr)
            self._stop.wait(0.1)

    def _kill_and_confirm(self, pod) -> None:
        proc = self._procs.get(pod.metadata.uid)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        try:
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ---- one pod ---------------------------------------------------------------------------
    def _volumes(self, pod, pod_dir: Path) -> dict[str, Path]:
        paths = {}
        for v in pod.spec.volumes or []:
            if v.empty_dir is not None:
                paths[v.name] = pod_dir / "volumes" / v.name
                paths[v.name].mkdir(parents=True, exist_ok=True)
            elif v.host_path is not None:
                paths[v.name] = self.root / "hostpath" / v.host_path.path.strip("/")
                paths[v.name].mkdir(parents=True, exist_ok=True)
            elif v.config_map is not None or v.secret is not None:
                d = pod_dir / "volumes" / v.name
                d.mkdir(parents=True, exist_ok=True)
                if v.config_map is not None:
                    cm = self.core.read_namespaced_config_map(v.config_map.name, pod.metadata.namespace)
                    files = {k: val.encode() for k, val in (cm.data or {}).items()}
                    files.update({k: base64.b64decode(val) for k, val in (cm.binary_data or {}).items()})
                else:
                    sec = self.core.read_namespaced_secret(v.secret.secret_name, pod.metadata.namespace)
                    files = {k: base64.b64decode(val) for k, val in (sec.data or {}).items()}
                for k, data in files.items():
                    (d / k).write_bytes(data)
                paths[v.name] = d
        return paths

    def _env(self, pod, c, rewrite) -> dict[str, str]:
        ns = pod.metadata.namespace
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PYTHONUNBUFFERED": "1"}
        for ef in c.env_from or []:
            if ef.secret_ref is not None:
                sec = self.core.read_namespaced_secret(ef.secret_ref.name, ns)
                env.update({k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()})
            if ef.config_map_ref is not None:
                env.update(self.core.read_namespaced_config_map(ef.config_map_ref.name, ns).data or {})
        for e in c.env or []:
            if e.value is not None:
                env[e.name] = e.value
            elif e.value_from and e.value_from.secret_key_ref:
                ref = e.value_from.secret_key_ref
                env[e.name] = base64.b64decode(self.core.read_namespaced_secret(ref.name, ns).data[ref.key]).decode()
            elif e.value_from and e.value_from.field_ref:
                path = e.value_from.field_ref.field_path
                env[e.name] = {
                    "metadata.name": pod.metadata.name,
                    "metadata.namespace": ns,
                    "spec.nodeName": self.node,
                }.get(path, "")
        env = {k: rewrite(v) for k, v in env.items()}
        env.update(self.extra_env)
        return env

    def _patch_status(self, pod, status: dict) -> None:
        self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})

    def _run_pod(self, pod) -> None:
        pod_dir = self.root / "pods" / pod.metadata.uid
        pod_dir.mkdir(parents=True, exist_ok=True)
        self.started_pods.append(f"{pod.metadata.namespace}/{pod.metadata.name}")
        vols = self._volumes(pod, pod_dir)
        token_file = pod_dir / "token"
        token = self.core.create_namespaced_service_account_token(
            pod.spec.service_account_name or "default",
            pod.metadata.namespace,
            {"spec": {"audiences": [], "expirationSeconds": 3600}},
        ).status.token
        token_file.write_text(token)
        start = _now()
        init_statuses: list[dict] = []
        self._patch_status(
            pod,
            {
                "phase": "Pending",
                "startTime": start,
                "hostIP": "127.0.0.1",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "False"}],
            },
        )
        for c in pod.spec.init_containers or []:
            result = self._run_container(
                pod,
                c,
                vols,
                pod_dir,
                token_file,
                lambda running: self._patch_status(pod, {"initContainerStatuses": init_statuses + [running]}),
            )
            init_statuses.append(result)
            if result["state"]["terminated"]["exitCode"] != 0:
                self._patch_status(
                    pod,
                    {
                        "phase": "Failed",
                        "initContainerStatuses": init_statuses,
                        "containerStatuses": [
                            {
                                "name": m.name,
                                "image": m.image,
                                "ready": False,
                                "restartCount": 0,
                                "state": {"waiting": {"reason": "PodInitializing"}},
                            }
                            for m in pod.spec.containers
                        ],
                    },
                )
                return
        statuses = []
        for c in pod.spec.containers:
            result = self._run_container(
                pod,
                c,
                vols,
                pod_dir,
                token_file,
                lambda running: self._patch_status(
                    pod,
                    {
                        "phase": "Running",
                        "initContainerStatuses": init_statuses,
                        "containerStatuses": [running],
                        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                    },
                ),
            )
            statuses.append(result)
        ok = all(s["state"]["terminated"]["exitCode"] == 0 for s in statuses)
        self._patch_status(
            pod,
            {
                "phase": "Succeeded" if ok else "Failed",
                "initContainerStatuses": init_statuses,
                "containerStatuses": statuses,
                "conditions": [{"type": "Ready", "status": "False"}],
            },
        )

    def _run_container(self, pod, c, vols: dict[str, Path], pod_dir: Path, token_file: Path, on_start) -> dict:
        mounts = sorted(
            ((m.mount_path, vols[m.name]) for m in c.volume_mounts or [] if m.name in vols), key=lambda m: -len(m[0])
        )
        term_file = pod_dir / f"{c.name}.termination"

        def rewrite(value: str) -> str:
            if c.termination_message_path and value == c.termination_message_path:
                return str(term_file)
            for mount_path, host in mounts:
                if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                    return str(host) + value[len(mount_path.rstrip("/")) :]
            return value

        env = self._env(pod, c, rewrite)
        env.setdefault("TRAINYARD_KUBE_API", self.api_url)
        env.update({"TRAINYARD_KUBE_TOKEN_FILE": str(token_file), "TRAINYARD_KUBE_CA_FILE": str(self.ca_file)})
        argv = [rewrite(a) for a in (c.command or []) + (c.args or [])]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        cwd = rewrite(c.working_dir) if c.working_dir else str(pod_dir)
        Path(cwd).mkdir(parents=True, exist_ok=True)
        log_path = pod_dir / f"{c.name}.log"
        started = _now()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self._procs[pod.metadata.uid] = proc
            on_start(
                {
                    "name": c.name,
                    "image": c.image,
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
            )
            code = proc.wait()
        message = term_file.read_text() if term_file.exists() else ""
        if not message and code != 0 and c.termination_message_policy == "FallbackToLogsOnError":
            message = "\n".join(log_path.read_text(errors="replace").splitlines()[-80:])
        return {
            "name": c.name,
            "image": c.image,
            "ready": False,
            "restartCount": 0,
            "state": {
                "terminated": {
                    "exitCode": code if code >= 0 else 128 - code,
                    "reason": "Completed" if code == 0 else "Error",
                    "message": message[-4096:],
                    "startedAt": started,
                    "finishedAt": _now(),
                }
            },
        }

    def log_of(self, namespace: str, pod_name: str, container: str) -> str:
        for uid_dir in (self.root / "pods").glob("*"):
            p = uid_dir / f"{container}.log"
            if p.exists():
                pods = self.core.list_namespaced_pod(namespace, field_selector=f"metadata.name={pod_name}").items
                if pods and pods[0].metadata.uid == uid_dir.name:
                    return p.read_text(errors="replace")
        return ""

    def cleanup(self) -> None:
        shutil.rmtree(self.root / "pods", ignore_errors=True)
