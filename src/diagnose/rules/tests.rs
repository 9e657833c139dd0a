use super::*;
use crate::diagnose::facts::{CertCheck, HostSign, NtsClient, TrueTimeCheck};

fn nts_cert(problem: CertProblem, at_true: Option<TrueTimeCheck>) -> Exchange {
    let mut x = Exchange::new(Vantage::Probe, "ntp.test (198.51.100.1:123)");
    x.nts = Some(NtsClient {
        ke_server: "198.51.100.1:4460".parse().unwrap(),
        name: "ntp.test".into(),
        trust: vec![],
        connect: KeConnect::Connected { ms: 1.0 },
        tls: None,
        chain: vec![],
        cert: Some(CertCheck {
            problem,
            at_true_time: at_true,
        }),
        ke: None,
        ntp: None,
    });
    x
}

fn check(valid: bool, problem: Option<CertProblem>) -> Option<TrueTimeCheck> {
    Some(TrueTimeCheck {
        offset_s: 172_800.0,
        valid,
        detail: None,
        problem,
    })
}

/// The certificate's dates against this host's clock and the server's:
/// valid at the server's time is this host's clock; refused there for
/// another reason is that reason; no server time leaves the dates.
#[test]
fn certificate_dates_against_the_servers_time() {
    let early = CertProblem::NotYetValid {
        now: 0,
        not_before: Some(100),
    };
    let d = |x: &Exchange| decide(x).cause;
    assert_eq!(
        d(&nts_cert(early.clone(), check(true, None))),
        Cause::LocalClockWrong
    );
    let untrusted = CertProblem::Untrusted {
        detail: "BadSignature".into(),
    };
    assert_eq!(
        d(&nts_cert(early.clone(), check(false, Some(untrusted)))),
        Cause::NtsCertificateUntrusted
    );
    let later = CertProblem::Expired {
        now: 0,
        not_after: Some(0),
    };
    assert_eq!(
        d(&nts_cert(early.clone(), check(false, Some(later)))),
        Cause::NtsCertificateNotYetValid
    );
    let v = decide(&nts_cert(early, None));
    assert_eq!(v.cause, Cause::NtsCertificateNotYetValid);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("server's time is unknown"))
    );
}

#[test]
fn the_table_has_the_one_shape() {
    crate::diagnose::table::check_shape(STEPS).unwrap();
}

/// Every kiss code, registered or not, is named by the rule that judges
/// kisses (the `kod-*` family), and nothing else is.
#[test]
fn the_kiss_family_is_one_name() {
    use crate::diagnose::table::covers;
    let kod = [Cause::Kod(KissCode::Rate)];
    assert!(covers(&kod, Cause::Kod(KissCode::Deny)));
    assert!(covers(&kod, Cause::Kod(KissCode::Unknown(*b"XYZW"))));
    assert!(!covers(&kod, Cause::NoReply));
    assert!(!covers(&[Cause::NoReply], Cause::Kod(KissCode::Rate)));
}

// ------------------------------------------------ ok needs proof (issue 25)

mod ok_needs_proof {
    use super::*;
    use crate::diagnose::facts::{
        Best, DaemonView, HeaderTells, Icmp, Kiss, Malformed, SilentSource, Unsync, Wire,
    };
    use crate::engine::exchange::Sample;
    use crate::wire::icmp::{IcmpError, IcmpFamily};
    use crate::wire::packet::{Leap, Mode};
    use crate::wire::{NtpShort, NtpTimestamp, ReferenceId, Repr};
    use proptest::prelude::*;

    fn header(leap: u8, stratum: u8) -> Repr {
        Repr {
            leap: Leap::from_bits(leap),
            version: 4,
            mode: Mode::Server,
            stratum,
            poll: 6,
            precision: -20,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort(0),
            reference_id: ReferenceId(*b"GPS\0"),
            reference_ts: NtpTimestamp(1),
            origin_ts: NtpTimestamp(2),
            receive_ts: NtpTimestamp(3),
            transmit_ts: NtpTimestamp(4),
        }
    }

    prop_compose! {
        fn best()(
            offset in prop_oneof![-1.0f64..1.0, -5000.0f64..5000.0],
            dist in prop_oneof![0.0f64..0.2, 0.0f64..20.0],
            head in proptest::option::of((0u8..4, 0u8..20)),
        ) -> Best {
            Best {
                sample: Sample { offset, delay: 0.01, dispersion: 0.0, root_distance: dist },
                header: head.map(|(l, s)| header(l, s)),
            }
        }
    }

    prop_compose! {
        fn daemon()(
            synced in proptest::option::of(any::<bool>()),
            sources in 0usize..4,
            answering in 0usize..4,
            falsetickers in 0usize..3,
            offset in proptest::option::of(-3000.0f64..3000.0),
            local in any::<bool>(),
            unreachable in proptest::bool::weighted(0.1),
            none in proptest::bool::weighted(0.1),
        ) -> DaemonView {
            DaemonView {
                daemon: "ntpd".into(),
                synchronized: synced.map(|s| Fact::new(s, Origin::Unknown)),
                sys_peer: None,
                sources,
                answering,
                falsetickers,
                clock_offset_s: offset.map(|o| Fact::new(o, Origin::Unknown)),
                status: None,
                unreachable: unreachable.then(|| Fact::new("refused".into(), Origin::Unknown)),
                no_sources: none.then_some(Origin::Unknown),
                local_clock: local.then(|| Fact::new("LOCAL(0)".into(), Origin::Unknown)),
                too_few: (none && local).then(|| Fact::new("too few".into(), Origin::Unknown)),
                constraint_failed: (none && unreachable)
                    .then(|| Fact::new("constraints configured but none available".into(), Origin::Unknown)),
                other_discipline: (local && unreachable).then(|| {
                    Fact::new(
                        crate::diagnose::facts::OtherAgent {
                            what: "VM IC Time Synchronization Provider".into(),
                            seen_acting: synced.is_some(),
                        },
                        Origin::Unknown,
                    )
                }),
                unexplained: (none && !local)
                    .then(|| Fact::new("peer not valid".into(), Origin::Unknown)),
                host_signs: match (sources, answering) {
                    (3, 0) => vec![Fact::new(HostSign::NotSettable("adjtimex(0x8001) failed : Operation not permitted".into()), Origin::Unknown)],
                    (3, 1) => vec![Fact::new(HostSign::Frequency("-512 PPM".into()), Origin::Unknown)],
                    (3, 2) => vec![Fact::new(HostSign::Jump("Forward time jump detected".into()), Origin::Unknown)],
                    (3, 3) => vec![Fact::new(HostSign::QuarterHours(3600.0), Origin::Unknown)],
                    _ => vec![],
                },
            }
        }
    }

    prop_compose! {
        fn wire()(
            replies in 0u64..4,
            unanswered in 0u64..4,
            cut in 0u64..2,
            pending in proptest::option::of(1u64..3),
            unpaired in 0u64..3,
            told in proptest::option::of(0u8..4),
        ) -> Wire {
            let h = header(0, 2);
            Wire {
                replies,
                unanswered,
                replies_cut: cut,
                pending: pending.map(|p| Fact::new(p, Origin::Unknown)),
                unpaired,
                unpaired_told: told.filter(|_| unpaired > 0).map(|t| Fact::new(match t {
                    0 => HeaderTells::Kiss(crate::wire::KissCode::Rate, h),
                    1 => HeaderTells::Unsynchronized(crate::engine::exchange::UnsyncReason::LeapAlarm, h),
                    2 => HeaderTells::Malformed("short".into()),
                    _ => HeaderTells::FarFromCapture(4000.0, h),
                }, Origin::Unknown)),
                unpaired_told_count: u64::from(told.is_some() && unpaired > 0),
                ..Wire::default()
            }
        }
    }

    prop_compose! {
        fn exchange()(
            vantage in 0u8..3,
            requests in 0u64..6,
            valid in 0u64..4,
            best in proptest::option::of(best()),
            first in proptest::option::of(0u8..3),
            kiss in proptest::bool::weighted(0.15),
            unsync in 0u64..3,
            bogus in 0u64..2,
            malformed in 0u64..2,
            icmp in proptest::bool::weighted(0.15),
            silent in 0usize..3,
            daemon in proptest::option::of(daemon()),
            wire in proptest::option::of(wire()),
            liveness in proptest::option::of(0u8..3),
            probe in any::<bool>(),
        ) -> Exchange {
            let mut x = Exchange::new(
                match vantage {
                    0 => Vantage::Probe,
                    1 => Vantage::Capture,
                    _ => Vantage::Paste("ntpq"),
                },
                "s",
            );
            x.requests = requests;
            x.valid = valid;
            x.best = best.filter(|_| valid > 0).map(|b| Fact::new(b, Origin::Unknown));
            if kiss {
                x.add_kiss(
                    Kiss { code: KissCode::Deny, header: None, origin_checked: true },
                    Origin::Unknown,
                );
            }
            for _ in 0..unsync {
                x.add_unsync(
                    Unsync { reason: None, header: None, stratum: Some(16), refid: None },
                    Origin::Unknown,
                );
            }
            for _ in 0..bogus {
                x.add_bogus(
                    crate::diagnose::facts::Bogus { from: None, detail: "origin".into() },
                    Origin::Unknown,
                );
            }
            for _ in 0..malformed {
                x.add_malformed(
                    Malformed { from: None, len: Some(10), detail: "short".into() },
                    Origin::Unknown,
                );
            }
            if icmp {
                x.add_icmp(
                    Icmp {
                        error: IcmpError { family: IcmpFamily::V4, icmp_type: 3, code: 3 },
                        offender: None,
                        sender: Sender::Server,
                        rtt_ms: None,
                    },
                    Origin::Unknown,
                );
            }
            for i in 0..silent {
                x.add_silent(Fact::new(
                    SilentSource { name: format!("s{i}"), why: "reach 0".into(), over_polls: true },
                    Origin::Unknown,
                ));
            }
            // The first answer is one of the kinds present.
            let present: Vec<AnswerKind> = [
                (x.valid > 0, AnswerKind::Valid),
                (x.kiss_count > 0, AnswerKind::Kiss),
                (x.unsync_count > 0, AnswerKind::Unsynchronized),
            ]
            .into_iter()
            .filter_map(|(p, k)| p.then_some(k))
            .collect();
            x.first_answer = first
                .filter(|_| !present.is_empty())
                .map(|f| present[f as usize % present.len()]);
            x.daemon = daemon;
            x.wire = wire;
            x.server = Some("198.51.100.1:123".parse().unwrap());
            x.liveness = liveness.map(|l| Fact::new(match l {
                0 => crate::diagnose::facts::Liveness::Icmp {
                    error: IcmpError { family: IcmpFamily::V4, icmp_type: 3, code: 3 },
                    offender: Some("198.51.100.1".parse().unwrap()),
                },
                1 => crate::diagnose::facts::Liveness::Replied,
                _ => crate::diagnose::facts::Liveness::Silent,
            }, Origin::Unknown));
            if probe {
                x.probe = Some(crate::diagnose::facts::ProbeSettings {
                    samples: 4,
                    version: 4,
                    timeout_s: 1.0,
                    interval_ms: 200,
                    liveness_port: 33434,
                });
            }
            x
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// No `ok` without a sample that passed every packet test or a
        /// daemon synchronized to a real source: from the rules themselves
        /// (before the gate in `decide`), and from `decide`.
        #[test]
        fn no_ok_without_proof(e in exchange()) {
            let (_, raw) = crate::diagnose::table::judge(STEPS, &e);
            if raw.cause == Cause::Ok {
                prop_assert!(proof(&e).is_ok(), "a rule said ok without proof: {e:?}\n{raw:?}");
            }
            let v = decide(&e);
            if v.cause == Cause::Ok {
                prop_assert!(proof(&e).is_ok(), "{e:?}\n{v:?}");
            }
            prop_assert!(crate::diagnose::verdict::confidence_holds(&v), "{e:?}\n{v:?}");
        }
    }

    /// The gate itself, for a rule written later without proof: its ok
    /// becomes not-judged, saying what is missing, with the rule's evidence.
    #[test]
    fn the_gate_says_what_is_missing() {
        let mut e = Exchange::new(Vantage::Probe, "s");
        e.valid = 1;
        e.best = Some(Fact::new(
            Best {
                sample: Sample {
                    offset: 0.0,
                    delay: 0.01,
                    dispersion: 0.0,
                    root_distance: 0.1,
                },
                header: Some(header(3, 2)),
            },
            Origin::Unknown,
        ));
        let ruled = Verdict::new(Cause::Ok, "s gives good time", Confidence::High).evidence("e1");
        let v = proven(&e, ruled);
        assert_eq!(v.cause, Cause::NotJudged, "{v:?}");
        assert_eq!(v.evidence, ["e1"]);
        // And the table itself names the fault.
        assert_eq!(decide(&e).cause, Cause::UpstreamUnsynchronized);
        assert!(v.summary.contains("not synchronized"), "{}", v.summary);
    }
}
