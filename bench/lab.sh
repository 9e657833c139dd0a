#!/usr/bin/env bash
# ntpdiag lab, measured.
#
# 1. Convergence: the seed's fixed topology with one compute node on the
#    built-in engine starting 100 ms ahead (iburst, ntpd's rules), and beside
#    it, in the same lab, ntpsec ntpd and chronyd as client nodes of the same
#    controller (`server controller iburst`), all starting 8 s after the lab.
#    The real daemons run on the host clock and never touch it (ntpd
#    `disable ntp`, chronyd -x), so for them the figure is the time until
#    they select the controller (`*`); for the built-in node it is that, and
#    the time until its own clock is within 1 ms of the controller's.
# 2. `lab up` + `lab down` wall time with 10 and 50 nodes (one server, the
#    rest built-in clients, one link), beside the same namespaces, bridge and
#    veths made and removed by a bare `ip` loop (the floor).
#
# Needs root, ntpsec and chronyd in /opt/chrony (scripts/test installs them).
# Usage: bash bench/lab.sh [LIMIT_SECONDS]   (default 240)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo bash "$0" "$@"
cd "$(dirname "$0")/.."
LIMIT=${1:-240}
cargo build --release --quiet
BIN=$PWD/target/release/ntpdiag
CHRONYC=/opt/chrony/usr/bin/chronyc
. bench/lib.sh

LAB=bl$$
$BIN lab show seed-fixed \
  | sed -e 's/^name = "seed-fixed"/name = "converge"/' \
        -e 's/clock = { offset = "250ms", freq-ppm = 8.0 }/clock = { offset = "100ms", freq-ppm = 8.0 }/' \
  | python3 -c '
import sys
t = sys.stdin.read()
# compute2 is not needed; the two daemons take its place.
t = t[: t.index("[[node]]\nname = \"compute2\"")].replace("compute2 = \"ok\"\n", "")
for d in ("ntpd", "chronyd"):
    t += f"""
[[node]]
name = "compute-{d}"
addresses = {{ lan = ["198.51.100.{21 if d == "ntpd" else 22}/24"] }}
[node.{d}]
conf = "server controller iburst"
start = "8s"
"""
print(t)' > "$TMP/converge.toml"
grep -q 'offset = "100ms"' "$TMP/converge.toml"

$BIN lab up "$TMP/converge.toml" --name "$LAB" >/dev/null
on_exit "$BIN lab down $LAB >/dev/null"
T0=$(date +%s.%N)
DIR=/run/ntpdiag/lab/$LAB/nodes
el() { python3 -c "import time; print('%.1f' % (time.time() - $T0))"; }
sel_builtin=""; conv_builtin=""; sel_ntpd=""; sel_chrony=""
while :; do
  now=$(el)
  if [ -z "$sel_builtin" ] || [ -z "$conv_builtin" ]; then
    read -r synced diff < <(python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(f"{d}/compute1/billboard.json"))
k = json.load(open(f"{d}/controller/billboard.json"))
print(int(c["synchronized"]), abs(c["clock_offset_s"] - k["clock_offset_s"]))
PY
)
    [ -z "$sel_builtin" ] && [ "$synced" = 1 ] && sel_builtin=$now
    [ -z "$conv_builtin" ] && [ "$synced" = 1 ] && python3 -c "import sys; sys.exit(0 if $diff < 0.001 else 1)" && conv_builtin=$now
  fi
  if [ -z "$sel_ntpd" ] && $BIN lab exec --lab "$LAB" compute-ntpd -- ntpq -pn 127.0.0.1 2>/dev/null | grep -q '^\*'; then
    sel_ntpd=$now
  fi
  if [ -z "$sel_chrony" ] && $BIN lab exec --lab "$LAB" compute-chronyd -- "$CHRONYC" -h "$DIR/compute-chronyd/chronyd.sock" -n sources 2>/dev/null | grep -q '^\^\*'; then
    sel_chrony=$now
  fi
  if [ -n "$conv_builtin" ] && [ -n "$sel_ntpd" ] && [ -n "$sel_chrony" ]; then break; fi
  if python3 -c "import sys; sys.exit(0 if $now > $LIMIT else 1)"; then break; fi
  sleep 0.5
done
echo "convergence (clients start at +8 s; built-in compute 100 ms ahead, 8 ppm fast; limit ${LIMIT} s):"
printf '  %-34s %s\n' "built-in engine selects controller" "${sel_builtin:-not within limit} s"
printf '  %-34s %s\n' "built-in clock within 1 ms of it" "${conv_builtin:-not within limit} s"
printf '  %-34s %s\n' "ntpsec ntpd selects controller" "${sel_ntpd:-not within limit} s"
printf '  %-34s %s\n' "chronyd selects controller" "${sel_chrony:-not within limit} s"
$BIN lab down "$LAB" >/dev/null

# 2. up + down, N nodes.
gen() { # gen N: one server and N-1 built-in clients on one link
  echo "name = \"scale$1\""
  echo '[[link]]'; echo 'name = "lan"'
  for i in $(seq 1 "$1"); do
    echo '[[node]]'; echo "name = \"n$i\""
    echo "addresses = { lan = [\"198.51.100.$i/24\"] }"
    if [ "$i" = 1 ]; then echo '[node.serve]'; echo 'stratum = 1'
    else echo '[node.client]'; echo 'conf = "server n1 iburst"'; fi
  done
}
bare() { # bare N: the same namespaces, bridge and veths with ip alone
  local n=$1 h=bh$$ i
  ip netns add $h; ip -n $h link add b0 type bridge; ip -n $h link set b0 up
  for i in $(seq 1 "$n"); do
    ip netns add bn$$-$i
    ip -n $h link add v$i type veth peer name lan netns bn$$-$i
    ip -n $h link set v$i master b0 up
    ip -n bn$$-$i link set lan up; ip -n bn$$-$i addr add 198.51.100.$i/24 dev lan
  done
  for i in $(seq 1 "$n"); do ip netns del bn$$-$i; done
  ip netns del $h
}
secs() { python3 -c "import time,subprocess,sys; t=time.time(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print('%.2f' % (time.time()-t))" "$@"; }
echo "lab up + down (wall seconds):"
for n in 10 50; do
  gen $n > "$TMP/scale$n.toml"
  up=$(secs $BIN lab up "$TMP/scale$n.toml" --name "sc$$-$n")
  down=$(secs $BIN lab down "sc$$-$n")
  export -f bare
  floor=$(secs bash -c "bare $n" )
  printf '  %2d nodes: ntpdiag lab up %s s, down %s s; bare ip (make + remove) %s s\n' "$n" "$up" "$down" "$floor"
done
