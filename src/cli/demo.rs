//! `ntpdiag demo`: a gallery of built-in servers on loopback, one per failure
//! mode the probe can name (and a healthy one), each probed, in one table:
//! what `ntpdig`/`ntpdate -d` would have said, and what ntpdiag says.
//!
//! The "ntpdig says" column is not guessed: `tests/serve_netns.rs` runs real
//! ntpdig against the same profiles and checks each line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use colored::Colorize;

use super::exit;
use crate::diagnose::probe::diagnose;
use crate::diagnose::{Cause, Class, SourcePort};
use crate::engine::probe::{LIVENESS_PORT, ProbeConfig};
use crate::net::{clock, probe, serve};
use crate::scenario::{ProfileSpec, Unsync};
use crate::schema as json;
use crate::wire::KissCode;

/// One scenario of the gallery.
pub struct Case {
    pub name: &'static str,
    /// The server's behaviour, in words.
    pub what: &'static str,
    /// The profile; `None`: no server at all (a closed port).
    pub spec: Option<fn() -> ProfileSpec>,
    /// What ntpdig (and ntpdate, its wrapper) prints, shortened.
    pub peer_says: &'static str,
    /// Substrings of ntpdig's real output that prove `peer_says` (any one
    /// of them, `|`-separated: a measured offset is off by microseconds).
    pub peer_check: &'static str,
    /// The cause ntpdiag must name.
    pub expect: Cause,
}

fn spec() -> ProfileSpec {
    ProfileSpec {
        stratum: Some(2),
        ..ProfileSpec::default()
    }
}

pub const CASES: &[Case] = &[
    Case {
        name: "healthy",
        what: "synchronized, stratum 2",
        spec: Some(spec),
        peer_says: "an offset line",
        peer_check: " s2 no-leap",
        expect: Cause::Ok,
    },
    Case {
        name: "unsynchronized",
        what: "leap 3, stratum 16, refid INIT",
        spec: Some(|| ProfileSpec {
            unsynchronized: Some(Unsync::RefId("INIT".into())),
            ..spec()
        }),
        peer_says: "Response dropped: stratum too high",
        peer_check: "stratum too high",
        expect: Cause::UpstreamUnsynchronized,
    },
    Case {
        name: "just started",
        what: "leap 3, stratum 0, INIT (a fresh ntpd)",
        spec: Some(|| ProfileSpec {
            kod: Some("INIT".into()),
            ..spec()
        }),
        peer_says: "probable KOD packet",
        peer_check: "probable KOD",
        expect: Cause::UpstreamUnsynchronized,
    },
    Case {
        name: "rate limit",
        what: "Kiss-o'-Death RATE",
        spec: Some(|| ProfileSpec {
            kod: Some("RATE".into()),
            ..spec()
        }),
        peer_says: "probable KOD packet",
        peer_check: "probable KOD",
        expect: Cause::Kod(KissCode::Rate),
    },
    Case {
        name: "access denied",
        what: "Kiss-o'-Death DENY",
        spec: Some(|| ProfileSpec {
            kod: Some("DENY".into()),
            ..spec()
        }),
        peer_says: "probable KOD packet",
        peer_check: "probable KOD",
        expect: Cause::Kod(KissCode::Deny),
    },
    Case {
        name: "restricted",
        what: "denies 127/8 with KoD RSTR",
        spec: Some(|| ProfileSpec {
            deny: vec!["127.0.0.0/8".into()],
            deny_action: Some("kod-rstr".into()),
            ..spec()
        }),
        peer_says: "probable KOD packet",
        peer_check: "probable KOD",
        expect: Cause::Kod(KissCode::Rstr),
    },
    Case {
        name: "firewall DROP",
        what: "reads and drops everything",
        spec: Some(|| ProfileSpec {
            silent: true,
            ..spec()
        }),
        peer_says: "no eligible servers",
        peer_check: "no eligible servers",
        expect: Cause::NoReply,
    },
    Case {
        name: "no daemon",
        what: "nothing listens on the port",
        spec: None,
        peer_says: "no eligible servers",
        peer_check: "no eligible servers",
        expect: Cause::PortUnreachable,
    },
    Case {
        name: "bogus origin",
        what: "replies with a wrong origin timestamp",
        spec: Some(|| ProfileSpec {
            bogus_origin: true,
            ..spec()
        }),
        peer_says: "an offset line, +0.5 s off (origin not checked)",
        peer_check: " s2 no-leap",
        expect: Cause::BogusReply,
    },
    Case {
        name: "other address",
        what: "replies from 127.0.0.99",
        spec: Some(|| ProfileSpec {
            reply_from: Some("127.0.0.99".into()),
            ..spec()
        }),
        peer_says: "an offset line (ntpd and chrony drop it)",
        peer_check: " s2 no-leap",
        expect: Cause::ReplyFromOtherAddress,
    },
    Case {
        name: "clock 2000 s off",
        what: "serves a clock 2000 s ahead",
        spec: Some(|| ProfileSpec {
            offset: Some("2000s".into()),
            ..spec()
        }),
        peer_says: "an offset line: +2000.00 s (give or take µs)",
        peer_check: "+1999.99|+2000.00",
        expect: Cause::OffsetOverPanic,
    },
    Case {
        name: "bad version",
        what: "answers with version 7",
        spec: Some(|| ProfileSpec {
            version: Some(7),
            ..spec()
        }),
        peer_says: "response version 7 is too new",
        peer_check: "version 7 is too new",
        expect: Cause::MalformedReply,
    },
];

/// Starts a gallery of broken NTP servers on loopback, probes each, and shows what each failure looks like.
#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Exit status:\n  0  every scenario was named as expected\n  1  some scenario was not (a bug: please report it)\n  2  usage"
)]
pub struct DemoArgs {
    /// One JSON document instead of the table (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<u8> {
    let precision = clock::precision();
    let mut listeners = Vec::new();
    let mut slots = Vec::new();
    for c in CASES {
        match c.spec {
            Some(f) => {
                let spec = ProfileSpec {
                    name: Some(c.name.into()),
                    listen: vec!["127.0.0.1:0".into()],
                    ..f()
                };
                let (mut profile, addrs) = spec
                    .build()
                    .map_err(|e| anyhow::anyhow!("{}: {}: {}", c.name, e.field, e.message))?;
                profile.server.precision = precision;
                slots.push(Some(listeners.len()));
                listeners.push(serve::Listener { profile, addrs });
            }
            None => slots.push(None),
        }
    }
    let server = serve::start(
        listeners,
        &serve::Options {
            threads: 1,
            user: None,
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot start the demo servers: {e}"))?;
    let closed: SocketAddr = {
        // A port nobody listens on: bind, read it, close.
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        s.local_addr()?
    };
    let targets: Vec<SocketAddr> = slots
        .iter()
        .map(|s| s.map_or(closed, |i| server.bound[i].1))
        .collect();
    let cfg = ProbeConfig {
        samples: 3,
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        local_precision: precision,
        liveness_port: Some(LIVENESS_PORT),
        ..ProbeConfig::default()
    };
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = targets
            .iter()
            .map(|a| {
                let cfg = &cfg;
                s.spawn(move || {
                    let ev =
                        probe::probe_address(&a.ip().to_string(), *a, cfg, SourcePort::Ephemeral);
                    let v = diagnose(&ev);
                    (ev, v)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("probe thread"))
            .collect()
    });
    let _ = server.stop();

    let all_named = CASES
        .iter()
        .zip(&results)
        .all(|(c, (_, v))| v.cause == c.expect);
    if args.json {
        let pivot = clock::now_date();
        let cases: Vec<_> = CASES
            .iter()
            .zip(&results)
            .map(|(c, (ev, v))| {
                serde_json::json!({
                    "scenario": c.name, "server": c.what, "ntpdig_says": c.peer_says,
                    "expected": c.expect.id(), "named": v.cause == c.expect,
                    "target": json::target(&[(ev.clone(), v.clone())], v, pivot),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"schema_version": json::SCHEMA_VERSION, "command": "demo", "cases": cases})
            )?
        );
    } else {
        println!(
            "{}",
            "ntpdiag demo: broken NTP servers on loopback, each probed".bold()
        );
        println!();
        println!(
            "{:<17} {:<40} {:<44} {}",
            "scenario".bold(),
            "server".bold(),
            "ntpdig / ntpdate -d says".bold(),
            "ntpdiag says".bold()
        );
        for (c, (_, v)) in CASES.iter().zip(&results) {
            let id = v.cause.id();
            let id = match v.cause.class() {
                Class::Ok => id.green(),
                Class::Kiss | Class::Unusable => id.yellow(),
                _ => id.red(),
            };
            let mark = if v.cause == c.expect {
                ""
            } else {
                "  (unexpected!)"
            };
            println!(
                "{:<17} {:<40} {:<44} {id}{mark}",
                c.name, c.what, c.peer_says
            );
        }
        println!();
        println!(
            "ntpdig drops what it cannot use and ends in \"no eligible servers\", or prints an offset it"
        );
        println!(
            "should not have trusted; ntpdiag names the cause, with evidence, confidence and fix."
        );
        println!("See one in full:");
        println!(
            "  ntpdiag serve --listen 127.0.0.1:11123 --kod RATE &  ntpdiag probe 127.0.0.1:11123"
        );
    }
    Ok(if all_named { exit::OK } else { exit::ERROR })
}
