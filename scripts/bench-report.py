#!/usr/bin/env python3
"""Part of scripts/bench: turns the raw result lines into bench/RESULTS.md, bench/results.json
and one small SVG bar chart per figure (written by hand: no plotting library, no network).

    bench-report.py RAW_LINES OUT_DIR RUNS WARMUP_S WINDOW_S
"""

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone

# figure -> (title, budget text, budget value, unit, higher_is_better, key, baseline text)
FIGURES = [
    ("idle_held", "connections held by one server process", "≥ 19,000", 19000, "connections",
     True, "held", "bare tokio-tungstenite server, same client count"),
    ("idle", "memory per idle connection, incl. kernel", "≤ 16 KiB", 16, "KiB", False, "value",
     "bare tokio-tungstenite server (default buffers)"),
    ("signups", "sign-ups per second, one server", "≥ 5,000", 5000, "/s", True, "value",
     "same handshake, argon2id (m=19 MiB, t=2, p=1) per sign-up"),
    ("fanout", "deliveries per second (fan-out), one process", "≥ 150,000", 150000, "/s", True,
     "value", "bare tokio-tungstenite broadcast server"),
    ("latency_p50", "p50 send→receive latency at 20,000 msg/s", "—", None, "ms", False, "value",
     "same server, one message per connection in flight (--sends-in-flight 1)"),
    ("latency", "p99 send→receive latency at 20,000 msg/s, durable commit included", "≤ 25 ms", 25,
     "ms", False, "p99_ms", "same server, one message per connection in flight (--sends-in-flight 1)"),
    ("durable", "durable messages per second (acked after commit)", "≥ 50,000", 50000, "/s", True,
     "value", "same server, one message per connection in flight (--sends-in-flight 1)"),
]

# Which raw figure each row reads from.
SOURCE = {"idle_held": "idle", "latency_p50": "latency"}

COMMANDS = {
    "idle_held": "IDLE_CONNECTIONS=19000 scripts/bench (scripts/bench-idle; merpati-loadgen idle ×4 processes)",
    "idle": "scripts/bench (scripts/bench-idle; merpati-loadgen idle ×4 / merpati-bench hold-bare ×4)",
    "signups": "merpati-bench signup (baseline: merpati-bench argon2-server + merpati-bench signup --concurrency 16)",
    "fanout": "merpati-bench fanout --groups 10 --members 100 (baseline: merpati-bench broadcast-server + merpati-bench fanout --bare)",
    "latency_p50": "merpati-bench latency --rate 20000 --pairs 500 (server at default settings; baseline: merpati-server --sends-in-flight 1)",
    "latency": "merpati-bench latency --rate 20000 --pairs 500 (server at default settings; baseline: merpati-server --sends-in-flight 1)",
    "durable": "merpati-bench durable --senders 200 --outstanding 64 (baseline: merpati-server --sends-in-flight 1)",
}


def sh(command):
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return "?"


def machine():
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "nproc": sh("nproc"),
        "cpu": cpu or platform.processor(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": sh("rustc --version"),
        "open_file_limit": sh("ulimit -n"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh("git rev-parse --short HEAD"),
        "loadavg_at_report": open("/proc/loadavg").read().split()[0:3],
    }


def fmt(value, unit):
    if value is None:
        return "—"
    if unit in ("ms", "KiB"):
        return f"{value:.2f} {unit}"
    if unit == "connections":
        return f"{value:,.0f}"
    return f"{value:,.0f} {unit}"


def verdict(value, budget, higher):
    if value is None or budget is None:
        return "—"
    ok = value >= budget if higher else value <= budget
    return "meets" if ok else "**misses**"


def svg(path, title, unit, budget, rows):
    """A horizontal bar chart: one bar per (label, value, runs), the budget as a line."""
    width, left, bar, gap = 640, 150, 26, 14
    values = [v for _, v, _ in rows if v is not None] + ([budget] if budget else [])
    top = max(values) * 1.15 if values else 1
    height = 50 + len(rows) * (bar + gap) + 30
    scale = (width - left - 30) / top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>']
    y = 40
    for label, value, runs in rows:
        out.append(f'<text x="10" y="{y + bar * 0.7}">{label}</text>')
        if value is not None:
            w = max(1, value * scale)
            colour = "#3b7dd8" if label.startswith("Merpati") else "#999999"
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar * 0.7}">{fmt(value, unit)}</text>')
            for run in runs:
                x = left + run * scale
                out.append(f'<circle cx="{x:.1f}" cy="{y + bar / 2}" r="2.5" fill="black"/>')
        y += bar + gap
    if budget:
        x = left + budget * scale
        out.append(f'<line x1="{x:.1f}" y1="32" x2="{x:.1f}" y2="{y}" stroke="#d33" '
                   f'stroke-dasharray="4,3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{y + 14}" fill="#d33">budget {fmt(budget, unit)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    raw_path, out_dir, runs, warmup_s, window_s = sys.argv[1:6]
    lines = [json.loads(line) for line in open(raw_path) if line.strip()]
    facts = machine()
    rows = []
    for key, title, budget_text, budget, unit, higher, field, baseline_text in FIGURES:
        source = SOURCE.get(key, key)
        per_side = {}
        for side in ("merpati", "baseline"):
            values = [line["result"].get(field) for line in lines
                      if line["figure"] == source and line["side"] == side]
            values = [v for v in values if isinstance(v, (int, float))]
            per_side[side] = values
        med = {side: (statistics.median(v) if v else None) for side, v in per_side.items()}
        rows.append({
            "key": key, "title": title, "budget": budget_text, "budget_value": budget,
            "unit": unit, "result": med["merpati"], "baseline": med["baseline"],
            "baseline_is": baseline_text, "runs": per_side["merpati"],
            "baseline_runs": per_side["baseline"], "verdict": verdict(med["merpati"], budget, higher),
            "command": COMMANDS[key],
        })
        chart = [("Merpati", med["merpati"], per_side["merpati"])]
        if per_side["baseline"]:
            chart.append(("baseline", med["baseline"], per_side["baseline"]))
        svg(os.path.join(out_dir, f"{key}.svg"), title, unit, budget, chart)

    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"machine": facts, "runs": int(runs), "warmup_s": int(warmup_s),
                   "window_s": int(window_s), "figures": rows, "raw": lines}, f, indent=1)

    md = ["# Benchmark results", "",
          f"Written by `scripts/bench` on {facts['date']} (commit {facts['commit']}). "
          f"Each figure is the median of {runs} runs (every run: {warmup_s} s warm-up, then a "
          f"{window_s} s measured window; the idle figures are taken once the "
          "clients are all connected and the server has read what they sent). The baseline is measured in the same run, on the same machine, with "
          "the same client. Raw per-run numbers: [`results.json`](results.json).", "",
          "## Machine", "",
          f"- CPU: {facts['cpu']} — `nproc` = {facts['nproc']} (client and server share them)",
          f"- memory: {facts['memory_gib']} GiB; open-file limit {facts['open_file_limit']}",
          f"- kernel: {facts['kernel']}", f"- {facts['rustc']}",
          f"- load average when the report was written (1, 5, 15 min): "
          f"{', '.join(facts['loadavg_at_report'])} — other work shares this machine", "",
          "## Figures", "",
          "| figure | budget | result (median) | baseline (median) | baseline is | verdict | runs | command |",
          "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        runs_text = ", ".join(fmt(v, row["unit"]) for v in row["runs"]) or "—"
        md.append(f"| {row['title']} | {row['budget']} | {fmt(row['result'], row['unit'])} | "
                  f"{fmt(row['baseline'], row['unit'])} | {row['baseline_is']} | {row['verdict']} | "
                  f"{runs_text} | `{row['command']}` |")
    md += ["", "## Plots", ""]
    md += [f"![{row['title']}]({row['key']}.svg)" for row in rows]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "NOTES.md")
    if os.path.exists(notes):
        md += ["", open(notes).read().strip()]
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
