//! `ntpdiag watch [SERVER…]`: the client engine polling real servers, and
//! for every source whether it is used and why not, over time.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use colored::Colorize;
use serde::{Deserialize, Serialize};

use super::exit;
use crate::diagnose::watch as judge;
use crate::diagnose::{Cause, Class};
use crate::engine::client::{
    Engine, Event, Mark, Profile, Rules, ServerSpec, Snapshot, SourceView, Status,
};
use crate::explain::conf::{Config, Daemon, SourceKind};
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
is retried after 60 s, and nothing is sent meanwhile.";

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

    /// JSON lines on stdout, each with "type": event, snapshot, unresolved,
    /// nts, nts-stats, metrics, end.
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

/// One source in a snapshot line.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SourceJson {
    pub address: String,
    pub name: String,
    pub tally: String,
    /// Octal, as ntpq prints it: usable replies.
    pub reach: String,
    /// Octal: every reply.
    pub heard: String,
    pub cause: String,
    pub why: String,
    /// The verdict's confidence: low, medium or high.
    #[serde(default)]
    pub confidence: String,
    /// What to do, most likely first (the cause table's fix).
    #[serde(default)]
    pub fix: Vec<String>,
    pub offset_s: f64,
    pub delay_s: f64,
    pub jitter_s: f64,
    pub root_distance_s: f64,
    pub stratum: Option<u8>,
    pub refid: Option<String>,
    pub poll: i8,
    pub when_s: Option<f64>,
    pub polls: u64,
    pub received: u64,
    pub usable: u64,
    /// ntpsec's flash bits, and their names.
    pub flash: u16,
    pub flash_names: Vec<String>,
    /// The last polls, oldest first, one character each (see --help).
    pub strip: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SystemJson {
    pub peer: Option<String>,
    pub offset_s: f64,
    pub jitter_s: f64,
    pub cause: String,
    pub why: String,
    #[serde(default)]
    pub confidence: String,
    #[serde(default)]
    pub fix: Vec<String>,
    /// What a daemon would do now: none | slew | step | panic.
    pub action: String,
    pub candidates: usize,
    pub truechimers: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SnapshotJson {
    #[serde(rename = "type")]
    pub kind: String,
    /// The machine that printed it (for `ntpdiag fleet`).
    #[serde(default)]
    pub node: Option<super::json::NodeJson>,
    pub t_s: f64,
    pub rules: String,
    pub sources: Vec<SourceJson>,
    pub system: SystemJson,
}

fn octal(r: u8) -> String {
    format!("{r:o}")
}

fn strip(s: &SourceView) -> String {
    s.strip.iter().map(Mark::symbol).collect()
}

fn source_json(s: &SourceView, rules: &Rules, snap: &Snapshot) -> SourceJson {
    let v = judge::source(s, rules, snap);
    let (cause, why) = (v.cause, v.summary.clone());
    SourceJson {
        address: s.addr.to_string(),
        name: s.name.clone(),
        tally: s.tally.to_string(),
        reach: octal(s.reach),
        heard: octal(s.heard),
        cause: cause.id(),
        why,
        confidence: v.confidence.id().into(),
        fix: v.fix.clone(),
        offset_s: s.offset,
        delay_s: s.delay,
        jitter_s: s.jitter,
        root_distance_s: s.root_distance,
        stratum: s.stratum,
        refid: s.refid.clone(),
        poll: s.hpoll,
        when_s: s.when,
        polls: s.polls,
        received: s.received,
        usable: s.usable,
        flash: s.flash,
        flash_names: crate::engine::client::assoc::flash::names(s.flash)
            .into_iter()
            .map(String::from)
            .collect(),
        strip: strip(s),
    }
}

pub fn snapshot_json(snap: &Snapshot, rules: &Rules) -> SnapshotJson {
    let v = judge::system(snap, rules);
    let (cause, why) = (v.cause, v.summary.clone());
    SnapshotJson {
        kind: "snapshot".into(),
        node: Some(super::json::NodeJson::here()),
        t_s: snap.t,
        rules: rules.profile.id().into(),
        sources: snap
            .sources
            .iter()
            .map(|s| source_json(s, rules, snap))
            .collect(),
        system: SystemJson {
            peer: snap
                .system
                .peer
                .and_then(|i| snap.sources.get(i))
                .map(|s| s.name.clone()),
            offset_s: snap.system.offset,
            jitter_s: snap.system.jitter,
            cause: cause.id(),
            why,
            confidence: v.confidence.id().into(),
            fix: v.fix.clone(),
            action: match snap.system.action {
                crate::engine::client::ClockAction::None => "none",
                crate::engine::client::ClockAction::Slew(_) => "slew",
                crate::engine::client::ClockAction::Step(_) => "step",
                crate::engine::client::ClockAction::Panic(_) => "panic",
            }
            .into(),
            candidates: snap.system.candidates,
            truechimers: snap.system.truechimers,
        },
    }
}

fn fmt_ms(v: f64) -> String {
    format!("{:.3}", v * 1000.0)
}

/// A filter value in ms, or "-" before the first usable sample.
fn num(s: &SourceView, v: f64) -> String {
    if s.usable == 0 { "-".into() } else { fmt_ms(v) }
}

/// The table, as ntpq -p with the strip and WHY.
pub fn table(snap: &Snapshot, rules: &Rules) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<17}{:<16}{:>3} {:>5} {:>4} {:>4} {:>4} {:>9} {:>9} {:>8}  {:<16} WHY\n",
        "     remote",
        "refid",
        "st",
        "when",
        "poll",
        "rch",
        "hrd",
        "delay",
        "offset",
        "jitter",
        "strip"
    ));
    for s in &snap.sources {
        let v = judge::source(s, rules, snap);
        let (cause, why) = (v.cause, v.summary.clone());
        let name: String = s.name.chars().take(15).collect();
        let line = format!(
            "{}{:<16}{:<16}{:>3} {:>5} {:>4} {:>4} {:>4} {:>9} {:>9} {:>8}  {:<16} {}: {}",
            s.tally,
            name,
            s.refid.clone().unwrap_or_else(|| ".INIT.".into()),
            s.stratum.unwrap_or(16),
            s.when.map_or("-".into(), |w| format!("{w:.0}")),
            1u64 << s.hpoll.clamp(0, 17),
            octal(s.reach),
            octal(s.heard),
            num(s, s.delay),
            num(s, s.offset),
            num(s, s.jitter),
            strip(s),
            cause.id(),
            why
        );
        let line = match cause.class() {
            Class::Ok => line.normal(),
            Class::Silence | Class::Refused => line.red(),
            _ => line.yellow(),
        };
        out.push_str(&format!("{line}\n"));
    }
    let v = judge::system(snap, rules);
    let (cause, why) = (v.cause, v.summary.clone());
    out.push_str(&format!(
        "system ({} rules): offset {} ms, jitter {} ms — {} [{}]\n",
        rules.profile.id(),
        fmt_ms(snap.system.offset),
        fmt_ms(snap.system.jitter),
        why,
        cause.id()
    ));
    out
}

/// A status in a word or two, as events print it.
pub fn status_word(s: &Status) -> String {
    match s {
        Status::Unreachable => "unreachable".into(),
        Status::Stopped(k) => format!("stopped by KoD {}", k.text()),
        Status::Unsynchronized { .. } => "unsynchronized".into(),
        Status::TooFar { .. } => "too far".into(),
        Status::Loop => "loop".into(),
        Status::Noselect => "noselect".into(),
        Status::Falseticker => "falseticker".into(),
        Status::Outlier => "outlier".into(),
        Status::Backup => "backup".into(),
        Status::Candidate => "candidate".into(),
        Status::SystemPeer => "system peer".into(),
    }
}

fn event_json(ev: &Event, snap: &Snapshot, rules: &Rules) -> serde_json::Value {
    match ev {
        Event::Source { t, index, from, to } => {
            let s = &snap.sources[*index];
            let v = judge::source(s, rules, snap);
            let (cause, why) = (v.cause, v.summary.clone());
            serde_json::json!({
                "type": "event", "t_s": t, "source": s.name, "address": s.addr.to_string(),
                "from": {"tally": from.tally().to_string(), "state": status_word(from)},
                "to": {"tally": to.tally().to_string(), "state": status_word(to)},
                "cause": cause.id(), "why": why,
            })
        }
        Event::SystemPeer { t, from, to } => {
            let name =
                |i: &Option<usize>| i.and_then(|i| snap.sources.get(i)).map(|s| s.name.clone());
            let v = judge::system(snap, rules);
            let (cause, why) = (v.cause, v.summary.clone());
            serde_json::json!({
                "type": "event", "t_s": t, "system": true,
                "peer_from": name(from), "peer_to": name(to), "cause": cause.id(), "why": why,
            })
        }
    }
}

fn event_text(ev: &Event, snap: &Snapshot, rules: &Rules) -> String {
    match ev {
        Event::Source { t, index, from, to } => {
            let s = &snap.sources[*index];
            let v = judge::source(s, rules, snap);
            let (cause, why) = (v.cause, v.summary.clone());
            format!(
                "+{t:.1}s {}: {} → {} [{}] {why}",
                s.name,
                status_word(from),
                status_word(to),
                cause.id()
            )
        }
        Event::SystemPeer { t, from, to } => {
            let name = |i: &Option<usize>| {
                i.and_then(|i| snap.sources.get(i))
                    .map_or("none".to_string(), |s| s.name.clone())
            };
            format!("+{t:.1}s system peer: {} → {}", name(from), name(to))
        }
    }
}

/// The servers from a configuration file (or this node's), with options.
/// A source's NTS run: whom to trust, the KE port.
type NtsFor = Option<Arc<crate::net::nts::NtsRun>>;
/// An NTS run and the name the server's certificate must carry.
type NtsName = Option<(Arc<crate::net::nts::NtsRun>, String)>;

fn from_config(file: &str) -> anyhow::Result<Vec<(String, crate::explain::conf::Source, NtsFor)>> {
    let cfgs: Vec<Config> = if file.is_empty() {
        crate::explain::collect::configs(Path::new("/"), false)
    } else {
        let path =
            std::fs::canonicalize(file).map_err(|e| anyhow::anyhow!("--config {file}: {e}"))?;
        let shown = path.display().to_string();
        let daemon = if shown.contains("chrony") {
            Daemon::Chrony
        } else if shown.contains("timesyncd") {
            Daemon::Timesyncd
        } else {
            Daemon::Ntpd
        };
        vec![
            crate::explain::collect::load(Path::new("/"), &shown, daemon)
                .ok_or_else(|| anyhow::anyhow!("--config {file}: cannot read it"))?,
        ]
    };
    let sources: Vec<_> = cfgs
        .iter()
        .flat_map(|c| {
            let n = c.nts();
            let run: NtsFor = (!n.sources.is_empty()).then(|| {
                Arc::new(crate::net::nts::NtsRun {
                    trust: crate::net::nts::tls::trust_from_config(
                        &n.trusted_certs,
                        !n.no_system_certs,
                        Path::new("/"),
                    ),
                    port: crate::net::nts::KE_PORT,
                })
            });
            c.network_sources()
                .map(|s| {
                    let r = if s.has("nts") { run.clone() } else { None };
                    (c.daemon.name().to_string(), s.clone(), r)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if sources.is_empty() {
        anyhow::bail!("no server, pool or peer line found in the configuration");
    }
    Ok(sources)
}

fn opt_i8(s: &crate::explain::conf::Source, key: &str) -> Option<i8> {
    let i = s.options.iter().position(|o| o == key)?;
    s.options.get(i + 1)?.parse().ok()
}

/// A configured source as an engine association (its address still to be
/// filled in), and how many addresses it takes (4 for a pool, as ntpd's
/// first round). `minpoll`/`maxpoll` override the line's.
pub fn source_spec(
    src: &crate::explain::conf::Source,
    minpoll: Option<i8>,
    maxpoll: Option<i8>,
) -> (ServerSpec, usize) {
    let mut s = ServerSpec::new(src.host.clone(), "0.0.0.0:123".parse().expect("an address"));
    s.iburst = src.has("iburst");
    s.prefer = src.has("prefer");
    s.noselect = src.has("noselect");
    s.minpoll = minpoll.or(opt_i8(src, "minpoll"));
    s.maxpoll = maxpoll.or(opt_i8(src, "maxpoll"));
    let many = if src.kind == SourceKind::Pool { 4 } else { 1 };
    (s, many)
}

pub fn run_watch(args: &WatchArgs) -> anyhow::Result<u8> {
    let profile = args.rules.profile();
    let rules = Rules::of(profile);
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
        for (_, src, nts) in from_config(file)? {
            let (s, many) = source_spec(&src, args.minpoll, args.maxpoll);
            push(src.host.clone(), &src.host, 123, s, many, nts, Some(&src));
        }
    }
    let json = args.json;
    let mut out = std::io::stdout().lock();
    for (name, v) in &unresolved {
        if json {
            writeln!(
                out,
                "{}",
                serde_json::json!({"type": "unresolved", "name": name, "cause": v.cause.id(), "why": v.summary, "confidence": v.confidence.id(), "fix": v.fix})
            )?;
        } else {
            writeln!(out, "{name}: [{}] {}", v.cause.id(), v.summary)?;
        }
    }
    // NTS sources: checked once with NTS; a daemon gets no time from one
    // whose NTS fails, so it is left out with its cause.
    let checked: Vec<Option<crate::diagnose::Verdict>> = std::thread::scope(|sc| {
        let hs: Vec<_> = wanted
            .iter()
            .map(|(_, spec, _, nts)| {
                sc.spawn(move || {
                    nts.as_ref().map(|(run, host)| {
                        let cfg = crate::engine::probe::ProbeConfig {
                            samples: 2,
                            local_precision: clock::precision(),
                            ..Default::default()
                        };
                        crate::diagnose::probe::diagnose(&crate::net::nts::probe(
                            host, spec.addr, &cfg, run,
                        ))
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().ok().flatten()).collect()
    });
    let mut nts_failed: Option<Cause> = None;
    let mut kept = Vec::new();
    for ((label, spec, many, nts), v) in wanted.into_iter().zip(checked) {
        if let Some(v) = &v {
            let why = format!("{}: {}", spec.addr, v.summary);
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"type": "nts", "name": label, "address": spec.addr.to_string(), "cause": v.cause.id(), "why": why, "evidence": v.evidence})
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
                    serde_json::json!({"type": "end", "exit_code": c.class().exit_code()})
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
                serde_json::json!({"type": "end", "exit_code": code})
            )?;
        }
        return Ok(code);
    }
    let start = Instant::now();
    let mut engine = Engine::new(rules.clone(), start, clock::precision());
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
                    serde_json::json!({"type": "metrics", "address": ep.addr.to_string()})
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
                    event_json(ev, snap, &rules).to_string()
                } else {
                    event_text(ev, snap, &rules)
                }
            }
            Report::Snapshot(snap) => {
                if let Ok(m) = metrics.lock() {
                    m.update(snap);
                }
                if json {
                    serde_json::to_string(&snapshot_json(snap, &rules)).unwrap_or_default()
                } else if tty {
                    format!("\x1b[2J\x1b[H{}", table(snap, &rules))
                } else {
                    table(snap, &rules)
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
    let stats = jars.iter().flatten().map(|j| &j.stats);
    for ((name, addr), s) in jar_names.iter().zip(stats) {
        if json {
            writeln!(
                out,
                "{}",
                serde_json::json!({"type": "nts-stats", "name": name, "address": addr.to_string(),
                    "key_exchanges": s.key_exchanges, "key_exchanges_failed": s.key_exchanges_failed,
                    "sent": s.sent, "authenticated": s.authenticated, "ntsn": s.ntsn,
                    "rejected": s.rejected, "unsent": s.unsent, "last_failure": s.last_failure})
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
            serde_json::to_string(&snapshot_json(&last, &rules))?
        )?;
        writeln!(
            out,
            "{}",
            serde_json::json!({"type": "end", "exit_code": code})
        )?;
    } else {
        writeln!(out, "\nlast snapshot:\n{}", table(&last, &rules))?;
    }
    Ok(code)
}
