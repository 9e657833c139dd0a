//! The process that runs one built-in lab node, inside its namespace
//! (`ntpdiag lab node`, started by `lab up`): a server (`serve` nodes), or
//! the client engine on the node's own clock, disciplined as RFC 5905 says,
//! answering `ntpq` (mode 6) on loopback and, for `client.serve`, serving
//! that clock to the lab.
//!
//! It writes, in its node folder: `clock` (the virtual clock, which
//! `lab exec` hands to the commands it runs), `billboard.json` (what
//! `lab status` shows, every second) and `events.jsonl` (state changes,
//! for `lab run`'s timeline).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::topology::{NodeSpec, Role, Topology};
use super::vclock::{Correction, VClock};
use super::{Paths, present};
use crate::engine::client::{Engine, Event, Profile as Rules_, Rules};
use crate::engine::profile::{Live, Presentation, ServerProfile};
use crate::engine::server::ServerConfig;
use crate::explain::conf::{Config, Daemon};
use crate::explain::sources::source_spec;
use crate::net::clock;
use crate::net::resolve::{Family, resolve};
use crate::net::serve::{Listener, Options, ServerHandle, start};
use crate::net::watch::{Limits, Report, run_with};
use crate::schema::{SnapshotJson, snapshot_json, table};

/// How long after the last new sample the clock is updated.
const SETTLE: Duration = Duration::from_millis(150);

/// What `lab status` reads for a built-in node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Billboard {
    pub name: String,
    pub role: Role,
    /// Seconds this node's clock is ahead of true time (the host clock).
    pub clock_offset_s: f64,
    pub synchronized: bool,
    pub steps: u32,
    pub panics: u32,
    /// The discipline's frequency correction.
    pub freq_ppm: f64,
    /// What it serves: leap, stratum, refid (servers and client-servers).
    pub serving: Option<String>,
    /// The engine's snapshot (client nodes).
    pub snapshot: Option<SnapshotJson>,
    /// The same, as `watch` prints it.
    pub table: Option<String>,
    /// Configured names that did not resolve: (name, cause id, why), the
    /// node table's verdict.
    pub unresolved: Vec<(String, String, String)>,
    /// Unix time written.
    pub written: f64,
}

/// One line of events.jsonl.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeEvent {
    /// Unix time.
    pub t: f64,
    pub node: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Writes `contents` to `path` whole (a reader never sees half of it).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

struct Out {
    dir: PathBuf,
    name: String,
}

impl Out {
    fn event(&self, text: String, cause: Option<String>) {
        let e = NodeEvent {
            t: unix_now(),
            node: self.name.clone(),
            text,
            cause,
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("events.jsonl"))
            && let Ok(line) = serde_json::to_string(&e)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn billboard(&self, b: &Billboard) {
        if let Ok(j) = serde_json::to_vec_pretty(b) {
            let _ = write_atomic(&self.dir.join("billboard.json"), &j);
        }
    }

    fn clock(&self, c: &VClock) {
        let _ = write_atomic(&self.dir.join("clock"), c.skew().to_line().as_bytes());
    }
}

/// Names the process so that `explain` (and `ps`) see a time daemon.
fn set_process_name() {
    let _ = nix::sys::prctl::set_name(c"ntpdiag-lab");
}

/// A node of a `lab run` goes when the run goes (even killed): the kernel
/// sends SIGTERM when the parent dies. Returns false if it already has.
pub fn follow_parent() -> bool {
    let parent = nix::unistd::getppid();
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    nix::unistd::getppid() == parent && parent.as_raw() != 1
}

fn listeners(profile: ServerProfile, node: &NodeSpec, network: bool) -> Listener {
    let mut addrs: Vec<SocketAddr> = vec![
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 123),
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 123),
    ];
    if network {
        addrs.extend(node.ips().into_iter().map(|ip| SocketAddr::new(ip, 123)));
    }
    Listener { profile, addrs }
}

fn start_server(l: Listener) -> anyhow::Result<ServerHandle> {
    start(
        vec![l],
        &Options {
            threads: 1,
            user: None,
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn serving_line(c: &ServerConfig) -> String {
    format!(
        "leap {}, stratum {}, refid {}",
        c.leap.bits(),
        c.stratum,
        c.reference_id.display(c.stratum)
    )
}

/// Runs node `name` of the lab in `paths` until `stop` is set.
pub fn run(paths: &Paths, topo: &Topology, name: &str, stop: &AtomicBool) -> anyhow::Result<()> {
    let node = topo
        .node
        .iter()
        .find(|n| n.name == name)
        .with_context(|| format!("no node {name} in the lab"))?;
    set_process_name();
    colored::control::set_override(false);
    let out = Out {
        dir: paths.node(name),
        name: name.into(),
    };
    let spec = node.clock.clone().unwrap_or_default();
    let offset = match &spec.offset {
        Some(o) => crate::scenario::parse_signed_duration(o)
            .map_err(|e| anyhow::anyhow!("clock offset: {e}"))?
            .as_secs_f64(),
        None => 0.0,
    };
    let vclock = VClock::new(offset, spec.freq_ppm, spec.slew_ppm, clock::monotonic_ns());
    clock::set_skew(Some(vclock.skew()));
    out.clock(&vclock);
    match node.role() {
        Role::Server => run_server(node, &out, &vclock, stop),
        Role::Client | Role::ClientServer => {
            let pause = match (&spec.pause_at, &spec.pause_for) {
                (Some(a), Some(f)) => Some((
                    humantime::parse_duration(a).map_err(|e| anyhow::anyhow!("pause-at: {e}"))?,
                    humantime::parse_duration(f)
                        .map_err(|e| anyhow::anyhow!("pause-for: {e}"))?
                        .as_secs_f64(),
                )),
                (None, None) => None,
                _ => anyhow::bail!("clock: pause-at and pause-for go together"),
            };
            let agent = match (&spec.agent_every, &spec.agent_offset) {
                (Some(e), Some(o)) => Some((
                    humantime::parse_duration(e)
                        .map_err(|e| anyhow::anyhow!("agent-every: {e}"))?,
                    crate::scenario::parse_signed_duration(o)
                        .map_err(|e| anyhow::anyhow!("agent-offset: {e}"))?
                        .as_secs_f64(),
                )),
                (None, None) => None,
                _ => anyhow::bail!("clock: agent-every and agent-offset go together"),
            };
            run_client(node, &out, vclock, Clocks { pause, agent }, stop)
        }
        r => anyhow::bail!(
            "node {name} is a {} node: it has no built-in process",
            r.id()
        ),
    }
}

fn run_server(
    node: &NodeSpec,
    out: &Out,
    vclock: &VClock,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let spec = node.serve.clone().unwrap_or_default();
    let (profile, _) = crate::scenario::ProfileSpec {
        name: Some(node.name.clone()),
        ..spec
    }
    .build()
    .map_err(|e| anyhow::anyhow!("serve: field `{}`: {}", e.field, e.message))?;
    let serving = serving_line(&profile.server);
    let server = start_server(listeners(profile, node, true))?;
    out.event(format!("serving: {serving}"), None);
    while !stop.load(Ordering::SeqCst) {
        out.billboard(&Billboard {
            name: node.name.clone(),
            role: Role::Server,
            clock_offset_s: vclock.offset_at(clock::monotonic_ns()),
            synchronized: true,
            steps: 0,
            panics: 0,
            freq_ppm: 0.0,
            serving: Some(serving.clone()),
            snapshot: None,
            table: None,
            unresolved: vec![],
            written: unix_now(),
        });
        std::thread::sleep(Duration::from_millis(500));
        // The skew is constant: nothing to discipline.
        clock::set_skew(Some(vclock.skew()));
    }
    server.stop();
    Ok(())
}

fn rules_of(node: &NodeSpec) -> Rules {
    let p = match node.client.as_ref().and_then(|c| c.rules.as_deref()) {
        Some("chrony") => Rules_::Chrony,
        Some("rfc") => Rules_::Rfc,
        _ => Rules_::Ntpd,
    };
    Rules::of(p)
}

/// What else happens to a client node's clock: it stands still once (a
/// paused VM: when, for how long), another agent sets it periodically
/// (how often, to what offset from true time).
struct Clocks {
    pause: Option<(Duration, f64)>,
    agent: Option<(Duration, f64)>,
}

fn run_client(
    node: &NodeSpec,
    out: &Out,
    mut vclock: VClock,
    clocks: Clocks,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let Clocks { mut pause, agent } = clocks;
    // Time the node stood still: its monotonic and boot clocks lost it too.
    let mut paused_total = 0.0;
    let mut next_agent = agent.map(|(every, _)| every);
    let client = node.client.clone().unwrap_or_default();
    let role = node.role();
    let rules = rules_of(node);
    let mut cfg = Config::new(Daemon::Ntpd);
    crate::explain::conf::parse_ntp("ntp.conf", &client.conf, &mut cfg);
    let start_t = Instant::now();
    let mut engine = Engine::new(rules.clone(), start_t, clock::precision());
    engine.local_refids = node
        .ips()
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(a) => Some(a.octets()),
            IpAddr::V6(_) => None,
        })
        .collect();
    let mut unresolved = vec![];
    for src in cfg.network_sources() {
        let (spec, many) = source_spec(src, None, None);
        match resolve(&src.host, 123, Family::Any, Duration::from_secs(3)) {
            Ok(addrs) => {
                for a in addrs.into_iter().take(many) {
                    let mut s = spec.clone();
                    s.addr = a;
                    engine.add(
                        s,
                        start_t,
                        Duration::from_millis(100) + client.start_after(),
                    );
                }
            }
            Err(e) => {
                let v = crate::diagnose::node::unresolved_server(
                    &crate::explain::node::server_facts(&crate::explain::node::ServerEvidence {
                        source: src.clone(),
                        resolved: Some(Err(e.clone())),
                        probes: vec![],
                    }),
                    &e,
                );
                unresolved.push((src.host.clone(), v.cause.id(), v.summary.clone()));
                out.event(v.summary, Some(v.cause.id()));
            }
        }
    }
    let names: Vec<String> = engine
        .associations()
        .iter()
        .map(|a| format!("{} ({})", a.spec.name, a.spec.addr))
        .collect();
    if !names.is_empty() {
        let after = client.start_after();
        out.event(
            format!(
                "polls {}{}",
                names.join(", "),
                if after.is_zero() {
                    String::new()
                } else {
                    format!(" from +{}", humantime::format_duration(after))
                }
            ),
            None,
        );
    }
    let live = Live::default();
    let unsync = ServerConfig::unsynchronized();
    let precision = unsync.precision;
    live.set(Presentation {
        server: Some(unsync.clone()),
        control: None,
    });
    let profile = ServerProfile {
        name: node.name.clone(),
        server: unsync.clone(),
        live: Some(live.clone()),
        ..ServerProfile::default()
    };
    let server = start_server(listeners(profile, node, role == Role::ClientServer))?;
    let mut served = unsync;
    let mut last_used: Option<f64> = None;
    let mut pending: Option<Instant> = None;
    let mut next_board = Instant::now();
    let limits = Limits {
        duration: None,
        count: None,
        stop,
    };
    let rules2 = rules.clone();
    run_with(
        &mut engine,
        &limits,
        |r| {
            if let Report::Event(ev, snap) = r {
                let (text, cause) = match ev {
                    Event::Source { index, .. } => {
                        let s = &snap.sources[*index];
                        let v = crate::diagnose::watch::source(s, &rules2, snap);
                        let (cause, why) = (v.cause, v.summary);
                        (
                            format!("{}: {} [{}] {why}", s.name, s.status.word(), cause.id()),
                            Some(cause.id()),
                        )
                    }
                    Event::Clock { jump, daemons, .. } => {
                        let v = crate::diagnose::watch::jump(*jump, daemons);
                        (
                            format!("clock: [{}] {}", v.cause.id(), v.summary),
                            Some(v.cause.id()),
                        )
                    }
                    Event::SystemPeer { to, .. } => (
                        format!(
                            "system peer: {}",
                            to.and_then(|i| snap.sources.get(i))
                                .map_or("none".to_string(), |s| s.name.clone())
                        ),
                        None,
                    ),
                };
                out.event(text, cause);
            }
        },
        |engine, now| {
            let mono = clock::monotonic_ns();
            let slewed = vclock.advance(mono);
            // A paused VM: its clock stands still and resumes behind, and
            // nothing here tells the engine.
            if let Some((at, by)) = pause
                && now.duration_since(start_t) >= at
            {
                pause = None;
                paused_total += by;
                vclock.stand_still(by);
                out.event(
                    format!("the clock stood still for {by:.0} s (a paused VM) and resumed behind"),
                    None,
                );
            }
            // Another agent sets the clock to its own time now and then.
            if let (Some((every, offset)), Some(due)) = (agent, next_agent)
                && now.duration_since(start_t) >= due
            {
                next_agent = Some(due + every);
                let by = vclock.set_by_another(offset);
                out.event(
                    format!(
                        "another agent set the clock to {offset:+.3} s from true time ({by:+.3} s)"
                    ),
                    None,
                );
            }
            // The node's own clocks, as a guest would read them.
            let host = clock::readings();
            engine.clocks(
                now,
                crate::engine::jump::Reading {
                    monotonic: host.monotonic - paused_total,
                    realtime: host.realtime + vclock.offset_at(mono),
                    boottime: host.boottime - paused_total,
                },
            );
            if slewed != 0.0 {
                engine.clock_adjusted(now, slewed);
            }
            let snap = engine.snapshot(now);
            // ntpd's rule: the clock is updated from a system peer sample
            // newer than the last one used, never twice from the same one.
            let newest = snap
                .system
                .peer
                .and_then(|i| engine.associations().get(i))
                .and_then(|a| a.filter.t);
            if newest.is_some_and(|t| last_used.is_none_or(|u| t > u)) && pending.is_none() {
                pending = Some(now);
            }
            // Replies of one round arrive within milliseconds of each other:
            // judge them together, not the first one alone.
            let settled = pending.is_some_and(|t| now.duration_since(t) >= SETTLE);
            if settled {
                pending = None;
            }
            if settled && snap.system.peer.is_some() {
                last_used = newest;
                match vclock.update(mono, snap.system.offset) {
                    Correction::Step(by) => {
                        engine.clock_stepped(now, by);
                        last_used = None;
                        out.event(format!("clock stepped by {by:+.6} s"), None);
                    }
                    Correction::Panic(by) => {
                        let v = crate::diagnose::watch::clock(
                            crate::engine::client::ClockAction::Panic(by),
                        );
                        out.event(v.summary, Some(v.cause.id()));
                    }
                    Correction::Slew(_) => {}
                }
            }
            clock::set_skew(Some(vclock.skew()));
            out.clock(&vclock);
            let snap = engine.snapshot(now);
            if vclock.synchronized
                && let Some(c) = present::synchronized(&snap, engine.associations(), precision)
            {
                if served.leap != c.leap || served.stratum != c.stratum {
                    out.event(format!("serving: {}", serving_line(&c)), None);
                }
                served = c;
            }
            live.set(Presentation {
                server: Some(served.clone()),
                control: Some(present::control(
                    &snap,
                    engine.associations(),
                    &served,
                    clock::now(),
                    vclock.freq_corr * 1e6,
                )),
            });
            if Instant::now() >= next_board {
                next_board = Instant::now() + Duration::from_secs(1);
                out.billboard(&Billboard {
                    name: node.name.clone(),
                    role,
                    clock_offset_s: vclock.offset_at(mono),
                    // Set once, and a system peer now.
                    synchronized: vclock.synchronized && snap.system.peer.is_some(),
                    steps: vclock.steps,
                    panics: vclock.panics,
                    freq_ppm: vclock.freq_corr * 1e6,
                    serving: (role == Role::ClientServer).then(|| serving_line(&served)),
                    snapshot: Some(snapshot_json(&snap, &rules)),
                    table: Some(table(&snap, &rules)),
                    unresolved: unresolved.clone(),
                    written: unix_now(),
                });
            }
        },
    );
    server.stop();
    Ok(())
}
