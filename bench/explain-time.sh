#!/usr/bin/env bash
# Wall time of `ntpdiag explain` on a node with four configured servers:
# all healthy (chronyd, local stratum 8), all silent (iptables DROP), and
# mixed (two of each). Collectors and probes run at once, so a silent set
# should take about one probe timeout (1 s) plus the liveness check, not four.
# Network namespaces created and removed here. Needs root and chronyd in
# /opt/chrony (scripts/test installs it).
# usage: bash bench/explain-time.sh [RUNS]   (default 3)
set -euo pipefail
# Namespaces need root: as a normal user, run again under sudo.
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CHRONYD=${NTPDIAG_CHRONYD:-/opt/chrony/usr/sbin/chronyd}
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag
. bench/lib.sh
C=ndec$$; S=ndes$$
netns_pair "$C" "$S" 198.51.100.20 198.51.100.1
for i in 2 3 4; do ip -n "$S" addr add "198.51.100.$i/24" dev "vs$$"; done
mkdir -p "$TMP/root/etc/ntpsec"
printf 'server 198.51.100.%s iburst\n' 1 2 3 4 > "$TMP/root/etc/ntpsec/ntp.conf"
chrony_server "$S"

measure() {
  local best="" all=""
  for _ in $(seq "$RUNS"); do
    local s e t cause
    s=$(date +%s%N)
    ip netns exec "$C" "$BIN" explain --json --root "$TMP/root" > "$TMP/out.json" || true
    e=$(date +%s%N)
    t=$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    all="$all $t"
    cause=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["verdict"]["cause"], "/", ", ".join(f["verdict"]["cause"] for f in r["findings"] if f["subject"].startswith("server")))' "$TMP/out.json")
  done
  printf '%-8s %s s   (verdict: %s)\n' "$1" "$all" "$cause"
}
printf 'ntpdiag explain, 4 configured servers, probe timeout 1 s; wall time of %s runs\n' "$RUNS"
measure healthy
ip netns exec "$S" iptables -A INPUT -p udp --dport 123 -d 198.51.100.3 -j DROP
ip netns exec "$S" iptables -A INPUT -p udp --dport 123 -d 198.51.100.4 -j DROP
measure mixed
ip netns exec "$S" iptables -A INPUT -p udp --dport 123 -j DROP
measure silent
