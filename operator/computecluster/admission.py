"""The admission decision of a ComputeCluster's queue, recorded on each run as `status.admission`
(as Kueue records a Workload's admission) — pure functions over plain dicts.

The cluster's pass (reconcile.py beside this module) is the only writer of `status.admission`;
the run's own reconcile (operator/trainingrun/reconcile.py) reads it from the object and creates
the Job once `admitted` is true. The decision lives in the API, so a restarted operator (or a
second replica) sees the same decisions.

Rules:
- a run admitted once stays admitted: its record is never rewritten (its Job may exist already);
- a run that has a Job is admitted, whatever its record says (a Job made before records existed);
- an admitted run whose Job does not exist yet holds its place in the pool (queue.ADMITTED), so
  the next pass does not give that place away before the Job appears;
- with Kueue, every run is admitted by handing it to the LocalQueue (`kueueQueue`): its Job is
  created suspended, and Kueue's own admission unsuspends it;
- the first decision, and admission itself, are written at once; a change of position or message
  only (a queue of 200 moving up by one) at most every POSITION_REFRESH_SECONDS per run.
"""

from __future__ import annotations

from trainyard.api import trainingrun as tr
from trainyard.api.conditions import parse_time, rfc3339
from trainyard.operator.computecluster.queue import Plan

POSITION_REFRESH_SECONDS = 5.0  # a queued run's position is rewritten at most this often


def recorded(run: dict) -> dict | None:
    """The decision the run carries (None before the first pass decided)."""
    return (run.get("status") or {}).get(tr.ADMISSION)


def is_admitted(run: dict) -> bool:
    return bool((recorded(run) or {}).get("admitted"))


def holds_place(run: dict, has_job: bool) -> bool:
    """Admitted by the built-in queue but its Job not created yet: it counts as holding capacity."""
    rec = recorded(run) or {}
    return not has_job and bool(rec.get("admitted")) and not rec.get("kueueQueue")


def admitted_record(cluster_name: str, *, onto_new_node: bool = False) -> dict:
    where = "; its pod waits for a node being added" if onto_new_node else ""
    return {
        "admitted": True,
        "reason": tr.REASON_WAITING_FOR_SCALE_UP if onto_new_node else tr.REASON_ADMITTED,
        "message": f"admitted by ComputeCluster {cluster_name!r}{where}",
    }


def kueue_record(queue: str) -> dict:
    return {
        "admitted": True,
        "reason": tr.REASON_ADMITTED,
        "kueueQueue": queue,
        "message": f"handed to Kueue LocalQueue {queue!r}, which admits it by unsuspending its Job",
    }


def decisions(
    p: Plan,
    cluster: dict,
    held: dict[str, dict | None],
    *,
    at_max: bool,
    scaling_up: bool,
    kueue_queue: str | None,
) -> dict[str, dict]:
    """The record (without `time`) each live run should carry. `held`: runs that have a Job or are
    admitted already, with the record they carry — an admitted record is kept as it is."""
    name = cluster["metadata"]["name"]
    out: dict[str, dict] = {}
    onto_new = set(p.onto_new_nodes)
    for run in p.admit:
        out[run] = admitted_record(name, onto_new_node=run in onto_new)
    total = len(p.positions) + len(p.too_big)
    coming = set(p.waiting_for_new_nodes)
    for run, pos in p.positions.items():
        scaling = run in coming or scaling_up and not at_max
        why = (
            "waiting for a node being added"
            if scaling
            else f"the pool is at maxNodes={cluster['spec']['maxNodes']}"
            if at_max
            else "waiting for capacity (a running run to end or nodes to be added)"
        )
        out[run] = {
            "admitted": False,
            "reason": tr.REASON_WAITING_FOR_SCALE_UP if scaling else tr.REASON_WAITING_FOR_CAPACITY,
            "position": pos,
            "message": f"position {pos} of {total} in the queue of ComputeCluster {name!r}: {why}",
        }
    for i, run in enumerate(p.too_big, start=len(p.positions) + 1):
        out[run] = {
            "admitted": False,
            "reason": tr.REASON_WAITING_FOR_CAPACITY,
            "position": i,
            "message": f"needs more than one node of ComputeCluster {name!r} offers "
            f"(spec.nodeResources); lower spec.resources or use another cluster",
        }
    if kueue_queue:
        out = {r: kueue_record(kueue_queue) for r in out}
    for run, rec in held.items():
        if rec and rec.get("admitted"):
            out[run] = rec
        else:
            out[run] = kueue_record(kueue_queue) if kueue_queue else admitted_record(name)
    return out


def _without_time(rec: dict | None) -> dict | None:
    return None if rec is None else {k: v for k, v in rec.items() if k != "time"}


def due(old: dict | None, new: dict, now: float, refresh: float = POSITION_REFRESH_SECONDS) -> bool:
    """Whether the pass writes `new` over the run's `old` record now."""
    if _without_time(old) == new:
        return False
    if old is None or bool(old.get("admitted")) != bool(new.get("admitted")):
        return not (old or {}).get("admitted")  # never un-admit
    if old.get("admitted"):
        return False  # an admitted record is final
    written = parse_time(old.get("time"))
    return written is None or now - written >= refresh


def patch_for(old: dict | None, new: dict, now: float) -> dict:
    """The merge patch of `status` that replaces the run's record with `new` (merge patches merge
    objects key by key: keys of the old record that `new` lacks are removed explicitly)."""
    body = {**new, "time": rfc3339(now)}
    body.update({k: None for k in old or {} if k not in body})
    return {tr.ADMISSION: body}
