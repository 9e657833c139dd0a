//! `ntpdiag watch [SERVER…]`: the client engine polling real servers, and
//! for every source whether it is used and why not, over time.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::exit;
use crate::diagnose::watch as judge;
use crate::diagnose::{Cause, Class};
use crate::engine::client::{Engine, Profile, Rules, ServerSpec};
use crate::net::clock;
use crate::net::resolve::{Family, HostSpec, resolve};
use crate::net::watch::{Limits, Report, run};

const WATCH_HELP: &str = "\
Polls each server as a daemon would (RFC 5905's client: poll intervals, reach,
clock filter, packet tests, selection, cluster, combine) and shows, for every
source, whether it is used and why not: the value that failed next to the
threshold it failed, under the rules of ntpd (ntpsec, the default), chrony or
the RFC text. Nothing here touches the clock: the update a daemon would make
is computed and shown.

The table is ntpq -p's (tally, refid, st, when, poll, reach, delay, offset,
jitter) plus a strip of the last polls (+ answered, r rejected by a packet
test, k Kiss-o'-Death, ! ICMP error, a reply from another address, m not NTP,
e not sent, . silent) and WHY: a cause id (`ntpdiag causes ID`) and its
numbers. The reach register counts usable replies, as ntpd and chronyd do;
`heard` counts every reply, so a server that answers unsynchronized shows
reach 0 but heard 377.

Sources configured `nts` (or given with --nts) are checked once with NTS
first (as `probe --nts`); one whose NTS fails is left out with its cause.
The others are polled through NTS as a daemon polls them: a cookie jar from
NTS-KE, each request carrying a cookie, only authenticated replies (and the
NTSN kiss, which empties the jar) reaching the engine; a failed key exchange
is retried after 60 s, and nothing is sent meanwhile.

It also marks jumps of this clock that it did not expect (a `clock-jump`
event): a step seen in the clocks themselves (CLOCK_REALTIME moved against
CLOCK_MONOTONIC; with CLOCK_BOOTTIME grown as much, a suspend) names
other-discipline when no time daemon runs here, or says which one may have
made it; two or more sources moving by the same half second or more at once,
with no step seen here, name vm-clock-jump (a clock that stood still: a
paused or migrated VM).";

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RulesArg {
    Ntpd,
    Chrony,
    Rfc,
}

/// Watches NTP sources over time: which are used, and why not.
#[derive(Args, Debug, Clone)]
#[command(
    long_about = WATCH_HELP,
    after_help = "Exit status:\n  0  a system peer was chosen\n  1  error\n  2  usage\n  3-7  no system peer: the class of the system's reason (see `ntpdiag --help`)"
)]
pub struct WatchArgs {
    /// Servers: name, address, name:port or [IPv6]:port.
    #[arg(value_name = "SERVER")]
    pub servers: Vec<String>,

    /// Take the servers and their options (iburst, minpoll, maxpoll, prefer,
    /// noselect, pool) from ntp.conf, chrony.conf or timesyncd.conf; without
    /// FILE, this node's.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    pub config: Option<String>,

    /// Whose rules to apply.
    #[arg(long, value_enum, default_value_t = RulesArg::Ntpd)]
    pub rules: RulesArg,

    /// Stop after this long (e.g. 10m); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many snapshots (poll rounds).
    #[arg(long)]
    pub count: Option<u64>,

    /// Poll no faster than 2^N s (3-17).
    #[arg(long, value_parser = clap::value_parser!(i8).range(3..=17))]
    pub minpoll: Option<i8>,

    /// Poll no slower than 2^N s (3-17).
    #[arg(long, value_parser = clap::value_parser!(i8).range(3..=17))]
    pub maxpoll: Option<i8>,

    /// Servers given on the command line start without iburst.
    #[arg(long)]
    pub no_iburst: bool,

    /// -4 / -6: only that address family.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    #[arg(short = '6')]
    pub ipv6: bool,

    /// Serve OpenMetrics (Prometheus) on ADDR, e.g. 127.0.0.1:9123 (port 0:
    /// any free port, named on stderr and in a {"type":"metrics"} line).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Servers given on the command line use NTS (RFC 8915), as sources
    /// configured `nts` do: each is checked once with NTS, left out with the
    /// NTS cause when that fails, and polled through NTS otherwise.
    #[arg(long)]
    pub nts: bool,

    /// Trust this CA certificate (PEM) for --nts servers, besides the
    /// system's. Configured sources use their configuration's trust.
    #[arg(long = "nts-ca", value_name = "FILE", requires = "nts")]
    pub nts_ca: Vec<std::path::PathBuf>,

    /// JSON lines on stdout, each with "type" (event, snapshot, unresolved,
    /// nts, nts-stats, metrics, end) and schema_version (schema in
    /// doc/json.md).
    #[arg(long)]
    pub json: bool,
}

impl RulesArg {
    fn profile(self) -> Profile {
        match self {
            RulesArg::Ntpd => Profile::Ntpd,
            RulesArg::Chrony => Profile::Chrony,
            RulesArg::Rfc => Profile::Rfc,
        }
    }
}

/// The servers from a configuration file (or this node's), with options.
use crate::explain::sources::{NtsFor, from_config, source_spec};
/// An NTS run and the name the server's certificate must carry.
type NtsName = Option<(Arc<crate::net::nts::NtsRun>, String)>;

pub fn run_watch(args: &WatchArgs) -> anyhow::Result<u8> {
    let profile = args.rules.profile();
    let mut rules = Rules::of(profile);
    let family = if args.ipv4 {
        Family::V4
    } else if args.ipv6 {
        Family::V6
    } else {
        Family::Any
    };
    let cli_nts: NtsFor = if args.nts {
        Some(Arc::new(crate::net::nts::NtsRun {
            trust: crate::net::nts::tls::trust(&args.nts_ca, true)
                .map_err(|e| anyhow::anyhow!("--nts-ca {e}"))?,
            port: crate::net::nts::KE_PORT,
        }))
    } else {
        None
    };
    // (label, spec, addresses wanted, NTS run and the name its certificate must carry)
    let mut wanted: Vec<(String, ServerSpec, usize, NtsName)> = vec![];
    let mut unresolved: Vec<(String, crate::diagnose::Verdict)> = vec![];
    // A name that does not resolve: the probe's verdict for a name given
    // here, the node's for a configured server's.
    let mut push = |label: String,
                    host: &str,
                    port: u16,
                    mut base: ServerSpec,
                    many: usize,
                    nts: NtsFor,
                    configured: Option<&crate::explain::conf::Source>| {
        match resolve(host, port, family, Duration::from_secs(5)) {
            Ok(addrs) => {
                for a in addrs.into_iter().take(many) {
                    base.addr = a;
                    wanted.push((
                        label.clone(),
                        base.clone(),
                        many,
                        nts.clone().map(|r| (r, host.to_string())),
                    ));
                }
            }
            Err(e) => unresolved.push((
                label,
                match configured {
                    Some(src) => crate::diagnose::node::unresolved_server(
                        &crate::explain::node::server_facts(
                            &crate::explain::node::ServerEvidence {
                                source: src.clone(),
                                resolved: Some(Err(e.clone())),
                                probes: vec![],
                            },
                        ),
                        &e,
                    ),
                    None => crate::diagnose::probe::name_unresolved(host, &e),
                },
            )),
        }
    };
    let placeholder: SocketAddr = "0.0.0.0:123".parse().expect("an address");
    for h in &args.servers {
        let spec = HostSpec::parse(h).map_err(|e| anyhow::anyhow!("{h}: {e}"))?;
        let mut s = ServerSpec::new(h.clone(), placeholder);
        s.iburst = !args.no_iburst;
        s.minpoll = args.minpoll;
        s.maxpoll = args.maxpoll;
        push(
            h.clone(),
            &spec.host,
            spec.port.unwrap_or(123),
            s,
            1,
            cli_nts.clone(),
            None,
        );
    }
    if let Some(file) = &args.config {
        let c = from_config(file)?;
        for (_, src, nts) in c.sources {
            let (s, many) = source_spec(&src, args.minpoll, args.maxpoll);
            push(src.host.clone(), &src.host, 123, s, many, nts, Some(&src));
        }
        // The daemon's own policy, as it would apply it (tos, minsources).
        c.policy.apply(&mut rules);
    }
    let json = args.json;
    let mut out = std::io::stdout().lock();
    for (name, v) in &unresolved {
        if json {
            writeln!(
                out,
                "{}",
                crate::schema::line(
                    serde_json::json!({"type": "unresolved", "name": name, "cause": v.cause.id(), "why": v.summary, "confidence": v.confidence.id(), "fix": v.fix})
                )
            )?;
        } else {
            writeln!(out, "{name}: [{}] {}", v.cause.id(), v.summary)?;
        }
    }
    // NTS sources: checked once with NTS; a daemon gets no time from one
    // whose NTS fails, so it is left out with its cause.
    let checked = crate::net::nts::check_sources(
        &wanted
            .iter()
            .map(|(_, spec, _, nts)| {
                (
                    spec.addr,
                    nts.as_ref().map(|(r, h)| (r.as_ref(), h.as_str())),
                )
            })
            .collect::<Vec<_>>(),
    );
    let mut nts_failed: Option<Cause> = None;
    let mut kept = Vec::new();
    for ((label, spec, many, nts), v) in wanted.into_iter().zip(checked) {
        if let Some(v) = &v {
            let why = format!("{}: {}", spec.addr, v.summary);
            if json {
                writeln!(
                    out,
                    "{}",
                    crate::schema::line(
                        serde_json::json!({"type": "nts", "name": label, "address": spec.addr.to_string(), "cause": v.cause.id(), "why": why, "evidence": v.evidence})
                    )
                )?;
            } else {
                writeln!(out, "{label}: NTS [{}] {why}", v.cause.id())?;
            }
            if v.cause.class() != Class::Ok {
                nts_failed.get_or_insert(v.cause);
                continue;
            }
        }
        kept.push((label, spec, many, nts));
    }
    let wanted = kept;
    if wanted.is_empty() {
        if let Some(c) = nts_failed {
            if json {
                writeln!(
                    out,
                    "{}",
                    crate::schema::line(
                        serde_json::json!({"type": "end", "exit_code": c.class().exit_code()})
                    )
                )?;
            }
            return Ok(c.class().exit_code());
        }
        if args.servers.is_empty() && args.config.is_none() {
            eprintln!("ntpdiag watch: name servers to watch, or --config");
            return Ok(exit::USAGE);
        }
        let code = unresolved
            .first()
            .map_or(exit::ERROR, |(_, v)| v.cause.class().exit_code());
        if json {
            writeln!(
                out,
                "{}",
                crate::schema::line(serde_json::json!({"type": "end", "exit_code": code}))
            )?;
        }
        return Ok(code);
    }
    let start = Instant::now();
    let mut engine = Engine::new(rules.clone(), start, clock::precision());
    // A step of this clock may be a daemon's own: say which run here.
    engine.local_daemons = crate::explain::collect::daemons()
        .unwrap_or_default()
        .iter()
        .map(|d| format!("{} (pid {})", d.comm, d.pid))
        .collect();
    let n = wanted.len().max(1);
    // NTS sources are polled through NTS, one jar each (index = association).
    let mut jars: Vec<Option<crate::net::nts::Jar>> = Vec::with_capacity(n);
    let mut jar_names: Vec<(String, SocketAddr)> = Vec::new();
    for (i, (label, spec, _, nts)) in wanted.into_iter().enumerate() {
        jars.push(nts.map(|(run, host)| {
            jar_names.push((label.clone(), spec.addr));
            let ke = SocketAddr::new(spec.addr.ip(), run.port);
            crate::net::nts::Jar::new(&host, ke, run, Duration::from_secs(3))
        }));
        // Spread the first polls over the first second.
        engine.add(spec, start, Duration::from_millis((i * 1000 / n) as u64));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let limits = Limits {
        duration: args.duration,
        count: args.count,
        stop: &stop,
    };
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(crate::net::metrics::Metrics::new()));
    let _endpoint = match args.metrics {
        Some(a) => {
            let ep = crate::net::metrics::serve(a, metrics.clone())
                .map_err(|e| anyhow::anyhow!("--metrics {a}: {e}"))?;
            eprintln!("ntpdiag watch: metrics on http://{}/metrics", ep.addr);
            if json {
                writeln!(
                    out,
                    "{}",
                    crate::schema::line(
                        serde_json::json!({"type": "metrics", "address": ep.addr.to_string()})
                    )
                )?;
            }
            Some(ep)
        }
        None => None,
    };
    drop(out);
    let tty = std::io::stdout().is_terminal() && !json;
    let last = run(&mut engine, &limits, &mut jars, |r| {
        let line = match r {
            Report::Event(ev, snap) => {
                if json {
                    crate::schema::event_json(ev, snap, &rules).to_string()
                } else {
                    crate::schema::event_text(ev, snap, &rules)
                }
            }
            Report::Snapshot(snap) => {
                if let Ok(mut m) = metrics.lock() {
                    m.update(snap, &rules);
                }
                if json {
                    serde_json::to_string(&crate::schema::snapshot_json(snap, &rules))
                        .unwrap_or_default()
                } else if tty {
                    format!("\x1b[2J\x1b[H{}", crate::schema::table(snap, &rules))
                } else {
                    crate::schema::table(snap, &rules)
                }
            }
        };
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    });
    let cause = judge::system(&last, &rules).cause;
    let code = if last.system.peer.is_some() {
        exit::OK
    } else {
        cause.class().exit_code()
    };
    let mut out = std::io::stdout().lock();
    let stats = jars.iter().flatten().map(|j| j.stats());
    for ((name, addr), s) in jar_names.iter().zip(stats) {
        if json {
            writeln!(
                out,
                "{}",
                crate::schema::line(
                    serde_json::json!({"type": "nts-stats", "name": name, "address": addr.to_string(),
                    "key_exchanges": s.key_exchanges, "key_exchanges_failed": s.key_exchanges_failed,
                    "sent": s.sent, "authenticated": s.authenticated, "ntsn": s.ntsn,
                    "rejected": s.rejected, "unsent": s.unsent, "last_failure": s.last_failure})
                )
            )?;
        } else {
            writeln!(
                out,
                "{name}: NTS: {} key exchange(s) ({} failed), {} request(s), {} authenticated, {} NTSN, {} rejected, {} not sent (no cookie){}",
                s.key_exchanges,
                s.key_exchanges_failed,
                s.sent,
                s.authenticated,
                s.ntsn,
                s.rejected,
                s.unsent,
                s.last_failure
                    .as_ref()
                    .map(|f| format!("; last failure: {f}"))
                    .unwrap_or_default()
            )?;
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&crate::schema::snapshot_json(&last, &rules))?
        )?;
        writeln!(
            out,
            "{}",
            crate::schema::line(serde_json::json!({"type": "end", "exit_code": code}))
        )?;
    } else {
        writeln!(
            out,
            "\nlast snapshot:\n{}",
            crate::schema::table(&last, &rules)
        )?;
    }
    Ok(code)
}
