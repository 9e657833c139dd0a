# Shared by the benchmarks: a scratch directory, cleanup on exit (in the
# reverse order of what was set up, also on failure), and a pair of network
# namespaces joined by a veth. Needs root.

TMP=$(mktemp -d)
CLEANUP=()
cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# on_exit CMD: run CMD when the script ends.
on_exit() { CLEANUP+=("$1"); }

# netns_pair C S CLIENT_ADDR SERVER_ADDR: namespaces C and S, a veth
# vc$$ (in C) ↔ vs$$ (in S), loopback up, the two IPv4 addresses (/24).
netns_pair() {
  ip netns add "$1"; on_exit "ip netns del $1"
  ip netns add "$2"; on_exit "ip netns del $2"
  ip link add "vc$$" netns "$1" type veth peer name "vs$$" netns "$2"
  ip -n "$1" addr add "$3/24" dev "vc$$"
  ip -n "$2" addr add "$4/24" dev "vs$$"
  for n in "$1" "$2"; do ip -n "$n" link set lo up; done
  ip -n "$1" link set "vc$$" up; ip -n "$2" link set "vs$$" up
}

# chrony_server NS: chronyd serving its own clock (local stratum 8) in NS,
# never touching the clock (-x); stopped on exit.
chrony_server() {
  cat > "$TMP/chrony.conf" <<CONF
pidfile $TMP/chronyd.pid
driftfile $TMP/drift
bindcmdaddress $TMP/chronyd.sock
cmdport 0
local stratum 8
allow all
CONF
  ip netns exec "$1" "$CHRONYD" -f "$TMP/chrony.conf" -x -u root >/dev/null 2>&1
  on_exit "kill \$(cat $TMP/chronyd.pid)"
  local _
  for _ in $(seq 50); do ip netns exec "$1" ss -Hunl 'sport = :123' | grep -q . && break; sleep 0.1; done
}
