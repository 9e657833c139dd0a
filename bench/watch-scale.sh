#!/usr/bin/env bash
# One `ntpdiag watch` holding N associations (default 1000) against
# `ntpdiag serve` answering on N IPv6 addresses (2001:db8::1:0/112) of a
# namespace, beside ntpsec's ntpd polling the same N servers, in one run:
# CPU time per poll round and RSS of each after DURATION seconds, at
# minpoll 3 (8 s rounds). Then the engine's replay speed
# (examples/replay_speed.rs). Needs root (namespaces); nothing touches the
# clock (ntpd: disable ntp, disable kernel).
# Usage: bash bench/watch-scale.sh [N] [DURATION]   (defaults 1000, 64)
set -euo pipefail
# Namespaces need root: as a normal user, run again under sudo.
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
N=${1:-1000}
DUR=${2:-64}
cargo build --release --quiet --examples
BIN=$PWD/target/release/ntpdiag

. bench/lib.sh
C=ndwc$$; S=ndws$$
netns_pair "$C" "$S" 198.51.100.2 198.51.100.1
ip -n "$C" -6 addr add 2001:db8::2/64 dev "vc$$" nodad
ip -n "$S" -6 addr add 2001:db8::1/64 dev "vs$$" nodad
ip -n "$C" -6 route add 2001:db8::1:0/112 via 2001:db8::1
addr() { printf '2001:db8::1:%x' "$1"; }
for i in $(seq 1 "$N"); do echo "addr add $(addr "$i")/128 dev vs$$ nodad"; done > "$TMP/addrs"
ip -n "$S" -batch "$TMP/addrs"
ip netns exec "$S" "$BIN" serve --listen '[::]:123' >/dev/null 2>&1 &
on_exit "kill $!"
sleep 1

cpu_rss() { # pid → "cpu_seconds rss_kB"
  local t; t=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo "$(echo "$t / $(getconf CLK_TCK)" | bc -l) $(awk '/VmRSS/ {print $2}' "/proc/$1/status")"
}

# ntpdiag watch
SERVERS=()
for i in $(seq 1 "$N"); do SERVERS+=("[$(addr "$i")]:123"); done
ip netns exec "$C" "$BIN" watch --json --minpoll 3 --maxpoll 3 --no-iburst \
  --duration "$((DUR + 5))s" "${SERVERS[@]}" > "$TMP/watch.jsonl" 2>/dev/null &
W=$!; on_exit "kill $W"
sleep "$DUR"
read -r WCPU WRSS < <(cpu_rss "$W")
wait "$W" || true
WPEER=$(grep '"type":"snapshot"' "$TMP/watch.jsonl" | tail -1 | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(sum(1 for s in d["sources"] if s["reach"] != "0"), "of", len(d["sources"]), "reached; system cause", d["system"]["cause"])')

# ntpsec ntpd, the same servers
{
  echo "driftfile $TMP/drift"; echo "disable ntp"; echo "disable kernel"; echo "disable monitor"
  echo "restrict default kod nomodify"; echo "restrict 127.0.0.1"
  for i in $(seq 1 "$N"); do echo "server $(addr "$i") minpoll 3 maxpoll 3"; done
} > "$TMP/ntp.conf"
ip netns exec "$C" ntpd -n -c "$TMP/ntp.conf" -p "$TMP/ntpd.pid" >/dev/null 2>&1 &
NP=$!; on_exit "kill $NP"
sleep "$DUR"
read -r NCPU NRSS < <(cpu_rss "$NP")
NREACH=$(ip netns exec "$C" ntpq -pn 127.0.0.1 2>/dev/null | awk 'NR > 2 && $7 != "0"' | wc -l)

ROUNDS=$(echo "$DUR / 8" | bc -l)
printf 'N=%s sources, %s s at minpoll 3 (%.1f poll rounds):\n' "$N" "$DUR" "$ROUNDS"
printf '  %-16s CPU %6.3f s = %6.1f ms per poll round, RSS %6d kB   (%s)\n' \
  "ntpdiag watch" "$WCPU" "$(echo "$WCPU * 1000 / $ROUNDS" | bc -l)" "$WRSS" "$WPEER"
printf '  %-16s CPU %6.3f s = %6.1f ms per poll round, RSS %6d kB   (%s of %s reached)\n' \
  "ntpsec ntpd" "$NCPU" "$(echo "$NCPU * 1000 / $ROUNDS" | bc -l)" "$NRSS" "$NREACH" "$N"
./target/release/examples/replay_speed
