//! The node table: one step per kind of [`Case`], its rules in order.

use super::{Case, Daemon, DefaultAccess, PortHolder, ServerFacts};
use crate::diagnose::cause::Cause;
use crate::diagnose::table::{Rule, Step, When};
use crate::diagnose::verdict::{Confidence, Verdict};
use crate::engine::limits::PANIC_THRESHOLD;

/// A case with nothing to report: no finding (see `Case::ok_is_a_finding`).
fn nothing(_: &Case) -> Verdict {
    Verdict::new(Cause::Ok, "nothing to report", Confidence::High)
}

const NOTHING: Rule<Case> = Rule {
    names: &[Cause::Ok],
    when: When::Always,
    say: nothing,
};

/// The table, one step per case kind, in the order cases are listed.
pub static NODE_STEPS: &[Step<Case>] = &[
    Step {
        name: "daemons",
        applies: When::If(|c| matches!(c, Case::Daemons(_))),
        rules: &[
            Rule {
                names: &[Cause::TwoDaemons],
                when: When::If(|c| daemon_kinds(c) > 1),
                say: two_daemons,
            },
            NOTHING,
        ],
    },
    Step {
        name: "config-issue",
        applies: When::If(|c| matches!(c, Case::Issue(_))),
        rules: &[Rule {
            names: &[Cause::ConfigError],
            when: When::Always,
            say: config_error,
        }],
    },
    Step {
        name: "sources",
        applies: When::If(|c| matches!(c, Case::Sources { .. })),
        rules: &[
            Rule {
                names: &[Cause::NoServersConfigured],
                when: When::If(|c| matches!(c, Case::Sources { configs: 0, .. })),
                say: no_configuration,
            },
            Rule {
                names: &[Cause::OrphanMode],
                when: When::If(|c| {
                    matches!(c, Case::Sources { network_sources: 0, policy, .. }
                        if policy.orphan.is_some())
                }),
                say: orphan_mode,
            },
            Rule {
                names: &[Cause::NoServersConfigured],
                when: When::If(|c| {
                    matches!(
                        c,
                        Case::Sources {
                            network_sources: 0,
                            local_clock: false,
                            ..
                        }
                    )
                }),
                say: no_servers,
            },
            Rule {
                names: &[Cause::TooFewSources],
                when: When::If(too_few_sources),
                say: too_few,
            },
            NOTHING,
        ],
    },
    Step {
        name: "process",
        applies: When::If(|c| matches!(c, Case::Process { .. })),
        rules: &[
            Rule {
                names: &[Cause::DaemonNotRunning],
                when: When::If(|c| matches!(c, Case::Process { running: false, .. })),
                say: not_running,
            },
            NOTHING,
        ],
    },
    Step {
        name: "port-123",
        applies: When::If(|c| matches!(c, Case::Port { .. })),
        rules: &[
            Rule {
                names: &[Cause::Port123InUse],
                when: When::If(|c| intruder(c).is_some()),
                say: port_in_use,
            },
            NOTHING,
        ],
    },
    Step {
        name: "local-firewall",
        applies: When::If(|c| matches!(c, Case::Firewall(_))),
        rules: &[
            Rule {
                names: &[Cause::LocalFirewallBlocksNtp],
                when: When::If(|c| matches!(c, Case::Firewall(r) if r.blocks_in || r.blocks_out)),
                say: firewall,
            },
            NOTHING,
        ],
    },
    Step {
        name: "server-name",
        applies: When::If(|c| matches!(c, Case::Unresolved { .. })),
        rules: &[Rule {
            names: &[Cause::ServerNameUnresolved],
            when: When::Always,
            say: server_name_unresolved,
        }],
    },
    Step {
        name: "server-is-this-host",
        applies: When::If(|c| matches!(c, Case::OwnAddress { .. })),
        rules: &[Rule {
            names: &[Cause::SyncLoop],
            when: When::Always,
            say: own_address,
        }],
    },
    Step {
        name: "server-probe",
        applies: When::If(|c| matches!(c, Case::Probe { .. })),
        rules: &[Rule {
            names: Cause::ANY,
            when: When::Always,
            say: probed,
        }],
    },
    Step {
        name: "clock",
        applies: When::If(|c| matches!(c, Case::Clock { .. })),
        rules: &[
            Rule {
                names: &[Cause::ClockStepNeeded],
                when: When::If(|c| {
                    matches!(c, Case::Clock { causes, .. }
                        if !causes.is_empty() && causes.iter().all(|c| *c == Cause::OffsetOverPanic))
                }),
                say: clock_step_needed,
            },
            NOTHING,
        ],
    },
    Step {
        name: "asymmetry",
        applies: When::If(|c| matches!(c, Case::Asymmetry { .. })),
        rules: &[
            Rule {
                names: &[Cause::AsymmetricDelay],
                when: When::If(
                    |c| matches!(c, Case::Asymmetry { good } if asymmetric(good).is_some()),
                ),
                say: asymmetric_delay,
            },
            NOTHING,
        ],
    },
    Step {
        name: "daemon-view",
        applies: When::If(|c| matches!(c, Case::View { .. })),
        rules: &[
            Rule {
                names: &[Cause::SourcePortFiltered],
                when: When::If(source_port_filtered_here),
                say: source_port_filtered,
            },
            Rule {
                names: &[Cause::DaemonNotSynchronizedYet],
                when: When::If(answer_not_heard_yet),
                say: not_heard_yet,
            },
            Rule {
                names: Cause::ANY,
                when: When::If(|c| daemon_says(c).is_some()),
                say: daemon_view,
            },
            Rule {
                names: &[Cause::DaemonNotSynchronizedYet],
                when: When::If(not_yet),
                say: not_synchronized_yet,
            },
            NOTHING,
        ],
    },
    Step {
        name: "own-servers",
        applies: When::If(|c| matches!(c, Case::OwnServers { .. })),
        rules: &[Rule {
            names: &[Cause::RestrictBlocksServers],
            when: When::Always,
            say: restrict_blocks_servers,
        }],
    },
    Step {
        name: "serve",
        applies: When::If(|c| matches!(c, Case::Serve { .. })),
        rules: &[
            Rule {
                names: &[Cause::RestrictBlocksClients],
                when: When::If(refuses_service),
                say: restrict_blocks,
            },
            NOTHING,
        ],
    },
    Step {
        name: "host",
        applies: When::If(|c| matches!(c, Case::Host(_))),
        rules: super::host::RULES,
    },
    Step {
        name: "query",
        applies: When::Always,
        rules: &[
            Rule {
                names: &[Cause::RestrictNoquery],
                when: When::If(|c| {
                    matches!(c, Case::Query { daemon: Daemon::Ntpd, line }
                        if line.flags.iter().any(|f| f == "noquery"))
                }),
                say: noquery,
            },
            NOTHING,
        ],
    },
];

// ------------------------------------------------------------ the daemons

fn daemon_kinds(c: &Case) -> usize {
    let Case::Daemons(ds) = c else { return 0 };
    let mut kinds: Vec<u8> = ds.iter().map(|d| d.daemon as u8).collect();
    kinds.sort();
    kinds.dedup();
    kinds.len()
}

fn two_daemons(c: &Case) -> Verdict {
    let Case::Daemons(ds) = c else {
        unreachable!("checked by the step")
    };
    let list: Vec<String> = ds
        .iter()
        .map(|d| format!("{} (pid {})", d.comm, d.pid))
        .collect();
    Verdict::new(
        Cause::TwoDaemons,
        format!(
            "Two time daemons run at once: {}. They fight over the clock and port 123.",
            list.join(", ")
        ),
        Confidence::High,
    )
    .evidence(format!("running: {}", list.join(", ")))
    .fix("keep one: e.g. `systemctl disable --now chrony` or `systemctl disable --now systemd-timesyncd`")
}

fn not_running(c: &Case) -> Verdict {
    let Case::Process {
        daemon, holders, ..
    } = c
    else {
        unreachable!("checked by the step")
    };
    let mut v = Verdict::new(
        Cause::DaemonNotRunning,
        format!("{} is configured but not running.", daemon.name()),
        Confidence::High,
    )
    .evidence(format!(
        "no {} process in this network namespace",
        daemon.name()
    ))
    .fix(format!(
        "start it: `systemctl enable --now {}`, and read why it stopped: `journalctl -u {}`",
        daemon.unit(),
        daemon.unit()
    ));
    if let Some(h) = holders.iter().find(|h| h.comm.is_some()) {
        v = v.evidence(format!(
            "udp/123 is held by {} (pid {})",
            h.comm.clone().unwrap_or_default(),
            h.pid.unwrap_or(0)
        ));
    }
    v
}

/// A process that is no time daemon holding udp/123, which ntpd and chronyd
/// must bind to serve (timesyncd never does).
fn intruder(c: &Case) -> Option<&PortHolder> {
    let Case::Port { daemon, holders } = c else {
        return None;
    };
    if *daemon == Daemon::Timesyncd {
        return None;
    }
    holders.iter().find(|h| {
        h.comm
            .as_deref()
            .is_some_and(|c| Daemon::of_process(c).is_none())
    })
}

fn port_in_use(c: &Case) -> Verdict {
    let (Case::Port { daemon, .. }, Some(h)) = (c, intruder(c)) else {
        unreachable!("checked by the rule")
    };
    Verdict::new(
        Cause::Port123InUse,
        format!(
            "udp/123 is held by {} (pid {}), which is not {}: the daemon cannot bind it.",
            h.comm.clone().unwrap_or_default(),
            h.pid.unwrap_or(0),
            daemon.name()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "{} bound to {}",
        h.comm.clone().unwrap_or_default(),
        h.addr
    ))
    .fix(format!("stop that process, then restart {}", daemon.name()))
}

fn firewall(c: &Case) -> Verdict {
    let Case::Firewall(r) = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::LocalFirewallBlocksNtp,
        format!(
            "A local firewall rule blocks NTP {}: `{}`.",
            if r.blocks_out { "going out" } else { "coming in" },
            r.text
        ),
        Confidence::High,
    )
    .evidence(format!("{}: {}", r.tool, r.text))
    .fix(if r.blocks_out {
        "delete the rule, or let NTP out before it: this node's requests (`iptables -I OUTPUT -p udp --dport 123 -j ACCEPT`) and, if it serves, its replies to its clients' requests (`iptables -I OUTPUT -p udp --sport 123 -m conntrack --ctstate ESTABLISHED -j ACCEPT`)"
    } else {
        "delete the rule, or let NTP in before it: the replies to this node's own requests, and nothing else from port 123 (`iptables -I INPUT -p udp --sport 123 -m conntrack --ctstate ESTABLISHED -j ACCEPT`), and, if it serves, requests from its clients (`iptables -I INPUT -p udp --dport 123 -s <clients' network> -j ACCEPT`)"
    })
}

// ------------------------------------------------------------ configuration

fn config_error(c: &Case) -> Verdict {
    let Case::Issue(i) = c else {
        unreachable!("checked by the step")
    };
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
    if i.fatal {
        v
    } else {
        v.note("the daemon skips this line and goes on: a problem only if the line mattered")
    }
}

fn no_configuration(_: &Case) -> Verdict {
    Verdict::new(
        Cause::NoServersConfigured,
        "No NTP configuration found (ntp.conf, chrony.conf, timesyncd.conf).",
        Confidence::Medium,
    )
    .evidence("looked in /etc/ntpsec/ntp.conf, /etc/ntp.conf, /etc/chrony/chrony.conf, /etc/chrony.conf, /etc/systemd/timesyncd.conf")
    .fix("install and configure a daemon: e.g. `apt-get install chrony` and a `server <host> iburst` line")
}

fn no_servers(c: &Case) -> Verdict {
    let Case::Sources { files, .. } = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::NoServersConfigured,
        "The configuration names no server, pool or peer: the daemon has nothing to synchronize to.",
        Confidence::High,
    )
    .evidence(format!("read {}", files.join(", ")))
    .fix("add `server <host> iburst` (ntpd, chrony) or `NTP=<host>` (timesyncd)")
}

/// Fewer distinct unicast servers than the daemon's minimum, and no pool
/// (a pool line gives up to `maxclock` sources) nor local clock.
fn too_few_sources(c: &Case) -> bool {
    matches!(c, Case::Sources { unicast_hosts, pools: 0, local_clock: false, policy, network_sources, .. }
        if *network_sources > 0
            && policy.min_sources.as_ref().is_some_and(|m| (*unicast_hosts as u32) < m.value))
}

fn too_few(c: &Case) -> Verdict {
    let Case::Sources {
        unicast_hosts,
        policy,
        ..
    } = c
    else {
        unreachable!("checked by the step")
    };
    let m = policy.min_sources.as_ref().expect("checked");
    Verdict::new(
        Cause::TooFewSources,
        format!(
            "{}:{}: `{}` asks for {} agreeing sources, but only {unicast_hosts} server(s) are configured: the daemon never sets the clock, however well they answer.",
            m.file, m.line, m.written, m.value
        ),
        Confidence::High,
    )
    .evidence(format!("{unicast_hosts} distinct server/peer host(s), no pool line"))
    .evidence(format!("{}:{}: {}", m.file, m.line, m.written))
    .fix(Cause::TooFewSources.info().fix)
}

fn orphan_mode(c: &Case) -> Verdict {
    let Case::Sources { policy, .. } = c else {
        unreachable!("checked by the step")
    };
    let o = policy.orphan.as_ref().expect("checked");
    Verdict::new(
        Cause::OrphanMode,
        format!(
            "{}:{}: no time source, and `{}`: this node serves its own clock at stratum {} in orphan mode, by design.",
            o.file, o.line, o.written, o.value
        ),
        Confidence::High,
    )
    .evidence(format!("{}:{}: {}", o.file, o.line, o.written))
    .evidence("no server, pool or peer line")
    .fix(Cause::OrphanMode.info().fix)
}

/// A blocker only for a node that serves (orphan, a local clock) and opens
/// service to no one: on a client, a default that refuses clients is
/// hardening, not a fault.
fn refuses_service(c: &Case) -> bool {
    match c {
        Case::Serve {
            daemon,
            line,
            serves_nobody: true,
        } => match daemon {
            Daemon::Ntpd => line.flags.iter().any(|f| f == "ignore" || f == "noserve"),
            Daemon::Chrony => !line.allow,
            // Neither has access lines (OpenNTPD serves where `listen on` says).
            Daemon::Timesyncd | Daemon::Openntpd | Daemon::NtpdRs => false,
        },
        _ => false,
    }
}

fn restrict_blocks_servers(c: &Case) -> Verdict {
    let Case::OwnServers { line, servers } = c else {
        unreachable!("checked by the step")
    };
    let flag = if line.flags.iter().any(|f| f == "ignore") {
        "ignore"
    } else {
        "noserve"
    };
    Verdict::new(
        Cause::RestrictBlocksServers,
        format!(
            "{}:{}: the default access rule ({flag}) also drops the replies of this node's own server(s) {}: ntpd never hears them.",
            line.file,
            line.line,
            servers.join(", ")
        ),
        Confidence::High,
    )
    .evidence(format!(
        "default rule: {} {}",
        line.target,
        line.flags.join(" ")
    ))
    .evidence(format!(
        "no restrict line for {} (its address, or `restrict source`) without ignore/noserve",
        servers.join(", ")
    ))
    .fix(Cause::RestrictBlocksServers.info().fix)
}

fn access_line(c: &Case) -> (&Daemon, &DefaultAccess) {
    match c {
        Case::Serve { daemon, line, .. } | Case::Query { daemon, line } => (daemon, line),
        _ => unreachable!("checked by the step"),
    }
}

fn restrict_blocks(c: &Case) -> Verdict {
    let (daemon, a) = access_line(c);
    Verdict::new(
        Cause::RestrictBlocksClients,
        format!(
            "{}:{}: the default access rule refuses time service to clients ({}).",
            a.file,
            a.line,
            a.flags.join(" ")
        ),
        Confidence::Medium,
    )
    .evidence(format!("default rule: {} {}", a.target, a.flags.join(" ")))
    .fix(match daemon {
        Daemon::Ntpd => {
            "if this node serves others, allow their network: `restrict 198.51.100.0 mask 255.255.255.0 nomodify notrap` (no ignore/noserve)"
        }
        _ => "if this node serves others, `allow <their subnet>`",
    })
}

fn noquery(c: &Case) -> Verdict {
    let (_, a) = access_line(c);
    // A remark: it keeps no one from time (ntpd's `noquery` refuses mode 6
    // and 7 only, ntp_restrict.c / RES_NOQUERY), so it never leads.
    Verdict::new(
        Cause::RestrictNoquery,
        format!(
            "{}:{}: `noquery` on the default rule: other hosts' `ntpq` gets no answer; clients are served time as before.",
            a.file, a.line
        ),
        Confidence::High,
    )
    .evidence(format!("default rule: {}", a.flags.join(" ")))
    .fix(Cause::RestrictNoquery.info().fix)
}

// ------------------------------------------------------------ servers

fn configured_at(s: &ServerFacts) -> String {
    format!(
        "configured at {}:{}: {} {} {}",
        s.file,
        s.line,
        s.kind,
        s.host,
        s.options.join(" ")
    )
}

fn server_name_unresolved(c: &Case) -> Verdict {
    let Case::Unresolved { server: s, error } = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::ServerNameUnresolved,
        format!(
            "The configured server {} does not resolve: {error}.",
            s.host
        ),
        Confidence::High,
    )
    .evidence(format!("{} line {}: {} {}", s.file, s.line, s.kind, s.host))
    .fix(format!(
        "add it to /etc/hosts or DNS (`getent ahosts {}`), or use an address",
        s.host
    ))
}

/// A configured server's name that does not resolve, outside a node's
/// findings (watch --config): the same verdict.
pub fn unresolved_server(server: &ServerFacts, error: &str) -> Verdict {
    server_name_unresolved(&Case::Unresolved {
        server: server.clone(),
        error: error.to_string(),
    })
}

fn own_address(c: &Case) -> Verdict {
    let Case::OwnAddress { server: s, address } = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::SyncLoop,
        format!(
            "The configured server {} is this host itself ({address}): the daemon would take its time from its own clock.",
            s.host
        ),
        Confidence::High,
    )
    .evidence(format!("{} line {}: {} {}", s.file, s.line, s.kind, s.host))
    .evidence(format!(
        "{} resolves only to {address}, an address of this host",
        s.host
    ))
    .fix(format!(
        "name a server that is another host in place of {} (a copied config, or a name in /etc/hosts pointing here)",
        s.host
    ))
}

fn probed(c: &Case) -> Verdict {
    let Case::Probe { server, verdict } = c else {
        unreachable!("checked by the step")
    };
    let mut v = verdict.clone();
    v.evidence.push(configured_at(server));
    v
}

fn clock_step_needed(c: &Case) -> Verdict {
    let Case::Clock { causes, makestep } = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::ClockStepNeeded,
        format!(
            "Every server says this clock is over {PANIC_THRESHOLD:.0} s off: ntpd will not correct it without -g, chronyd only with makestep."
        ),
        Confidence::High,
    )
    .evidence(format!("{} servers, all offset-over-panic", causes.len()))
    .evidence(match makestep {
        Some(m) => format!("chrony makestep {}", m.join(" ")),
        None => "no makestep in the chrony configuration".into(),
    })
    .fix("step once: `ntpd -gq`, or `chronyc makestep`; then the daemon keeps it")
}

/// Thresholds of the asymmetric-delay test: the offset difference must be
/// over 2 ms and within 0.3-1.2 × half the extra round trip.
const ASYM_MIN: f64 = 0.002;
const ASYM_LOW: f64 = 0.3;
const ASYM_HIGH: f64 = 1.2;

/// What the asymmetric-delay test found: indexes into `good`.
pub(super) struct Asymmetric {
    pub server: usize,
    pub reference: usize,
}

/// Among servers that give good time, the one whose offset differs from
/// the lowest-delay server's by about half the extra round trip it has. An
/// offset error from path asymmetry is at most half the round trip, and no
/// exchange with that server alone shows it; a server on a short,
/// symmetric path does.
pub(super) fn asymmetric(good: &[(ServerFacts, f64, f64)]) -> Option<Asymmetric> {
    let (r, (_, r_off, r_del)) = good
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.2.total_cmp(&b.1.2))?;
    good.iter()
        .enumerate()
        .filter(|(i, _)| *i != r)
        .filter_map(|(i, (_, off, del))| {
            let half = (del - r_del) / 2.0;
            let diff = off - r_off;
            (diff.abs() > ASYM_MIN
                && diff.abs() >= ASYM_LOW * half
                && diff.abs() <= ASYM_HIGH * half)
                .then_some((i, diff))
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, _)| Asymmetric {
            server: i,
            reference: r,
        })
}

fn asymmetric_delay(c: &Case) -> Verdict {
    let Case::Asymmetry { good } = c else {
        unreachable!("checked by the step")
    };
    let a = asymmetric(good).expect("checked by the rule");
    let (s, off, del) = &good[a.server];
    let (rs, r_off, r_del) = &good[a.reference];
    let half = (del - r_del) / 2.0;
    let diff = off - r_off;
    let ms = |x: f64| format!("{:+.1} ms", x * 1000.0);
    let preferred = if s.has("prefer") {
        " It is configured `prefer`, so this clock follows it."
    } else {
        ""
    };
    Verdict::new(
        Cause::AsymmetricDelay,
        format!(
            "{} is {} off from {}, about half of the {:.1} ms more round trip it has: its path is asymmetric, and its offset is wrong by about that much.{preferred}",
            s.host,
            ms(diff),
            rs.host,
            (del - r_del) * 1000.0
        ),
        Confidence::Medium,
    )
    .evidence(format!(
        "{}: offset {}, round trip {:.3} ms",
        s.host,
        ms(*off),
        del * 1000.0
    ))
    .evidence(format!(
        "{}: offset {}, round trip {:.3} ms",
        rs.host,
        ms(*r_off),
        r_del * 1000.0
    ))
    .evidence(format!(
        "difference {}; half the extra round trip {}",
        ms(diff),
        ms(half)
    ))
    .fix(Cause::AsymmetricDelay.info().fix)
    .alternative(
        Cause::Falseticker,
        "the server's clock is wrong",
        "a server with a wrong clock differs by any amount, not by half its extra delay; probe both again from another host",
    )
    .fix(format!(
        "{} is on a symmetric path; compare with it after any change",
        rs.host
    ))
}

// ------------------------------------------------------------ the daemon's view

/// The daemon (ntpd or another, as `ntpd`) hears nothing from its
/// servers, which answer ntpdiag's probes.
fn unheard_here(c: &Case, ntpd: bool) -> bool {
    matches!(c, Case::View { overall: Some(v), real_ntpd, servers_fine: true, no_probe: false, .. }
        if v.cause == Cause::NoReply && *real_ntpd == ntpd)
}

/// The daemon's own word and the probes' summaries of such a view.
fn unheard_parts(c: &Case) -> (&Verdict, &[String]) {
    match c {
        Case::View {
            overall: Some(v),
            probe_summaries,
            ..
        } => (v, probe_summaries),
        _ => unreachable!("checked by the rule"),
    }
}

/// ntpd sends from port 123; the probes sent from a random port and were
/// answered: the path drops what ntpd sends, or its answers.
fn source_port_filtered_here(c: &Case) -> bool {
    unheard_here(c, true)
}

fn source_port_filtered(c: &Case) -> Verdict {
    let (v, probe_summaries) = unheard_parts(c);
    // An inference: nothing here sent from port 123 (ntpd holds it), so
    // it is said as a hypothesis, with the tests that would confirm it.
    Verdict::new(
        Cause::SourcePortFiltered,
        "Not tested, inferred: ntpd hears nothing from its servers, yet they answer ntpdiag's requests from a random source port. Either something on the path drops udp from port 123, the port ntpd sends from, or the servers began to answer after ntpd's last poll (a fix just made).",
        Confidence::Low,
    )
    .evidence(format!("ntpd's view: {}", v.summary))
    .evidence(probe_summaries.join("; "))
    .evidence("no request was sent from port 123: ntpd holds it")
    .fix("to confirm: watch reach after ntpd's next poll (`ntpq -p`: the when and poll columns; reach leaves 0 if the servers answer now), or stop ntpd and run `ntpdiag probe --source-port 123 <server>`")
    .fix(Cause::SourcePortFiltered.info().fix)
    .alternative(
        Cause::DaemonNotSynchronizedYet,
        "the servers answer since ntpd's last poll (a firewall just opened): nothing is wrong any more",
        "reach becomes non-zero at ntpd's next poll",
    )
    .alternative(
        Cause::NoReply,
        "a firewall on this host or the server that treats port 123 apart",
        "`iptables -S` on both",
    )
}

/// The daemon (one that does not send from port 123) hears nothing from
/// its servers, which answer ntpdiag now: a state that changed since its
/// last poll, or a difference nothing here tested.
fn answer_not_heard_yet(c: &Case) -> bool {
    unheard_here(c, false)
}

fn not_heard_yet(c: &Case) -> Verdict {
    let (v, probe_summaries) = unheard_parts(c);
    Verdict::new(
        Cause::DaemonNotSynchronizedYet,
        "The servers answer ntpdiag's requests now, but the daemon has heard nothing from them: either they began to answer after its last poll (a fix just made), or its requests fare otherwise than ntpdiag's. Nothing here tells which.",
        Confidence::Low,
    )
    .evidence(format!("the daemon's view: {}", v.summary))
    .evidence(probe_summaries.join("; "))
    .fix("to confirm: look again after the daemon's next poll (`chronyc sources`: Reach and LastRx; `chronyc burst 4/4` polls at once); if it still hears nothing, capture its traffic (`ntpdiag capture any --duration 60s`)")
}

/// What the daemon's own tools say is wrong (falsetickers, a kiss, an
/// unsynchronized server), ranked over its blocks.
fn daemon_says(c: &Case) -> Option<&Verdict> {
    let Case::View {
        overall: Some(v), ..
    } = c
    else {
        return None;
    };
    (!matches!(
        v.cause,
        Cause::Ok | Cause::DaemonNotSynchronizedYet | Cause::NoReply
    ) && v.cause.class() != crate::diagnose::Class::Local)
        .then_some(v)
}

fn daemon_view(c: &Case) -> Verdict {
    daemon_says(c).expect("checked by the rule").clone()
}

/// A daemon that has chosen a system peer (`*` in its peers) has
/// synchronized in its own sense, even if its leap stays 3 (ntpd with
/// `disable ntp` never sets the clock, nor its leap).
fn not_yet(c: &Case) -> bool {
    let Case::View {
        blocks,
        servers_fine,
        no_probe,
        ..
    } = c
    else {
        return false;
    };
    !blocks.iter().any(|b| b.sys_peer)
        && blocks
            .iter()
            .any(|b| b.verdict.cause == Cause::DaemonNotSynchronizedYet)
        && (*servers_fine || *no_probe)
}

fn not_synchronized_yet(c: &Case) -> Verdict {
    let Case::View { blocks, .. } = c else {
        unreachable!("checked by the step")
    };
    Verdict::new(
        Cause::DaemonNotSynchronizedYet,
        "The daemon runs and its servers answer, but it has not selected one yet: normal for the first minutes.",
        Confidence::Medium,
    )
    .evidence(
        blocks
            .iter()
            .map(|b| format!("{}: {}", b.title, b.verdict.summary))
            .collect::<Vec<_>>()
            .join("; "),
    )
    .fix("wait a few polls (ntpd ~5 min, chronyd with iburst ~10 s); if it stays so, see `ntpq -p` tally codes / `chronyc selectdata`")
}
