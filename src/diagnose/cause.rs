//! The cause table: every cause id ntpdiag can emit, in one place, with its
//! class, exit code, title, meaning, how ntpdiag tells it apart, and its
//! default fix. The ids are a public interface (`--json`, scripts): never
//! rename one.
//!
//! `--help`'s exit-status text, `ntpdiag causes`, and the id list in
//! `doc/json.md` come from (or are checked against) this table. Kiss codes
//! are one entry each (`kod-rate`, …), generated from [`KISS`].

use std::borrow::Cow;
use std::fmt;

use crate::wire::KissCode;

/// Ranks at or after this are remarks, not blockers: a finding ranked here
/// does not keep time from working (a skipped config line, input ntpdiag
/// does not read, the ok-class causes). explain lists them apart, below
/// its first screen's blockers ([`super::verdict::blocks`]).
pub const REMARK_RANK: u8 = 17;

/// Verdict classes; each has one exit code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Class {
    Ok,
    /// Nothing came back (or only on some source ports).
    Silence,
    /// An ICMP error came back.
    Refused,
    /// The server answered with a Kiss-o'-Death.
    Kiss,
    /// The server answered, but its answer is unusable.
    Unusable,
    /// The problem is on this machine (name resolution, ports, firewall).
    Local,
    /// What ntpdiag was given is not something it reads (explain's paste).
    Input,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Ok,
        Class::Silence,
        Class::Refused,
        Class::Kiss,
        Class::Unusable,
        Class::Local,
        Class::Input,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Silence => "silence",
            Class::Refused => "refused",
            Class::Kiss => "kiss",
            Class::Unusable => "unusable",
            Class::Local => "local",
            Class::Input => "input",
        }
    }

    /// The process exit code for this class (documented in `--help` and the man page).
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Ok => 0,
            Class::Silence => 3,
            Class::Refused => 4,
            Class::Kiss => 5,
            Class::Unusable => 6,
            Class::Local => 7,
            // The usage error's status: the input, not the network, is wrong.
            Class::Input => 2,
        }
    }

    /// What the class means, for the exit-status help.
    pub fn meaning(self) -> &'static str {
        match self {
            Class::Ok => "every target gave usable time",
            Class::Silence => "nothing came back",
            Class::Refused => "an ICMP error came back",
            Class::Kiss => "the server sent a Kiss-o'-Death",
            Class::Unusable => "the server answered but its time cannot be used",
            Class::Local => "the problem is on this machine",
            Class::Input => "the input holds nothing ntpdiag reads (also a usage error)",
        }
    }
}

/// One row of the cause table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CauseInfo {
    pub cause: Cause,
    pub id: Cow<'static, str>,
    pub class: Class,
    /// Short, upper case: the verdict's headline.
    pub title: Cow<'static, str>,
    /// What it means, in a sentence or two.
    pub means: Cow<'static, str>,
    /// What ntpdiag saw that tells it apart from the causes it resembles.
    pub tell: Cow<'static, str>,
    /// The default fix.
    pub fix: Cow<'static, str>,
    /// Which commands can emit it: probe, capture, explain.
    pub emitted_by: &'static [&'static str],
    /// Where it ranks when several findings compete for the first screen
    /// (lower first). One ranking for explain's findings and pasted blocks.
    pub rank: u8,
}

impl CauseInfo {
    /// A blocker: not of class ok, and ranked before the remarks
    /// ([`REMARK_RANK`]).
    pub fn blocks(&self) -> bool {
        self.class != Class::Ok && self.rank < REMARK_RANK
    }
}

const P: &[&str] = &["probe", "capture", "explain"];
const PE: &[&str] = &["probe", "explain"];
const C: &[&str] = &["capture"];
const PEW: &[&str] = &["probe", "explain", "watch"];
const PCEW: &[&str] = &["probe", "capture", "explain", "watch"];
const E: &[&str] = &["explain"];
const W: &[&str] = &["watch"];
const WE: &[&str] = &["watch", "explain"];

macro_rules! causes {
    ($(
        $(#[$m:meta])*
        $var:ident = $id:literal, $class:ident, $rank:literal, $by:ident, $title:literal,
            means $means:literal
            tell $tell:literal
            fix $fix:literal;
    )*) => {
        /// Every cause ntpdiag can name. `id()` is the stable string.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Cause {
            $( $(#[$m])* $var, )*
            /// A genuine Kiss-o'-Death (origin matched); INIT and STEP are
            /// [`Cause::UpstreamUnsynchronized`].
            Kod(KissCode),
        }

        impl Cause {
            /// Every cause but the kiss codes, in table order.
            pub const FIXED: &'static [Cause] = &[$(Cause::$var,)*];

            /// Every cause, the kiss family as one (for a rule that passes
            /// on a verdict another table gave, see `table::covers`).
            pub const ANY: &'static [Cause] = &[$(Cause::$var,)* Cause::Kod(KissCode::Rate)];

            fn fixed_info(self) -> Option<CauseInfo> {
                match self {
                    $(Cause::$var => Some(CauseInfo {
                        cause: self,
                        id: Cow::Borrowed($id),
                        class: Class::$class,
                        title: Cow::Borrowed($title),
                        means: Cow::Borrowed($means),
                        tell: Cow::Borrowed($tell),
                        fix: Cow::Borrowed($fix),
                        emitted_by: $by,
                        rank: $rank,
                    }),)*
                    Cause::Kod(_) => None,
                }
            }
        }
    };
}

causes! {
    Ok = "ok", Ok, 90, P, "OK",
        means "The server gives usable time (or, for a node, nothing wrong was found)."
        tell "a reply whose origin is our transmit, leap not 3, stratum 1-15, root distance and offset within the daemons' limits"
        fix "nothing to do";
    NoReply = "no-reply", Silence, 13, P, "NO REPLY",
        means "Requests left and nothing came back: no NTP reply and no ICMP error."
        tell "no datagram and no ICMP error for any request; the liveness check (a datagram to a closed port of the same host) and the neighbour table then tell a firewall that drops udp/123 from a host that is down"
        fix "start with the server's firewall (`iptables -S INPUT` there), then `restrict … ignore` in its ntp.conf, then whether the host is up";
    SourcePortFiltered = "source-port-filtered", Silence, 12, PE, "SOURCE PORT 123 FILTERED",
        means "The server answers requests from a random source port but nothing comes back from source port 123, the port ntpd sends from."
        tell "the same server probed from a random port answers NTP; from --source-port 123 it is silent (explain: ntpd, which sends from port 123, hears nothing while a probe from a random port is answered)"
        fix "allow udp source port 123 on the path (anti-amplification filters, NAT), or use a client that sends from random ports (chrony)";
    AsymmetricPath = "asymmetric-path", Silence, 12, C, "ASYMMETRIC PATH",
        means "Replies leave the server but do not reach the client."
        tell "a capture holding both sides sees each request twice (leaving the client, reaching the server) and each reply once"
        fix "the path back drops the replies: a firewall or NAT between the two (stateful rules, asymmetric routing)";
    NtsKeNoReply = "nts-ke-no-reply", Silence, 11, PCEW, "NTS-KE GETS NO REPLY",
        means "Connections to the server's NTS-KE port (TLS on TCP 4460, RFC 8915) are never answered, so no NTS cookies and no authenticated time, even where plain NTP on udp/123 works."
        tell "SYNs to port 4460 sent again and again with no SYN-ACK, no RST and no ICMP error back"
        fix "let TCP 4460 through to the server (`iptables -I INPUT -p tcp --dport 4460 -j ACCEPT`; firewalld `firewall-cmd --add-port=4460/tcp`), on the server and on the path; then check the host is up";
    NtsKeRefused = "nts-ke-refused", Refused, 11, PCEW, "NTS-KE REFUSED",
        means "Connections to the server's NTS-KE port (TCP 4460) are refused: by a TCP RST (nothing listens there, or a firewall rejects with tcp-reset) or by an ICMP error, whose sender is named."
        tell "an RST from the server's address, or an ICMP unreachable quoting the SYN, before any answer; the sender's address says whether the server or a firewall on the path refused"
        fix "if the server refused: run NTS-KE there (chrony: `ntsserverkey` and `ntsservercert`; ntpsec: `nts enable` with `nts key` and `nts cert`), listening on this address; if a firewall or router refused, allow TCP 4460 there";
    NtsTlsFailed = "nts-tls-failed", Unusable, 11, PEW, "NTS-KE TLS FAILED",
        means "The NTS-KE port answers but the TLS handshake NTS needs fails: the server does not speak TLS 1.3, does not offer ALPN `ntske/1`, or is not a TLS server at all (RFC 8915 §4 requires both)."
        tell "a TLS alert protocol_version or no_application_protocol, a handshake that completes without ALPN `ntske/1`, or a connection that ends or stalls in the handshake"
        fix "run a real NTS-KE server on that port (chrony 4 `ntsserverkey`/`ntsservercert`, ntpsec `nts enable`), with TLS 1.3; check nothing else (a web server, a TLS proxy) listens on 4460";
    NtsCertificateExpired = "nts-certificate-expired", Unusable, 11, PEW, "NTS CERTIFICATE EXPIRED",
        means "The NTS-KE server's certificate has expired, and the server's own clock agrees: the certificate, not this machine's clock, is wrong."
        tell "the certificate's notAfter is in the past, and still in the past at the time an unauthenticated NTP exchange with the same host gives (else the cause is local-clock-wrong)"
        fix "renew the server's certificate (and restart or reload the NTS server: chrony reads `ntsservercert` at start)";
    NtsCertificateNotYetValid = "nts-certificate-not-yet-valid", Unusable, 11, PEW, "NTS CERTIFICATE NOT YET VALID",
        means "The NTS-KE server's certificate is not valid yet, and the server's own clock agrees."
        tell "the certificate's notBefore is in the future, also at the time an unauthenticated NTP exchange with the same host gives (else the cause is local-clock-wrong)"
        fix "issue the certificate with a start date in the past (check the clock of the machine that issued it)";
    NtsCertificateUntrusted = "nts-certificate-untrusted", Unusable, 11, PEW, "NTS CERTIFICATE UNTRUSTED",
        means "The NTS-KE server's certificate is not issued by anyone this machine trusts: self-signed, a private CA, or an incomplete chain."
        tell "certificate verification fails with unknown issuer; the chain and its issuer are shown"
        fix "trust the issuing CA on the client (chrony `ntstrustedcerts /path/ca.pem`, ntpsec `nts ca` / `ca` on the server line, ntpdiag `--nts-ca`), or give the server a certificate from a CA the clients trust, with its intermediates";
    NtsCertificateNameMismatch = "nts-certificate-name-mismatch", Unusable, 11, PEW, "NTS CERTIFICATE NAME MISMATCH",
        means "The NTS-KE server's certificate is not for the name the client used (often an IP address where the certificate names only DNS names)."
        tell "certificate verification fails with not valid for name; the certificate's subject alternative names are shown"
        fix "use the name the certificate carries in the client's configuration (`server NAME nts`), or add the name or address to the certificate's subject alternative names";
    NtsKeError = "nts-ke-error", Unusable, 11, PEW, "NTS-KE ERROR",
        means "The NTS-KE server answered the key exchange with an Error record, offered no protocol or AEAD in common, or sent an answer that cannot be read."
        tell "an Error record (code 0 unrecognized critical record, 1 bad request, 2 internal server error), an empty Next Protocol or AEAD list, or a malformed, cut or endless answer"
        fix "look at the NTS server's log for why it refused the request; update the client or server if they share no AEAD (AEAD_AES_SIV_CMAC_256, id 15, is the one every implementation has)";
    NtsNoCookies = "nts-no-cookies", Unusable, 11, PEW, "NTS-KE GIVES NO COOKIES",
        means "The key exchange succeeded but gave no cookies, so no NTS-protected NTP request can be sent."
        tell "an NTS-KE answer without New Cookie records"
        fix "check the NTS server's cookie key (chrony `ntsdumpdir`, ntpsec's `nts cookie` key file) and its log";
    NtsPacketsDropped = "nts-packets-dropped", Silence, 11, PEW, "NTS PACKETS DROPPED",
        means "Key exchange works and plain NTP requests are answered, but the larger NTS-protected requests to the same address vanish: a firewall or middlebox drops big NTP packets, or the server is not an NTS server on that port."
        tell "plain 48-octet requests answered, requests of a few hundred octets with NTS extension fields to the same address and port never answered"
        fix "allow NTP datagrams larger than 48 octets on the path (length-matching firewall rules, 'NTP amplification' filters, MTU); check the server's NTP port serves NTS";
    NtsReplyNotAuthentic = "nts-reply-not-authentic", Unusable, 11, PEW, "NTS REPLIES NOT AUTHENTIC",
        means "NTS-protected requests are answered, but the replies fail NTS verification: the NTP server at that address does not speak NTS, or is not the one the NTS-KE server made the cookies for."
        tell "replies whose origin matches our request, without our Unique Identifier or with an authenticator that does not verify with the keys from NTS-KE"
        fix "point NTS-KE's NTPv4 Server/Port Negotiation at the NTS-capable NTP server, or make the server at that address share the KE server's cookie key (chrony: one chronyd, or `ntsntpserver`; ntpsec: `nts` enabled on the same ntpd)";
    LocalClockWrong = "local-clock-wrong", Local, 5, PEW, "THIS MACHINE'S CLOCK IS WRONG",
        means "The NTS server's certificate is refused because this machine's clock is wrong: at the time the server gives, the certificate is valid. It is the boot-time deadlock: no time without NTS, no NTS without time."
        tell "the certificate fails as expired or not yet valid at this machine's time, and verifies at the time an unauthenticated NTP exchange with the same host gives"
        fix "set the clock once (chrony `nocerttimecheck 1` lets the first update skip the certificate's time check; or step it once with `chronyd -q` / `ntpdig -S`), then fix what loses it at boot (a dead RTC battery, `hwclock --systohc`)";
    PortUnreachable = "port-unreachable", Refused, 12, P, "PORT UNREACHABLE",
        means "An ICMP port unreachable came back: nothing listens on udp/123 there, or a REJECT rule answers for it."
        tell "ICMP type 3 code 3 (ICMPv6 1/4) quoting our request; the sender's address says whether the server or a firewall on the path sent it"
        fix "start the NTP daemon on the server and check it listens on this address, or remove the REJECT rule for udp/123";
    AdminProhibited = "admin-prohibited", Refused, 12, P, "ADMINISTRATIVELY PROHIBITED",
        means "A firewall rejects udp/123 and says so with ICMP administratively prohibited."
        tell "ICMP type 3 code 9, 10 or 13 (ICMPv6 1/1, 1/5, 1/6) quoting our request, from the server or a router"
        fix "allow udp/123 on the firewall that sent the error (`firewall-cmd --add-service=ntp`, `iptables -I INPUT -p udp --dport 123 -j ACCEPT`)";
    HostUnreachable = "host-unreachable", Refused, 12, P, "HOST UNREACHABLE",
        means "The server's host cannot be reached: no ARP/ND answer on its link, or an `unreachable` route."
        tell "ICMP host unreachable from a router or from this host (after ARP fails), or EHOSTUNREACH on send"
        fix "check that the server is up at that address; `ip route get` and `ip neigh show` on the host that sent the error";
    NetUnreachable = "net-unreachable", Refused, 12, P, "NETWORK UNREACHABLE",
        means "There is no route to the server's network."
        tell "ICMP net unreachable (or time exceeded) from a router, or ENETUNREACH on send"
        fix "fix routing on the host that sent the error (`ip route get <server>` there), or use a reachable server";
    UpstreamUnsynchronized = "upstream-unsynchronized", Unusable, 11, P, "SERVER NOT SYNCHRONIZED",
        means "The server answers, but says it has no good time itself: its own upstream is the problem."
        tell "a genuine reply (origin matched) with leap 3, stratum 0 without a kiss code, INIT/STEP, stratum 16, or a root distance too large for the daemons"
        fix "on the server, see why it is not synchronized (`ntpq -p` / `chronyc sources` there); a server meant to serve its own clock needs `tos orphan` / `local stratum`";
    BogusReply = "bogus-reply", Unusable, 12, P, "BOGUS REPLIES",
        means "Replies arrive, but they do not answer our requests: every NTP client discards them."
        tell "their origin timestamp is not the transmit timestamp of any request we sent (RFC 5905 test 2)"
        fix "a server that does not copy the client's transmit timestamp into origin is broken: fix or replace it; behind NAT, make sure each client's replies go back to it alone";
    ReplyFromOtherAddress = "reply-from-other-address", Unusable, 12, P, "REPLY FROM ANOTHER ADDRESS",
        means "Genuine replies come back from an address other than the one asked: clients that match replies by address drop them."
        tell "the reply's origin is our transmit timestamp, but its source address is not the server's"
        fix "make the daemon answer from the address clients use (ntpd `interface listen`, chrony `bindaddress`), or fix the NAT";
    OffsetOverPanic = "offset-over-panic", Unusable, 12, P, "OFFSET OVER PANIC THRESHOLD",
        means "One server gives time, but its clock and this one differ by more than the 1000 s panic threshold: ntpd exits rather than correct it. When every answering server (or the daemon itself) says so, the node's cause is clock-step-needed."
        tell "a valid reply whose offset exceeds 1000 s (RFC 5905 PANICT)"
        fix "step the wrong clock once (`ntpd -gq`, `chronyc makestep`, `ntpdig -S`), then let the daemon keep it";
    MalformedReply = "malformed-reply", Unusable, 12, P, "MALFORMED REPLIES",
        means "Datagrams come back that are not valid NTP server replies."
        tell "too short, wrong mode or version, or zero receive/transmit timestamps"
        fix "check that the server runs an NTP server on port 123 and not another UDP service";
    NameUnresolved = "name-unresolved", Local, 7, PEW, "NAME DOES NOT RESOLVE",
        means "A host name given to ntpdiag (probe's or watch's SERVER, a pasted tool's target) does not resolve to an address: nothing could be sent. A name on a configuration's server line is server-name-unresolved."
        tell "the resolver (getaddrinfo) failed for the name"
        fix "check the name (`getent ahosts NAME`); add it to /etc/hosts or DNS";
    LocalPortInUse = "local-port-in-use", Local, 6, PE, "LOCAL PORT IN USE",
        means "The source port a client asked for (usually 123: ntpdiag's --source-port, ntpdate) is already held by another socket on this host. A node whose daemon cannot bind udp/123 to serve is port-123-in-use."
        tell "bind() failed with EADDRINUSE, or ntpdate says the NTP socket is in use"
        fix "see who holds it (`ss -ulpn 'sport = :123'`); probe from a random port, or query the local daemon";
    LocalFirewallBlocksNtp = "local-firewall-blocks-ntp", Local, 5, PE, "LOCAL FIREWALL BLOCKS NTP",
        means "A firewall rule on this host drops or rejects NTP."
        tell "sendto() failed with EPERM (an OUTPUT rule), or this host's iptables/nft rules drop udp/123"
        fix "list the rules (`iptables -S OUTPUT`, `nft list ruleset`) and accept udp/123 before the blocking rule";
    LocalPermissionDenied = "local-permission-denied", Local, 7, PE, "PERMISSION DENIED",
        means "This host did not allow the operation: ports below 1024 need root or CAP_NET_BIND_SERVICE."
        tell "bind() or sendto() failed with EACCES"
        fix "run as root, grant CAP_NET_BIND_SERVICE, or probe from a random port";
    LocalError = "local-error", Local, 7, PE, "LOCAL ERROR",
        means "Another failure on this machine kept the probe from running (no IPv6, no address, …)."
        tell "a socket call failed with an errno that names no other cause"
        fix "see the error in the evidence";
    ClientPollsTooFast = "client-polls-too-fast", Local, 12, C, "CLIENT POLLS TOO FAST",
        means "The client polls faster than servers allow: expect KoD RATE or dropped requests from rate-limiting servers."
        tell "request intervals under 2 s (3 or more, over 8 requests) or a mean under 8 s over 10 or more (ntpd's `discard minimum 1`/`average 3`)"
        fix "poll less often: ntpd `minpoll` ≥ 6 without `burst`, chrony `minpoll`; stop scripts that query in a loop";
    ReplyIgnored = "reply-ignored", Local, 12, C, "REPLIES IGNORED",
        means "Replies reach the client's host, but the client does not take them."
        tell "the client's host answers replies with ICMP port unreachable, or a client that echoed earlier replies' transmit timestamps (classic ntpd) stops doing so"
        fix "the client closed its socket too early or something on the client drops the replies (`iptables -S INPUT`, `ss -ulpn`)";
    TwoDaemons = "two-daemons", Local, 0, E, "TWO TIME DAEMONS",
        means "Two time daemons run at once and fight over the clock and port 123."
        tell "two different time daemons (ntpd, chronyd, systemd-timesyncd) are running in this network namespace"
        fix "keep one: e.g. `systemctl disable --now chrony`";
    ConfigError = "config-error", Local, 1, E, "CONFIGURATION ERROR",
        means "A configuration file has an error (with file and line)."
        tell "the file names an unknown directive, a bad value, or an include that does not exist"
        fix "correct or remove the line, then restart the daemon";
    NoServersConfigured = "no-servers-configured", Local, 2, E, "NO SERVERS CONFIGURED",
        means "No server, pool or peer is configured: the daemon has nothing to synchronize to."
        tell "no configuration file, or one without server/pool/peer lines and without a local clock"
        fix "add `server <host> iburst` (ntpd, chrony) or `NTP=<host>` (timesyncd)";
    DaemonNotRunning = "daemon-not-running", Local, 3, E, "DAEMON NOT RUNNING",
        means "A time daemon is configured but not running."
        tell "a configuration exists but no time daemon process runs in this network namespace"
        fix "start it (`systemctl enable --now ntpsec`) and read why it stopped (`journalctl -u ntpsec`)";
    Port123InUse = "port-123-in-use", Local, 4, E, "PORT 123 IN USE",
        means "Another process, not a time daemon, holds udp/123 on a node: its time daemon cannot bind it. A client's own request that cannot bind its source port is local-port-in-use."
        tell "/proc/net/udp lists port 123 held by a process that is not a time daemon"
        fix "stop that process, then restart the time daemon";
    ServerNameUnresolved = "server-name-unresolved", Local, 7, WE, "SERVER NAME DOES NOT RESOLVE",
        means "A server, pool or peer line of a configuration names a host that does not resolve (explain, watch --config, lab). A name given on the command line is name-unresolved."
        tell "the resolver fails for a name on a server/pool/peer line"
        fix "add it to /etc/hosts or DNS, or use an address";
    ClockStepNeeded = "clock-step-needed", Unusable, 9, E, "CLOCK STEP NEEDED",
        means "This clock is further off than the daemon will correct (over the 1000 s panic threshold): every answering server, or the daemon's own offset, says so. One server that disagrees by that much is offset-over-panic."
        tell "every answering server gives an offset over 1000 s, or the daemon's own offset says so"
        fix "step once (`ntpd -gq`, `chronyc makestep`); then the daemon keeps it";
    DaemonNotSynchronizedYet = "daemon-not-synchronized-yet", Local, 15, E, "NOT SYNCHRONIZED YET",
        means "The daemon runs and hears its servers but has not selected one yet: normal for the first minutes."
        tell "the daemon's own view: sources reachable, none selected, leap 3 / stratum 16 locally"
        fix "wait a few polls; if it stays so, read the tally codes (`ntpq -p`) or `chronyc selectdata`";
    Falseticker = "falseticker", Unusable, 14, W, "FALSETICKER",
        means "The source gives time, but it disagrees with the other sources: its interval (offset ± root distance) falls outside the intersection the selection found. The selection leaves it out, so it keeps no one from time while the others agree; it ranks after a silent server."
        tell "the engine's selection under the chosen rules (ntpd: the interval overlaps the intersection; chrony: it contains the best interval or lies inside it; RFC: its midpoint lies inside) leaves it out"
        fix "check that source's own clock and upstream; keep at least four sources, so that one wrong source is always outvoted";
    NoMajority = "no-majority", Unusable, 11, WE, "NO MAJORITY",
        means "Sources answer with usable time, but no group of more than half of them agrees: no system peer can be chosen."
        tell "candidates passed the fit tests, and the selection found no intersection that a majority meets (explain: the daemon marks half or more of its answering sources `x`)"
        fix "add sources (four or more) or fix the ones that disagree; `ntpdiag watch` shows each one's interval";
    AsymmetricDelay = "asymmetric-delay", Unusable, 11, E, "ASYMMETRIC DELAY",
        means "The way to a server and the way back take different times: its offset is wrong by half the difference, and no NTP exchange with it alone can show it."
        tell "another server on a symmetric path disagrees with it by about half the extra delay it has (offset difference within 0.3-1.2 × half the delay difference, over 2 ms)"
        fix "do not prefer a server behind an asymmetric route (check `traceroute` both ways, `ip route get` on each end); use servers with short, symmetric paths";
    SyncLoop = "sync-loop", Unusable, 11, WE, "SYNCHRONIZATION LOOP",
        means "The source is synchronized to this host, or is this host itself: using it would be a loop."
        tell "its reference id is one of this host's addresses and its stratum is above 1 (watch); a configured server resolves only to this host's own addresses on port 123 (explain)"
        fix "break the loop: the two hosts must not use each other as servers (use `peer` or a common upstream)";
    Outlier = "outlier", Ok, 80, W, "OUTLIER",
        means "The source agrees with the majority, but the cluster algorithm left it out of the combination."
        tell "a truechimer whose offset adds the most selection jitter, dropped while more than minclock survivors remain"
        fix "nothing to do: it is kept as a candidate for later";
    Noselect = "noselect", Ok, 80, W, "NOSELECT",
        means "The source is configured `noselect`: it is polled and shown, never used."
        tell "the configuration line carries `noselect`"
        fix "remove `noselect` if it should be used";
    LocalClockOnly = "local-clock-only", Unusable, 10, E, "ONLY ITS OWN CLOCK",
        means "The daemon's selected source is its own undisciplined local clock (127.127.1.0, refid LOCL): it follows no real time, and its clients follow it."
        tell "ntpq shows the local clock driver (127.127.1.u, `.LOCL.`, type l) as the system peer; the real servers have reach 0, or answer and lose to it"
        fix "make the real servers reachable (firewall, names, routes: see their own findings), then drop `server 127.127.1.0`/`fudge` and use `tos orphan 10` (ntpd) or `local stratum 10` (chrony) for a server that must keep serving when cut off";
    Pending = "pending", Ok, 18, C, "PENDING",
        means "The capture ended before the answer to these requests was due: whether they are answered is not in it."
        tell "every request without an answer was sent within 4 s of the capture's last frame (a reply, or an ICMP host unreachable after neighbour resolution gives up, may still come)"
        fix "capture a few seconds longer (`--duration`), past the last request's answer window";
    WarmingUp = "warming-up", Ok, 18, WE, "WARMING UP",
        means "The source answers with good headers, but its clock filter holds too few samples yet: the empty stages count at the maximum dispersion, so its root distance is over the threshold for now and falls under it as samples come. Not a fault, and not judged yet."
        tell "root distance over the threshold with fewer than 8 samples in the filter, and under it once the empty stages (16 s each, weighted 1/2, 1/4, …) are filled by samples like those it has"
        fix "wait for the samples still needed (one a poll; iburst sends the first eight 2 s apart)";
    NotJudged = "not-judged", Ok, 19, P, "NOT JUDGED",
        means "What was seen proves neither good time nor a fault: the proof of good time (a sample that passed every packet test, or the daemon's own word that it has a real system peer) is missing, and the verdict says what is missing."
        tell "no sample passed every packet test (origin, leap, stratum 1–15, root distance, offset under panic) and no daemon says it is synchronized to a real source; nothing seen proves a fault either"
        fix "gather what the verdict says is missing; most often `ntpdiag probe SERVER` from this node gives a sample";
    RepliesUnchecked = "replies-unchecked", Ok, 19, C, "REPLIES NOT CHECKED",
        means "Replies are in the capture, but what would prove them good is not: their requests (for the origin test) or, cut by the snap length, their own octets. Nothing is judged good or bad from them."
        tell "replies from port 123 with no request of theirs in the capture (one direction captured, or it began mid-exchange), or cut short by the capture's snap length; their headers tell no fault (a leap 3, stratum 0/16, kiss code, malformed header or a transmit time past the panic threshold from the capture's clock would)"
        fix "capture both directions (`-i any`, or on the client), from before the client's first request, with the full packets (`tcpdump -s 0`)";
    UnrecognizedInput = "unrecognized-input", Input, 95, E, "UNRECOGNIZED INPUT",
        means "The text given to explain holds none of the tool outputs it reads."
        tell "no line matches a header, table row or message of ntpq, ntpdate, ntpdig, chronyc or timedatectl that explain knows (binary data, another tool's output, an empty paste)"
        fix "paste the whole output of one of those tools, from its first line (the table header) to its last";
    TooFewSources = "too-few-sources", Local, 8, WE, "TOO FEW SOURCES",
        means "The daemon needs more agreeing sources than it has: it never sets the clock with fewer (ntpd/ntpsec `tos minsane`, chrony `minsources`)."
        tell "fewer distinct unicast servers (and no pool) than the configured minimum, or fewer answering truechimers than it in the daemon's own table; each server may be healthy"
        fix "add servers (or a `pool` line) up to the minimum, or lower it: ntpd `tos minsane 1`, chrony `minsources 1`, ntpd-rs `minimum-agreeing-sources = 1` under [synchronization]";
    OrphanMode = "orphan-mode", Ok, 80, E, "ORPHAN MODE (A REMARK)",
        means "A remark: the node has no time source and serves its own clock in orphan mode (ntpd `tos orphan N`), as ntpd supports for an isolated network. Its clients agree with it and with each other, not with real time."
        tell "`tos orphan N` and no server, pool or peer line"
        fix "nothing to do on an isolated network; to follow real time, add a `server` or `pool` line (orphan mode then serves only while they are lost)";
    RestrictNoquery = "restrict-noquery", Ok, 80, E, "NOQUERY (A REMARK)",
        means "A remark, not a fault: the default access rule carries `noquery`, so `ntpq` and other mode 6 queries from other hosts get no answer. Time service is not affected: clients are served as before."
        tell "the default `restrict` line of ntp.conf carries noquery without ignore/noserve (Debian's ntpsec ships `restrict default kod nomodify nopeer noquery limited`)"
        fix "nothing to do for time; to query this daemon from another host, add `restrict <that host>` without noquery";
    RestrictBlocksServers = "restrict-blocks-servers", Local, 9, E, "RESTRICT BLOCKS ITS OWN SERVERS",
        means "The daemon's default access rule drops every packet from its own servers, their replies included: it never hears them."
        tell "ntpd's `restrict default` carries ignore (ntpsec: or noserve, which drops every non-control packet) and no restrict line covers the servers' addresses or `restrict source`"
        fix "add `restrict source nomodify noquery` (an entry for each server's address), or `restrict <server address>` without ignore/noserve";
    ConstraintFailed = "constraint-failed", Local, 10, E, "CONSTRAINT FAILED",
        means "OpenNTPD takes no time from its NTP servers until an HTTPS constraint (`constraint from`/`constraints from`) answers, and none has: the HTTPS servers cannot be resolved or reached, their certificates fail (a clock far off makes a good certificate look expired or not yet valid), or the NTP replies fall outside the time the constraints give."
        tell "OpenNTPD's own words (constraint.c, client.c): `constraints configured but none available`, `tls certificate expired`/`not yet valid`, `reply from … constraint check failed`; or ntpctl's status shows no constraint offset while the clock stays unsynced. A build without libtls ignores constraints and says so"
        fix "make one constraint URL work from this host (`curl -sI https://HOST/` must answer with a Date: header: check DNS and outgoing TCP 443), set the clock roughly once (`ntpd -s` at start), or remove the `constraint(s) from` lines";
    OtherDiscipline = "other-discipline", Local, 8, WE, "ANOTHER AGENT SETS THIS CLOCK",
        means "Something other than the NTP client also sets this clock: a hypervisor's time provider (Hyper-V's VM IC Time Synchronization Provider, VMware Tools' periodic sync, VirtualBox's guest additions), a second daemon, phc2sys. They fight: the offset saw-tooths, and steps appear that the NTP client never made."
        tell "chronyd logs `System clock interference detected` (seen acting: high confidence); on Linux, a process set to keep the clock runs beside the daemon (phc2sys steering CLOCK_REALTIME, ptp4l -S, vmtoolsd with periodic sync enabled, VBoxService with its time sync on); w32tm names the VM IC provider as its source (named: medium, by design on a standalone VM); the provider merely enabled in w32tm's configuration is a note, as it is enabled on hosts that are no Hyper-V guest too; watch sees the clock move between two polls with no step of its daemon"
        fix "let one agent set the clock: in a domain-joined or NTP-configured VM, `reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\TimeProviders\\VMICTimeProvider /v Enabled /t REG_DWORD /d 0 /f`, then `w32tm /config /update` and `w32tm /resync` (or turn off the Hyper-V Time synchronization integration service); on Linux, `vmware-toolbox-cmd timesync disable`, `VBoxService --disable-timesync`, phc2sys without `-c CLOCK_REALTIME`, or stop the second daemon";
    ClockNotSettable = "clock-not-settable", Local, 2, E, "THE CLOCK CANNOT BE SET HERE",
        means "The time daemon may not adjust this clock: it lacks CAP_SYS_TIME (a container, a unit that drops it) or a seccomp filter refuses clock_adjtime. The clock belongs to the host or the container runtime, so the daemon measures but nothing changes, or it dies at start."
        tell "CAP_SYS_TIME (bit 25) missing from the running daemon's CapEff in /proc/PID/status, or from this host's bounding set (no process here can ever gain it) when the daemon is not running; chronyd's `adjtimex(0x8001) failed : Operation not permitted`; timesyncd's ConditionCapability=CAP_SYS_TIME or ConditionVirtualization=!container skip. chronyd -x (measure only, by choice) is no finding"
        fix "keep time on the host the clock belongs to (its hypervisor or the container's host) and here run the client with `-x` (chronyd) or not at all; to let it set the host's clock on purpose: `docker run --cap-add SYS_TIME`, or `AmbientCapabilities=CAP_SYS_TIME` in the unit";
    VmClockJump = "vm-clock-jump", Local, 8, WE, "THE CLOCK JUMPED WITH A PAUSE",
        means "The clock jumped with a pause, a suspend or a live migration of this machine or its VM (WSL2, Docker Desktop, Hyper-V, KVM): it is minutes or hours off, and the daemon has not stepped it back."
        tell "this host was suspended (CLOCK_BOOTTIME ahead of CLOCK_MONOTONIC) and its clock is off; chronyd's `Forward/Backward time jump detected`; watch sees the clock move between two polls while no daemon here stepped it"
        fix "step it once (`chronyc makestep`, `ntpdig -S`, `hwclock --hctosys` on WSL2), then let the daemon step after resumes: chrony `makestep 1 -1`, or a resume hook (`systemctl restart chrony` in a systemd-sleep hook)";
    ClocksourceUnstable = "clocksource-unstable", Local, 8, E, "CLOCKSOURCE UNSTABLE",
        means "The kernel found its clocksource unstable (usually the TSC, against the watchdog) and switched to another, often slower and coarser one (hpet, acpi_pm): the clock's rate wanders, and the daemon's frequency estimate with it."
        tell "the kernel's own words: `clocksource: Marking clocksource 'tsc' as unstable because the skew is too large`, `tsc: Marking TSC unstable due to clocksource watchdog`"
        fix "on a VM, use the hypervisor's clocksource (kvm-clock, hyperv_clocksource_tsc_page, xen) and keep the host's TSC stable; on bare metal, update the firmware and check power-saving states; see `cat /sys/devices/system/clocksource/clocksource0/available_clocksource`";
    RtcWrong = "rtc-wrong", Local, 8, E, "THE RTC IS WRONG",
        means "The hardware clock (RTC) is wrong: it keeps local time (a dual boot with Windows), so each boot sets the clock off by the time zone, a whole number of quarter hours; or its battery is dead and it boots near 1970 or 2000."
        tell "the RTC (/sys/class/rtc/rtc0/since_epoch) differs from real time by n × 900 s (within a minute), or reads a date before 2001; /etc/adjtime's LOCAL or timedatectl's `RTC in local TZ: yes` agree"
        fix "`timedatectl set-local-rtc 0`, then `hwclock --systohc --utc` once the clock is right; on a Windows dual boot, `reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation /v RealTimeIsUniversal /t REG_QWORD /d 1`; a dead battery (CR2032) needs replacing";
    FrequencyOutOfRange = "frequency-out-of-range", Local, 8, E, "FREQUENCY OUT OF RANGE",
        means "The clock drifts more than the daemon may correct (500 ppm, 43 s a day): a faulty oscillator, a VM's clock, or another agent steering it. The daemon cannot hold it."
        tell "the kernel's frequency correction pinned at its ±500 ppm limit (adjtimex), ntpd's `frequency error N PPM exceeds tolerance 500 PPM`, chronyd's `Frequency N ppm exceeds allowed maximum`"
        fix "stop any other agent setting the clock, delete the drift file (`/var/lib/ntpsec/ntp.drift`, `/var/lib/chrony/chrony.drift`) and restart the daemon; if it comes back, fix the clock: the VM's clocksource, `adjtimex --tick` for a badly-off oscillator";
    SlewTooSlow = "slew-too-slow", Local, 9, E, "THE DAEMON ONLY SLEWS",
        means "The clock is far off and the daemon's policy only slews it, at most 500 ppm (ntpd -x, OpenNTPD) or 83 ms/s (chrony's maxslewrate): it will take hours or days, during which the clock is wrong."
        tell "the clock's offset (probes, or the daemon's own) over the step threshold of the daemon's policy (chrony without `makestep`, or its N steps spent; ntpd -x; OpenNTPD after start), and offset ÷ slew rate over 15 minutes"
        fix "step once now (`chronyc makestep`, `ntpdig -S`), then let the daemon step large offsets: chrony `makestep 1 3` (or `makestep 1 -1`), ntpd without -x";
    BootDnsOrder = "boot-dns-order", Local, 6, E, "NAMES DID NOT RESOLVE AT START",
        means "The daemon's server names did not resolve when it looked them up (it started before the network or the resolver), and it has not tried again: it runs without those sources, although the names resolve now. ntpsec retries a hard failure only at its next DNS poll (up to 4096 s), when a new interface appears, or on SIGHUP."
        tell "ntpd still shows a configured name with its placeholder refid .DNS. (waiting for the resolver) while the name resolves from this host now"
        fix "make it look again: `systemctl kill -s HUP ntpsec` (ntpsec retries every name on SIGHUP) or restart it; for boots, order it after the resolver with a drop-in: `[Unit] Wants=network-online.target` and `After=network-online.target nss-lookup.target`, or configure addresses";
    CloudSourceUnused = "cloud-source-unused", Ok, 80, E, "CLOUD TIME SOURCE UNUSED (A REMARK)",
        means "A remark: this VM runs in a cloud that offers its own time source next to it (AWS's 169.254.169.123, GCE's metadata server, Azure's /dev/ptp_hyperv), but the configuration uses others. It works, but the local source is closer, needs no outside traffic, and smears leap seconds as the cloud's other machines do."
        tell "the DMI names the cloud (sys_vendor `Amazon EC2`, `Google`, Azure's chassis asset tag) and no configured source is the cloud's"
        fix "add the cloud's source to the configuration (the verdict gives the line)";
    LeapSmearMixed = "leap-smear-mixed", Ok, 80, E, "LEAP SMEAR MIXED (A REMARK)",
        means "A remark: some sources smear leap seconds (Google, AWS, Meta) and others are not known to. Harmless until a leap second; then they disagree by up to half a second for hours, and the selection may reject one side."
        tell "configured names on the operators' own lists of smearing servers beside names not on them"
        fix "use only smearing sources or only non-smearing ones";
    RestrictBlocksClients = "restrict-blocks-clients", Local, 16, E, "RESTRICT BLOCKS CLIENTS",
        means "This node's default access rule refuses the clients it should serve."
        tell "the default `restrict` carries ignore/noserve (ntpd), or chrony allows no client"
        fix "allow the clients' network (`restrict <net> mask <mask> nomodify notrap`, chrony `allow <subnet>`)";
}

/// The RFC 5905 §7.4 kiss codes ntpdiag documents as causes of their own,
/// with what an operator should do. INIT and STEP are states, not refusals:
/// they are [`Cause::UpstreamUnsynchronized`].
pub const KISS: &[(KissCode, &str)] = &[
    (
        KissCode::Rate,
        "this client polls too often for the server's rate limit: poll less often (ntpd `minpoll` ≥ 6, no `burst`; chrony `minpoll`), stop scripts that query in a loop, or relax the server's limit (ntpd `discard`/`limited`, chrony `ratelimit`)",
    ),
    (KissCode::Deny, DENY_FIX),
    (KissCode::Rstr, DENY_FIX),
    (KissCode::Auth, AUTH_FIX),
    (KissCode::Cryp, AUTH_FIX),
    (KissCode::Nkey, AUTH_FIX),
    (KissCode::Auto, AUTH_FIX),
    (KissCode::Drop, MODE_FIX),
    (KissCode::Rmot, MODE_FIX),
    (KissCode::Acst, MODE_FIX),
    (KissCode::Bcst, MODE_FIX),
    (KissCode::Mcst, MODE_FIX),
    (
        KissCode::Ntsn,
        "the server no longer accepts this client's NTS cookies (it rotated its cookie key, or the cookies were damaged on the way): the client must run NTS-KE again for fresh cookies (RFC 8915 §5.7) — restart it if it does not; if NTSN keeps coming right after a fresh KE, the KE server and the NTP server do not share their cookie key",
    ),
];

const DENY_FIX: &str = "the server's access control refuses this client: on the server, allow this client's address (ntpd: a `restrict` line without `ignore`/`noserve` for it; chrony: `allow <subnet>`), or use another server";
const AUTH_FIX: &str = "authentication failed: make the key id and secret (ntpd `keys`/`trustedkey`, chrony `key` + keyfile) or the NTS setup agree on client and server";
const MODE_FIX: &str = "informational for the association mode; check that client and server agree on the mode (server/peer/broadcast)";
const UNKNOWN_KISS_FIX: &str =
    "an unrecognised code must be ignored (RFC 5905 §7.4); ask the server's operator";

/// What to do about a kiss code.
pub fn kiss_fix(code: KissCode) -> &'static str {
    KISS.iter()
        .find(|(c, _)| *c == code)
        .map_or(UNKNOWN_KISS_FIX, |(_, f)| f)
}

impl Cause {
    /// This cause's row of the table.
    pub fn info(self) -> CauseInfo {
        if let Some(i) = self.fixed_info() {
            return i;
        }
        let Cause::Kod(code) = self else {
            unreachable!("fixed_info covers every other variant")
        };
        CauseInfo {
            cause: self,
            id: format!("kod-{}", kiss_id(code)).into(),
            class: Class::Kiss,
            title: format!("KISS-O'-DEATH {}", code.text()).into(),
            means: format!(
                "The server refuses service with a Kiss-o'-Death {}: {}.",
                code.text(),
                code.meaning()
            )
            .into(),
            tell: "a reply with stratum 0 and this code as refid whose origin is our transmit timestamp (a spoofed KoD is bogus, RFC 8633 §5.4)".into(),
            fix: kiss_fix(code).into(),
            emitted_by: P,
            rank: 10,
        }
    }

    pub fn id(self) -> String {
        self.info().id.into_owned()
    }

    pub fn class(self) -> Class {
        self.info().class
    }

    pub fn title(self) -> String {
        self.info().title.into_owned()
    }

    /// Every documented cause: the fixed ones, then one per kiss code.
    pub fn all() -> Vec<Cause> {
        let mut v = Cause::FIXED.to_vec();
        v.extend(KISS.iter().map(|(c, _)| Cause::Kod(*c)));
        v
    }

    /// Every documented cause's row, in table order.
    pub fn table() -> Vec<CauseInfo> {
        Cause::all().into_iter().map(Cause::info).collect()
    }

    /// The cause with this id: a table id, or `kod-` with any code.
    pub fn from_id(id: &str) -> Option<Cause> {
        if let Some(c) = Cause::FIXED.iter().find(|c| c.id() == id) {
            return Some(*c);
        }
        let code = KissCode::parse(id.strip_prefix("kod-")?)?;
        let cause = Cause::Kod(code);
        (cause.id() == id && !matches!(code, KissCode::Init | KissCode::Step)).then_some(cause)
    }
}

/// `kod-` suffix: the code in lowercase; octets that are not letters or
/// digits become `_` so the id stays one token.
fn kiss_id(c: KissCode) -> String {
    let b = c.bytes();
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    b[..end]
        .iter()
        .map(|&x| {
            if x.is_ascii_alphanumeric() {
                x.to_ascii_lowercase() as char
            } else {
                '_'
            }
        })
        .collect()
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// The exit-status text of `--help` and the man pages, from the table.
pub fn exit_help() -> String {
    let mut s = String::from("Exit status:\n");
    let line = |class: Class| {
        let mut ids: Vec<String> = Cause::FIXED
            .iter()
            .filter(|c| c.class() == class)
            .map(|c| c.id())
            .collect();
        if class == Class::Kiss {
            ids.push("kod-<code>: kod-rate, kod-deny, kod-rstr, ...".into());
        }
        let head = format!("  {}  ", class.exit_code());
        let body = format!("{}: {} ({})", class.id(), class.meaning(), ids.join(", "));
        wrap(&head, &body, 79, 5)
    };
    s.push_str(&line(Class::Ok));
    s.push_str("  1  error: ntpdiag itself failed\n  2  usage: bad command line\n");
    s.push_str(&line(Class::Input));
    for class in Class::ALL
        .into_iter()
        .filter(|c| !matches!(c, Class::Ok | Class::Input))
    {
        s.push_str(&line(class));
    }
    s.push_str(
        "With several verdicts (targets, conversations, findings, nodes), the status is\nthat of the one that leads: the first by the causes' ranking among those not\nok, the one given first on a tie. `ntpdiag causes` explains every cause id.",
    );
    s
}

/// `head` then `body` wrapped at spaces to `width`, continuation lines
/// indented by `indent`.
fn wrap(head: &str, body: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut cur = head.to_string();
    for w in body.split(' ').filter(|w| !w.is_empty()) {
        if !cur.trim().is_empty() && cur.len() + 1 + w.len() > width && cur.len() > indent {
            out.push_str(&cur);
            out.push('\n');
            cur = " ".repeat(indent);
        } else if !cur.ends_with(' ') {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    out.push_str(&cur);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let t = Cause::table();
        let mut ids: Vec<&str> = t.iter().map(|i| &*i.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate cause ids");
        for i in &t {
            assert_eq!(Cause::from_id(&i.id), Some(i.cause), "{}", i.id);
            assert!(!i.means.is_empty() && !i.tell.is_empty() && !i.fix.is_empty());
            assert_eq!(i.id, i.id.to_ascii_lowercase());
            assert!(!i.id.contains(' '));
        }
        // A code outside the table still has an id, one token.
        assert_eq!(Cause::Kod(KissCode::Unknown(*b"X\x01\0\0")).id(), "kod-x_");
        assert_eq!(Cause::from_id("kod-init"), None);
        assert_eq!(Cause::from_id("nonsense"), None);
    }

    /// doc/json.md's cause table lists exactly the table's ids, each with
    /// its class and exit status, rank, the commands that name it, and its
    /// meaning as the table says it.
    #[test]
    fn doc_json_lists_every_cause_and_nothing_else() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/json.md")).unwrap();
        let rows: Vec<(String, String)> = doc
            .lines()
            .filter_map(|l| {
                let id = l
                    .split(" | ")
                    .next()?
                    .strip_prefix("| `")?
                    .strip_suffix('`')?;
                Some((id.to_string(), l.to_string()))
            })
            .collect();
        let table = Cause::table();
        for i in &table {
            let want = format!(
                "| `{}` | {} ({}) | {} | {} | {} |",
                i.id,
                i.class.id(),
                i.class.exit_code(),
                i.rank,
                i.emitted_by.join(", "),
                i.means
            );
            assert!(
                rows.iter().any(|(id, l)| *id == i.id && *l == want),
                "doc/json.md lacks the row {want}"
            );
        }
        for (id, _) in &rows {
            assert!(
                table.iter().any(|i| i.id == *id),
                "doc/json.md lists unknown `{id}`"
            );
        }
    }

    /// The table's prose is literal text: it must name the thresholds the
    /// rules use (engine::limits), not other numbers.
    #[test]
    fn table_prose_names_the_thresholds_in_force() {
        use crate::engine::limits::*;
        let panic = format!("{PANIC_THRESHOLD:.0} s");
        for c in [Cause::OffsetOverPanic, Cause::ClockStepNeeded] {
            assert!(c.info().means.contains(&panic), "{c:?}");
        }
        let fast = Cause::ClientPollsTooFast.info().tell;
        assert!(
            fast.contains(&format!("under {DISCARD_MIN_INTERVAL:.0} s")),
            "{fast}"
        );
        assert!(
            fast.contains(&format!("under {DISCARD_AVG_INTERVAL:.0} s")),
            "{fast}"
        );
    }

    #[test]
    fn classes_have_distinct_exit_codes() {
        // Input is a usage error by another name: it shares 2 on purpose.
        let verdicts: Vec<Class> = Class::ALL
            .into_iter()
            .filter(|c| *c != Class::Input)
            .collect();
        let mut codes: Vec<u8> = verdicts.iter().map(|c| c.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), verdicts.len());
        assert!(
            !codes.contains(&1) && !codes.contains(&2),
            "1 and 2 are errors and usage"
        );
        assert_eq!(Class::Input.exit_code(), 2);
    }

    #[test]
    fn exit_help_names_every_cause_under_its_class() {
        let h = exit_help();
        assert!(h.lines().all(|l| l.len() <= 80), "{h}");
        // One block per class: its line and the indented lines after it.
        let mut blocks: Vec<(String, String)> = vec![];
        for l in h.lines() {
            if l.starts_with("     ") {
                let last = blocks.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(l.trim());
            } else if let Some(rest) = l.strip_prefix("  ") {
                blocks.push((rest.split(':').next().unwrap().to_string(), l.to_string()));
            }
        }
        for i in Cause::table() {
            if matches!(i.cause, Cause::Kod(_)) {
                continue;
            }
            let head = format!("{}  {}", i.class.exit_code(), i.class.id());
            let block = blocks.iter().find(|b| b.0 == head).unwrap();
            assert!(
                block.1.split([' ', ',', '(', ')']).any(|w| w == i.id),
                "{} not under {head}: {}",
                i.id,
                block.1
            );
        }
    }
}
