# Shared by scripts/demo and scripts/test: install what is missing, quietly.
# Debian 12. Never starts an NTP daemon with its default config.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  echo "installing: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# unpack_deb PKG CHECK: Debian's package PKG unpacked (dpkg -x, nothing
# run, no conflict with what is installed) into /opt/PKG, unless CHECK is
# already there.
unpack_deb() {
  [ -x "$2" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$1" >/dev/null 2>&1) || {
    [ $apt_updated -eq 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }
    (cd "$tmp" && apt-get download "$1" >/dev/null)
  }
  $SUDO mkdir -p "/opt/$1"
  $SUDO dpkg -x "$tmp/$1"_*.deb "/opt/$1"
  rm -rf "$tmp"
}

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
}

# The real peers for the tests: ntpsec (ntpd, ntpq, ntpdig, ntpdate),
# tcpdump, tshark, iptables, nftables, iproute2, openssl (NTS certificates);
# chronyd and OpenNTPD unpacked beside it
# (the chrony and openntpd packages conflict with ntpsec).
install_peers() {
  local made_policy=0
  # ntpsec's postinst would start ntpd with its default config (outside
  # pool servers): forbid service starts while installing.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  apt_install ntpsec ntpsec-ntpdate ntpsec-ntpdig tcpdump tshark iptables nftables iproute2 procps util-linux libpcap-dev gcc python3 time openssl ca-certificates libcap2-bin curl systemd chromium
  [ $made_policy -eq 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
  unpack_deb chrony /opt/chrony/usr/sbin/chronyd
  # Prometheus and promtool (contrib/prometheus's tests), unpacked: the
  # package would start a server.
  unpack_deb prometheus /opt/prometheus/usr/bin/promtool
  # OpenNTPD conflicts with ntpsec too: unpacked beside it, with the
  # system user its privilege separation drops to (as its postinst makes).
  unpack_deb openntpd /opt/openntpd/usr/sbin/ntpd
  # What only the namespace tests use (they run as root; a normal user's
  # run skips them): OpenNTPD's privilege-separation user, as its postinst
  # makes it, and ntpd-rs, pinned, built from the crates registry.
  if [ "$(id -u)" -eq 0 ]; then
    getent passwd ntpd >/dev/null ||
      useradd --system --user-group --no-create-home --home-dir /run/openntpd --shell /usr/sbin/nologin ntpd
    if [ ! -x /opt/ntpd-rs/bin/ntp-daemon ]; then
      need_cargo
      echo "building ntpd-rs 1.9.0 (cargo install ntpd, a few minutes)" >&2
      cargo install ntpd --version 1.9.0 --locked --root /opt/ntpd-rs --quiet
    fi
    # The package test (tests/deb.rs): cargo-deb, pinned, and a clean
    # Debian 12 root with what ntpdiag's package depends on (libpcap0.8)
    # and nothing of this machine's, to install the built .deb into.
    if [ ! -x /opt/cargo-deb/bin/cargo-deb ]; then
      need_cargo
      echo "building cargo-deb 3.8.0 (cargo install, a few minutes)" >&2
      cargo install cargo-deb --version 3.8.0 --locked --root /opt/cargo-deb --quiet
    fi
    if [ ! -x /opt/deb-root/usr/bin/dpkg ]; then
      apt_install mmdebstrap
      echo "making a clean Debian 12 root in /opt/deb-root (mmdebstrap)" >&2
      rm -rf /opt/deb-root
      mmdebstrap --quiet --variant=apt --include=libpcap0.8 bookworm /opt/deb-root http://deb.debian.org/debian
    fi
  fi
}
