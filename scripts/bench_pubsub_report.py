#!/usr/bin/python3
"""Turns the pub/sub part of a benchmark run (OUT/pubsub/*.json, written by
scripts/bench_pubsub.sh) into the fan-out table with its ratios, the latency
and memory rows and the target checks; prints them and writes OUT/pubsub.md.

Deliveries per CPU-second = deliveries in the measured window / the server's
CPU seconds (utime + stime of all its threads) in the same window: the figure
that does not depend on whether wsload or the server was the bottleneck.

usage: bench_pubsub_report.py OUT_DIR
"""
import glob
import json
import os
import sys

SERVERS = ["raw", "wsgate-uring", "wsgate-epoll"]
URING_VS_EPOLL = 1.5  # io_uring >= 1.5x epoll deliveries per CPU-second
URING_VS_RAW = 0.8  # io_uring >= 0.8x the raw limit's
P99_BOUND_US = 10_000  # p99 at half the maximum rate, 10,000 subscribers
BYTES_PER_CONNECTION = 512
BYTES_PER_SUBSCRIPTION = 64


def load(out):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "pubsub", "*.json"))):
        try:
            r = json.load(open(path))
        except (json.JSONDecodeError, OSError):
            continue
        parts = r["label"].split("|")
        if len(parts) != 7:
            continue
        r["server_name"], r["kind"], r["threads"] = parts[0], parts[1], parts[2]
        r["subs"], r["channels"], r["size"], r["m"] = (int(x) for x in parts[3:])
        runs.append(r)
    return runs


def cpu(r):
    return (r.get("server") or {}).get("cpu_window_s", 0.0)


def per_cpu(r):
    c = cpu(r)
    return r["pubsub"]["deliveries"] / c if c > 0 else 0.0


def clean(r):
    p = r["pubsub"]
    bad = p["lost"] + p["duplicates"] + p["reordered"] + p["offset_errors"] + p["publish_errors"]
    return bad == 0 and r["errors_total"] == 0


def io_per(r):
    """(sends per delivery, waits per publication) over the server's whole run, bring-up
    included, from its --io-stats line; deliveries = publications answered x subscribers
    per channel."""
    io, p = r.get("server_io"), r["pubsub"]
    deliveries = p["publications_all"] * r["subs"] * r["m"] / max(1, r["channels"])
    if not io or not deliveries:
        return ""
    return f"{io.get('sends', 0) / deliveries:.2f} / {io.get('waits', 0) / max(1, p['publications_all']):.2f}"


def ratio(a, b):
    return a / b if a and b else 0.0


def fanout(runs, lines, checks):
    points = sorted({(r["threads"], r["subs"], r["channels"], r["size"]) for r in runs if r["kind"] == "fanout"},
                    key=lambda k: (int(k[0]), -k[2], k[1], k[3]))
    if not points:
        return
    lines += ["| threads | subscribers x channels | payload | server | deliveries/s | server CPU s | "
              "deliveries / CPU-s | vs raw | io_uring / epoll | sends per delivery / waits per publication | p99 | "
              "wsload CPU | lost / dup / reord / offset |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t, n, k, size in points:
        by = {r["server_name"]: r for r in runs
              if r["kind"] == "fanout" and (r["threads"], r["subs"], r["channels"], r["size"]) == (t, n, k, size)}
        raw, uring, epoll = (per_cpu(by[s]) if s in by else 0 for s in SERVERS)
        for s in SERVERS:
            if s not in by:
                lines.append(f"| {t} | {n // k if k > 1 else n:,} x {k:,} | {size} B | {s} | (no run) | | | | | | | | |")
                continue
            r = by[s]
            p = r["pubsub"]
            pc = per_cpu(r)
            vs_raw = f"{ratio(pc, raw):.2f}" if s != "raw" else "1.00"
            ue = f"**{ratio(uring, epoll):.2f}**" if s == "wsgate-uring" else ""
            lines.append(
                f"| {t} | {n // k if k > 1 else n:,} x {k:,} | {size} B | {s} | {p['deliveries_per_s']:,.0f} | "
                f"{cpu(r):.2f} | {pc:,.0f} | {vs_raw} | {ue} | {io_per(r) if s != 'raw' else '1 / -'} | "
                f"{r['latency_us']['p99'] / 1000:.1f} ms | "
                f"{r['cpu']['window_percent_of_core']:.0f}% | {p['lost']} / {p['duplicates']} / {p['reordered']} / "
                f"{p['offset_errors']}{'' if clean(r) else ' (errors ' + str(r['errors_total']) + ')'} |")
        label = f"t{t} {n // k if k > 1 else n}x{k} {size} B"
        if uring and epoll:
            checks.append((f"io_uring >= {URING_VS_EPOLL}x epoll deliveries/CPU-s, {label}",
                           ratio(uring, epoll), ratio(uring, epoll) >= URING_VS_EPOLL))
        if uring and raw:
            checks.append((f"io_uring >= {URING_VS_RAW}x raw deliveries/CPU-s, {label}",
                           ratio(uring, raw), ratio(uring, raw) >= URING_VS_RAW))
        for s, r in by.items():
            if not clean(r):
                checks.append((f"no loss / duplicate / reorder / error: {s} {label}", 0, False))


def latency(runs, lines, checks):
    rows = [r for r in runs if r["kind"] == "halfrate"]
    if not rows:
        return
    lines += ["", "Open loop at half each server's maximum publication rate (10,000 subscribers, 1 channel, "
              "100 B, one thread):", "",
              "| server | publications/s | deliveries/s | p50 | p99 | p99.9 | missed | lost / dup / reord |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in SERVERS:
        for r in rows:
            if r["server_name"] != s:
                continue
            p, lat = r["pubsub"], r["latency_us"]
            lines.append(f"| {s} | {p['publications_per_s']:,.0f} | {p['deliveries_per_s']:,.0f} | "
                         f"{lat['p50'] / 1000:.2f} ms | {lat['p99'] / 1000:.2f} ms | {lat['p999'] / 1000:.2f} ms | "
                         f"{p['publish_missed']} | {p['lost']} / {p['duplicates']} / {p['reordered']} |")
            if s != "raw":
                checks.append((f"p99 < 10 ms at half the maximum rate, 10,000 subscribers: {s}",
                               lat["p99"] / 1000, lat["p99"] < P99_BOUND_US))


def memory(runs, lines, checks):
    rows = {(r["subs"], r["m"]): r for r in runs if r["kind"] == "memory"}
    if not rows:
        return

    def rss(r):
        s = r.get("server") or {}
        return s.get("rss_before_kb", 0) * 1024, s.get("rss_up_kb", 0) * 1024

    lines += ["", "Memory, wsgate io_uring --mode pubsub, idle subscribers (RSS after every subscription was "
              "answered minus before; fresh server each):", "",
              "| subscribers | subscriptions each | up | RSS before | RSS all up | B / connection |",
              "|---:|---:|---:|---:|---:|---:|"]
    for (n, m), r in sorted(rows.items()):
        before, up = rss(r)
        lines.append(f"| {n:,} | {m} | {r['pubsub']['subscriptions_up']:,} subscriptions | {before // 1024:,} kB | "
                     f"{up // 1024:,} kB | {(up - before) / max(1, r['peak_up']):,.0f} |")
    ones = sorted(n for (n, m) in rows if m == 1)
    if len(ones) >= 2:
        a, b = rows[(ones[0], 1)], rows[(ones[-1], 1)]
        slope = (rss(b)[1] - rss(a)[1]) / max(1, b["peak_up"] - a["peak_up"])
        lines.append(f"\nPer connection with one subscription, slope between {ones[0]:,} and {ones[-1]:,}: "
                     f"**{slope:,.0f} B**")
        checks.append((f"<= {BYTES_PER_CONNECTION} B per idle connection with one subscription (slope)",
                       slope, slope <= BYTES_PER_CONNECTION))
    multi = [(n, m) for (n, m) in rows if m > 1]
    if multi and (multi[0][0], 1) in rows:
        n, m = multi[0]
        one, many = rows[(n, 1)], rows[(n, m)]
        extra = (rss(many)[1] - rss(many)[0] - (rss(one)[1] - rss(one)[0])) / max(
            1, many["pubsub"]["subscriptions_up"] - one["pubsub"]["subscriptions_up"])
        lines.append(f"Per extra subscription ({m} vs 1 per connection, {n:,} connections, 1,000 channels): "
                     f"**{extra:,.0f} B**")
        checks.append((f"<= {BYTES_PER_SUBSCRIPTION} B per extra subscription", extra,
                       extra <= BYTES_PER_SUBSCRIPTION))


def main():
    out = sys.argv[1]
    runs = load(out)
    if not runs:
        print("pubsub: no results")
        return
    lines, checks = [], []
    load_avg = ""
    try:
        load_avg = open(os.path.join(out, "pubsub", "loadavg.txt")).read().replace("\n", "")
    except OSError:
        pass
    lines += [f"Pub/sub fan-out (load average before / after: {load_avg}); deliveries / CPU-s = deliveries in "
              "the window / the server's CPU seconds in it; vs raw and io_uring / epoll are ratios of that.", ""]
    fanout(runs, lines, checks)
    latency(runs, lines, checks)
    memory(runs, lines, checks)
    lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
    for what, value, ok in checks:
        lines.append(f"| {what} | {value:,.2f} | {'met' if ok else '**missed**'} |")
    text = "\n".join(lines) + "\n"
    open(os.path.join(out, "pubsub.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
