#!/usr/bin/env bash
# Replies per second and server CPU time per reply, from one load generator
# (examples/loadgen.rs: batched sendmmsg/recvmmsg, 4 sockets, 64 in flight
# each) against, in the same run:
#   echo     examples/udp_echo.rs: bare recvmmsg/sendmmsg of 48 octets (ceiling)
#   ntpdiag  ntpdiag serve --threads 1
#   chronyd  local stratum 8, allow all, no ratelimit
#   ntpd     ntpsec, `restrict default kod nomodify` (see below)
# Server pinned to core 0, generator to core 1 (taskset), over loopback in a
# network namespace this script creates and removes. Rounds are interleaved;
# the median round is shown. Then the RSS of ntpdiag serve (with a rate limit,
# so it keeps a per-client table) before and after one request from each of
# DISTINCT distinct source addresses.
#
# ntpsec's built-in default restriction carries `limited` and `noquery`
# (ntp.conf(5): "A default entry is also always present. It has noquery ...
# and limited"): with no restrict line, ntpd answers a busy source about 20
# times and then goes quiet. Writing `restrict default kod nomodify` replaces
# those flags, so ntpd serves the generator like the others.
#
# usage: bash bench/serve-rate.sh [SECONDS-PER-RUN] [ROUNDS] [DISTINCT]
set -euo pipefail
# Namespaces need root: as a normal user, run again under sudo.
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
SECS=${1:-5}; ROUNDS=${2:-3}; DISTINCT=${3:-1000000}
CHRONYD=${NTPDIAG_CHRONYD:-/opt/chrony/usr/sbin/chronyd}
cargo build --release --quiet --bins --examples
R=$PWD/target/release
NS=ndbr$$; TMP=$(mktemp -d); PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"; ip -n "$NS" link set lo up
inns() { ip netns exec "$NS" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 100); do inns ss -Hunl 'sport = :123' | grep -q . && return 0; sleep 0.05; done; echo "server did not start" >&2; return 1; }

cat > "$TMP/chrony.conf" <<CONF
pidfile $TMP/chronyd.pid
driftfile $TMP/chrony.drift
bindcmdaddress $TMP/chronyd.sock
cmdport 0
local stratum 8
allow all
CONF
cat > "$TMP/ntp.conf" <<CONF
driftfile $TMP/ntp.drift
disable ntp
disable kernel
restrict default kod nomodify
restrict 127.0.0.1
tos orphan 5 orphanwait 1
CONF

# Background starts call `ip netns exec` directly (not through a shell
# function), so that $! is the server's own PID: ip and taskset exec into it.
start() {
  case $1 in
    echo)    ip netns exec "$NS" taskset -c 0 "$R/examples/udp_echo" 127.0.0.1:123 & PID=$! ;;
    ntpdiag) ip netns exec "$NS" taskset -c 0 "$R/ntpdiag" serve --threads 1 --listen 127.0.0.1:123 >/dev/null & PID=$! ;;
    chronyd) ip netns exec "$NS" taskset -c 0 "$CHRONYD" -f "$TMP/chrony.conf" -d -x -u root >/dev/null 2>&1 & PID=$! ;;
    ntpd)    ip netns exec "$NS" taskset -c 0 ntpd -n -c "$TMP/ntp.conf" -p "$TMP/ntpd.pid" >/dev/null 2>&1 & PID=$! ;;
  esac
  wait_port
  sleep 0.3
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; sleep 0.2; }

SERVERS="echo ntpdiag chronyd ntpd"
for round in $(seq "$ROUNDS"); do
  for s in $SERVERS; do
    start "$s"
    c0=$(cpu_ticks "$PID")
    out=$(inns taskset -c 1 "$R/examples/loadgen" 127.0.0.1:123 "$SECS" 4 64)
    c1=$(cpu_ticks "$PID")
    stop
    rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
    replies=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' <<<"$out")
    hz=$(getconf CLK_TCK)
    # CPU microseconds per reply.
    us=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$replies" 'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "-" }')
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v s="$SECS" 'BEGIN { printf "%.0f", 100 * t / hz / s }')
    echo "$s $rate $us $cpu" >> "$TMP/results"
    echo "round $round: $s $out cpu=${cpu}% us/reply=$us" >&2
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo_rate=$(awk '$1=="echo" {print $2}' "$TMP/results" | median)
printf '\nreplies per second, median of %s rounds of %s s (server on core 0, generator on core 1)\n' "$ROUNDS" "$SECS"
printf '%-9s %10s %9s %12s %9s\n' server replies/s "vs echo" "cpu us/reply" "cpu %"
for s in $SERVERS; do
  r=$(awk -v s="$s" '$1==s {print $2}' "$TMP/results" | median)
  u=$(awk -v s="$s" '$1==s {print $3}' "$TMP/results" | median)
  c=$(awk -v s="$s" '$1==s {print $4}' "$TMP/results" | median)
  printf '%-9s %10s %8s%% %12s %8s%%\n' "$s" "$r" "$(awk -v a="$r" -v b="$echo_rate" 'BEGIN { printf "%.0f", 100 * a / b }')" "$u" "$c"
done

# Memory under a flood from many distinct sources.
ip netns exec "$NS" taskset -c 0 "$R/ntpdiag" serve --threads 1 --listen 127.0.0.1:123 --rate-limit 2s,4 >/dev/null & PID=$!
wait_port; sleep 0.3
before=$(rss_kb "$PID")
flood=$(inns taskset -c 1 "$R/examples/loadgen" --distinct "$DISTINCT" 127.0.0.1:123)
sleep 0.5
after=$(rss_kb "$PID")
ok=$(inns "$R/ntpdiag" probe -q --json 127.0.0.1 | sed -n 's/.*"cause": "\([a-z-]*\)".*/\1/p' | head -1)
stop
printf '\nntpdiag serve --rate-limit 2s,4: RSS %s kB before, %s kB after one request from each of %s distinct sources (%s); a probe afterwards: %s\n' \
  "$before" "$after" "$DISTINCT" "$flood" "$ok"
