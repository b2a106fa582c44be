"""Kubernetes-style `$(VAR)` expansion of script arguments (what a container's `args` get):
`$(NAME)` becomes the variable's value, `$$` is a literal `$` (so `$$(NAME)` stays `$(NAME)`), and
a reference to an unknown variable or an unclosed `$(` is left exactly as written."""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, env: Mapping[str, str]) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 == n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(env[name] if name in env else text[i : close + 1])
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def expand_args(args: list[str] | tuple[str, ...], env: Mapping[str, str]) -> list[str]:
    return [expand(a, env) for a in args]
