#!/usr/bin/env bash
# Packets per second reading a large synthetic NTP capture, in one run:
#   ntpdiag   ntpdiag capture -r FILE (decode, pair, judge every conversation)
#   tshark    tshark -n -r FILE -q -Y ntp (the display filter makes tshark
#             dissect every packet's NTP fields; plain `tshark -r FILE -q` skips
#             dissection and is shown too, as tshark-nodis)
#   bare      examples/pcap_bare.rs: a libpcap read loop that only counts
# The file comes from examples/gen_pcap.rs (PACKETS packets, CLIENTS clients).
# No root needed.
# usage: bash bench/capture-rate.sh [PACKETS] [CLIENTS]   (default 1000000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${1:-1000000}; CLIENTS=${2:-1000}
cargo build --release --quiet --bins --examples
R=$PWD/target/release
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
F=$TMP/synthetic.pcap
"$R/examples/gen_pcap" "$F" "$PACKETS" "$CLIENTS"
size=$(stat -c %s "$F")
secs() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
# Warm the page cache once.
cat "$F" >/dev/null
t_bare=$(secs "$R/examples/pcap_bare" "$F")
t_ours=$(secs "$R/ntpdiag" capture -r "$F")
t_tshark=$(secs tshark -n -r "$F" -q -Y ntp)
t_nodis=$(secs tshark -n -r "$F" -q)
convs=$( { "$R/ntpdiag" capture --json -r "$F" || true; } | grep -c '"client"' || true)
rss=$( { /usr/bin/time -f %M "$R/ntpdiag" capture -r "$F" >/dev/null || true; } 2>&1 | tail -1)
pps() { awk -v n="$PACKETS" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
printf '\n%s packets, %s clients, %.0f MB; %s conversations judged\n' "$PACKETS" "$CLIENTS" "$(awk -v s="$size" 'BEGIN{print s/1e6}')" "$convs"
printf '%-13s %9s %12s %10s\n' reader seconds packets/s "vs ntpdiag"
for r in bare ntpdiag tshark tshark-nodis; do
  case $r in bare) t=$t_bare ;; ntpdiag) t=$t_ours ;; tshark) t=$t_tshark ;; tshark-nodis) t=$t_nodis ;; esac
  printf '%-13s %9s %12s %9sx\n' "$r" "$t" "$(pps "$t")" "$(awk -v a="$t" -v b="$t_ours" 'BEGIN { printf "%.2f", a / b }')"
done
printf 'ntpdiag capture max RSS: %s kB\n' "$rss"
