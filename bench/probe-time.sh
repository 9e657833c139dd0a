#!/usr/bin/env bash
# Time to a verdict: `ntpdiag probe` beside `ntpdig` on the same targets,
# in one run, in network namespaces this script creates and removes.
# Targets: healthy (chronyd, local stratum 8), refused (no daemon: ICMP port
# unreachable), silent (iptables DROP on udp/123). Both tools wait 1 s per
# request. Needs root, chronyd in /opt/chrony (scripts/test installs it).
# Usage: bash bench/probe-time.sh [RUNS]   (default 5)
set -euo pipefail
# Namespaces need root: as a normal user, run again under sudo.
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
RUNS=${1:-5}
CHRONYD=${NTPDIAG_CHRONYD:-/opt/chrony/usr/sbin/chronyd}
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag

. bench/lib.sh
C=ndbc$$; S=ndbs$$
netns_pair "$C" "$S" 198.51.100.2 198.51.100.1

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, then the command
  local label=$1; shift
  local t=()
  for _ in $(seq "$RUNS"); do
    local s; s=$(date +%s%N)
    ip netns exec "$C" "$@" >/dev/null 2>&1 || true
    t+=("$(ms "$s")")
  done
  printf '%s\n' "${t[@]}" | median > "$TMP/$label"
}

scenario() { # name
  measure "$1.ntpdiag" "$BIN" probe -q --timeout 1s 198.51.100.1
  measure "$1.ntpdig" ntpdig -t 1 198.51.100.1
}

# refused: nothing listens on 123
scenario refused
# healthy: chronyd
chrony_server "$S"
scenario healthy
# silent: DROP udp/123
ip netns exec "$S" iptables -A INPUT -p udp --dport 123 -j DROP
scenario silent

printf '\ntime to verdict, median of %s runs (ms)\n' "$RUNS"
printf '%-10s %10s %10s   %s\n' target ntpdiag ntpdig "what each said"
for s in healthy refused silent; do
  case $s in
    healthy) said="ok (4 samples) | one offset" ;;
    refused) said="port-unreachable | no eligible servers" ;;
    silent)  said="no-reply + liveness check | no eligible servers" ;;
  esac
  printf '%-10s %10s %10s   %s\n' "$s" "$(cat "$TMP/$s.ntpdiag")" "$(cat "$TMP/$s.ntpdig")" "$said"
done
