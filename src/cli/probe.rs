//! `ntpdiag probe HOST…`: a one-shot NTP client that shows every packet and
//! then names the cause.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::{exit, render};
use crate::diagnose::probe::{compare_source_ports, diagnose, name_unresolved};
use crate::diagnose::{SourcePort, TargetEvidence, Verdict};
use crate::engine::probe::{LIVENESS_PORT, ProbeConfig};
use crate::engine::server::ServerConfig;
use crate::net::resolve::{Family, HostSpec, resolve};
use crate::net::{clock, nts, probe, serve};
use crate::schema as json;

const PROBE_HELP: &str = "\
Each target gets a few NTP client requests (mode 3) from a random source
port, spaced by --interval; every request and reply is shown decoded. When
nothing at all comes back, one datagram goes to a closed port of the same host
(the liveness check): an ICMP port unreachable back proves the host is up and
only NTP is silent. ICMP errors end the wait at once and are named with the
address that sent them.

With --nts, each target first gets NTS (RFC 8915): a TCP connection to
NTS-KE (port 4460; a refusal's ICMP sender is named when run as root), TLS
1.3 with ALPN ntske/1 and the server's certificate checked against the
system's trusted certificates and --nts-ca files, the key exchange's records,
then NTS-protected requests (AEAD_AES_SIV_CMAC_256, one cookie each) to the
negotiated NTP server and port. The plain requests go to the same address:
they give the server's time, at which a certificate refused for its dates is
verified again (valid then: this host's clock is wrong, local-clock-wrong),
and they tell NTS-sized packets dropped on the way from a silent server.
Every wait is bounded: the key exchange gets 3 probe timeouts (at least 3 s).

The verdict names a cause by a stable id (the `cause` field of --json);
`ntpdiag causes` lists every id with its class and exit status, `ntpdiag
causes ID` explains one. The JSON schema is described in doc/json.md.";

/// Probes NTP servers: every packet shown, then the cause, evidence, confidence and fix.
#[derive(Args, Debug, Clone)]
#[command(long_about = PROBE_HELP, after_help = exit::help())]
pub struct ProbeArgs {
    /// Servers to probe: name, address, name:port or [IPv6]:port. Every address of a name is probed.
    #[arg(value_name = "HOST", required_unless_present = "builtin")]
    pub hosts: Vec<String>,

    /// Start the built-in NTP server on 127.0.0.1 (random port) and probe it too; with --nts,
    /// with NTS-KE on another random port and a certificate from a CA made for this run.
    #[arg(long)]
    pub builtin: bool,

    /// Requests per target (1-64).
    #[arg(short = 'n', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub samples: u32,

    /// How long each request waits for its answer (e.g. 1s, 500ms; at most 60s).
    #[arg(short = 't', long, default_value = "1s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Time between requests (at most 10s).
    #[arg(long, default_value = "200ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Server port when a HOST gives none.
    #[arg(short = 'p', long, default_value_t = 123)]
    pub port: u16,

    /// Use IPv4 addresses only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Also probe from this source port (usually 123, as ntpd and plain ntpdate send) and compare
    /// with the random-port probe: names `source-port-filtered` when only the random port works.
    #[arg(long, value_name = "PORT")]
    pub source_port: Option<u16>,

    /// Do not send the liveness check to a closed port when a server is silent.
    #[arg(long)]
    pub no_liveness: bool,

    /// NTP version to send (1-4).
    #[arg(long = "ntp-version", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub ntp_version: u8,

    /// Use NTS (RFC 8915): key exchange over TLS 1.3 on TCP --nts-port (ALPN ntske/1), then
    /// NTS-protected requests; plain requests to the same address give the server's time, to tell
    /// a wrong certificate from a wrong local clock.
    #[arg(long)]
    pub nts: bool,

    /// Trust this CA certificate file (PEM) for NTS, besides the system's (as chrony's
    /// ntstrustedcerts). Repeatable.
    #[arg(long = "nts-ca", value_name = "FILE", requires = "nts")]
    pub nts_ca: Vec<std::path::PathBuf>,

    /// NTS-KE port when a HOST gives none.
    #[arg(long, default_value_t = crate::net::nts::KE_PORT, requires = "nts")]
    pub nts_port: u16,

    /// Verdicts only, no packets.
    #[arg(short, long)]
    pub quiet: bool,

    /// One JSON document on stdout (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err("must be more than 0 and at most 60s".into());
    }
    Ok(d)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(10) {
        return Err("must be at most 10s".into());
    }
    Ok(d)
}

/// The result for one host: the targets its name gave, each with its
/// evidence (one or two probes) and verdict; or a resolution failure.
enum HostResult {
    Unresolved { host: String, verdict: Verdict },
    Probed(Vec<Probed>),
}

impl ProbeArgs {
    fn family(&self) -> Family {
        if self.ipv4 {
            Family::V4
        } else if self.ipv6 {
            Family::V6
        } else {
            Family::Any
        }
    }

    pub fn config(&self) -> ProbeConfig {
        ProbeConfig {
            samples: self.samples,
            interval: self.interval,
            timeout: self.timeout,
            version: self.ntp_version,
            poll: 6,
            local_precision: clock::precision(),
            liveness_port: (!self.no_liveness).then_some(LIVENESS_PORT),
        }
    }
}

/// Probes one address, from a random port and, if asked, from a fixed one.
/// Returns each probe with its own verdict, and the combined verdict.
fn probe_one(
    host: &str,
    addr: SocketAddr,
    cfg: &ProbeConfig,
    fixed: Option<u16>,
    nts_run: Option<(&nts::NtsRun, &str)>,
) -> Probed {
    let eph = match nts_run {
        Some((run, name)) => {
            let mut ev = nts::probe(name, addr, cfg, run);
            ev.host = host.to_string();
            ev
        }
        None => probe::probe_address(host, addr, cfg, SourcePort::Ephemeral),
    };
    let v = diagnose(&eph);
    match fixed {
        None => (vec![(eph, v.clone())], v),
        Some(port) => {
            let fix = probe::probe_address(host, addr, cfg, SourcePort::Fixed(port));
            let fv = diagnose(&fix);
            let combined = compare_source_ports(&eph, &fix, port);
            (vec![(eph, v), (fix, fv)], combined)
        }
    }
}

type Probed = (Vec<(TargetEvidence, Verdict)>, Verdict);

/// The built-in server's NTS side: a KE server on a random loopback port
/// with a certificate for 127.0.0.1 from a CA made for this run, which the
/// probe alone trusts.
fn builtin_nts_server() -> anyhow::Result<(
    nts::NtsRun,
    nts::server::KeServer,
    std::sync::Arc<crate::engine::nts::NtsServer>,
)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let built = nts::server::build(&nts::server::Spec {
        name: "127.0.0.1",
        cert_key: None,
        valid_at: now,
        faults: vec![],
        ntp_port: None,
    })
    .map_err(anyhow::Error::msg)?;
    let trust = nts::tls::trust_pem(built.ca_pem.as_deref().unwrap_or_default(), "built-in CA")
        .map_err(anyhow::Error::msg)?;
    let (tls, engine) = (built.tls, built.engine);
    let ke = nts::server::start("127.0.0.1:0".parse()?, tls, engine.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the built-in NTS-KE server: {e}"))?;
    Ok((
        nts::NtsRun {
            trust,
            port: ke.addr.port(),
        },
        ke,
        engine,
    ))
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<u8> {
    let cfg = args.config();
    let nts_run = if args.nts {
        match nts::tls::trust(&args.nts_ca, true) {
            Ok(trust) => Some(nts::NtsRun {
                trust,
                port: args.nts_port,
            }),
            Err(e) => {
                eprintln!("ntpdiag: --nts-ca {e}");
                return Ok(exit::USAGE);
            }
        }
    } else {
        None
    };
    let nts_run = nts_run.as_ref();
    let mut hosts: Vec<(String, Result<HostSpec, String>)> = args
        .hosts
        .iter()
        .map(|h| (h.clone(), HostSpec::parse(h)))
        .collect();
    for (h, spec) in &hosts {
        if let Err(e) = spec {
            eprintln!("ntpdiag: {h}: {e}");
            return Ok(exit::USAGE);
        }
    }
    let mut builtin_nts: Option<(nts::NtsRun, nts::server::KeServer)> = None;
    let builtin = if args.builtin {
        let cfg = ServerConfig {
            precision: clock::precision(),
            ..ServerConfig::default()
        };
        let mut profile = crate::engine::profile::ServerProfile {
            name: "builtin".into(),
            server: cfg,
            ..Default::default()
        };
        if args.nts {
            let (run, ke, engine) = builtin_nts_server()?;
            profile.nts = Some(engine);
            builtin_nts = Some((run, ke));
        }
        let server = serve::start(
            vec![serve::Listener {
                profile,
                addrs: vec!["127.0.0.1:0".parse()?],
            }],
            &serve::Options {
                threads: 1,
                user: None,
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot start the built-in server: {e}"))?;
        let addr = server.addr();
        hosts.insert(
            0,
            (
                "builtin".to_string(),
                Ok(HostSpec {
                    host: addr.ip().to_string(),
                    port: Some(addr.port()),
                }),
            ),
        );
        if !args.json {
            println!(
                "built-in server: a synchronized stratum-2 server on {addr}, answering from this host's clock{}\n",
                builtin_nts
                    .as_ref()
                    .map_or(String::new(), |(_, ke)| format!(
                        "; NTS-KE on {} (a certificate for 127.0.0.1 from a CA made for this run)",
                        ke.addr
                    ))
            );
        }
        Some(server)
    } else {
        None
    };

    let family = args.family();
    let results: Vec<HostResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|(label, spec)| {
                let spec = spec.clone().expect("checked above");
                let cfg = &cfg;
                let builtin_nts = &builtin_nts;
                scope.spawn(move || {
                    let port = spec.port.unwrap_or(args.port);
                    match resolve(&spec.host, port, family, Duration::from_secs(5)) {
                        Err(e) => HostResult::Unresolved {
                            host: label.clone(),
                            verdict: name_unresolved(&spec.host, &e),
                        },
                        Ok(addrs) => {
                            let is_builtin = args.builtin && label == "builtin";
                            let spec = &spec;
                            let label = if is_builtin {
                                label.clone()
                            } else {
                                spec.host.clone()
                            };
                            let per: Vec<_> = std::thread::scope(|s2| {
                                let hs: Vec<_> = addrs
                                    .iter()
                                    .map(|a| {
                                        let label = &label;
                                        s2.spawn(move || {
                                            let run = if is_builtin {
                                                builtin_nts.as_ref().map(|(r, _)| r)
                                            } else {
                                                nts_run
                                            };
                                            probe_one(
                                                label,
                                                *a,
                                                cfg,
                                                args.source_port,
                                                run.map(|r| (r, spec.host.as_str())),
                                            )
                                        })
                                    })
                                    .collect();
                                hs.into_iter()
                                    .map(|h| h.join().expect("probe thread panicked"))
                                    .collect()
                            });
                            HostResult::Probed(per)
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe thread panicked"))
            .collect()
    });
    if let Some(s) = builtin {
        let _ = s.stop();
    }
    if let Some((_, ke)) = builtin_nts {
        let _ = ke.stop();
    }

    let pivot = clock::now_date();
    let mut lead = crate::diagnose::verdict::Lead::default();
    let mut reports = Vec::new();
    let mut text = String::new();
    for r in &results {
        match r {
            HostResult::Unresolved { host, verdict } => {
                lead.note(verdict);
                reports.push(json::unprobed(host, verdict));
                text.push_str(&render::verdict(host, verdict));
                text.push('\n');
            }
            HostResult::Probed(per) => {
                for (evs, verdict) in per {
                    lead.note(verdict);
                    reports.push(json::target(evs, verdict, pivot));
                    if !args.quiet {
                        for (ev, _) in evs {
                            text.push_str(&render::events(ev, pivot));
                            text.push('\n');
                        }
                    }
                    let first = &evs[0].0;
                    let label = if first.host == first.address.ip().to_string() {
                        first.address.to_string()
                    } else {
                        format!("{} ({})", first.host, first.address)
                    };
                    text.push_str(&render::verdict(&label, verdict));
                    text.push('\n');
                }
            }
        }
    }
    let code = lead.exit_code();
    if args.json {
        let doc = json::ProbeReport {
            node: Some(json::NodeJson::here()),
            schema_version: json::SCHEMA_VERSION,
            tool: "ntpdiag".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: "probe".into(),
            targets: reports,
            exit_code: code,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", text.trim_end());
        println!();
    }
    Ok(code)
}
