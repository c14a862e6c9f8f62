"""The benchmark's outputs: a Markdown table, a JSON file, a chart."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Dict, List, Sequence

if TYPE_CHECKING:
    from .echo import IdleResult, Row, Settings

__all__ = ["chart", "markdown", "write_json"]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def markdown(rows: Sequence["Row"], goals: Sequence[Dict[str, object]],
             idles: Sequence["IdleResult"], settings: "Settings") -> str:
    pin = (f"server pinned to core {settings.pin[0]}, load generator to core {settings.pin[1]}"
           if settings.pin else "not pinned (one core)")
    lines = [
        "## pynet bench echo",
        "",
        f"Warm-up {settings.warmup:g} s, measured {settings.duration:g} s per row; {pin}; "
        "one message in flight per connection; every reply checked byte for byte.",
        "`vs uvloop`: this row's msgs/s over uvloop's; `native speed-up`: native's msgs/s "
        "over this row's; `server CPU`: the server's CPU time (user + system) per message, "
        "which noise from elsewhere on the machine disturbs less than msgs/s, and in "
        "brackets the part of it spent in user space (the rest is the kernel's)."
        + (f" Each row is the best of {settings.rounds} interleaved rounds."
           if settings.rounds > 1 else ""),
        "",
        "| case | server | msgs/s | MB/s | p50 µs | p99 µs | server CPU µs/msg (user) | vs uvloop "
        "| native speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_case: Dict[str, Dict[str, "Row"]] = {}
    for row in rows:
        by_case.setdefault(row.case.label, {})[row.server] = row
    for row in rows:
        peers = by_case[row.case.label]
        if row.error:
            lines.append(f"| {row.case.label} | {row.server} | failed: {row.error} |"
                         " | | | | | |")
            continue
        uv = peers.get("uvloop")
        native = peers.get("native")
        lines.append(
            f"| {row.case.label} | {row.server} | {row.msgs_per_s:,.0f} | {row.mb_per_s:,.2f} "
            f"| {row.p50_us:,.1f} | {row.p99_us:,.1f} "
            f"| {row.server_cpu_us:,.2f} ({row.server_user_us:,.2f}) "
            f"| {_ratio(row.msgs_per_s, uv.msgs_per_s) if uv and not uv.error else '-'} "
            f"| {_ratio(native.msgs_per_s, row.msgs_per_s) if native and not native.error else '-'} |")
    lines += ["", "Goals (same run):"]
    for goal in goals:
        verdict = "met" if goal["met"] else "MISSED"
        lines.append(f"- {goal['case']}: {goal['server']} / {goal['than']} = "
                     f"{goal['ratio']:.2f}x msgs/s (goal >= {goal['goal']:g}x): {verdict}; "
                     f"{goal['than']} spends {goal['cpu_ratio']:.2f}x the CPU per message; "
                     f"at most {goal['kernel_ceiling']:.2f}x if {goal['server']} spent no "
                     "time in user space")
    if not goals:
        lines.append("- (no goal case in this run)")
    for idle in idles:
        if idle.error:
            lines.append(f"- idle connections: {idle.server} held {idle.held} of "
                         f"{idle.connections}: {idle.error}")
        else:
            lines.append(
                f"- idle connections: {idle.server} held {idle.held:,} on one core, "
                f"{idle.bytes_per_connection:,.0f} bytes of user memory (RSS) per connection "
                f"(server RSS {idle.rss_before_kib:,} -> {idle.rss_after_kib:,} KiB, "
                f"{idle.fds_after:,} descriptors open; the kernel's socket memory is not in RSS)")
    return "\n".join(lines)


def write_json(path: str, doc: Dict[str, object]) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def chart(path: str, rows: Sequence["Row"]) -> str:
    """Draw msgs/s per server, one panel per case; '' on success, else why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed (pip install 'pynet[bench]')"
    cases: Dict[str, List["Row"]] = {}
    for row in rows:
        cases.setdefault(row.case.label, []).append(row)
    n = max(1, len(cases))
    cols = 2 if n > 1 else 1
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (label, group) in zip(axes.flat, cases.items()):
        group = sorted(group, key=lambda r: r.msgs_per_s)
        names = [r.server for r in group]
        values = [r.msgs_per_s / 1000.0 for r in group]
        colors = ["#d62728" if r.server.startswith("native") else
                  "#7f7f7f" if r.server in ("uvloop", "asyncio") else "#1f77b4" for r in group]
        bars = ax.barh(names, values, color=colors)
        top = max(values) if values and max(values) > 0 else 1.0
        for bar, r in zip(bars, group):
            text = "failed" if r.error else f"{r.msgs_per_s / 1000.0:,.1f}k"
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, text,
                    va="center", fontsize=8)
        ax.set_xlim(0, top * 1.2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("thousand messages per second (more is better)", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle("pynet echo servers: red = native C loop, grey = asyncio/uvloop references",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""
