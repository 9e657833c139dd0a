//! A node's evidence → a ranked list of findings, the first being the
//! verdict. Pure: the collectors fill [`NodeEvidence`]; nothing here reads a
//! file or a socket.

use std::net::SocketAddr;

use super::conf::{Config, Daemon, Issue, Source};
use super::paste::{self, Explained};
use crate::diagnose::probe::diagnose;
use crate::diagnose::verdict::rank;
use crate::diagnose::{Cause, Class, Confidence, TargetEvidence, Verdict};
use crate::engine::limits::PANIC_THRESHOLD;

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

/// A configured server: its line, what its name resolved to, the probes.
#[derive(Clone, Debug)]
pub struct ServerEvidence {
    pub source: Source,
    pub resolved: Option<Result<Vec<SocketAddr>, String>>,
    /// One probe per address: what was sent and what came back.
    pub probes: Vec<TargetEvidence>,
}

#[derive(Clone, Debug, Default)]
pub struct NodeEvidence {
    pub configs: Vec<Config>,
    pub daemons: Vec<RunningDaemon>,
    /// What the local daemon says about itself: ntpq / chronyc output as printed.
    pub daemon_output: Vec<String>,
    pub kernel_unsynchronized: Option<bool>,
    pub firewall: Vec<FirewallRule>,
    /// None when the firewall could not be read.
    pub firewall_read: Option<Vec<String>>,
    pub port123: Option<Vec<PortHolder>>,
    pub servers: Vec<ServerEvidence>,
    /// Collectors that failed: (collector, what happened). Never fatal.
    pub collector_errors: Vec<(String, String)>,
    /// Probing was switched off (`--no-probe`).
    pub no_probe: bool,
}

/// One finding: what it is about and the verdict.
#[derive(Clone, Debug)]
pub struct Finding {
    pub subject: String,
    pub verdict: Verdict,
    /// The configured server it is about, if any (host as written).
    pub server: Option<String>,
}

/// The local daemon's own output, explained by the paste adapters.
pub fn daemon_blocks(ev: &NodeEvidence) -> Vec<Explained> {
    ev.daemon_output
        .iter()
        .flat_map(|t| paste::explain(t))
        .collect()
}

/// Thresholds of the asymmetric-delay test: the offset difference must be
/// over 2 ms and within 0.3-1.2 × half the extra round trip.
const ASYM_MIN: f64 = 0.002;
const ASYM_LOW: f64 = 0.3;
const ASYM_HIGH: f64 = 1.2;

/// Among servers that give good time, (server, offset, round trip): the
/// one whose offset differs from the lowest-delay server's by about half
/// the extra round trip it has. An offset error from path asymmetry is at
/// most half the round trip, and no exchange with that server alone shows
/// it; a server on a short, symmetric path does.
fn asymmetric_delay<'a>(
    good: &[(&'a ServerEvidence, f64, f64)],
) -> Option<(&'a ServerEvidence, Verdict, String)> {
    let (rs, r_off, r_del) = *good.iter().min_by(|a, b| a.2.total_cmp(&b.2))?;
    good.iter()
        .filter(|(s, _, _)| !std::ptr::eq(*s, rs))
        .filter_map(|(s, off, del)| {
            let half = (del - r_del) / 2.0;
            let diff = off - r_off;
            (diff.abs() > ASYM_MIN && diff.abs() >= ASYM_LOW * half && diff.abs() <= ASYM_HIGH * half)
                .then_some((*s, *off, *del, diff, half))
        })
        .max_by(|a, b| a.3.abs().total_cmp(&b.3.abs()))
        .map(|(s, off, del, diff, half)| {
            let ms = |x: f64| format!("{:+.1} ms", x * 1000.0);
            let preferred = if s.source.has("prefer") {
                " It is configured `prefer`, so this clock follows it."
            } else {
                ""
            };
            let v = Verdict::new(
                Cause::AsymmetricDelay,
                format!(
                    "{} is {} off from {}, about half of the {:.1} ms more round trip it has: its path is asymmetric, and its offset is wrong by about that much.{preferred}",
                    s.source.host,
                    ms(diff),
                    rs.source.host,
                    (del - r_del) * 1000.0
                ),
                Confidence::Medium,
            )
            .evidence(format!(
                "{}: offset {}, round trip {:.3} ms",
                s.source.host,
                ms(off),
                del * 1000.0
            ))
            .evidence(format!(
                "{}: offset {}, round trip {:.3} ms",
                rs.source.host,
                ms(r_off),
                r_del * 1000.0
            ))
            .evidence(format!(
                "difference {}; half the extra round trip {}",
                ms(diff),
                ms(half)
            ))
            .fix(Cause::AsymmetricDelay.info().fix)
            .alternative(
                Cause::Falseticker.id(),
                "a server with a wrong clock differs by any amount, not by half its extra delay; probe both again from another host",
            );
            (s, v, rs.source.host.clone())
        })
}

/// The daemon the configuration is for: the one running, else the first with a config.
fn configured_daemon(ev: &NodeEvidence) -> Option<Daemon> {
    ev.daemons
        .first()
        .map(|d| d.daemon)
        .or_else(|| ev.configs.first().map(|c| c.daemon))
}

fn server_subject(s: &ServerEvidence) -> String {
    format!(
        "server {} ({}:{})",
        s.source.host, s.source.file, s.source.line
    )
}

/// All findings, most important first. Never empty: with nothing wrong, one `ok`.
pub fn findings(ev: &NodeEvidence) -> Vec<Finding> {
    // Each probe judged once, by the rule table.
    let judged: Vec<Vec<Verdict>> = ev
        .servers
        .iter()
        .map(|s| s.probes.iter().map(diagnose).collect())
        .collect();
    let probe_causes: Vec<Cause> = judged.iter().flatten().map(|v| v.cause).collect();
    let mut out: Vec<Finding> = vec![];
    let mut push = |subject: String, v: Verdict| {
        out.push(Finding {
            subject,
            verdict: v,
            server: None,
        })
    };

    // Two daemons fighting over the clock.
    let mut kinds: Vec<Daemon> = ev.daemons.iter().map(|d| d.daemon).collect();
    kinds.dedup();
    kinds.sort_by_key(|d| *d as u8);
    kinds.dedup();
    if kinds.len() > 1 {
        let list: Vec<String> = ev
            .daemons
            .iter()
            .map(|d| format!("{} (pid {})", d.comm, d.pid))
            .collect();
        push(
            "time daemons".into(),
            Verdict::new(Cause::TwoDaemons, format!("Two time daemons run at once: {}. They fight over the clock and port 123.", list.join(", ")), Confidence::High)
                .evidence(format!("running: {}", list.join(", ")))
                .fix("keep one: e.g. `systemctl disable --now chrony` or `systemctl disable --now systemd-timesyncd`"),
        );
    }

    // Configuration errors.
    let issues: Vec<&Issue> = ev.configs.iter().flat_map(|c| c.issues.iter()).collect();
    for i in &issues {
        let v = Verdict::new(
            Cause::ConfigError,
            format!("{}:{}: {}", i.file, i.line, i.message),
            if i.fatal {
                Confidence::High
            } else {
                Confidence::Medium
            },
        )
        .evidence(format!("{}, line {}", i.file, i.line))
        .fix(Cause::ConfigError.info().fix);
        let v = if i.fatal {
            v
        } else {
            v.note("the daemon skips this line and goes on: a problem only if the line mattered")
        };
        push(format!("{}:{}", i.file, i.line), v);
    }

    // Servers configured?
    let net_sources: usize = ev.configs.iter().map(|c| c.network_sources().count()).sum();
    let local_clock = ev.configs.iter().any(|c| {
        c.get("local").is_some()
            || c.sources.iter().any(|s| s.is_refclock())
            || c.get("refclock").is_some()
    });
    if ev.configs.is_empty() {
        push(
            "configuration".into(),
            Verdict::new(Cause::NoServersConfigured, "No NTP configuration found (ntp.conf, chrony.conf, timesyncd.conf).", Confidence::Medium)
                .evidence("looked in /etc/ntpsec/ntp.conf, /etc/ntp.conf, /etc/chrony/chrony.conf, /etc/chrony.conf, /etc/systemd/timesyncd.conf")
                .fix("install and configure a daemon: e.g. `apt-get install chrony` and a `server <host> iburst` line"),
        );
    } else if net_sources == 0 && !local_clock {
        let files: Vec<&str> = ev
            .configs
            .iter()
            .flat_map(|c| c.files.iter().map(String::as_str))
            .collect();
        push(
            "configuration".into(),
            Verdict::new(Cause::NoServersConfigured, "The configuration names no server, pool or peer: the daemon has nothing to synchronize to.", Confidence::High)
                .evidence(format!("read {}", files.join(", ")))
                .fix("add `server <host> iburst` (ntpd, chrony) or `NTP=<host>` (timesyncd)"),
        );
    }

    // Daemon running?
    if let Some(d) = ev.configs.first().map(|c| c.daemon)
        && ev.daemons.is_empty()
    {
        let holders = ev.port123.clone().unwrap_or_default();
        let other = holders.iter().find(|h| h.comm.is_some());
        let mut v = Verdict::new(
            Cause::DaemonNotRunning,
            format!("{} is configured but not running.", d.name()),
            Confidence::High,
        )
        .evidence(format!("no {} process in this network namespace", d.name()))
        .fix(format!(
            "start it: `systemctl enable --now {}`, and read why it stopped: `journalctl -u {}`",
            unit(d),
            unit(d)
        ));
        if let Some(h) = other {
            v = v.evidence(format!(
                "udp/123 is held by {} (pid {})",
                h.comm.clone().unwrap_or_default(),
                h.pid.unwrap_or(0)
            ));
        }
        push(d.name().into(), v);
    }

    // Port 123 held by something that is not a time daemon (ntpd and chronyd
    // must bind it to serve; timesyncd never does).
    if let Some(holders) = &ev.port123
        && let Some(d) = configured_daemon(ev).filter(|d| *d != Daemon::Timesyncd)
        && let Some(h) = holders.iter().find(|h| {
            h.comm
                .as_deref()
                .is_some_and(|c| crate::explain::collect::daemon_for(c).is_none())
        })
    {
        push(
            "udp/123".into(),
            Verdict::new(
                Cause::Port123InUse,
                format!(
                    "udp/123 is held by {} (pid {}), which is not {}: the daemon cannot bind it.",
                    h.comm.clone().unwrap_or_default(),
                    h.pid.unwrap_or(0),
                    d.name()
                ),
                Confidence::High,
            )
            .evidence(format!(
                "{} bound to {}",
                h.comm.clone().unwrap_or_default(),
                h.addr
            ))
            .fix(format!("stop that process, then restart {}", d.name())),
        );
    }

    // Local firewall.
    for r in ev.firewall.iter().filter(|r| r.blocks_in || r.blocks_out) {
        push(
            "local firewall".into(),
            Verdict::new(
                Cause::LocalFirewallBlocksNtp,
                format!("A local firewall rule blocks NTP {}: `{}`.", if r.blocks_out { "going out" } else { "coming in" }, r.text),
                Confidence::High,
            )
            .evidence(format!("{}: {}", r.tool, r.text))
            .fix(if r.blocks_out {
                "delete the rule, or let NTP out before it: requests (`iptables -I OUTPUT -p udp --dport 123 -j ACCEPT`) and replies to this node's clients (`iptables -I OUTPUT -p udp --sport 123 -j ACCEPT`, or `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`)"
            } else {
                "delete the rule, or let NTP in before it: replies to this node (`iptables -I INPUT -p udp --sport 123 -j ACCEPT`) and, if it serves, requests from its clients (`iptables -I INPUT -p udp --dport 123 -j ACCEPT`)"
            }),
        );
    }

    // Each server: its name, then its probes.
    for (s, verdicts) in ev.servers.iter().zip(&judged) {
        match &s.resolved {
            Some(Err(e)) => push(
                server_subject(s),
                Verdict::new(
                    Cause::ServerNameUnresolved,
                    format!(
                        "The configured server {} does not resolve: {e}.",
                        s.source.host
                    ),
                    Confidence::High,
                )
                .evidence(format!(
                    "{} line {}: {} {}",
                    s.source.file,
                    s.source.line,
                    kind(s),
                    s.source.host
                ))
                .fix(format!(
                    "add it to /etc/hosts or DNS (`getent ahosts {}`), or use an address",
                    s.source.host
                )),
            ),
            _ => {
                for v in verdicts {
                    let mut v = v.clone();
                    v.evidence.push(format!(
                        "configured at {}:{}: {} {} {}",
                        s.source.file,
                        s.source.line,
                        kind(s),
                        s.source.host,
                        s.source.options.join(" ")
                    ));
                    push(server_subject(s), v);
                }
            }
        }
    }

    // Clock far off: every answering server agrees it is beyond the panic threshold.
    let offsets = &probe_causes;
    if !offsets.is_empty() && offsets.iter().all(|c| *c == Cause::OffsetOverPanic) {
        let makestep = ev.configs.iter().find_map(|c| c.get("makestep").cloned());
        push(
            "system clock".into(),
            Verdict::new(Cause::ClockStepNeeded, format!("Every server says this clock is over {PANIC_THRESHOLD:.0} s off: ntpd will not correct it without -g, chronyd only with makestep."), Confidence::High)
                .evidence(format!("{} servers, all offset-over-panic", offsets.len()))
                .evidence(match makestep {
                    Some(m) => format!("chrony makestep {}", m.join(" ")),
                    None => "no makestep in the chrony configuration".into(),
                })
                .fix("step once: `ntpd -gq`, or `chronyc makestep`; then the daemon keeps it"),
        );
    }

    // Servers that give good time but disagree by about half the extra
    // delay one of them has: that one sits behind an asymmetric path.
    let good: Vec<(&ServerEvidence, f64, f64)> = ev
        .servers
        .iter()
        .zip(&judged)
        .filter_map(|(s, vs)| {
            let i = vs.iter().position(|v| v.cause == Cause::Ok)?;
            let b = crate::diagnose::probe::facts(s.probes.get(i)?).best?;
            Some((s, b.value.sample.offset, b.value.sample.delay))
        })
        .collect();
    if let Some((s, f, sym)) = asymmetric_delay(&good) {
        push(
            server_subject(s),
            f.fix(format!(
                "{sym} is on a symmetric path; compare with it after any change"
            )),
        );
    }

    // The daemon's own view: synchronized?
    let view = daemon_blocks(ev);
    // A daemon that has chosen a system peer (`*` in its peers) has
    // synchronized in its own sense, even if its leap stays 3 (ntpd with
    // `disable ntp` never sets the clock, nor its leap).
    let has_sys_peer = view.iter().any(|e| {
        e.facts
            .daemon
            .as_ref()
            .is_some_and(|d| d.sys_peer.is_some())
    });
    let view_unsync = !has_sys_peer
        && view
            .iter()
            .any(|e| e.verdict.cause == Cause::DaemonNotSynchronizedYet);
    let servers_fine = !ev.servers.is_empty()
        && judged
            .iter()
            .all(|vs| vs.iter().all(|v| v.cause == Cause::Ok));
    // A daemon that hears its sources and still cannot choose one says why
    // in its own output (falsetickers): that verdict, ranked over the
    // blocks as a paste would be.
    let daemon_view = paste::overall(&view);
    let real_ntpd = ev.daemons.iter().any(|d| d.comm == "ntpd");
    if let Some(v) = daemon_view
        .clone()
        .filter(|v| v.cause == Cause::NoReply && real_ntpd && servers_fine && !ev.no_probe)
    {
        // ntpd sends from port 123; this probe sent from a random port and
        // was answered: the path drops what ntpd sends, or its answers.
        push(
            "local daemon".into(),
            Verdict::new(
                Cause::SourcePortFiltered,
                "ntpd hears nothing from its servers, yet they answer a request from a random source port: something on the path drops udp from port 123, the port ntpd sends from.",
                Confidence::Medium,
            )
            .evidence(format!("ntpd's view: {}", v.summary))
            .evidence(
                judged
                    .iter()
                    .flatten()
                    .map(|v| v.summary.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .fix(Cause::SourcePortFiltered.info().fix)
            .alternative(
                Cause::NoReply.id(),
                "a firewall on this host or the server that treats port 123 apart: `iptables -S` on both",
            ),
        );
    } else if let Some(v) = daemon_view.filter(|v| {
        !matches!(
            v.cause,
            Cause::Ok | Cause::DaemonNotSynchronizedYet | Cause::NoReply
        ) && v.cause.class() != crate::diagnose::Class::Local
    }) {
        // What the daemon's own tools say is wrong (falsetickers, a kiss,
        // an unsynchronized server), ranked over its blocks.
        push("local daemon".into(), v);
    } else if view_unsync && (servers_fine || ev.no_probe) {
        push(
            "local daemon".into(),
            Verdict::new(Cause::DaemonNotSynchronizedYet, "The daemon runs and its servers answer, but it has not selected one yet: normal for the first minutes.", Confidence::Medium)
                .evidence(view.iter().map(|e| format!("{}: {}", e.kind.title(), e.verdict.summary)).collect::<Vec<_>>().join("; "))
                .fix("wait a few polls (ntpd ~5 min, chronyd with iburst ~10 s); if it stays so, see `ntpq -p` tally codes / `chronyc selectdata`"),
        );
    }

    // Server side: does this node refuse the clients it should serve?
    for c in &ev.configs {
        for a in c.access.iter().filter(|a| a.is_default()) {
            let blocks = match c.daemon {
                Daemon::Ntpd => a.flags.iter().any(|f| f == "ignore" || f == "noserve"),
                Daemon::Chrony => !a.allow,
                Daemon::Timesyncd => false,
            };
            if blocks {
                push(
                    format!("{}:{}", a.file, a.line),
                    Verdict::new(
                        Cause::RestrictBlocksClients,
                        format!("{}:{}: the default access rule refuses time service to clients ({}).", a.file, a.line, a.flags.join(" ")),
                        Confidence::Medium,
                    )
                    .evidence(format!("default rule: {} {}", a.target, a.flags.join(" ")))
                    .fix(match c.daemon {
                        Daemon::Ntpd => "if this node serves others, allow their network: `restrict 198.51.100.0 mask 255.255.255.0 nomodify notrap` (no ignore/noserve)",
                        _ => "if this node serves others, `allow <their subnet>`",
                    }),
                );
            }
            if c.daemon == Daemon::Ntpd && a.flags.iter().any(|f| f == "noquery") {
                push(
                    format!("{}:{}", a.file, a.line),
                    Verdict::new(Cause::RestrictBlocksClients, format!("{}:{}: `noquery` on the default rule: clients are served time, but `ntpq` from them gets no answer.", a.file, a.line), Confidence::Low)
                        .evidence(format!("default rule: {}", a.flags.join(" ")))
                        .fix("only matters for remote `ntpq`; keep it unless you need that"),
                );
            }
        }
    }

    // Which findings are about a configured server.
    for f in &mut out {
        f.server = ev
            .servers
            .iter()
            .find(|s| server_subject(s) == f.subject)
            .map(|s| s.source.host.clone());
    }
    // Collectors that failed are said, not hidden.
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
    // What was checked and found fine goes on the verdict, so that blaming the
    // server also clears this node.
    let fine = fine_checks(ev);
    if let Some(first) = out.first_mut() {
        for f in fine {
            first.verdict.notes.push(f);
        }
        for (c, e) in &ev.collector_errors {
            first
                .verdict
                .notes
                .push(format!("could not check {c}: {e}"));
        }
    }
    out
}

fn unit(d: Daemon) -> &'static str {
    match d {
        Daemon::Ntpd => "ntpsec",
        Daemon::Chrony => "chrony",
        Daemon::Timesyncd => "systemd-timesyncd",
    }
}

fn kind(s: &ServerEvidence) -> &'static str {
    s.source.kind.name()
}

/// Checks that passed, in words.
fn fine_checks(ev: &NodeEvidence) -> Vec<String> {
    let mut v = vec![];
    let fatal = ev.configs.iter().any(|c| c.issues.iter().any(|i| i.fatal));
    if !ev.configs.is_empty() && !fatal {
        let n: usize = ev.configs.iter().map(|c| c.network_sources().count()).sum();
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
    if ev.firewall_read.is_some() && !ev.firewall.iter().any(|r| r.blocks_in || r.blocks_out) {
        v.push("local firewall fine: no rule drops or rejects udp/123".into());
    }
    v
}

#[cfg(test)]
mod tests;
