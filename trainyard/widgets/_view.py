"""What RunDetails shows, as pure functions: a view of one run (status with phase times, a metrics
table, the series of every metric logged more than once, the last log lines, the children of a
sweep) and its renderings — HTML with inline SVG line charts for notebooks, text elsewhere."""

from __future__ import annotations

import html
import math

from trainyard.api.conditions import parse_time

# Condition type -> the phase that starts when it turns True, in the order a run goes through them.
PHASE_OF_CONDITION = (
    ("Queued", "Queued"),
    ("Preparing", "Preparing"),
    ("Running", "Running"),
    ("Finalizing", "Finalizing"),
    ("Succeeded", "Completed"),
    ("Failed", "Failed"),
    ("Canceled", "Canceled"),
)
TERMINAL = ("Completed", "Failed", "Canceled")
LOG_LINES = 20


def phase_times(obj: dict, now: float) -> list[dict]:
    """[{phase, start, seconds}] from the run's creation and its conditions' transition times; the
    last phase lasts until `now` unless it is terminal."""
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    marks = [("Queued", created)] if created else []
    for ctype, phase in PHASE_OF_CONDITION[1:]:
        c = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)
        if c and c.get("status") == "True" and c.get("lastTransitionTime"):
            marks.append((phase, parse_time(c["lastTransitionTime"])))
    marks.sort(key=lambda m: m[1])
    out = []
    for i, (phase, start) in enumerate(marks):
        end = marks[i + 1][1] if i + 1 < len(marks) else (start if phase in TERMINAL else now)
        out.append({"phase": phase, "start": start, "seconds": max(0.0, end - start)})
    return out


def metric_series(records: list[dict]) -> dict[str, list]:
    """Every value of each scalar metric, in logged order (a list metric is its list)."""
    series: dict[str, list] = {}
    for rec in records:
        if rec.get("kind") == "metric":
            series.setdefault(rec.get("name"), []).append(rec.get("value"))
        elif rec.get("kind") == "list":
            series[rec.get("name")] = list(rec.get("values") or [])
    return series


def view(
    obj: dict, records: list[dict], log_lines: list[str], *, now: float, children: list[dict] | None = None
) -> dict:
    st = obj.get("status") or {}
    series = metric_series(records)
    latest = dict(st.get("metrics") or {})
    for name, values in series.items():
        if values:
            latest[name] = values[-1]
    return {
        "run": obj["metadata"]["name"],
        "experiment": (obj.get("spec") or {}).get("experiment"),
        "compute": (obj.get("spec") or {}).get("compute"),
        "status": st.get("phase") or "Queued",
        "message": st.get("message"),
        "phases": phase_times(obj, now),
        "metrics": [{"name": k, "value": v, "count": len(series.get(k, [])) or 1} for k, v in latest.items()],
        "charts": {k: v for k, v in series.items() if len(v) > 1 and all(_number(x) for x in v)},
        "log": list(log_lines[-LOG_LINES:]),
        "children": [
            {
                "run": c["metadata"]["name"],
                "status": (c.get("status") or {}).get("phase") or "Queued",
                "metric": (c.get("status") or {}).get("primaryMetric") or "",
            }
            for c in children or []
        ],
        "done": (st.get("phase") or "") in TERMINAL,
    }


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    return str(v)


def _duration(s: float) -> str:
    return f"{s:.1f}s" if s < 120 else f"{int(s // 60)}m{int(s % 60):02d}s"


def svg_line_chart(name: str, values: list[float], width: int = 320, height: int = 140) -> str:
    """A small line chart of `values` (index on x) as inline SVG: no plotting library needed."""
    pad_l, pad_r, pad_t, pad_b = 44, 10, 18, 22
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    n = len(values)

    def xy(i, v):
        x = pad_l + (width - pad_l - pad_r) * (i / (n - 1) if n > 1 else 0.5)
        y = pad_t + (height - pad_t - pad_b) * (1 - (v - lo) / (hi - lo))
        return f"{x:.1f},{y:.1f}"

    points = " ".join(xy(i, v) for i, v in enumerate(values))
    esc = html.escape(name)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{esc}">'
        f'<text x="{pad_l}" y="12" font-size="12" font-family="sans-serif">{esc}</text>'
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#999"/>'
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#999"/>'
        f'<text x="2" y="{pad_t + 8}" font-size="10" font-family="sans-serif">{_fmt(hi)}</text>'
        f'<text x="2" y="{height - pad_b}" font-size="10" font-family="sans-serif">{_fmt(lo)}</text>'
        f'<text x="{width - pad_r - 30}" y="{height - 6}" font-size="10" font-family="sans-serif">n={n}</text>'
        f'<polyline fill="none" stroke="#0078d4" stroke-width="2" points="{points}"/></svg>'
    )


def to_html(v: dict) -> str:
    e = html.escape
    colour = {"Completed": "#107c10", "Failed": "#a80000", "Canceled": "#797775"}.get(v["status"], "#0078d4")
    parts = [
        f"<div style='font-family:sans-serif'><b>{e(v['run'])}</b> — experiment {e(str(v['experiment']))}, "
        f"compute {e(str(v['compute']))}: <b style='color:{colour}'>{e(v['status'])}</b>"
        + (f"<br><i>{e(v['message'])}</i>" if v.get("message") else "")
    ]
    if v["phases"]:
        cells = "".join(
            f"<td style='padding:0 8px'>{e(p['phase'])} {_duration(p['seconds'])}</td>" for p in v["phases"]
        )
        parts.append(f"<table><tr>{cells}</tr></table>")
    if v["metrics"]:
        rows = "".join(
            f"<tr><td>{e(str(m['name']))}</td><td>{e(_fmt(m['value']))}</td><td>{m['count']}</td></tr>"
            for m in v["metrics"]
        )
        parts.append(f"<table><tr><th>metric</th><th>latest</th><th>logged</th></tr>{rows}</table>")
    if v["charts"]:
        parts.append("<div>" + "".join(svg_line_chart(k, vals) for k, vals in v["charts"].items()) + "</div>")
    if v["children"]:
        rows = "".join(
            f"<tr><td>{e(c['run'])}</td><td>{e(c['status'])}</td><td>{e(c['metric'])}</td></tr>" for c in v["children"]
        )
        parts.append(f"<table><tr><th>child run</th><th>status</th><th>metric</th></tr>{rows}</table>")
    if v["log"]:
        parts.append("<pre style='max-height:18em;overflow:auto'>" + e("\n".join(v["log"])) + "</pre>")
    return "".join(parts) + "</div>"


def to_text(v: dict) -> str:
    lines = [
        f"{v['run']} ({v['experiment']} on {v['compute']}): {v['status']}"
        + (f" — {v['message']}" if v.get("message") else "")
    ]
    if v["phases"]:
        lines.append("  " + "  ".join(f"{p['phase']} {_duration(p['seconds'])}" for p in v["phases"]))
    for m in v["metrics"]:
        lines.append(f"  {m['name']}: {_fmt(m['value'])}" + (f" (logged {m['count']} times)" if m["count"] > 1 else ""))
    for c in v["children"]:
        lines.append(f"  child {c['run']}: {c['status']} {c['metric']}")
    if v["log"]:
        lines.append("  last log lines:")
        lines += [f"    {line}" for line in v["log"]]
    return "\n".join(lines)
