"""`trainyard clusters` output as data: nodes, queue in position order, running runs, conditions."""

from __future__ import annotations

from trainyard.cli.clusters_cmd import render
from trainyard.cli.main import build_parser


def run(name, compute="cpu", phase="Queued", position=None, created="2026-01-01T00:00:00Z", terminal=False):
    status = {"phase": phase}
    if position:
        status["queuePosition"] = position
    if terminal:
        status["conditions"] = [{"type": "Succeeded", "status": "True"}]
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"compute": compute}, "status": status}


def test_render_shows_nodes_queue_and_running_runs():
    cc = {
        "metadata": {"name": "cpu"},
        "spec": {"provider": {"type": "kwok"}, "minNodes": 0, "maxNodes": 4, "priority": "spot"},
        "status": {
            "currentNodes": 2,
            "readyNodes": 2,
            "busyNodes": 1,
            "desiredNodes": 4,
            "lastScaleTime": "2026-01-01T00:00:05.000Z",
            "nodes": [
                {"name": "n1", "ready": True, "busy": True, "runs": 2},
                {"name": "n2", "ready": True, "busy": False, "runs": 0, "idleSince": "2026-01-01T00:00:09.000Z"},
            ],
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "PoolReady", "message": ""},
                {"type": "ScalingUp", "status": "True", "reason": "QueuedDemand", "message": "adding 2 node(s)"},
            ],
        },
    }
    runs = [
        run("late", position=2),
        run("first", position=1),
        run("busy-1", phase="Running"),
        run("done", phase="Completed", terminal=True),
        run("elsewhere", compute="gpu"),
    ]
    text = render([cc], runs)
    assert text.splitlines()[0] == (
        "cpu  [kwok, spot, 0..4 nodes]  nodes 2 (ready 2, busy 1, desired 4)  queued 2  running 1"
    )
    assert "status: ScalingUp=True (QueuedDemand: adding 2 node(s))" in text
    assert "node n1" in text and "busy  runs 2" in text and "idle since 2026-01-01T00:00:09.000Z" in text
    assert "queue: first (#1), late (#2)" in text and "running: busy-1" in text
    assert "done" not in text and "elsewhere" not in text


def test_clusters_is_a_command():
    args = build_parser().parse_args(["clusters", "-n", "team-a", "cpu"])
    assert args.name == "cpu" and args.namespace == "team-a" and args.func.__name__ == "clusters"
