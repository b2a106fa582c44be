"""`trainyard logs RUN`: the run's output, from the pod through the API server (the kubelet).

- The script ran (or runs): the `run` container's log.
- The run never reached its script (it failed, or still is, at staging): the `stage` init
  container's log, after a line on stderr saying so.
- The pod is gone (the Job was removed, the run is old): the copy the runner uploaded,
  runs/<ns>/<run>/logs/std_log.txt in the object store. `--from-store` reads that copy directly.

Any other failure to read the pod's log is one line naming the container, the API server's answer
and what the run's status says; it is never quietly replaced by another source.
"""

from __future__ import annotations

import sys
import time

from trainyard.cli import kube, run_list
from trainyard.cli.kube import CliError

# The containers of a run's pod (operator/trainingrun/job.py builds them).
STAGE_CONTAINER = "stage"
RUN_CONTAINER = "run"


def _state(pod: dict, field: str, name: str) -> dict:
    for s in (pod.get("status") or {}).get(field) or ():
        if s.get("name") == name:
            return s.get("state") or {}
    return {}


def _started(state: dict) -> bool:
    return state.get("running") is not None or state.get("terminated") is not None


def pick_container(pod: dict) -> tuple[str | None, str]:
    """(container to read, a note for stderr): `run` once it has started; else `stage` once it
    has; else (None, why there is nothing yet)."""
    name = pod["metadata"]["name"]
    if _started(_state(pod, "containerStatuses", RUN_CONTAINER)):
        return RUN_CONTAINER, ""
    stage = _state(pod, "initContainerStatuses", STAGE_CONTAINER)
    if stage.get("running") is not None:
        return STAGE_CONTAINER, f"the script has not started: pod {name} is staging code and inputs; its output:"
    done = stage.get("terminated")
    if done:
        how = f"staging failed (exit code {done.get('exitCode')})" if done.get("exitCode") else "staging ended"
        return STAGE_CONTAINER, f"the script never started: {how}; the output of pod {name}'s staging container:"
    waiting = (stage.get("waiting") or _state(pod, "containerStatuses", RUN_CONTAINER).get("waiting")) or {}
    why = ": ".join(x for x in (waiting.get("reason"), waiting.get("message")) if x)
    return None, f"pod {name} has not started a container yet" + (f" ({why})" if why else "")


def register(sub) -> None:
    lg = sub.add_parser("logs", help="a run's script output (or its staging output if the script never started)")
    lg.add_argument("run")
    lg.add_argument("-f", "--follow", action="store_true")
    lg.add_argument(
        "--from-store", action="store_true", help="the copy the run uploaded to the object store (logs/std_log.txt)"
    )
    lg.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig's)")
    lg.set_defaults(func=logs)


def logs(args) -> int:
    ns = args.namespace or kube.default_namespace()
    run = kube.get_run(ns, args.run)
    if args.from_store:
        return _from_store(ns, run, why="")
    for _ in range(2):  # the staging container, then the script's once it starts
        pods = kube.run_pods(ns, args.run)
        if not pods:
            ended = (run.get("status") or {}).get("phase") in ("Completed", "Failed", "Canceled")
            return _from_store(ns, run, why="its pod is gone" if ended else "it has no pod yet")
        pod = pods[-1]
        container, note = pick_container(pod)
        if container is None:
            raise CliError(f"no logs for run {args.run} yet: it is {_status(ns, args.run)}; {note}")
        if note:
            print(f"trainyard: {note}", file=sys.stderr)
        try:
            _show(ns, pod["metadata"]["name"], container, follow=args.follow)
        except kube.PodGone:
            return _from_store(ns, run, why="its pod is gone")
        except CliError as exc:
            raise CliError(
                f"cannot read container {container!r} of pod {ns}/{pod['metadata']['name']}: {exc}; "
                f"the run is {_status(ns, args.run)}"
                + (
                    f"; its uploaded copy: `trainyard logs {args.run} --from-store`"
                    if container == RUN_CONTAINER
                    else ""
                )
            ) from None
        if not (args.follow and container == STAGE_CONTAINER) or not _script_starts(ns, args.run, pod):
            return 0
        print(f"trainyard: staging done; the script's output (pod {pod['metadata']['name']}):", file=sys.stderr)
    return 0


def _status(ns: str, name: str) -> str:
    return run_list.describe_status(kube.get_run(ns, name).get("status") or {})


def _show(ns: str, pod: str, container: str, *, follow: bool) -> None:
    if follow:
        resp = kube.container_log(ns, pod, container, follow=True)
        for chunk in resp.stream(amt=4096):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
    else:
        sys.stdout.write(kube.container_log(ns, pod, container))


def _script_starts(ns: str, run: str, staged: dict, timeout: float = 120.0) -> bool:
    """After following the staging container: whether the script's container starts (the kubelet
    starts it right after staging succeeds; a failed staging fails the pod)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uid = staged["metadata"].get("uid")
        pod = next((p for p in kube.run_pods(ns, run) if p["metadata"].get("uid") == uid), None)
        if pod is None or (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return bool(pod) and _started(_state(pod, "containerStatuses", RUN_CONTAINER))
        if _started(_state(pod, "containerStatuses", RUN_CONTAINER)):
            return True
        time.sleep(1.0)
    return False


def _from_store(ns: str, run: dict, *, why: str) -> int:
    from trainyard.cli.runs_cmd import _store
    from trainyard.storage import layout

    name = run["metadata"]["name"]
    cfg, client = _store()
    key = layout.run_prefix_of(run) + "logs/std_log.txt"
    try:
        resp = client.get_object(cfg.bucket, key)
    except Exception as exc:
        from trainyard.storage.config import describe

        if getattr(exc, "code", None) not in ("NoSuchKey", "NoSuchObject"):
            raise CliError(f"cannot read s3://{cfg.bucket}/{key} at {cfg.url}: {describe(exc)}") from None
        st = run_list.describe_status(run.get("status") or {})
        raise CliError(
            f"no logs for run {name}: it is {st}" + (f"; {why}" if why else "") + f" and s3://{cfg.bucket}/{key} "
            "does not exist (the runner uploads it when the script ends)"
        ) from None
    try:
        sys.stdout.write(resp.read().decode(errors="replace"))
    finally:
        resp.close()
        resp.release_conn()
    return 0
