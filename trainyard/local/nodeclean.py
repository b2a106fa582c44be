"""Clean-up of a real local node beyond stopping its daemons: whatever pods, the runtime and the
network plugins left on the host when something did not stop in order.

Everything here is scoped to what this node made: tasks of its own containerd (by socket), shims
started with its socket address, mounts under its state directory, network namespaces of its
sandboxes, iptables rules tagged with its CNI network name, interfaces with its names.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

from trainyard.local import nodeconfig as cfg
from trainyard.local.processes import alive, cmdline


def running_tasks(node) -> list[tuple[str, int]]:
    proc = node.ctr("tasks", "ls", check=False)
    tasks = []
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("RUNNING", "PAUSED", "CREATED"):
            tasks.append((parts[0], int(parts[1])))
    return tasks


def _sandbox_netns(node) -> dict[str, str]:
    """container id -> network namespace path, for each pod sandbox containerd knows."""
    found = {}
    ids = node.ctr("containers", "ls", "-q", check=False).stdout.split()
    for cid in ids:
        info = node.ctr("containers", "info", cid, check=False)
        if info.returncode != 0:
            continue
        data = json.loads(info.stdout)
        if data.get("Labels", {}).get("io.cri-containerd.kind") != "sandbox":
            continue
        for ns in ((data.get("Spec") or {}).get("linux") or {}).get("namespaces", []):
            if ns.get("type") == "network" and ns.get("path"):
                found[cid] = ns["path"]
    return found


def kill_tasks(node) -> None:
    """SIGKILL every container the runtime still runs, and release their pod networks the way the
    runtime would (CNI DEL with our network configuration)."""
    netns = _sandbox_netns(node)
    for _, pid in running_tasks(node):
        _kill_tree(pid)
    for cid, path in netns.items():
        cni_del(node, cid, path)
        _umount(path)
        Path(path).unlink(missing_ok=True)


def cni_del(node, container_id: str, netns: str) -> None:
    conflist = json.loads(next(node.paths.cni_conf_dir.glob("*.conflist")).read_text())
    env = {
        **os.environ,
        "CNI_COMMAND": "DEL",
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": cfg.CNI_BIN_DIR,
    }
    for plugin in reversed(conflist["plugins"]):
        conf = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}
        subprocess.run(
            [str(Path(cfg.CNI_BIN_DIR) / plugin["type"])],
            input=json.dumps(conf),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                kids.append(int(d.name))
    return kids


def _kill_tree(pid: int) -> None:
    for child in _children(pid):
        _kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _shims(socket: Path) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            line = cmdline(int(d.name))
            if "containerd-shim" in line and str(socket) in line:
                pids.append(int(d.name))
    return pids


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _umount(point: str) -> None:
    if subprocess.run(["umount", point], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", point], capture_output=True)


def unmount_all(root: Path) -> list[str]:
    points = _mounts_under((str(root.resolve()),))
    for point in points:
        _umount(point)
    return points


def _iptables_cleanup() -> None:
    """Remove the CNI bridge plugin's masquerade rules and chains of our network (tagged in their
    comments with `name: "trainyard"`), and the kubelet's canary chains."""
    dump = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    chains = set()
    for line in dump.splitlines():
        if line.startswith("-A POSTROUTING") and 'name: \\"trainyard\\"' in line:
            m = re.search(r"-j (CNI-[0-9a-f]+)", line)
            if m:
                chains.add(m.group(1))
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(line)[1:]], capture_output=True)
    for chain in chains:
        subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True)
    # What the kubelet adds (KUBE-FIREWALL, KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY) and anything of
    # kube-proxy's that `kube-proxy --cleanup` left: jumps into KUBE-* chains, then the chains.
    for table in ("mangle", "nat", "filter"):
        rules = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout.splitlines()
        for line in rules:
            if (
                line.startswith("-A ")
                and re.search(r" -j KUBE-[A-Z0-9-]+", line)
                and not line.split()[1].startswith("KUBE-")
            ):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line)[1:]], capture_output=True)
        chains = [line[1:].split()[0] for line in rules if line.startswith(":KUBE-")]
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)


def _remove_cgroups() -> None:
    """Empty cgroup directories the kubelet made (kubepods/...) on each v1 hierarchy."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / "kubepods"
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        try:
            top.rmdir()
        except OSError:
            pass


def after_daemons(node, *, kube_proxy: Path) -> None:
    """Run once containerd, the kubelet and kube-proxy have exited."""
    for shim in _shims(node.paths.containerd_socket):
        _kill_tree(shim)
    unmount_all(node.dir)
    subprocess.run([str(kube_proxy), "--cleanup", "--proxy-mode=iptables"], capture_output=True, timeout=60)
    _iptables_cleanup()
    for ifname in (cfg.BRIDGE_IF, cfg.NODE_IF):
        subprocess.run(["ip", "link", "del", ifname], capture_output=True)
    _remove_cgroups()


def leftovers(node) -> dict[str, list]:
    """What of this node is still on the host (empty lists when `stop` cleaned up)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {
        "interfaces": [n for n in (cfg.BRIDGE_IF, cfg.NODE_IF) if f" {n}:" in links or f" {n}@" in links],
        "mounts": _mounts_under((str(node.dir.resolve()),)),
        "shims": [p for p in _shims(node.paths.containerd_socket) if alive(p)],
        "iptables": [
            line
            for line in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
            if "KUBE-" in line or 'name: \\"trainyard\\"' in line
        ],
    }
