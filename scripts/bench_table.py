#!/usr/bin/env python3
"""Turn bench.sh's raw results (hyperfine JSON + rows.tsv) into benches/results.md."""
import json, os, platform, subprocess, sys, datetime

raw, size, cold, total = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def fmt(s):
    return f"{s*1000:.1f} ms" if s < 1 else f"{s:.2f} s"

def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"

rows = []
if os.path.exists(f"{raw}/rows.tsv"):
    rows = [l.rstrip("\n").split("\t") for l in open(f"{raw}/rows.tsv") if l.strip()]

out = []
out.append(f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu()}), "
           f"{subprocess.run(['uname', '-sr'], capture_output=True, text=True).stdout.strip()}; "
           f"bench.sh took {total} s. Ratio = incumbent median / raytls median, same hyperfine run.\n")
out.append("| case | tool | median | min | max | ratio | peak RSS |")
out.append("|---|---|---|---|---|---|---|")
for r in rows:
    cid, title, rss_rt, rss_inc, inc_name = (r + [""] * 6)[:5]
    path = f"{raw}/{cid}.json"
    if not os.path.exists(path):
        continue
    res = {x["command"]: x for x in json.load(open(path))["results"]}
    rt = res.get("raytls")
    inc = res.get(inc_name) if inc_name else None
    ratio = f"**{inc['median'] / rt['median']:.0f}x**" if (rt and inc and rt["median"] > 0) else ""
    for name, x, rss in [("raytls", rt, rss_rt), (inc_name, inc, rss_inc)]:
        if not x:
            continue
        label = f"{cid}. {title}" if name == "raytls" else ""
        out.append(f"| {label} | {name} | {fmt(x['median'])} | {fmt(x['min'])} | {fmt(x['max'])} | "
                   f"{ratio if name == 'raytls' else ''} | {rss + ' MB' if rss else ''} |")
out.append("")
out.append(f"7. Binary: {size / 1e6:.2f} MB (release, stripped)"
           + (f"; cold `cargo build --release`: {cold} s" if cold else "") + ".")
print("\n".join(out))
