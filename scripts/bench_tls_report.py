#!/usr/bin/python3
"""The TLS cost table from scripts/bench_tls.sh's JSON files (Markdown)."""

import glob
import json
import os
import sys

out = sys.argv[1]
runs = {}
for path in glob.glob(os.path.join(out, "json", "*.json")):
    with open(path) as f:
        r = json.load(f)
    runs[os.path.basename(path)[:-5]] = r


def cpu_us_per_msg(r):
    s = r.get("server") or {}
    return s.get("cpu_s_per_million_messages", 0.0)


def errors(r):
    return r.get("errors_total", 0)


print("| echo | backend | plain msg/s | TLS msg/s | TLS/plain msg/s | plain server us/msg | "
      "TLS server us/msg | msgs per server core-second kept | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name in sorted(k for k in runs if k.startswith("echo-plain-")):
    rest = name[len("echo-plain-"):]
    tls = runs.get("echo-tls-" + rest)
    plain = runs[name]
    if not tls:
        continue
    backend, n, size = rest.split("-")
    pm, tm = plain["msg_per_s"], tls["msg_per_s"]
    pc, tc = cpu_us_per_msg(plain), cpu_us_per_msg(tls)
    print(f"| {n} x {size} B | {backend} | {pm:,.0f} | {tm:,.0f} | {tm / pm if pm else 0:.2f} | "
          f"{pc:.2f} | {tc:.2f} | {pc / tc if tc else 0:.2f} | {errors(plain)}/{errors(tls)} |")

print()
print("| handshakes (connect mode, io_uring) | cycles/s | full | resumed | server CPU % | "
      "per server CPU-second | errors |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in ["connect-plain", "connect-tls-ec-full", "connect-tls-ec-resumed",
             "connect-tls-rsa-full", "connect-tls-rsa-resumed"]:
    r = runs.get(name)
    if not r:
        continue
    s = r.get("server") or {}
    cpu = s.get("cpu_window_s", 0.0)
    tls = r.get("tls", {})
    print(f"| {name[len('connect-'):]} | {r['handshakes_per_s']:,.0f} | "
          f"{tls.get('full_handshakes', 0)} | {tls.get('resumed_handshakes', 0)} | "
          f"{s.get('cpu_percent_of_core', 0):.0f} | "
          f"{r['handshakes'] / cpu if cpu else 0:,.0f} | {errors(r)} |")

print()
print("| idle | backend | up | server RSS B/conn (all up) | B/conn (after hold) | errors |")
print("|---|---|---:|---:|---:|---:|")
for name in sorted(k for k in runs if k.startswith("idle-")):
    r = runs[name]
    s = r.get("server") or {}
    proto, _, backend = name[len("idle-"):].partition("-")
    print(f"| {proto} | {backend or 'io_uring'} | {r['peak_up']}/{r['connections']} | "
          f"{s.get('rss_per_connection_up_b', 0):,.0f} | "
          f"{s.get('rss_per_connection_end_b', 0):,.0f} | {errors(r)} |")
