"""reap_orphans: a killed test session's daemons are stopped at the next session's start; clusters
whose owner lives, or that have no owner (`trainyard local up`), are left alone."""

import json
import subprocess
import time

from trainyard.local.cluster import ClusterState, reap_orphans
from trainyard.local.processes import alive


def _cluster(root, name, owner, daemon_pid):
    d = root / "pytest-1" / name
    d.mkdir(parents=True)
    ClusterState(
        dir=d,
        pids={"sleeper": daemon_pid},
        ports={},
        binaries={"sleeper": "sleep"},
        s3_access_key="a",
        s3_secret_key="b",
        nodes=0,
        owner=owner,
    ).save()
    return d


def test_only_clusters_of_dead_owners_are_stopped(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    daemons = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        orphan = _cluster(tmp_path, "orphan", dead.pid, daemons[0].pid)
        _cluster(tmp_path, "owned", subprocess.os.getpid(), daemons[1].pid)
        _cluster(tmp_path, "cli", None, daemons[2].pid)
        assert reap_orphans(tmp_path) == [orphan]
        daemons[0].wait(10)
        time.sleep(0.1)
        assert not alive(daemons[0].pid)
        assert alive(daemons[1].pid) and alive(daemons[2].pid)
        assert ClusterState.load(orphan).pids == {}
        assert reap_orphans(tmp_path) == []  # nothing left to stop
    finally:
        for p in daemons:
            p.kill()
            p.wait()


def test_a_state_file_from_before_owners_loads_without_one(tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    ClusterState(dir=d, pids={}, ports={}, binaries={}, s3_access_key="a", s3_secret_key="b", nodes=0).save()
    data = json.loads((d / "state.json").read_text())
    del data["owner"]
    (d / "state.json").write_text(json.dumps(data))
    assert ClusterState.load(d).owner is None and ClusterState.load(d).dir == d
