"""Running a README's shell blocks as a user types them (tests/e2e/test_mnist_walkthrough.py):
the commands in order, one bash, a marker after each so each command's output can be checked."""

from __future__ import annotations

import re
import textwrap

MARK = "@@@"


def readme_commands(text: str) -> list[str]:
    """The README's shell commands in order: each ```sh block (list items indent them),
    dedented, split into commands; a trailing backslash continues a command."""
    commands = []
    for _indent, body in re.findall(r"^( *)```sh\n(.*?)^\1```", text, re.S | re.M):
        pending = ""
        for line in textwrap.dedent(body).splitlines():
            if not line.strip() and not pending:
                continue
            pending += line + "\n"
            if not line.rstrip().endswith("\\"):
                commands.append(pending.rstrip("\n"))
                pending = ""
    return commands


def _port_forwarded(cmd: str) -> str | None:
    """The local port of a backgrounded `kubectl port-forward`, else None."""
    if not cmd.split("#")[0].rstrip().endswith("&"):
        return None
    m = re.search(r"port-forward\s+\S+\s+(\d+):", cmd)
    return m.group(1) if m else None


def script(commands: list[str], *, show: tuple[str, ...] = ()) -> str:
    """One bash script: each command, then `@@@ <index> <exit status>` on both streams; a failing
    command ends it, as it ends a user's walkthrough. After a backgrounded port-forward it waits
    (bounded, 60 s) for the port to listen, as a user types on once it does. Finally the shell
    variables named in `show` are printed as `@@@ NAME=value`."""
    lines = []
    for i, cmd in enumerate(commands):
        lines.append(cmd)
        lines.append(f'rc=$?; echo "{MARK} {i} $rc"; echo "{MARK} {i} $rc" >&2; [ "$rc" = 0 ] || exit "$rc"')
        port = _port_forwarded(cmd)
        if port:
            probe = f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null"
            lines.append(f"for _ in $(seq 300); do {probe} && break; sleep 0.2; done")
            lines.append(f'{probe} || {{ echo "the port-forward to {port} did not listen" >&2; exit 97; }}')
    lines += [f'echo "{MARK} {name}=${{{name}}}"' for name in show]
    return "\n".join(lines) + "\n"


def split_outputs(text: str) -> dict[int, str]:
    """Each command's output, by the index its marker names."""
    out, current = {}, []
    for line in text.splitlines():
        m = re.match(rf"^{MARK} (\d+) (\d+)$", line)
        if m:
            out[int(m.group(1))] = "\n".join(current)
            current = []
        else:
            current.append(line)
    return out


def shown(text: str, name: str) -> str | None:
    m = re.search(rf"^{MARK} {name}=(.*)$", text, re.M)
    return m.group(1) if m else None
