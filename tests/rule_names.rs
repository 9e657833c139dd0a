//! Every rule of the exchange table gives only causes it names: checked on
//! every recorded fixture (each pasted block of fixtures/outputs and
//! fixtures/peers, each client host of fixtures/pcaps), and on evidence
//! generated from them: each pair of recorded exchanges spliced, one group
//! of facts (what came back, refusals, the daemon's word, the capture's
//! timing, local failures, NTS) of one put into the other. Each group comes
//! whole from a real exchange, so the splice is one a reader could fill.
//! And on probes of simulated peers whose every answer is drawn at random
//! (proptest): a server of random leap, stratum, kiss code and clock, from
//! its own or another address, cut short or not, an ICMP error of any type
//! and code from the server or a router, or silence.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use ntpdiag::diagnose::facts::Exchange;
use ntpdiag::diagnose::rules::STEPS;
use ntpdiag::diagnose::table::check_names;

fn files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn recorded() -> Vec<(String, Exchange)> {
    let mut out = vec![];
    for f in files("fixtures/outputs", "txt")
        .into_iter()
        .chain(files("fixtures/peers", "txt"))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, b) in ntpdiag::explain::paste::explain(&text)
            .into_iter()
            .enumerate()
        {
            out.push((format!("{} block {i}", f.display()), b.facts));
        }
    }
    for f in files("fixtures/pcaps", "pcap") {
        let opts = ntpdiag::capture::source::Options {
            filter: None,
            write: None,
            idle: std::time::Duration::from_secs(300),
            max_open: 100_000,
            max_kept: 10_000,
            max_hosts: 100_000,
            threads: 1,
            progress: false,
            stop: Default::default(),
        };
        let run =
            ntpdiag::capture::source::run(ntpdiag::capture::source::Input::File(f.clone()), &opts)
                .unwrap();
        for (i, g) in run.hosts.iter().enumerate() {
            out.push((
                format!("{} host {i}", f.display()),
                ntpdiag::capture::judge::facts(&g.conv),
            ));
        }
    }
    out
}

/// One group of facts of `from` put into `to`.
fn splice(to: &Exchange, from: &Exchange, group: usize) -> Exchange {
    let mut x = to.clone();
    match group {
        0 => {
            x.first_answer = from.first_answer;
            x.valid = from.valid;
            x.best = from.best.clone();
            x.kiss = from.kiss.clone();
            x.kiss_count = from.kiss_count;
            x.unsync = from.unsync.clone();
            x.unsync_count = from.unsync_count;
            x.other_address = from.other_address.clone();
            x.other_address_count = from.other_address_count;
            x.bogus = from.bogus.clone();
            x.bogus_count = from.bogus_count;
            x.malformed = from.malformed.clone();
            x.malformed_count = from.malformed_count;
            x.requests = from.requests;
        }
        1 => {
            x.icmp = from.icmp.clone();
            x.icmp_count = from.icmp_count;
            x.liveness = from.liveness.clone();
            x.neighbour = from.neighbour.clone();
            x.silent_sources = from.silent_sources.clone();
            x.silent_more = from.silent_more;
        }
        2 => x.daemon = from.daemon.clone(),
        3 => {
            x.wire = from.wire.clone();
            x.vantage = from.vantage;
        }
        4 => {
            x.local = from.local.clone();
            x.unresolved = from.unresolved.clone();
        }
        _ => {
            x.nts = from.nts.clone();
            x.nts_ke = from.nts_ke.clone();
        }
    }
    x
}

#[test]
fn every_rule_gives_only_causes_it_names() {
    let all = recorded();
    assert!(all.len() >= 60, "{} recorded exchanges", all.len());
    for (name, x) in &all {
        check_names(STEPS, x).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut causes = std::collections::BTreeSet::new();
    let mut n = 0;
    for (a, xa) in &all {
        for (b, xb) in &all {
            for group in 0..6 {
                let x = splice(xa, xb, group);
                check_names(STEPS, &x)
                    .unwrap_or_else(|e| panic!("{a} with group {group} of {b}: {e}"));
                let v = ntpdiag::diagnose::rules::decide(&x);
                // What each confidence level promises (doc/json.md), and
                // no ok without proof.
                assert!(
                    ntpdiag::diagnose::verdict::confidence_holds(&v),
                    "{a} with group {group} of {b}: {v:?}"
                );
                if v.cause == ntpdiag::diagnose::Cause::Ok {
                    assert!(
                        ntpdiag::diagnose::rules::proof(&x).is_ok(),
                        "{a} with group {group} of {b}: {v:?}"
                    );
                }
                causes.insert(v.cause.id());
                n += 1;
            }
        }
    }
    // The splices reach well beyond the fixtures' own causes.
    assert!(n > 10_000, "{n}");
    assert!(causes.len() >= 15, "{causes:?}");
    eprintln!("{n} splices; causes reached: {causes:?}");
}

/// What the simulated peer does with one request.
#[derive(Clone, Debug)]
enum Answer {
    Silence,
    Server {
        leap: u8,
        stratum: u8,
        kiss: Option<u8>,
        shift: f64,
        other_address: bool,
        cut: Option<usize>,
        garble_origin: bool,
    },
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
        router: bool,
    },
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        Just(Answer::Silence),
        (
            0u8..4,
            0u8..18,
            proptest::option::of(0u8..16),
            prop_oneof![Just(0.0), -3000.0f64..3000.0],
            proptest::bool::weighted(0.2),
            proptest::option::weighted(0.2, 0usize..60),
            proptest::bool::weighted(0.2),
        )
            .prop_map(
                |(leap, stratum, kiss, shift, other_address, cut, garble_origin)| {
                    Answer::Server {
                        leap,
                        stratum,
                        kiss,
                        shift,
                        other_address,
                        cut,
                        garble_origin,
                    }
                }
            ),
        (any::<bool>(), 0u8..5, 0u8..16, any::<bool>()).prop_map(
            |(v6, icmp_type, code, router)| Answer::Icmp {
                v6,
                icmp_type,
                code,
                router
            }
        ),
    ]
}

fn probe_exchange(answers: &[Answer]) -> Exchange {
    use ntpdiag::engine::probe::sim::{Response, run};
    use ntpdiag::engine::probe::{IcmpReport, ProbeConfig, ProbeSession, Purpose};
    use ntpdiag::engine::server::{Action, Responder, ServerConfig};
    use ntpdiag::wire::icmp::IcmpError;
    use ntpdiag::wire::{KissCode, Leap, NtpDate, NtpDuration, ReferenceId};
    let target: std::net::SocketAddr = "198.51.100.1:123".parse().unwrap();
    let start = Instant::now();
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    let mut i = 0;
    let rec = run(
        ProbeSession::new(ProbeConfig::default(), target, start),
        start,
        wall0,
        |tx, wall| {
            if tx.purpose == Purpose::Liveness {
                return vec![];
            }
            let a = &answers[i % answers.len()];
            i += 1;
            match a {
                Answer::Silence => vec![],
                Answer::Server {
                    leap,
                    stratum,
                    kiss,
                    shift,
                    other_address,
                    cut,
                    garble_origin,
                } => {
                    let cfg = ServerConfig {
                        leap: match leap {
                            0 => Leap::NoWarning,
                            1 => Leap::AddSecond,
                            2 => Leap::DeleteSecond,
                            _ => Leap::Unsynchronized,
                        },
                        stratum: *stratum,
                        reference_id: ReferenceId(*b"GPS\0"),
                        kiss: kiss.map(|k| KissCode::ALL[usize::from(k) % KissCode::ALL.len()]),
                        ..ServerConfig::default()
                    };
                    let w = wall + NtpDuration::from_secs_f64(*shift);
                    let mut out = [0u8; 64];
                    match Responder::new(cfg).handle(&tx.payload, w, w, &mut out) {
                        Action::Reply(n) => {
                            let mut bytes = out[..n].to_vec();
                            if *garble_origin {
                                bytes[24] ^= 0x5a;
                            }
                            if let Some(c) = cut {
                                bytes.truncate(*c);
                            }
                            vec![Response::Datagram {
                                after: Duration::from_micros(400),
                                from: if *other_address {
                                    "198.51.100.9:123".parse().unwrap()
                                } else {
                                    target
                                },
                                bytes,
                            }]
                        }
                        Action::Drop(_) => vec![],
                    }
                }
                Answer::Icmp {
                    v6,
                    icmp_type,
                    code,
                    router,
                } => vec![Response::Icmp {
                    after: Duration::from_micros(300),
                    report: IcmpReport {
                        error: if *v6 {
                            IcmpError::v6(*icmp_type, *code)
                        } else {
                            IcmpError::v4(*icmp_type, *code)
                        },
                        offender: Some(if *router {
                            "203.0.113.1".parse().unwrap()
                        } else {
                            target.ip()
                        }),
                        original_dest: Some(tx.dest),
                        quoted: tx.payload.clone(),
                    },
                }],
            }
        },
    );
    ntpdiag::diagnose::probe::facts(&ntpdiag::diagnose::TargetEvidence {
        host: "controller".into(),
        address: target,
        source_port: ntpdiag::diagnose::SourcePort::Ephemeral,
        local_address: Some("198.51.100.2:40000".parse().unwrap()),
        setup_error: None,
        record: Some(rec),
        neighbour: None,
        nts: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_peers_get_rules_that_name_their_causes(
        answers in proptest::collection::vec(answer(), 1..6)
    ) {
        let x = probe_exchange(&answers);
        prop_assert!(check_names(STEPS, &x).is_ok(), "{:?}: {:?}", answers, check_names(STEPS, &x));
        let v = ntpdiag::diagnose::rules::decide(&x);
        prop_assert!(ntpdiag::diagnose::verdict::confidence_holds(&v), "{:?}", v);
    }
}
