use super::*;
use crate::diagnose::facts::{CertCheck, NtsClient, TrueTimeCheck};

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
