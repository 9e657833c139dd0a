#!/usr/bin/env bash
# `ntpdiag report` on a day of 1 s data: 86 400 watch snapshots of four
# sources (written here in watch --json's snapshot schema: a sine-drifting
# offset with noise, one source 300 ms off, one unsynchronized for an hour),
# then the page loaded in headless Chromium. Prints the input and page
# sizes, the time report takes, and the time Chromium takes to load the
# page and dump its DOM; beside it, Chromium loading a page of the same size
# made of plain text, as the browser's own figure.
# Chromium runs in a network namespace of its own (unshare --net): it
# reaches nothing. Needs root for that.
# usage: bash bench/report.sh   (needs python3, chromium)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP/day.jsonl" <<'PY'
import json, math, random, sys
random.seed(1)
out = open(sys.argv[1], "w")
names = ["ntp1", "ntp2", "ntp3", "far"]
for t in range(86400):
    srcs = []
    for i, n in enumerate(names):
        unsync = n == "ntp3" and 40000 <= t < 43600
        off = 0.002 * math.sin(t / 3600.0 + i) + random.gauss(0, 0.0003) + (0.3 if n == "far" else 0.0)
        srcs.append({"address": f"198.51.100.{i+1}:123", "name": n, "tally": "*" if i == 0 else ("x" if n == "far" else "+"),
                     "reach": "0" if unsync else "377", "heard": "377", "cause": "upstream-unsynchronized" if unsync else ("falseticker" if n == "far" else "ok"),
                     "why": "", "offset_s": off, "delay_s": 0.001 + abs(random.gauss(0, 0.0002)), "jitter_s": 0.0003,
                     "root_distance_s": 0.01, "stratum": 2, "refid": "GPS", "poll": 6, "when_s": 1.0, "polls": t + 1,
                     "received": t + 1, "usable": 0 if unsync else t + 1, "flash": 0, "flash_names": [], "strip": "++++++++"})
    snap = {"type": "snapshot", "schema_version": 1, "t_s": float(t), "rules": "ntpd", "sources": srcs,
            "system": {"peer": "ntp1", "offset_s": srcs[0]["offset_s"], "jitter_s": 0.0003, "cause": "ok", "why": "",
                       "action": "slew", "candidates": 3, "truechimers": 3, "interval": [-0.005, 0.005]}}
    out.write(json.dumps(snap) + "\n")
    if t in (40000, 43600):
        out.write(json.dumps({"type": "event", "t_s": float(t), "source": "ntp3", "address": "198.51.100.3:123",
                              "from": {"tally": "+", "state": "candidate"}, "to": {"tally": " ", "state": "unsynchronized"},
                              "cause": "upstream-unsynchronized", "why": "leap 3"}) + "\n")
PY
IN=$(stat -c %s "$TMP/day.jsonl")
s=$(date +%s%N)
"$BIN" report "$TMP/day.jsonl" -o "$TMP/day.html" 2>/dev/null
e=$(date +%s%N)
OUT=$(stat -c %s "$TMP/day.html")
echo "input: 86400 snapshots x 4 sources, $((IN / 1048576)) MiB"
echo "ntpdiag report: $(( (e - s) / 1000000 )) ms, page $((OUT / 1024)) KiB"
s=$(date +%s%N)
unshare --net chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$TMP/day.html" > /dev/null 2>&1
e=$(date +%s%N)
echo "chromium load + dump-dom of the report: $(( (e - s) / 1000000 )) ms"
head -c "$OUT" /dev/zero | tr '\0' 'x' | fold -w 100 > "$TMP/plain.txt"
{ echo "<!DOCTYPE html><pre>"; cat "$TMP/plain.txt"; echo "</pre>"; } > "$TMP/plain.html"
s=$(date +%s%N)
unshare --net chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$TMP/plain.html" > /dev/null 2>&1
e=$(date +%s%N)
echo "chromium load + dump-dom of plain text of the same size (the browser's own figure): $(( (e - s) / 1000000 )) ms"
