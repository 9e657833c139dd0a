#!/usr/bin/env bash
# Time to a verdict with NTS: `ntpdiag probe --nts` beside `chronyd -Q` with
# an `nts` source (chrony's one-shot measurement, which does NTS-KE and
# NTS-protected NTP and never touches the clock), in one run, in network
# namespaces this script creates and removes. Targets: chronyd 4 as an NTS
# server (openssl certificate for ntp.test, trusted by both clients), and the
# same server with TCP 4460 dropped (iptables DROP). chronyd -Q is bounded
# by -t (default 10 s): with the port dropped it never gets a sample and
# ends at the bound. Needs root, chronyd in /opt/chrony.
# Usage: bash bench/nts-time.sh [RUNS]   (default 3)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
RUNS=${1:-3}
LIMIT=${NTS_BENCH_LIMIT:-10}
CHRONYD=${NTPDIAG_CHRONYD:-/opt/chrony/usr/sbin/chronyd}
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag

. bench/lib.sh
C=ndnc$$; S=ndns$$
netns_pair "$C" "$S" 198.51.100.2 198.51.100.1
# Names inside the client namespace never leave it (ip netns exec mounts these).
mkdir -p "/etc/netns/$C"; on_exit "rm -rf /etc/netns/$C"
printf '127.0.0.1 localhost\n198.51.100.1 ntp.test\n' > "/etc/netns/$C/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$C/resolv.conf"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=ntp.test -addext subjectAltName=DNS:ntp.test \
  -keyout "$TMP/server.key" -out "$TMP/server.crt" 2>/dev/null
mkdir -p "$TMP/s"
cat > "$TMP/s/chrony.conf" <<CONF
pidfile $TMP/s/chronyd.pid
driftfile $TMP/s/drift
bindcmdaddress $TMP/s/chronyd.sock
cmdport 0
local stratum 8
allow all
ntsserverkey $TMP/server.key
ntsservercert $TMP/server.crt
CONF
ip netns exec "$S" "$CHRONYD" -f "$TMP/s/chrony.conf" -x -u root >/dev/null 2>&1
on_exit "kill \$(cat $TMP/s/chronyd.pid)"
for _ in $(seq 50); do ip netns exec "$S" ss -Htln 'sport = :4460' | grep -q . && break; sleep 0.1; done

mkdir -p "$TMP/c"
chmod 700 "$TMP/c"
cat > "$TMP/c/chrony.conf" <<CONF
pidfile $TMP/c/chronyd.pid
driftfile $TMP/c/drift
cmdport 0
bindcmdaddress $TMP/c/chronyd.sock
server ntp.test iburst nts maxsamples 1
ntstrustedcerts $TMP/server.crt
CONF

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, output file, then the command
  local label=$1 out=$2; shift 2
  local t=()
  for _ in $(seq "$RUNS"); do
    local s; s=$(date +%s%N)
    ip netns exec "$C" "$@" >"$out" 2>&1 || true
    t+=("$(ms "$s")")
  done
  printf '%s\n' "${t[@]}" | median > "$TMP/$label"
}

scenario() { # name
  measure "$1.ntpdiag" "$TMP/$1.ntpdiag.out" "$BIN" probe --nts --nts-ca "$TMP/server.crt" -q -n 1 ntp.test
  measure "$1.chronyd" "$TMP/$1.chronyd.out" "$CHRONYD" -Q -t "$LIMIT" -f "$TMP/c/chrony.conf" -u root
}
said() { # name: what each said, shortened
  local a b
  a=$(grep -m1 -o '\[[a-z-]*\]' "$TMP/$1.ntpdiag.out" || echo '?')
  b=$(grep -m1 -oE 'System clock wrong by [-0-9.]+ seconds|No suitable source|Timeout' "$TMP/$1.chronyd.out" || echo "nothing within ${LIMIT} s")
  echo "$a | $b"
}

scenario healthy
ip netns exec "$S" iptables -A INPUT -p tcp --dport 4460 -j DROP
scenario ke-dropped

printf '\ntime to verdict with NTS, median of %s runs (ms)\n' "$RUNS"
printf '%-11s %10s %14s   %s\n' target ntpdiag "chronyd -Q" "what each said (ntpdiag | chronyd)"
for s in healthy ke-dropped; do
  printf '%-11s %10s %14s   %s\n' "$s" "$(cat "$TMP/$s.ntpdiag")" "$(cat "$TMP/$s.chronyd")" "$(said "$s")"
done
