#!/usr/bin/python3
"""Turns one scripts/bench.sh run (a folder of wsload JSON files) into the side-by-side
table, the target checks, results.json and PNG plots (gnuplot).

usage: bench_report.py OUT_DIR
"""
import glob
import json
import os
import subprocess
import sys

SERVERS = ["raw", "wsgate-uring", "wsgate-epoll"]  # then any --also servers
SATURATED_PERCENT = 90.0  # a process above this share of its core is the bottleneck


def load_runs(out):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "json", "*.json"))):
        with open(path) as f:
            try:
                r = json.load(f)
            except json.JSONDecodeError:
                continue
        # wsload's "server" object is the probe of the server process; the label names it.
        r["server_info"] = r.pop("server", None) or {}
        server, _, kind = r["label"].partition("/")
        r["server"], r["kind"] = server, kind
        runs.append(r)
    return runs


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def merge_repeats(runs):
    """bench.sh --repeat N measures each point N times, interleaved: one row per point with
    the medians of msg/s, handshakes/s and server CPU per message, and their spread."""
    groups = {}
    for r in runs:
        if r["kind"] in ("echo", "connect"):
            groups.setdefault((r["server"], r["kind"], key(r)), []).append(r)
        else:
            groups[id(r)] = [r]
    merged = []
    for rs in groups.values():
        if len(rs) == 1:
            rs[0]["repeats"] = 1
            merged.append(rs[0])
            continue
        rate = "handshakes_per_s" if rs[0]["kind"] == "connect" else "msg_per_s"
        rs.sort(key=lambda r: r[rate])
        m = dict(rs[len(rs) // 2])  # the median run for latencies and the rest
        m[rate] = median([r[rate] for r in rs])
        m["repeats"] = len(rs)
        m["spread"] = {rate: [rs[0][rate], rs[-1][rate]]}
        cpus = [r["server_info"].get("cpu_s_per_million_messages") for r in rs if r.get("server_info")]
        cpus = [c for c in cpus if c]
        if cpus:
            m["server_info"] = dict(m["server_info"])
            m["server_info"]["cpu_s_per_million_messages"] = median(cpus)
            m["spread"]["cpu_s_per_million_messages"] = [min(cpus), max(cpus)]
        merged.append(m)
    return merged


def cpu_per_unit(r):
    """Server CPU seconds per million messages (echo) or per million handshakes (connect)."""
    s = r.get("server_info") or {}
    if r["kind"] == "connect":
        n = r.get("handshakes") or 0
        return s.get("cpu_window_s", 0) / n * 1e6 if n and s.get("cpu_window_s") else None
    return s.get("cpu_s_per_million_messages") or None


def io_per_message(r):
    """The wsgate loop's kernel work per message (per handshake in connect runs), from --io-stats."""
    io = r.get("server_io")
    if not io:
        return ""
    n = io.get("accepts") if r["kind"] == "connect" else io.get("messages")
    if not n:
        return ""
    if io.get("sqes"):
        return (f"{io['waits'] / n:.3f} waits, {io['sqes'] / n:.2f} SQE, {io['cqes'] / n:.2f} CQE")
    return (f"{io['waits'] / n:.3f} waits, {io['reads'] / n:.2f} reads "
            f"({io['empty_reads'] / n:.2f} EAGAIN), {io['sends'] / n:.2f} writev")


def server_order(runs):
    names = [s for s in SERVERS if any(r["server"] == s for r in runs)]
    return names + sorted({r["server"] for r in runs} - set(names))


def key(r):
    return (r["connections"], r["payload_bytes"], r["in_flight"])


def fmt_us(v):
    return f"{v / 1000:.2f} ms" if v >= 10000 else f"{v:.0f} us"


def echo_table(runs, servers):
    echo = [r for r in runs if r["kind"] == "echo"]
    raw = {key(r): r for r in echo if r["server"] == "raw"}
    lines = ["| server | conns | payload | in flight | msg/s | MB/s | p50 | p99 | server CPU s / M msg "
             "| server CPU % | wsload CPU % | vs raw TCP | kernel work / msg | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in sorted(echo, key=lambda r: (key(r), servers.index(r["server"]))):
        s = r.get("server_info", {})
        base = raw.get(key(r))
        ratio = (f"{r['msg_per_s'] / base['msg_per_s']:.2f}" if base and base["msg_per_s"] > 0 and r["server"] != "raw"
                 else "1.00" if r["server"] == "raw" else "n/a")
        cpu_m = f"{s['cpu_s_per_million_messages']:.2f}" if s else "n/a"
        spread = r.get("spread", {})
        if "cpu_s_per_million_messages" in spread:
            lo, hi = spread["cpu_s_per_million_messages"]
            cpu_m += f" ({lo:.2f}-{hi:.2f})"
        rate = f"{r['msg_per_s']:,.0f}"
        if "msg_per_s" in spread:
            rate += f" ({spread['msg_per_s'][0]:,.0f}-{spread['msg_per_s'][1]:,.0f})"
        cpu_p = f"{s['cpu_percent_of_core']:.0f}" if s else "n/a"
        lines.append(f"| {r['server']} | {r['connections']} | {r['payload_bytes']} B | {r['in_flight']} | "
                     f"{rate} | {r['mb_per_s']:.1f} | {fmt_us(r['latency_us']['p50'])} | "
                     f"{fmt_us(r['latency_us']['p99'])} | {cpu_m} | {cpu_p} | "
                     f"{r['cpu']['window_percent_of_core']:.0f} | {ratio} | {io_per_message(r)} | "
                     f"{r['errors_total']} |")
    return lines


def uring_ratios(runs):
    """io_uring against epoll (messages per server CPU-second, handshakes/s) and against the
    raw TCP echo (msg/s, CPU per message), point by point."""
    lines = ["| point | io_uring / epoll, msg per CPU-s | io_uring / raw, msg/s | "
             "io_uring / raw, CPU per msg |", "|---|---:|---:|---:|"]
    rows = []
    echo = sorted({key(r) for r in runs if r["kind"] == "echo" and r["server"] == "wsgate-uring"})
    for k in echo:
        u, e, raw = (find(runs, s, "echo", *k) for s in ("wsgate-uring", "wsgate-epoll", "raw"))
        cu, ce, cr = (cpu_per_unit(x) if x else None for x in (u, e, raw))
        row = {"connections": k[0], "payload_bytes": k[1], "in_flight": k[2],
               "uring_vs_epoll_msg_per_cpu_s": round(ce / cu, 3) if cu and ce else None,
               "uring_vs_raw_msg_per_s": round(u["msg_per_s"] / raw["msg_per_s"], 3)
               if raw and raw["msg_per_s"] > 0 else None,
               "uring_vs_raw_cpu_per_msg": round(cu / cr, 3) if cu and cr else None}
        rows.append(row)
        cell = [f"{row[x]:.2f}" if row[x] is not None else "n/a" for x in
                ("uring_vs_epoll_msg_per_cpu_s", "uring_vs_raw_msg_per_s", "uring_vs_raw_cpu_per_msg")]
        lines.append(f"| {k[0]} x {k[1]} B, {k[2]} in flight | " + " | ".join(cell) + " |")
    u, e = find_connect(runs, "wsgate-uring"), find_connect(runs, "wsgate-epoll")
    if u and e and e["handshakes_per_s"] > 0:
        cu, ce = cpu_per_unit(u), cpu_per_unit(e)
        rows.append({"handshakes": True,
                     "uring_vs_epoll_handshakes_per_s": round(u["handshakes_per_s"] / e["handshakes_per_s"], 3),
                     "uring_vs_epoll_handshakes_per_cpu_s": round(ce / cu, 3) if cu and ce else None})
        per_cpu = f"{ce / cu:.2f}" if cu and ce else "n/a"
        lines.append(f"| handshakes: io_uring / epoll, handshakes/s "
                     f"{u['handshakes_per_s'] / e['handshakes_per_s']:.2f}, per CPU-s {per_cpu} | | | |")
    return lines, rows


def find_connect(runs, server):
    return next((r for r in runs if r["server"] == server and r["kind"] == "connect"), None)


def find(runs, server, kind, conns, payload, in_flight=1):
    for r in runs:
        if (r["server"], r["kind"], r["connections"], r["payload_bytes"], r["in_flight"]) == \
                (server, kind, conns, payload, in_flight):
            return r
    return None


def targets(runs):
    out = []
    for n in (1000, 10000):
        u, raw = find(runs, "wsgate-uring", "echo", n, 16), find(runs, "raw", "echo", n, 16)
        if u and raw and raw["msg_per_s"] > 0:
            ratio = u["msg_per_s"] / raw["msg_per_s"]
            out.append({"target": f"io_uring 16 B at {n} conns >= 85% of raw TCP", "value": round(ratio, 3),
                        "met": ratio >= 0.85})
        else:
            out.append({"target": f"io_uring 16 B at {n} conns >= 85% of raw TCP", "value": None,
                        "met": None, "why": "not measured in this run"})
    out += uring_targets(runs)
    mem = sorted((r for r in runs if r["kind"] == "idle"), key=lambda r: r["connections"])
    if mem:
        big = mem[-1]
        s = big.get("server_info", {})
        per = s.get("rss_per_connection_up_b")
        reached = big["peak_up"]
        t = {"target": f"{big['connections']} idle connections at <= 256 B user-space each",
             "value": per, "reached": reached}
        if reached < big["connections"]:
            t["met"] = False
            errs = ", ".join(f"{k}={v}" for k, v in big["errors"].items() if v)
            t["why"] = (f"only {reached} of {big['connections']} connections came up in "
                        f"{big['bringup_s']:.0f} s; " + (f"errors: {errs}" if errs else
                                                        "no failures: bring-up hit --connect-timeout"))
        else:
            t["met"] = per is not None and per <= 256
        out.append(t)
        slope = idle_slope(mem)
        if slope is not None:
            out.append({"target": f"idle connections: slope of server RSS {mem[0]['connections']} -> "
                                  f"{big['connections']} (per-loop fixed costs cancel) <= 256 B each",
                        "value": round(slope, 1), "met": slope <= 256})
    return out


def uring_targets(runs):
    out = []
    for n in (1000, 10000):
        for d in (1, 8):
            name = f"io_uring >= 1.3x epoll in messages per server CPU-second, {n} x 16 B, {d} in flight"
            u, e = find(runs, "wsgate-uring", "echo", n, 16, d), find(runs, "wsgate-epoll", "echo", n, 16, d)
            cu, ce = (cpu_per_unit(u) if u else None), (cpu_per_unit(e) if e else None)
            if cu and ce:
                out.append({"target": name, "value": round(ce / cu, 3), "met": ce / cu >= 1.3})
            else:
                out.append({"target": name, "value": None, "met": None, "why": "not measured in this run"})
    u, e = find_connect(runs, "wsgate-uring"), find_connect(runs, "wsgate-epoll")
    name = "io_uring >= epoll in handshakes/s"
    if u and e and e["handshakes_per_s"] > 0:
        v = u["handshakes_per_s"] / e["handshakes_per_s"]
        out.append({"target": name, "value": round(v, 3), "met": v >= 1.0})
    else:
        out.append({"target": name, "value": None, "met": None, "why": "not measured in this run"})
    pts = sorted({key(r) for r in runs if r["kind"] == "echo" and r["server"] == "wsgate-uring"})
    worst = None
    for k in pts:
        u, raw = find(runs, "wsgate-uring", "echo", *k), find(runs, "raw", "echo", *k)
        if u and raw and raw["msg_per_s"] > 0:
            v = u["msg_per_s"] / raw["msg_per_s"]
            if worst is None or v < worst[0]:
                worst = (v, k)
    name = "io_uring >= 0.9x raw TCP msg/s at every point"
    if worst:
        out.append({"target": name, "value": round(worst[0], 3), "met": worst[0] >= 0.9,
                    "why": f"lowest at {worst[1][0]} x {worst[1][1]} B, {worst[1][2]} in flight"})
    else:
        out.append({"target": name, "value": None, "met": None, "why": "not measured in this run"})
    for n in sorted({k[0] for k in pts if k[1] == 65536}):
        u, raw = find(runs, "wsgate-uring", "echo", n, 65536), find(runs, "raw", "echo", n, 65536)
        cu, cr = (cpu_per_unit(u) if u else None), (cpu_per_unit(raw) if raw else None)
        if cu and cr:
            out.append({"target": f"64 KiB at {n} conns: io_uring server CPU per message <= 1.1x raw TCP",
                        "value": round(cu / cr, 3), "met": cu / cr <= 1.1})
    return out


def idle_slope(mem):
    """(RSS(largest) - RSS(smallest)) / (difference in connections), both all up."""
    if len(mem) < 2 or any(r["peak_up"] < r["connections"] for r in (mem[0], mem[-1])):
        return None
    lo, hi = mem[0].get("server_info", {}), mem[-1].get("server_info", {})
    if "rss_up_kb" not in lo or "rss_up_kb" not in hi:
        return None
    return (hi["rss_up_kb"] - lo["rss_up_kb"]) * 1024 / (mem[-1]["connections"] - mem[0]["connections"])


def generator_check(runs):
    notes = []
    for r in runs:
        if r["kind"] != "echo":
            continue
        w = r["cpu"]["window_percent_of_core"]
        s = r.get("server_info", {}).get("cpu_percent_of_core")
        if w < SATURATED_PERCENT and s is not None and s < SATURATED_PERCENT:
            notes.append(f"{r['server']} c={r['connections']} s={r['payload_bytes']} d={r['in_flight']}: "
                         f"neither saturated (wsload {w:.0f}%, server {s:.0f}% of its core): "
                         "the cores were shared with other work, so this run measures contention")
            continue
        if w >= SATURATED_PERCENT and (s is None or s < SATURATED_PERCENT):
            notes.append(f"{r['server']} c={r['connections']} s={r['payload_bytes']} d={r['in_flight']}: "
                         f"wsload at {w:.0f}% of its core, server at "
                         f"{'n/a' if s is None else f'{s:.0f}%'}: the load generator is the bottleneck")
    contended = [n for n in notes if "neither saturated" in n]
    if len(contended) > 3:  # one line, not one per run
        notes = [n for n in notes if "neither saturated" not in n]
        notes.append(f"{len(contended)} of {sum(r['kind'] == 'echo' for r in runs)} echo runs had neither "
                     "wsload nor the server near 100% of its core: the cores were shared with other work "
                     "(see the load average), so absolute numbers measure contention; compare ratios only")
    return notes


DEFLATE_MEM_ORDER = ["plain-used", "negotiated-unused", "takeover-used", "no-takeover-used"]
DEFLATE_MEM_WHAT = {
    "plain-used": "no compression offered; one 1 KiB message echoed each",
    "negotiated-unused": "permessage-deflate negotiated, nothing sent",
    "takeover-used": "negotiated with context takeover both ways (--deflate-no-context-takeover none), "
                     "one 1 KiB JSON message echoed each",
    "no-takeover-used": "negotiated without context takeover (--deflate-no-context-takeover both, "
                        "wsgate's default), one 1 KiB JSON message echoed each",
}


def compression(runs):
    """The permessage-deflate section: echo on vs off per payload, and memory per connection."""
    echo = [r for r in runs if r["kind"] == "deflate-echo"]
    mem = [r for r in runs if r["kind"] == "deflate-idle"]
    rows, lines = [], []
    if echo:
        def ekey(r):
            return (r.get("payload_kind", "random"), r["payload_bytes"], r["connections"])
        off = {ekey(r): r for r in echo if not (r.get("deflate") or {}).get("offered")}
        lines += ["", "## Compression (permessage-deflate), wsgate io_uring with --deflate on (its defaults)", "",
                  "Compression off = wsload does not offer it. wire/payload = data frames' payload bytes "
                  "on the wire per message byte (headers excluded), each way.", "",
                  "| payload | size | conns | deflate | msg/s | MB/s | p50 | p99 | sent wire/payload | "
                  "echo wire/payload | server CPU s / M msg | server CPU % | wsload CPU % | on/off msg/s | errors |",
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(echo, key=lambda r: (ekey(r), bool((r.get("deflate") or {}).get("offered")))):
            on = bool((r.get("deflate") or {}).get("offered"))
            s = r.get("server_info", {})
            w = r.get("wire") or {}
            base = off.get(ekey(r))
            ratio = (f"{r['msg_per_s'] / base['msg_per_s']:.2f}" if on and base and base["msg_per_s"] > 0
                     else "" if on else "1.00")
            deflate = "on" if on else "off"
            if on and r["deflate"].get("negotiated_connections", 0) < r["peak_up"]:
                deflate += f" ({r['deflate'].get('negotiated_connections', 0)}/{r['peak_up']} negotiated)"
            lines.append(f"| {r.get('payload_kind', 'random')} | {r['payload_bytes']} B | {r['connections']} | "
                         f"{deflate} | {r['msg_per_s']:,.0f} | {r['mb_per_s']:.1f} | "
                         f"{fmt_us(r['latency_us']['p50'])} | {fmt_us(r['latency_us']['p99'])} | "
                         f"{w.get('sent_wire_fraction', 0):.3f} | {w.get('recv_wire_fraction', 0):.3f} | "
                         f"{s.get('cpu_s_per_million_messages', float('nan')):.2f} | "
                         f"{s.get('cpu_percent_of_core', float('nan')):.0f} | "
                         f"{r['cpu']['window_percent_of_core']:.0f} | {ratio} | {r['errors_total']} |")
            rows.append({"payload_kind": r.get("payload_kind"), "payload_bytes": r["payload_bytes"],
                         "connections": r["connections"], "deflate": on, "msg_per_s": r["msg_per_s"],
                         "sent_wire_fraction": w.get("sent_wire_fraction"),
                         "recv_wire_fraction": w.get("recv_wire_fraction"),
                         "on_off_msg_ratio": float(ratio) if on and ratio else None,
                         "errors": r["errors_total"]})
    if mem:
        order = {n: i for i, n in enumerate(DEFLATE_MEM_ORDER)}
        lines += ["", "## Compression: server memory per connection (fresh server each; RSS when all "
                  "were up and, where a message was sent, echoed)", "",
                  "| case | conns | up | deflate negotiated | RSS before | RSS all up | user-space B / conn | "
                  "errors |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(mem, key=lambda r: order.get(r["server"], 99)):
            s = r.get("server_info", {})
            what = DEFLATE_MEM_WHAT.get(r["server"], r["server"])
            lines.append(f"| {r['server']}: {what} | {r['connections']} | {r['peak_up']} | "
                         f"{(r.get('deflate') or {}).get('negotiated_connections', 0)} | "
                         f"{s.get('rss_before_kb', 0)} kB | {s.get('rss_up_kb', 0)} kB | "
                         f"{s.get('rss_per_connection_up_b', float('nan')):,.0f} | {r['errors_total']} |")
            rows.append({"case": r["server"], "connections": r["connections"], "up": r["peak_up"],
                         "rss_per_connection_up_b": s.get("rss_per_connection_up_b"),
                         "errors": r["errors_total"]})
    return lines, rows


def plots(out, runs, servers):
    echo = [r for r in runs if r["kind"] == "echo" and r["payload_bytes"] == 16 and r["in_flight"] == 1]
    conns = sorted({r["connections"] for r in echo})
    with open(os.path.join(out, "throughput.dat"), "w") as f:
        f.write("# connections " + " ".join(servers) + "\n")
        for n in conns:
            row = [str(n)]
            for s in servers:
                r = find(runs, s, "echo", n, 16)
                row.append(f"{r['msg_per_s']:.0f}" if r else "NaN")
            f.write(" ".join(row) + "\n")
    n_cdf = max(conns) if conns else 0
    cdf_files = []
    for s in servers:
        r = find(runs, s, "echo", n_cdf, 16)
        if not r or not r.get("latency_cdf"):
            continue
        path = os.path.join(out, f"cdf-{s}.dat")
        with open(path, "w") as f:
            for us, frac in r["latency_cdf"]:
                f.write(f"{us} {frac}\n")
        cdf_files.append((s, path))
    script = [
        "set terminal pngcairo size 900,540 font ',10'",
        f"set output '{os.path.join(out, 'throughput.png')}'",
        "set title 'Echo throughput, 16 B messages, 1 in flight per connection'",
        "set xlabel 'connections'", "set ylabel 'messages / s'", "set logscale x", "set grid",
        "set key left bottom", "set yrange [0:*]",
        "plot " + ", ".join(f"'{os.path.join(out, 'throughput.dat')}' using 1:{i + 2} with linespoints "
                            f"lw 2 title '{s}'" for i, s in enumerate(servers)),
    ]
    if cdf_files:
        script += [
            f"set output '{os.path.join(out, 'latency_cdf.png')}'",
            f"set title 'Round-trip latency CDF, {n_cdf} connections, 16 B, 1 in flight'",
            "set xlabel 'round-trip latency (us)'", "set ylabel 'fraction of messages'",
            "set logscale x", "set yrange [0:1]", "set key right bottom",
            "plot " + ", ".join(f"'{p}' using 1:2 with steps lw 2 title '{s}'" for s, p in cdf_files),
        ]
    try:
        subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench: plots skipped ({e})", file=sys.stderr)
        return False


def main():
    out = sys.argv[1]
    runs = merge_repeats(load_runs(out))
    servers = server_order([r for r in runs if not r["kind"].startswith("deflate")])
    load = open(os.path.join(out, "loadavg.txt")).read().strip() if os.path.exists(
        os.path.join(out, "loadavg.txt")) else "unknown"
    lines = [f"## Echo (one run; {len(runs)} measurements; load average before/after: {load})", ""]
    lines += echo_table(runs, servers)

    conn = [r for r in runs if r["kind"] == "connect"]
    if conn:
        lines += ["", "## Handshake rate (open, 101, close 1000, server closes TCP)", "",
                  "| server | concurrent | handshakes/s | p50 | p99 | server CPU % | wsload CPU % | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in conn:
            s = r.get("server_info", {})
            lines.append(f"| {r['server']} | {r['connections']} | {r['handshakes_per_s']:,.0f} | "
                         f"{fmt_us(r['latency_us']['p50'])} | {fmt_us(r['latency_us']['p99'])} | "
                         f"{s.get('cpu_percent_of_core', float('nan')):.0f} | "
                         f"{r['cpu']['window_percent_of_core']:.0f} | {r['errors_total']} |")
    mem = sorted((r for r in runs if r["kind"] == "idle"), key=lambda r: r["connections"])
    if mem:
        lines += ["", "## Idle connections: memory", "",
                  "| server | asked | up | server RSS before | RSS all up | user-space B / conn | "
                  "kernel TCP buffer pages (delta) | ping p99 | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in mem:
            s = r.get("server_info", {})
            lines.append(f"| {r['server']} | {r['connections']} | {r['peak_up']} | {s.get('rss_before_kb', 0)} kB | "
                         f"{s.get('rss_up_kb', 0)} kB | {s.get('rss_per_connection_up_b', float('nan')):.0f} | "
                         f"{s.get('tcp_mem_delta_pages', 0)} | {fmt_us(r['latency_us']['p99'])} | "
                         f"{r['errors_total']} |")
        slope = idle_slope(mem)
        if slope is not None:
            lines += ["", f"Slope between {mem[0]['connections']:,} and {mem[-1]['connections']:,} "
                          f"idle connections (same loop count): {slope:,.0f} B of server RSS per connection."]
    ratio_lines, ratio_rows = uring_ratios(runs)
    if ratio_rows:
        lines += ["", "## io_uring ratios (medians when repeated)", ""] + ratio_lines
    deflate_lines, deflate_rows = compression(runs)
    lines += deflate_lines
    t = targets(runs)
    lines += ["", "## Targets", ""]
    for x in t:
        verdict = "MET" if x["met"] else "not measured" if x["met"] is None else "MISSED"
        lines.append(f"- {x['target']}: {verdict} (value {x['value']}){' - ' + x['why'] if 'why' in x else ''}")
    notes = generator_check(runs)
    lines += ["", "## Load generator", ""]
    lines += [f"- {n}" for n in notes] or ["- wsload stayed below "
                                            f"{SATURATED_PERCENT:.0f}% of its core in every echo run "
                                            "(it was not the bottleneck)"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"runs": runs, "targets": t, "generator_notes": notes, "compression": deflate_rows,
                   "uring_ratios": ratio_rows}, f,
                  indent=1)
    plotted = plots(out, runs, servers)
    print(text)
    print(f"bench: wrote {out}/table.md, results.json" + (", throughput.png, latency_cdf.png" if plotted else ""))


if __name__ == "__main__":
    main()
