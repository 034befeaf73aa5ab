#!/usr/bin/env python3
"""Tables for scripts/bench_proxy.sh: reads OUT/json/*.json (wsload reports),
prints Markdown and writes it to OUT/proxy.md."""
import glob
import json
import os
import sys

out = sys.argv[1]
reports = []
for path in sorted(glob.glob(os.path.join(out, "json", "*.json"))):
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        continue
    r["_file"] = os.path.basename(path)
    reports.append(r)

ORDER = ["direct", "wsgate-uring", "wsgate-epoll", "wsgate-frames", "nginx", "haproxy"]
lines = []


def per_cpu_s(r):
    s = r.get("server") or {}
    cpu = s.get("cpu_window_s", 0)
    return r["messages"] / cpu if cpu > 0 else 0


echo = [r for r in reports if r["_file"].startswith("echo-") and r["mode"] == "echo"]
points = sorted({(r["connections"], r["payload_bytes"]) for r in echo},
                key=lambda p: (p[1] == 65536, p[0], p[1]))
if echo:
    lines += [
        "| connections | bytes | proxy | msg/s | proxy CPU µs/msg | msg / proxy CPU-s "
        "| wsgate-uring ÷ this | errors |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for c, b in points:
        rows = {r["label"]: r for r in echo if (r["connections"], r["payload_bytes"]) == (c, b)}
        ours = per_cpu_s(rows["wsgate-uring"]) if "wsgate-uring" in rows else 0
        for name in ORDER:
            r = rows.get(name)
            if r is None:
                continue
            s = r.get("server") or {}
            eff = per_cpu_s(r)
            ratio = f"{ours / eff:.2f}" if name not in ("direct", "wsgate-uring") and eff else ""
            label = name if name != "direct" else "direct (upstream CPU)"
            lines.append(
                f"| {c:,} | {b} | {label} | {r['msg_per_s']:,.0f} | "
                f"{s.get('cpu_s_per_million_messages', 0):.2f} | {eff:,.0f} | {ratio} | "
                f"{r['errors_total']}{' (failed)' if r.get('failed') else ''} |")
        for rival, target in (("nginx", 1.5), ("haproxy", 1.3)):
            if rival in rows and ours and per_cpu_s(rows[rival]):
                x = ours / per_cpu_s(rows[rival])
                verdicts.append((c, b, rival, x, target))
    lines.append("")
    lines.append("Targets (messages per proxy CPU-second, wsgate tunnel on io_uring):")
    lines.append("")
    for c, b, rival, x, target in verdicts:
        lines.append(f"- {c:,} x {b} B: {x:.2f}x {rival} (target >= {target}): "
                     f"{'met' if x >= target else '**missed**'}")
    lines.append("")

setup = [r for r in reports if r["_file"].startswith("connect-")]
if setup:
    lines += ["| proxy | connections/s (32 at a time) | p99 | errors |", "|---|---:|---:|---:|"]
    for name in ORDER:
        for r in setup:
            if r["label"] == name:
                lines.append(f"| {name} | {r['handshakes_per_s']:,.0f} | "
                             f"{r['latency_us']['p99'] / 1000:.1f} ms | {r['errors_total']} |")
    lines.append("")

idle = [r for r in reports if r["_file"].startswith("idle-") and "proxy_rss_up_kb" in r]
if idle:
    lines += ["| connections | proxy | processes (wsgate: loops) | up | RSS before | RSS all up | B / proxied connection |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for n in sorted({r["connections"] for r in idle}):
        for name in ORDER:
            for r in idle:
                if r["label"] == name and r["connections"] == n:
                    per = (r["proxy_rss_up_kb"] - r["proxy_rss_before_kb"]) * 1024 / max(1, r["peak_up"])
                    lines.append(f"| {n:,} | {name} | {r['proxy_processes']:.0f} | {r['peak_up']:,} | "
                                 f"{r['proxy_rss_before_kb']:,.0f} kB | {r['proxy_rss_up_kb']:,.0f} kB | "
                                 f"{per:,.0f} |")
    lines.append("")

text = "\n".join(lines)
print(text)
open(os.path.join(out, "proxy.md"), "w").write(text + "\n")
