#!/usr/bin/env python3
"""Part of scripts/bench-cluster: turns its raw result lines into bench/CLUSTER.md and
bench/cluster.json. Shares the machine facts with scripts/bench-report.py.

    bench-cluster-report.py RAW OUT_DIR RUNS WARMUP_S WINDOW_S PROCESSES CONNECTIONS RATE PAIRS MAX
                            PG_ERRORS (`uniq -c` of PostgreSQL's ERROR lines)
"""

import importlib.util
import json
import os
import statistics
import sys

# Importing bench-report.py must not leave a __pycache__ in scripts/.
sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_report", os.path.join(HERE, "bench-report.py"))
bench_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_report)


def main():
    (raw_path, out_dir, runs, warmup_s, window_s, processes, connections, rate, pairs,
     max_connections, pg_errors_path) = sys.argv[1:12]
    processes, connections = int(processes), int(connections)
    lines = [json.loads(line) for line in open(raw_path) if line.strip()]
    facts = bench_report.machine()
    facts["loadavg_at_start"] = os.environ.get("BENCH_LOAD_AT_START", "?").split()[0:3]
    share = f"{processes - 1}/{processes}" if processes > 1 else "0"
    rate_text = f"{float(rate):,.0f} msg/s"

    # (key, title, raw figure, field, unit, command)
    figures = [
        ("held", f"signed-in idle connections held over {processes} processes "
                 f"(sum of `merpati_connections_open`)", "idle", "held", "connections",
         f"CONNECTIONS={connections} PROCESSES={processes} scripts/bench-cluster "
         f"(merpati-bench hold)"),
        ("memory", "server memory per idle connection (sum of the processes' RSS, after − before)",
         "idle", "value", "KiB",
         f"CONNECTIONS={connections} PROCESSES={processes} scripts/bench-cluster "
         f"(merpati-bench hold)"),
        ("durable", "durable messages per second (acked after commit)", "durable", "value", "/s",
         "merpati-bench durable --senders 200 --outstanding 64"),
        ("latency_p50", f"p50 send→receive latency at {rate_text}", "latency", "value", "ms",
         f"merpati-bench latency --rate {rate} --pairs {pairs}"),
        ("latency_p99", f"p99 send→receive latency at {rate_text}", "latency", "p99_ms", "ms",
         f"merpati-bench latency --rate {rate} --pairs {pairs}"),
        ("latency_sent", f"send rate achieved in the latency run (asked: {rate_text})", "latency",
         "sent_per_s", "/s", f"merpati-bench latency --rate {rate} --pairs {pairs}"),
    ]
    rows = []
    for key, title, source, field, unit, command in figures:
        per_side = {}
        for side in ("cluster", "single"):
            values = [line["result"].get(field) for line in lines
                      if line["figure"] == source and line["side"] == side]
            per_side[side] = [v for v in values if isinstance(v, (int, float))]
        med = {side: (statistics.median(v) if v else None) for side, v in per_side.items()}
        rows.append({"key": key, "title": title, "unit": unit, "cluster": med["cluster"],
                     "single": med["single"], "cluster_runs": per_side["cluster"],
                     "single_runs": per_side["single"], "command": command})

    pg_errors = [line.strip() for line in open(pg_errors_path) if line.strip()]
    with open(os.path.join(out_dir, "cluster.json"), "w") as f:
        json.dump({"machine": facts, "runs": int(runs), "warmup_s": int(warmup_s),
                   "window_s": int(window_s), "processes": processes,
                   "connections_wanted": connections, "max_connections_per_process":
                   int(max_connections), "latency_rate": float(rate), "latency_pairs": int(pairs),
                   "figures": rows, "postgres_errors": pg_errors, "raw": lines}, f, indent=1)

    fmt = bench_report.fmt
    idle = [line["result"] for line in lines if line["figure"] == "idle"]
    md = ["# Cluster benchmark results", "",
          f"Written by `scripts/bench-cluster` on {facts['date']} (commit {facts['commit']}). "
          f"{processes} `merpati-server` processes share one port (SO_REUSEPORT), one "
          "PostgreSQL 15 and one NATS, all on this machine with the clients. Each figure is the "
          f"median of {runs} run(s) (throughput and latency: {warmup_s} s warm-up, then a "
          f"{window_s} s measured window). The single-process baseline is `merpati-server` on "
          "SQLite, measured in the same run with the same client, scenario and rate. Raw "
          "per-run numbers: [`cluster.json`](cluster.json). How each figure is measured and its "
          "limits: [`NOTES.md`](NOTES.md), \"Cluster figures\".", ""]
    if int(runs) < 3:
        md += [f"**{runs} run only** (`RUNS={runs}`): a quick run, not a median of three; "
               "read every figure as a single measurement.", ""]
    md += ["## Machine", "",
           f"- CPU: {facts['cpu']} — `nproc` = {facts['nproc']} (servers, PostgreSQL, NATS and "
           "clients share them)",
           f"- memory: {facts['memory_gib']} GiB; open-file limit {facts['open_file_limit']} per "
           f"process (each server process capped at {int(max_connections):,} connections)",
           f"- kernel: {facts['kernel']}", f"- {facts['rustc']}",
           "- load average (1, 5, 15 min) when the run started: "
           f"{', '.join(facts['loadavg_at_start'])}; when the report was written: "
           f"{', '.join(facts['loadavg_at_report'])} (the run's own load included)", "",
           "## Figures", "",
           "| figure | cluster (median) | single process, SQLite (median) | cluster runs | "
           "single-process runs | command |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        single = fmt(row["single"], row["unit"]) if row["single_runs"] else "— (not measured)"
        md.append(f"| {row['title']} | {fmt(row['cluster'], row['unit'])} | {single} | "
                  f"{', '.join(fmt(v, row['unit']) for v in row['cluster_runs']) or '—'} | "
                  f"{', '.join(fmt(v, row['unit']) for v in row['single_runs']) or '—'} | "
                  f"`{row['command']}` |")
    md += ["", "## The idle runs in detail", "",
           "| run | wanted | held (metrics) | per process | established (ss) | sign-ups ok / "
           "failed | sign-ups took | RSS before → after (all processes) |",
           "|---|---|---|---|---|---|---|---|"]
    for number, result in enumerate(idle, 1):
        md.append(f"| {number} | {result['wanted']:,} | {result['held']:,} | "
                  f"{', '.join(f'{n:,}' for n in result['per_process'])} | "
                  f"{result['established']:,} | {result['signed_in']:,} / {result['failed']:,} | "
                  f"{result['sign_in_s']} s | {result['rss_before_kib'] / 1024:,.0f} → "
                  f"{result['rss_after_kib'] / 1024:,.0f} MiB |")
    md += ["",
           f"With {processes} processes and the kernel spreading connections by hash, a "
           f"latency pair's sender and receiver sit on different processes with probability "
           f"{share} (expected share; which process a connection lands on is not recorded), so "
           "most messages of the cluster's latency run cross NATS. The durable "
           "scenario's senders are alone in their groups: it measures commits to PostgreSQL, "
           "not cross-process delivery."]
    md += ["", "## PostgreSQL errors during the run (count, message)", ""]
    md += [f"    {line}" for line in pg_errors] or ["none"]
    with open(os.path.join(out_dir, "CLUSTER.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
