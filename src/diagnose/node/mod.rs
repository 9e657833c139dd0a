//! A node's judgement: what explain collected about one machine (its
//! configurations, daemons, firewall, port 123, configured servers and
//! their probes, the daemon's own output) → a ranked list of findings, the
//! first being the node's verdict.
//!
//! The evidence type is [`NodeFacts`], filled by explain's adapter from what
//! its collectors read. [`cases`] lists what there is to judge, one
//! [`Case`] a subject (each config issue, each firewall rule, each probe of
//! each server, …), and the table [`rules::NODE_STEPS`], of the one shape
//! ([`super::table`]), judges each. A case with nothing wrong gets an `ok`
//! verdict that is no finding, except a server's probe, whose `ok` is one.

mod host;
mod rules;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use super::cause::{Cause, Class};
use super::evidence::TargetEvidence;
use super::verdict::{Confidence, Verdict, rank};

pub use host::{HostCase, Offset};
pub use rules::{NODE_STEPS, unresolved_server};

/// Which daemon a configuration belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Daemon {
    Ntpd,
    Chrony,
    Timesyncd,
    /// OpenNTPD (OpenBSD's ntpd; Debian's `openntpd` package).
    Openntpd,
    /// ntpd-rs (`ntp-daemon`, configured by ntp.toml).
    NtpdRs,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Ntpd => "ntpd",
            Daemon::Chrony => "chronyd",
            Daemon::Timesyncd => "systemd-timesyncd",
            Daemon::Openntpd => "openntpd",
            Daemon::NtpdRs => "ntpd-rs",
        }
    }

    /// The daemon a process name (`/proc/PID/comm`, 15 characters) is.
    /// OpenNTPD's processes are also named `ntpd`: see [`Daemon::of_ntpd`].
    pub fn of_process(comm: &str) -> Option<Daemon> {
        match comm {
            "ntpd" => Some(Daemon::Ntpd),
            // A built-in lab node: ntp.conf syntax, answers ntpq as ntpd does.
            "ntpdiag-lab" => Some(Daemon::Ntpd),
            "chronyd" => Some(Daemon::Chrony),
            "systemd-timesyn" => Some(Daemon::Timesyncd),
            "ntp-daemon" => Some(Daemon::NtpdRs),
            _ => None,
        }
    }

    /// Which `ntpd` a process named so is, from its command line (NUL
    /// separated, as /proc/PID/cmdline) and its children's: OpenNTPD's
    /// processes retitle themselves (setproctitle in ntp.c, ntp_dns.c,
    /// constraint.c: `ntp engine`, `dns engine`, `constraint from …`), and
    /// Debian starts it with `-f /etc/openntpd/ntpd.conf`.
    pub fn of_ntpd<'a>(cmdline: &str, children: impl IntoIterator<Item = &'a str>) -> Daemon {
        let open = |c: &str| {
            c.contains("ntp engine")
                || c.contains("dns engine")
                || c.contains("constraint from")
                || c.contains("openntpd")
        };
        if open(cmdline) || children.into_iter().any(open) {
            Daemon::Openntpd
        } else {
            Daemon::Ntpd
        }
    }

    /// Its systemd unit on Debian.
    pub fn unit(self) -> &'static str {
        match self {
            Daemon::Ntpd => "ntpsec",
            Daemon::Chrony => "chrony",
            Daemon::Timesyncd => "systemd-timesyncd",
            Daemon::Openntpd => "openntpd",
            Daemon::NtpdRs => "ntpd-rs",
        }
    }
}

/// A running time daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningDaemon {
    pub daemon: Daemon,
    pub pid: u32,
    pub comm: String,
}

/// A local firewall rule that concerns NTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallRule {
    /// `iptables`, `ip6tables` or `nft`.
    pub tool: String,
    pub text: String,
    /// Drops/rejects requests leaving (OUTPUT, dport 123).
    pub blocks_out: bool,
    /// Drops/rejects replies or requests arriving (INPUT, sport/dport 123).
    pub blocks_in: bool,
}

/// Who holds udp/123 here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortHolder {
    pub addr: String,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

/// A line of a configuration the daemon refuses or skips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// The daemon refuses to start (chronyd on an unknown directive), as
    /// opposed to ignoring the line (ntpd).
    pub fatal: bool,
}

/// A default access line (`restrict default …`, chrony `allow`/`deny all`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultAccess {
    pub file: String,
    pub line: usize,
    pub target: String,
    /// ntpd `mask MASK`.
    pub mask: Option<String>,
    pub flags: Vec<String>,
    /// chrony: allow (true) or deny (false); ntpd: false.
    pub allow: bool,
}

/// One setting of a daemon's selection policy, with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    /// As written: `tos minsane 3`, `minsources 2`.
    pub written: String,
    pub file: String,
    pub line: usize,
}

/// A daemon's own selection policy, as its configuration sets it (ntpd
/// `tos`, chrony `minsources`/`maxdistance`); `None` where the daemon's
/// default holds.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Policy {
    /// Fewest agreeing sources before the clock is set: ntpd `tos minsane`
    /// (default 1), chrony `minsources` (default 1).
    pub min_sources: Option<Setting<u32>>,
    /// ntpd `tos minclock` (default 3): the cluster algorithm keeps at least
    /// this many survivors (no requirement to synchronize).
    pub min_clock: Option<Setting<u32>>,
    /// ntpd `tos orphan N`: with no source left, serve its own clock at
    /// stratum N to the other orphans and clients.
    pub orphan: Option<Setting<u32>>,
    /// Select threshold: ntpd `tos maxdist` (1.5 s), chrony `maxdistance` (3 s).
    pub max_dist: Option<Setting<f64>>,
    /// ntpd `tos mindist` (1 ms): also the clock-hop hysteresis.
    pub min_dist: Option<Setting<f64>>,
}

impl Policy {
    /// The engine's rules with this policy's settings in place of the
    /// profile's defaults.
    pub fn apply(&self, rules: &mut crate::engine::client::Rules) {
        if let Some(m) = &self.min_sources {
            rules.minsane = m.value as usize;
        }
        if let Some(m) = &self.min_clock {
            rules.minclock = m.value as usize;
        }
        if let Some(m) = &self.max_dist {
            rules.maxdist = m.value;
        }
        if let Some(m) = &self.min_dist {
            rules.mindist = m.value;
        }
    }
}

/// What the node rules read of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigFacts {
    pub daemon: Daemon,
    pub files: Vec<String>,
    pub issues: Vec<ConfigIssue>,
    /// Unicast server, pool and peer lines.
    pub network_sources: usize,
    /// A local clock or reference clock is configured.
    pub local_clock: bool,
    /// chrony's `makestep` arguments, if set.
    pub makestep: Option<Vec<String>>,
    pub default_access: Vec<DefaultAccess>,
    /// Its other access lines (an address, a network, `source`), in order.
    pub other_access: Vec<DefaultAccess>,
    /// Distinct hosts of its unicast server and peer lines.
    pub unicast_hosts: usize,
    /// Its pool lines (each may give several sources).
    pub pools: usize,
    pub policy: Policy,
    /// Its reference clocks as written (`PHC /dev/ptp_hyperv`).
    pub refclocks: Vec<String>,
}

/// A configured server: its line, what its name resolved to, the probes.
#[derive(Clone, Debug)]
pub struct ServerFacts {
    pub host: String,
    pub file: String,
    pub line: usize,
    /// server, pool, peer, …
    pub kind: &'static str,
    pub options: Vec<String>,
    pub resolved: Option<Result<Vec<SocketAddr>, String>>,
    /// One probe per address: what was sent and what came back.
    pub probes: Vec<TargetEvidence>,
}

impl ServerFacts {
    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt)
    }

    /// How findings about it are titled.
    pub fn subject(&self) -> String {
        format!("server {} ({}:{})", self.host, self.file, self.line)
    }
}

/// One block of the local daemon's own output, as the paste readers judged
/// it.
#[derive(Clone, Debug)]
pub struct ViewBlock {
    pub title: &'static str,
    pub verdict: Verdict,
    /// The daemon shows a system peer (`*`) in it.
    pub sys_peer: bool,
    /// The clock's offset as the daemon states it (s, + = behind).
    pub offset_s: Option<f64>,
    /// The daemon says it has no source at all.
    pub no_sources: bool,
    /// A name the daemon shows still waiting for its resolver (ntpq's
    /// `.DNS.` placeholder).
    pub unresolved: Option<String>,
}

/// Everything the node rules read.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    pub configs: Vec<ConfigFacts>,
    pub daemons: Vec<RunningDaemon>,
    /// The local daemon's own output (ntpq / chronyc), block by block.
    pub view: Vec<ViewBlock>,
    pub kernel_unsynchronized: Option<bool>,
    pub firewall: Vec<FirewallRule>,
    /// The firewall could be read.
    pub firewall_read: bool,
    pub port123: Option<Vec<PortHolder>>,
    pub servers: Vec<ServerFacts>,
    /// This host's own addresses (its interfaces'), to tell a server that
    /// is this host itself.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// Collectors that failed: (collector, what happened). Never fatal.
    pub collector_errors: Vec<(String, String)>,
    /// Probing was switched off (`--no-probe`).
    pub no_probe: bool,
    /// The host beneath the daemon.
    pub host: crate::diagnose::host::HostFacts,
    /// The cloud's time source probed from here (its first address or
    /// name), when the host is a cloud VM.
    pub cloud_probe: Option<TargetEvidence>,
}

impl NodeFacts {
    /// The daemon the configuration is for: the one running, else the
    /// first with a config.
    pub fn configured_daemon(&self) -> Option<Daemon> {
        self.daemons
            .first()
            .map(|d| d.daemon)
            .or_else(|| self.configs.first().map(|c| c.daemon))
    }
}

/// One finding: what it is about and the verdict.
#[derive(Clone, Debug)]
pub struct Finding {
    pub subject: String,
    pub verdict: Verdict,
    /// The configured server it is about, if any (host as written).
    pub server: Option<String>,
}

/// What there is to judge about a node, one subject each, in the order
/// findings are listed before ranking.
#[derive(Clone, Debug)]
pub enum Case {
    /// The time daemons that run.
    Daemons(Vec<RunningDaemon>),
    /// A line the daemon refuses or skips.
    Issue(ConfigIssue),
    /// The time sources the configurations name (none found at all when
    /// `configs` is empty).
    Sources {
        configs: usize,
        network_sources: usize,
        local_clock: bool,
        files: Vec<String>,
        unicast_hosts: usize,
        pools: usize,
        policy: Policy,
    },
    /// The first configuration's daemon, and whether it runs.
    Process {
        daemon: Daemon,
        running: bool,
        holders: Vec<PortHolder>,
    },
    /// Who holds udp/123, for the daemon that must bind it.
    Port {
        daemon: Daemon,
        holders: Vec<PortHolder>,
    },
    /// A local firewall rule about udp/123.
    Firewall(FirewallRule),
    /// A configured server's name that did not resolve.
    Unresolved { server: ServerFacts, error: String },
    /// A configured server that resolves only to this host itself
    /// (loopback, or an address of its own): the daemon would ask itself.
    OwnAddress {
        server: ServerFacts,
        address: std::net::IpAddr,
    },
    /// One probe of a configured server, judged by the exchange table.
    Probe {
        server: ServerFacts,
        verdict: Verdict,
    },
    /// What every probe said, for the clock as a whole.
    Clock {
        causes: Vec<Cause>,
        makestep: Option<Vec<String>>,
    },
    /// The servers that give good time: (server, offset, round trip).
    Asymmetry { good: Vec<(ServerFacts, f64, f64)> },
    /// The local daemon's own view, against what the probes found.
    View {
        blocks: Vec<ViewBlock>,
        overall: Option<Verdict>,
        real_ntpd: bool,
        /// Every configured server answered the probes with good time.
        servers_fine: bool,
        probe_summaries: Vec<String>,
        no_probe: bool,
    },
    /// A default access line: does it refuse time to clients? `serves`:
    /// the configuration makes the node a server (orphan, a local clock)
    /// and no other access line opens time service to anyone.
    Serve {
        daemon: Daemon,
        line: DefaultAccess,
        serves_nobody: bool,
    },
    /// ntpd's default line drops every packet from these servers of the
    /// node's own (ignore; ntpsec's noserve too), and no access line covers
    /// them.
    OwnServers {
        line: DefaultAccess,
        servers: Vec<String>,
    },
    /// A default access line: does it refuse queries (ntpq) from them?
    Query { daemon: Daemon, line: DefaultAccess },
    /// A question about the host beneath the daemon.
    Host(HostCase),
}

impl Case {
    /// The subject findings about it carry.
    pub fn subject(&self) -> String {
        match self {
            Case::Daemons(_) => "time daemons".into(),
            Case::Issue(i) => format!("{}:{}", i.file, i.line),
            Case::Sources { .. } => "configuration".into(),
            Case::Process { daemon, .. } => daemon.name().into(),
            Case::Port { .. } => "udp/123".into(),
            Case::Firewall(_) => "local firewall".into(),
            Case::Unresolved { server, .. }
            | Case::Probe { server, .. }
            | Case::OwnAddress { server, .. } => server.subject(),
            Case::Clock { .. } => "system clock".into(),
            Case::Asymmetry { good } => rules::asymmetric(good)
                .map_or_else(|| "servers".into(), |a| good[a.server].0.subject()),
            Case::View { .. } => "local daemon".into(),
            Case::Serve { line, .. } | Case::Query { line, .. } | Case::OwnServers { line, .. } => {
                format!("{}:{}", line.file, line.line)
            }
            Case::Host(h) => h.subject(),
        }
    }

    /// Whether an `ok` verdict on it is a finding: only a server's probe
    /// (the others' `ok` says there is nothing to report).
    fn ok_is_a_finding(&self) -> bool {
        matches!(self, Case::Probe { .. })
    }
}

/// The adapter from facts to cases: every subject there is, judged or not.
pub fn cases(ev: &NodeFacts) -> Vec<Case> {
    let mut out = vec![Case::Daemons(ev.daemons.clone())];
    for c in &ev.configs {
        out.extend(c.issues.iter().cloned().map(Case::Issue));
    }
    out.push(Case::Sources {
        configs: ev.configs.len(),
        network_sources: ev.configs.iter().map(|c| c.network_sources).sum(),
        local_clock: ev.configs.iter().any(|c| c.local_clock),
        files: ev.configs.iter().flat_map(|c| c.files.clone()).collect(),
        unicast_hosts: ev.configs.iter().map(|c| c.unicast_hosts).sum(),
        pools: ev.configs.iter().map(|c| c.pools).sum(),
        policy: ev
            .configs
            .first()
            .map(|c| c.policy.clone())
            .unwrap_or_default(),
    });
    let holders = ev.port123.clone().unwrap_or_default();
    if let Some(c) = ev.configs.first() {
        out.push(Case::Process {
            daemon: c.daemon,
            running: !ev.daemons.is_empty(),
            holders: holders.clone(),
        });
    }
    if ev.port123.is_some()
        && let Some(d) = ev.configured_daemon()
    {
        out.push(Case::Port { daemon: d, holders });
    }
    out.extend(ev.firewall.iter().cloned().map(Case::Firewall));
    // Each probe judged once, by the exchange table.
    let judged: Vec<Vec<Verdict>> = ev
        .servers
        .iter()
        .map(|s| s.probes.iter().map(super::probe::diagnose).collect())
        .collect();
    for (s, verdicts) in ev.servers.iter().zip(&judged) {
        match &s.resolved {
            Some(Err(e)) => out.push(Case::Unresolved {
                server: s.clone(),
                error: e.clone(),
            }),
            // Every address it resolves to is this host's own.
            // (on port 123, where this host's own daemon would answer).
            Some(Ok(a))
                if !a.is_empty()
                    && a.iter().all(|x| {
                        x.port() == 123
                            && (x.ip().is_loopback() || ev.local_addrs.contains(&x.ip()))
                    }) =>
            {
                out.push(Case::OwnAddress {
                    server: s.clone(),
                    address: a[0].ip(),
                })
            }
            _ => out.extend(verdicts.iter().map(|v| Case::Probe {
                server: s.clone(),
                verdict: v.clone(),
            })),
        }
    }
    out.push(Case::Clock {
        causes: judged.iter().flatten().map(|v| v.cause).collect(),
        makestep: ev.configs.iter().find_map(|c| c.makestep.clone()),
    });
    out.push(Case::Asymmetry {
        good: ev
            .servers
            .iter()
            .zip(&judged)
            .filter_map(|(s, vs)| {
                let i = vs.iter().position(|v| v.cause == Cause::Ok)?;
                let b = super::probe::facts(s.probes.get(i)?).best?;
                Some((s.clone(), b.value.sample.offset, b.value.sample.delay))
            })
            .collect(),
    });
    out.push(Case::View {
        blocks: ev.view.clone(),
        overall: super::verdict::overall(ev.view.iter().map(|b| (b.title, &b.verdict))),
        real_ntpd: ev.daemons.iter().any(|d| d.comm == "ntpd"),
        servers_fine: !ev.servers.is_empty()
            && judged
                .iter()
                .all(|vs| vs.iter().all(|v| v.cause == Cause::Ok)),
        probe_summaries: judged.iter().flatten().map(|v| v.summary.clone()).collect(),
        no_probe: ev.no_probe,
    });
    out.extend(host::cases(ev).into_iter().map(Case::Host));
    for c in &ev.configs {
        let serves = c.local_clock || c.policy.orphan.is_some();
        let opened = c.other_access.iter().any(|a| opens_service(c.daemon, a));
        for a in &c.default_access {
            if c.daemon == Daemon::Ntpd && drops_everything(a) {
                let servers: Vec<String> = ev
                    .servers
                    .iter()
                    .filter(|s| s.kind != "refclock" && !covered(s, &c.other_access))
                    .map(|s| s.host.clone())
                    .collect();
                if !servers.is_empty() {
                    out.push(Case::OwnServers {
                        line: a.clone(),
                        servers,
                    });
                }
            }
            out.push(Case::Serve {
                daemon: c.daemon,
                line: a.clone(),
                serves_nobody: serves && !opened,
            });
            out.push(Case::Query {
                daemon: c.daemon,
                line: a.clone(),
            });
        }
    }
    out
}

/// All findings, most important first. Never empty: with nothing wrong,
/// one `ok`.
pub fn findings(ev: &NodeFacts) -> Vec<Finding> {
    let mut out: Vec<Finding> = cases(ev)
        .into_iter()
        .filter_map(|c| {
            let v = super::table::judge(NODE_STEPS, &c).1;
            (v.cause != Cause::Ok || c.ok_is_a_finding()).then(|| Finding {
                subject: c.subject(),
                verdict: v,
                server: match &c {
                    Case::Unresolved { server, .. } | Case::Probe { server, .. } => {
                        Some(server.host.clone())
                    }
                    Case::Asymmetry { good } => {
                        rules::asymmetric(good).map(|a| good[a.server].0.host.clone())
                    }
                    _ => None,
                },
            })
        })
        .collect();
    // A name the daemon waits for that resolves now (boot-dns-order): the
    // daemon view's "does not resolve" is stale, and its fix wrong.
    if out.iter().any(|f| f.verdict.cause == Cause::BootDnsOrder) {
        out.retain(|f| !(f.subject == "local daemon" && f.verdict.cause == Cause::NameUnresolved));
    }
    // A config error the daemon skips over ranks below the real findings.
    out.sort_by_key(|f| rank(&f.verdict));
    let problems = out
        .iter()
        .any(|f| f.verdict.cause != Cause::Ok && f.verdict.cause.class() != Class::Ok);
    if !problems {
        let mut v = Verdict::new(
            Cause::Ok,
            "Nothing wrong found: the configuration, the daemon and the servers all look fine.",
            Confidence::Medium,
        );
        for (subject, f) in out.iter().map(|f| (&f.subject, &f.verdict)) {
            v.evidence.push(format!("{subject}: {}", f.summary));
        }
        out.insert(
            0,
            Finding {
                subject: "node".into(),
                verdict: v,
                server: None,
            },
        );
    }
    // What was checked and found fine goes on the verdict, so that blaming
    // the server also clears this node; collectors that failed are said,
    // not hidden.
    let config_blocked = out.iter().any(|f| {
        f.verdict.cause.info().blocks()
            && (f.subject == "configuration"
                || ev
                    .configs
                    .iter()
                    .flat_map(|c| &c.files)
                    .any(|file| f.subject.starts_with(&format!("{file}:"))))
    });
    if let Some(first) = out.first_mut() {
        first.verdict.notes.extend(fine_checks(ev, config_blocked));
        first.verdict.notes.extend(host::notes(ev));
        for (c, e) in &ev.collector_errors {
            first
                .verdict
                .notes
                .push(format!("could not check {c}: {e}"));
        }
    }
    out
}

/// ntpd drops every packet from addresses this line covers, replies of
/// its own servers included: `ignore`, and `noserve` (ntpsec's
/// check_early_restrictions() drops every non-control packet under it).
pub fn drops_everything(a: &DefaultAccess) -> bool {
    a.flags.iter().any(|f| f == "ignore" || f == "noserve")
}

/// An access line that opens time service to some clients: chrony `allow`,
/// an ntpd restrict line for a network or host other than loopback (or
/// `source`) without ignore/noserve.
fn opens_service(daemon: Daemon, a: &DefaultAccess) -> bool {
    match daemon {
        Daemon::Chrony => a.allow,
        Daemon::Ntpd => {
            !drops_everything(a)
                && a.target != "source"
                && a.target
                    .split('/')
                    .next()
                    .and_then(|t| t.parse::<std::net::IpAddr>().ok())
                    .is_none_or(|ip| !ip.is_loopback())
        }
        Daemon::Timesyncd | Daemon::Openntpd | Daemon::NtpdRs => false,
    }
}

/// A restrict line that lets a server's replies in: `restrict source`
/// (ntpsec and ntpd 4.2.8 add an entry for each association's address),
/// its name as written, or a line whose address/mask or prefix holds one
/// of its addresses; without ignore/noserve.
fn covered(s: &ServerFacts, lines: &[DefaultAccess]) -> bool {
    let addrs: Vec<std::net::IpAddr> = match &s.resolved {
        Some(Ok(a)) => a.iter().map(|x| x.ip()).collect(),
        _ => s.host.parse().into_iter().collect(),
    };
    lines.iter().filter(|l| !drops_everything(l)).any(|l| {
        l.target == "source"
            || l.target == s.host
            || addrs
                .iter()
                .any(|ip| holds(&l.target, l.mask.as_deref(), *ip))
    })
}

/// `target` (ADDR, ADDR/LEN) with `mask` holds `ip`.
fn holds(target: &str, mask: Option<&str>, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let (addr, len) = match target.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().ok()),
        None => (target, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let m = match (mask.and_then(|m| m.parse::<std::net::Ipv4Addr>().ok()), len) {
                (Some(m), _) => u32::from(m),
                (None, Some(l)) if l <= 32 => u32::MAX.checked_shl(32 - l).unwrap_or(0),
                _ => u32::MAX,
            };
            u32::from(n) & m == u32::from(i) & m
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let m = match (mask.and_then(|m| m.parse::<std::net::Ipv6Addr>().ok()), len) {
                (Some(m), _) => u128::from(m),
                (None, Some(l)) if l <= 128 => u128::MAX.checked_shl(128 - l).unwrap_or(0),
                _ => u128::MAX,
            };
            u128::from(n) & m == u128::from(i) & m
        }
        _ => false,
    }
}

/// Checks that passed, in words.
fn fine_checks(ev: &NodeFacts, config_blocked: bool) -> Vec<String> {
    let mut v = vec![];
    // Fine only without any line the daemon refuses or skips, and without
    // a finding on the configuration that blocks.
    let issues = ev.configs.iter().any(|c| !c.issues.is_empty());
    if !ev.configs.is_empty() && !issues && !config_blocked {
        let n: usize = ev.configs.iter().map(|c| c.network_sources).sum();
        v.push(format!(
            "config fine: {} read, {n} server line(s)",
            ev.configs
                .iter()
                .flat_map(|c| c.files.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ev.daemons.len() == 1 {
        v.push(format!(
            "daemon fine: {} running (pid {})",
            ev.daemons[0].comm, ev.daemons[0].pid
        ));
    }
    match ev.kernel_unsynchronized {
        Some(true) => v.push(
            "kernel clock: marked unsynchronized (STA_UNSYNC): no daemon disciplines it".into(),
        ),
        Some(false) => v.push("kernel clock: marked synchronized by a daemon".into()),
        None => {}
    }
    if ev.firewall_read && !ev.firewall.iter().any(|r| r.blocks_in || r.blocks_out) {
        v.push("local firewall fine: no rule drops or rejects udp/123".into());
    }
    v
}
