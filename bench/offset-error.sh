#!/usr/bin/env bash
# Offset error on a veth pair, where the true offset is 0 (both namespaces
# share one clock): ntpdiag probe's best sample (smallest delay) with and
# without kernel transmit timestamps, beside `chronyd -Q` against the same
# server (chronyd, local stratum 8), in one run. Prints the median and the
# median absolute error of each over RUNS runs.
# Needs root and chronyd in /opt/chrony (scripts/test installs it).
# Usage: bash bench/offset-error.sh [RUNS]   (default 9)
set -euo pipefail
# Namespaces need root: as a normal user, run again under sudo.
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
RUNS=${1:-9}
CHRONYD=${NTPDIAG_CHRONYD:-/opt/chrony/usr/sbin/chronyd}
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag

. bench/lib.sh
C=ndoc$$; S=ndos$$
netns_pair "$C" "$S" 198.51.100.2 198.51.100.1
chrony_server "$S"

best_us() { # ntpdiag probe's best sample offset, in µs
  ip netns exec "$C" "$@" probe --json --no-liveness -n 16 --interval 50ms 198.51.100.1 \
    | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [x for x in d["targets"][0]["probes"][0]["samples"] if x["offset_s"] is not None]
print("%.2f" % (min(s, key=lambda x: x["delay_s"])["offset_s"] * 1e6))'
}
chrony_us() { # chronyd -Q: X of "System clock wrong by X seconds", as printed, in µs
  ip netns exec "$C" "$CHRONYD" -Q -t 20 -u root "server 198.51.100.1 iburst minpoll -4 maxpoll -4" 2>&1 \
    | sed -n 's/.*System clock wrong by \([-0-9.e]*\) seconds.*/\1/p' \
    | python3 -c 'import sys; v=sys.stdin.read().split(); print("%.2f" % (float(v[-1]) * 1e6) if v else "nan")'
}
stats() { python3 -c '
import sys, statistics
v = [float(x) for x in sys.stdin.read().split() if x != "nan"]
print("median %+7.2f µs   median |error| %6.2f µs   (%d runs: %s)" % (
    statistics.median(v), statistics.median([abs(x) for x in v]), len(v),
    " ".join("%+.1f" % x for x in v)))'; }

: > "$TMP/tx"; : > "$TMP/notx"; : > "$TMP/chrony"
for _ in $(seq "$RUNS"); do
  best_us "$BIN" >> "$TMP/tx"
  best_us env NTPDIAG_NO_TX_TIMESTAMPS=1 "$BIN" >> "$TMP/notx"
  chrony_us >> "$TMP/chrony"
done
echo "offset of a server on the same clock (true offset 0), veth pair, $RUNS runs:"
printf '  %-44s %s\n' "ntpdiag probe, kernel TX timestamps:" "$(stats < "$TMP/tx")"
printf '  %-44s %s\n' "ntpdiag probe, T1 read before sendto:" "$(stats < "$TMP/notx")"
printf '  %-44s %s\n' "chronyd -Q (4.3), \"wrong by\" as printed:" "$(stats < "$TMP/chrony")"
