#!/usr/bin/env bash
# Packets per second reading a large synthetic NTP capture, in one run:
#   ntpdiag   ntpdiag capture -r FILE (decode, pair, judge every client host,
#             server and kept conversation), on one thread per CPU (the
#             default: each thread reads the file and follows its share of
#             the client hosts); ntpdiag reads pcap files with its own block
#             reader (src/capture/pcapfile.rs), not with libpcap
#   ntpdiag-1t  the same with --threads 1
#   tshark-fields  tshark -T fields -e ntp.org -e ntp.xmt (what a script
#             pairing requests and replies would read)
#   tshark    tshark -n -r FILE -q -Y ntp (the display filter makes tshark
#             dissect every packet's NTP fields; plain `tshark -r FILE -q` skips
#             dissection and is shown too, as tshark-nodis)
#   bare      examples/pcap_bare.rs: a libpcap read loop that only counts
#   count-pairs  examples/pcap_count_pairs.rs: the bare read, ntpdiag's
#             decoder and one counter per conversation in a hash map (the
#             least any tool that follows conversations does)
# The file comes from examples/gen_pcap.rs (PACKETS packets, CLIENTS clients).
# Times are medians: of five rounds in which bare, count-pairs, ntpdiag
# and ntpdiag-1t run in turn; of three runs for tshark-nodis; tshark's
# -T fields and -Y ntp (tens of seconds each) run once.
# No root needed.
# usage: bash bench/capture-rate.sh [PACKETS] [CLIENTS...]
#   default: 1000000 packets, in two shapes measured in the same run:
#   1000 clients (a client's view: few conversations) and 100000 clients (a
#   busy server's view: about 100 k conversations).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${1:-1000000}; shift || true
SHAPES=("${@:-1000 100000}")
read -r -a SHAPES <<<"${SHAPES[*]}"
cargo build --release --quiet --bins --examples
R=$PWD/target/release
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
secs() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
# The median of three runs (the quick readers; tshark's run once).
med3() { { secs "$@"; echo; secs "$@"; echo; secs "$@"; echo; } | sort -n | sed -n 2p; }
pps() { awk -v n="$PACKETS" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
for CLIENTS in "${SHAPES[@]}"; do
  F=$TMP/synthetic-$CLIENTS.pcap
  "$R/examples/gen_pcap" "$F" "$PACKETS" "$CLIENTS" 2>/dev/null
  size=$(stat -c %s "$F")
  # Warm the page cache once.
  cat "$F" >/dev/null
  # The quick readers in turns, five rounds: on a shared machine whose
  # speed drifts over seconds, each round measures them all at about the
  # same moment; each one's median is shown.
  : >"$TMP/rounds"
  for _ in 1 2 3 4 5; do
    {
      printf 'bare %s\n' "$(secs "$R/examples/pcap_bare" "$F")"
      printf 'pairs %s\n' "$(secs "$R/examples/pcap_count_pairs" "$F")"
      printf 'ours %s\n' "$(secs "$R/ntpdiag" capture -r "$F")"
      printf 'ours1 %s\n' "$(secs "$R/ntpdiag" capture --threads 1 -r "$F")"
    } >>"$TMP/rounds"
  done
  med5() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/rounds" | sort -n | sed -n 3p; }
  t_bare=$(med5 bare)
  t_pairs=$(med5 pairs)
  t_ours=$(med5 ours)
  t_ours1=$(med5 ours1)
  t_tshark=$(secs tshark -n -r "$F" -q -Y ntp)
  t_fields=$(secs tshark -n -r "$F" -T fields -e ntp.org -e ntp.xmt)
  t_nodis=$(med3 tshark -n -r "$F" -q)
  convs=$( { "$R/ntpdiag" capture --json -r "$F" || true; } | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["conversations"]), len(d["clients"]))')
  /usr/bin/time -o "$TMP/rss" -f %M "$R/ntpdiag" capture -r "$F" >/dev/null 2>&1 || true
  r_ours=$(tail -1 "$TMP/rss")
  /usr/bin/time -o "$TMP/rss" -f %M "$R/examples/pcap_bare" "$F" >/dev/null 2>&1 || true
  r_bare=$(tail -1 "$TMP/rss")
  printf '\n%s packets, %s clients, %.0f MB; conversations and client hosts judged: %s; %s CPUs\n' "$PACKETS" "$CLIENTS" "$(awk -v s="$size" 'BEGIN{print s/1e6}')" "$convs" "$(nproc)"
  printf '%-15s %9s %12s %10s\n' reader seconds packets/s "vs ntpdiag"
  for r in bare count-pairs ntpdiag ntpdiag-1t tshark-fields tshark tshark-nodis; do
    case $r in bare) t=$t_bare ;; count-pairs) t=$t_pairs ;; ntpdiag) t=$t_ours ;; ntpdiag-1t) t=$t_ours1 ;; tshark-fields) t=$t_fields ;; tshark) t=$t_tshark ;; tshark-nodis) t=$t_nodis ;; esac
    printf '%-15s %9s %12s %9sx\n' "$r" "$t" "$(pps "$t")" "$(awk -v a="$t" -v b="$t_ours" 'BEGIN { printf "%.2f", a / b }')"
  done
  printf 'max RSS: ntpdiag capture %s kB, bare libpcap read %s kB\n' "$r_ours" "$r_bare"
  printf 'ntpdiag: %s packets/s, %.1fx tshark -T fields, %.0f%% of the bare read'"'"'s speed\n' \
    "$(pps "$t_ours")" "$(awk -v a="$t_fields" -v b="$t_ours" 'BEGIN { print a / b }')" \
    "$(awk -v a="$t_bare" -v b="$t_ours" 'BEGIN { print 100 * a / b }')"
  rm -f "$F"
done
