#!/usr/bin/env python3
"""Part of scripts/bench-cluster: turns its raw result lines into bench/CLUSTER.md and
bench/cluster.json. Shares the machine facts with scripts/bench-report.py.

    bench-cluster-report.py RAW OUT_DIR RUNS WARMUP_S WINDOW_S PROCESSES CONNECTIONS RATE PAIRS MAX
                            PG_ERRORS (`uniq -c` of PostgreSQL's ERROR lines)

FIGURES (the figures this invocation measured) and BENCH_INVOCATION (its command) come from
the environment. The records of figures it did not measure are kept from the existing
OUT_DIR/cluster.json, each with when, at which commit and by which command it was measured.
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


# Which FIGURES name measured each raw record's figure.
GROUPS = {"idle": "idle", "durable": "durable", "latency": "latency", "converge": "converge",
          "wake_durable": "wake-up", "wake_latency": "wake-up"}


def kept_records(out_dir, measured_now):
    """The raw records of the figures not measured now, from the existing cluster.json, each
    stamped with where it came from (older files did not stamp their records), and the
    PostgreSQL errors of the invocations they came from."""
    try:
        with open(os.path.join(out_dir, "cluster.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return [], []
    machine = old.get("machine", {})
    runs = old.get("runs", 3)
    stamp = {"date": machine.get("date", "?"), "commit": machine.get("commit", "?"),
             "invocation": "scripts/bench-cluster" if runs == 3
             else f"RUNS={runs} scripts/bench-cluster"}
    kept = []
    for line in old.get("raw", []):
        if GROUPS.get(line.get("figure")) in measured_now:
            continue
        line.setdefault("measured", stamp)
        kept.append(line)
    errors = old.get("postgres_errors", [])
    if errors and isinstance(errors[0], str):
        errors = [dict(stamp, figures=sorted({GROUPS.get(line["figure"], "?") for line in kept}),
                       errors=errors)]
    sources = {(line["measured"]["date"], line["measured"]["commit"]) for line in kept}
    return kept, [e for e in errors if (e.get("date"), e.get("commit")) in sources]


def main():
    (raw_path, out_dir, runs, warmup_s, window_s, processes, connections, rate, pairs,
     max_connections, pg_errors_path) = sys.argv[1:12]
    processes, connections = int(processes), int(connections)
    facts = bench_report.machine()
    measured_now = [f for f in os.environ.get("FIGURES", "").split(",") if f]
    invocation = os.environ.get("BENCH_INVOCATION", "scripts/bench-cluster")
    stamp = {"date": facts["date"], "commit": facts["commit"], "invocation": invocation}
    lines = [dict(json.loads(line), measured=stamp) for line in open(raw_path) if line.strip()]
    kept, kept_errors = kept_records(out_dir, measured_now)
    lines = kept + lines
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

    pg_errors = [dict(stamp, figures=measured_now,
                      errors=[line.strip() for line in open(pg_errors_path) if line.strip()])]
    pg_errors += kept_errors
    measured = provenance(lines)
    converge_rows = converge_figures(lines)
    wake_rows = wake_up_figures(lines)
    with open(os.path.join(out_dir, "cluster.json"), "w") as f:
        json.dump({"machine": facts, "invocation": invocation, "figures_measured": measured_now,
                   "runs": int(runs), "warmup_s": int(warmup_s),
                   "window_s": int(window_s), "processes": processes,
                   "connections_wanted": connections, "max_connections_per_process":
                   int(max_connections), "latency_rate": float(rate), "latency_pairs": int(pairs),
                   "measured": measured, "figures": rows, "converge": converge_rows,
                   "wake_up": wake_rows, "postgres_errors": pg_errors, "raw": lines}, f, indent=1)

    fmt = bench_report.fmt
    idle = [line["result"] for line in lines if line["figure"] == "idle"]
    md = ["# Cluster benchmark results", "",
          f"Last written by `{invocation}` on {facts['date']} (commit {facts['commit']}), which "
          f"measured: {', '.join(measured_now) or 'nothing'}; the other figures are kept from "
          "earlier runs — when, at which commit and by which command each was measured is in "
          "the first table. "
          f"{processes} `merpati-server` processes share one port (SO_REUSEPORT), one "
          "PostgreSQL 15 and one NATS, all on this machine with the clients. Each figure is the "
          f"median of its runs (throughput and latency: {warmup_s} s warm-up, then a "
          f"{window_s} s measured window). The single-process baseline is `merpati-server` on "
          "SQLite, measured in the same run with the same client, scenario and rate. Raw "
          "per-run numbers: [`cluster.json`](cluster.json). How each figure is measured and its "
          "limits: [`NOTES.md`](NOTES.md), \"Cluster figures\".", "",
          "## When each figure was measured", "",
          "| figure | date | commit | runs | command |", "|---|---|---|---|---|"]
    for group, where in measured.items():
        md.append(f"| {group} | {where['date']} | {where['commit']} | {where['runs']} | "
                  f"`{where['invocation']}` |")
    few = [group for group, where in measured.items() if where["runs"] < 3]
    if few:
        md += ["", f"**Fewer than three runs** for {', '.join(few)}: read those figures as "
               "single measurements, not medians of three."]
    md += ["", "## Machine", "",
           f"- CPU: {facts['cpu']} — `nproc` = {facts['nproc']} (servers, PostgreSQL, NATS and "
           "clients share them)",
           f"- memory: {facts['memory_gib']} GiB; open-file limit {facts['open_file_limit']} per "
           f"process (each server process capped at {int(max_connections):,} connections)",
           f"- kernel: {facts['kernel']}", f"- {facts['rustc']}",
           "- load average (1, 5, 15 min) when the last run started: "
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
    md += converge_markdown(lines, converge_rows) + wake_up_markdown(wake_rows, share)
    md += ["", "## PostgreSQL errors (count, message), per invocation", ""]
    for entry in pg_errors:
        md += [f"`{entry['invocation']}` ({entry['date']}, commit {entry['commit']}; "
               f"figures: {', '.join(entry['figures']) or '—'}):", ""]
        md += [f"    {line}" for line in entry["errors"]] or ["none"]
        md.append("")
    with open(os.path.join(out_dir, "CLUSTER.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")


def provenance(lines):
    """Per FIGURES name: when, at which commit and by which command its records were measured,
    and how many runs there are."""
    measured = {}
    for line in lines:
        group = GROUPS.get(line["figure"], line["figure"])
        where = measured.setdefault(group, dict(line["measured"], runs=set()))
        where["runs"].add(line["run"])
    return {group: dict(where, runs=len(where["runs"])) for group, where in measured.items()}


def numbers(values):
    return [v for v in values if isinstance(v, (int, float))]


def median(values):
    values = numbers(values)
    return statistics.median(values) if values else None


def converge_figures(lines):
    """One row per converge number: its median and every run's value (None where a run had
    none: a fault that never converged, or a failed run)."""
    results = [line["result"] for line in lines if line["figure"] == "converge"]
    faults = []
    for result in results:
        for key in result:
            if key.endswith("_converge_ms") and key[:-len("_converge_ms")] not in faults:
                faults.append(key[:-len("_converge_ms")])
    keys = []
    for fault in faults:
        keys += [(f"{fault}_fault_ms", f"{fault}: the fault lasted", "ms"),
                 (f"{fault}_converge_ms", f"{fault}: **time to converge** (fault's end → every "
                  "message acked before it received)", "ms"),
                 (f"{fault}_acked_during", f"{fault}: messages acknowledged during the fault",
                  "count"),
                 (f"{fault}_never_received", f"{fault}: of those, never received", "count")]
    keys += [("outside_p50_ms", "baseline: p50 latency of messages sent outside every fault",
              "ms"),
             ("outside_p99_ms", "baseline: p99 latency of messages sent outside every fault",
              "ms"),
             ("before_p50_ms", "p50 latency of messages sent before the first fault", "ms"),
             ("before_p99_ms", "p99 latency of messages sent before the first fault", "ms"),
             ("sent", "messages sent (after the warm-up)", "count"),
             ("acked", "messages acknowledged", "count"),
             ("refused", "messages refused (`SendFailed`)", "count"),
             ("unanswered", "messages neither acknowledged nor refused", "count"),
             ("value", "**acknowledged messages never received** (whole run)", "count")]
    return [{"key": key, "title": title, "unit": unit,
             "median": median(result.get(key) for result in results),
             "runs": [result.get(key) for result in results]} for key, title, unit in keys]


def show(value, unit):
    if value is None:
        return "never" if unit == "ms" else "—"
    if unit == "count":
        return f"{value:,.0f}"
    return bench_report.fmt(value, unit)


def converge_markdown(lines, rows):
    converge = [line for line in lines if line["figure"] == "converge"]
    if not converge:
        return []
    settings = converge[0].get("settings", {})
    head_check_s = settings.get("head_check_ms", 10000) / 1000
    md = ["", "## Time to converge after NATS faults", "",
          f"`{converge[0]['command']}` through the cluster's port, at "
          f"{settings.get('rate', 0):,.0f} msg/s over {settings.get('pairs', 0):,} two-member "
          f"chats, while `scripts/bench-cluster` injects two faults on the NATS server it started: "
          f"**pause** — SIGSTOP {settings.get('pause_at_s', '?')} s into the traffic, SIGCONT "
          f"{settings.get('pause_s', '?')} s later; **restart** — SIGKILL "
          f"{settings.get('restart_at_s', '?')} s into the traffic, a new `nats-server` on the "
          f"same port {settings.get('restart_s', '?')} s later (the fault ends when it accepts "
          "connections). The servers run the default head check, "
          f"**`MERPATI_HEAD_CHECK_MS` = {head_check_s:g} s**, as a deployment would. Times are "
          "wall clock (`date +%s%3N` for the faults, the client's clock for each message's send, "
          "`Ack` and receipt). The client waits up to "
          f"{settings.get('settle_s', '?')} s after the last fault for every acknowledged "
          "message; one never received is counted, not hidden, and its fault never converges "
          "(\"never\").", "",
          f"| figure | median of {len(converge)} | runs |", "|---|---|---|"]
    for row in rows:
        md.append(f"| {row['title']} | {show(row['median'], row['unit'])} | "
                  f"{', '.join(show(v, row['unit']) for v in row['runs'])} |")
    errors = [line["result"].get("error") for line in converge if line["result"].get("error")]
    md += [f"", f"Failed runs: {'; '.join(errors)}"] if errors else []
    return md


def wake_up_figures(lines):
    figures = [("wake_durable", "value", "durable messages per second", "/s"),
               ("wake_latency", "value", "p50 send→receive latency", "ms"),
               ("wake_latency", "p99_ms", "p99 send→receive latency", "ms"),
               ("wake_latency", "sent_per_s", "send rate achieved in the latency run", "/s")]
    rows = []
    for figure, field, title, unit in figures:
        runs = {side: numbers(line["result"].get(field) for line in lines
                              if line["figure"] == figure and line["side"] == side)
                for side in ("true", "false")}
        if not runs["true"] and not runs["false"]:
            continue
        command = next(line["command"] for line in lines if line["figure"] == figure)
        rows.append({"figure": figure, "field": field, "title": title, "unit": unit,
                     "body": median(runs["true"]), "no_body": median(runs["false"]),
                     "body_runs": runs["true"], "no_body_runs": runs["false"],
                     "command": command.split(" ", 1)[1]})
    return rows


def wake_up_markdown(rows, share):
    if not rows:
        return []
    md = ["", "## Wake-ups with or without the message", "",
          "The cluster's durable and latency figures with `MERPATI_WAKE_UP_BODY=true` (a "
          "wake-up on NATS carries the encoded message; the process woken delivers it without "
          "a read) and `=false` (only the chat and number; the process woken reads the message "
          "from PostgreSQL), each on a fresh cluster, in the same runs; odd runs measure `true` "
          "first, even runs `false` first. In the durable scenario nobody else follows a "
          f"sender's chat, so it measures only the publish; in the latency run about {share} of the "
          "messages are delivered by a process that was woken.", "",
          "| figure | body (`true`, median) | chat and number (`false`, median) | false vs true "
          "| `true` runs | `false` runs | command |", "|---|---|---|---|---|---|---|"]
    fmt = bench_report.fmt
    for row in rows:
        change = (f"{(row['no_body'] / row['body'] - 1) * 100:+.0f} %"
                  if row["body"] and row["no_body"] is not None else "—")
        md.append(f"| {row['title']} | {fmt(row['body'], row['unit'])} | "
                  f"{fmt(row['no_body'], row['unit'])} | {change} | "
                  f"{', '.join(fmt(v, row['unit']) for v in row['body_runs']) or '—'} | "
                  f"{', '.join(fmt(v, row['unit']) for v in row['no_body_runs']) or '—'} | "
                  f"`{row['command']}` |")
    return md


if __name__ == "__main__":
    main()
