//! The NTS steps: NTS-KE seen on its own (a capture's TCP 4460 per server), and
//! an NTS client's failure (probe --nts), the first thing that stopped it.

use super::*;

/// NTS-KE seen on its own: connections to 4460, no NTP request, nothing heard.
pub(super) fn ke_alone(e: &Exchange) -> bool {
    e.nts_ke.as_ref().is_some_and(|k| k.value.connections > 0) && e.requests == 0 && !e.heard()
}

pub(super) static KE_RULES: &[Rule<Exchange>] = &[
    Rule {
        names: &[Cause::NtsKeRefused],
        when: When::If(|e| {
            e.nts_ke.as_ref().is_some_and(|k| {
                k.value.answered == 0 && (k.value.reset > 0 || k.value.icmp.is_some())
            })
        }),
        say: nts_ke_refused,
    },
    Rule {
        names: &[Cause::NtsKeNoReply],
        when: When::If(|e| e.nts_ke.as_ref().is_some_and(|k| k.value.answered == 0)),
        say: nts_ke_no_reply,
    },
    Rule {
        names: &[Cause::NotJudged],
        when: When::Always,
        say: nts_ke_answered,
    },
];

pub(super) static RULES: &[Rule<Exchange>] = &[
    Rule {
        names: &[Cause::LocalFirewallBlocksNtp],
        when: When::If(
            |e| matches!(&nts(e).connect, KeConnect::Refused { icmp: Some(i), .. } if i.sender == Sender::ClientHost),
        ),
        say: nts_refused_here,
    },
    Rule {
        names: &[Cause::NtsKeRefused],
        when: When::If(|e| matches!(nts(e).connect, KeConnect::Refused { .. })),
        say: nts_refused,
    },
    Rule {
        names: &[Cause::NtsKeNoReply],
        when: When::If(|e| matches!(nts(e).connect, KeConnect::NoReply { .. })),
        say: nts_no_reply,
    },
    Rule {
        names: LOCAL_CAUSES,
        when: When::If(|e| matches!(nts(e).connect, KeConnect::Failed { .. })),
        say: nts_local,
    },
    Rule {
        names: &[Cause::LocalClockWrong],
        when: When::If(|e| {
            nts(e).cert.as_ref().is_some_and(|c| {
                time_problem(&c.problem) && c.at_true_time.as_ref().is_some_and(|t| t.valid)
            })
        }),
        say: local_clock_wrong,
    },
    Rule {
        names: &[
            Cause::NtsCertificateExpired,
            Cause::NtsCertificateNotYetValid,
            Cause::NtsCertificateUntrusted,
            Cause::NtsCertificateNameMismatch,
        ],
        when: When::If(|e| nts(e).cert.is_some()),
        say: certificate,
    },
    Rule {
        names: &[Cause::NtsTlsFailed],
        when: When::If(|e| tls_failed(nts(e))),
        say: nts_tls_failed,
    },
    Rule {
        names: &[Cause::NtsKeError],
        when: When::If(|e| ke_error(nts(e))),
        say: nts_ke_error,
    },
    Rule {
        names: &[Cause::NtsNoCookies],
        when: When::If(|e| nts(e).ke.as_ref().is_some_and(|k| k.cookies == 0)),
        say: nts_no_cookies,
    },
    Rule {
        names: &[Cause::Kod(KissCode::Ntsn)],
        when: When::If(|e| nts(e).ntp.as_ref().is_some_and(|n| n.ntsn > 0)),
        say: nts_ntsn,
    },
    Rule {
        names: &[Cause::NtsReplyNotAuthentic],
        when: When::If(|e| {
            nts(e)
                .ntp
                .as_ref()
                .is_some_and(|n| n.authenticated == 0 && n.unverified > 0)
        }),
        say: nts_not_authentic,
    },
    Rule {
        names: &[Cause::NtsPacketsDropped],
        when: When::Always,
        say: nts_packets_dropped,
    },
];

pub(super) fn nts_ke_counts(k: &crate::diagnose::facts::NtsKe) -> String {
    format!(
        "{} NTS-KE connection(s): {} answered, {} refused by RST, {} by ICMP, {} unanswered ({} SYN(s) sent again)",
        k.connections, k.answered, k.reset, k.icmp_count, k.unanswered, k.syn_retries
    )
}

pub(super) fn nts_ke_refused(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    let w = &e.who;
    let (head, evidence) = match &k.icmp {
        Some(i) if k.reset == 0 => (
            format!(
                "{w}: connections to NTS-KE (TCP 4460) are refused with {} from {}.",
                i.error,
                by(i)
            ),
            format!(
                "{} ICMP error(s) quoting SYNs to port 4460, the first {} from {}",
                k.icmp_count,
                i.error,
                i.offender.map_or("?".to_string(), |o| o.to_string())
            ),
        ),
        _ => (
            format!(
                "{w}: connections to NTS-KE (TCP 4460) are refused with a TCP RST from the server's address — nothing listens on 4460 there, or a firewall rejects with tcp-reset."
            ),
            format!("{} SYN(s) to port 4460 answered by RST", k.reset),
        ),
    };
    Verdict::new(Cause::NtsKeRefused, head, Confidence::High)
        .evidence(evidence)
        .evidence(nts_ke_counts(k))
        .fix(Cause::NtsKeRefused.info().fix)
}

pub(super) fn nts_ke_no_reply(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    Verdict::new(
        Cause::NtsKeNoReply,
        format!(
            "{}: connections to NTS-KE (TCP 4460) get no answer at all — dropped on the way or at the server, or the host is down.",
            e.who
        ),
        Confidence::Medium,
    )
    .evidence(format!(
        "{} SYN(s) to port 4460 and {} sent again, no SYN-ACK, RST or ICMP error back",
        k.unanswered, k.syn_retries
    ))
    .evidence(nts_ke_counts(k))
    .fix(Cause::NtsKeNoReply.info().fix)
}

pub(super) fn nts_ke_answered(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    Verdict::new(
        Cause::NotJudged,
        format!(
            "{}: NTS-KE (TCP 4460) answers, but no NTP exchange with it is in the capture: its time is not judged.",
            e.who
        ),
        Confidence::Low,
    )
    .evidence(nts_ke_counts(k))
    .fix("capture the NTP exchange that follows the key exchange (udp/123 to the server the KE names), or `ntpdiag probe --nts SERVER`")
    .note("a capture sees that the TLS connection was made, not what it carried (the certificate, the KE records)")
}

// ------------------------------------------------------------ NTS (probe --nts)

pub(super) fn nts(e: &Exchange) -> &NtsClient {
    e.nts.as_ref().expect("checked")
}

pub(super) fn time_problem(p: &CertProblem) -> bool {
    matches!(
        p,
        CertProblem::Expired { .. } | CertProblem::NotYetValid { .. }
    )
}

pub(super) fn tls_failed(n: &NtsClient) -> bool {
    match &n.tls {
        Some(TlsOutcome::Failed { .. }) => true,
        Some(TlsOutcome::Done { alpn, .. }) => alpn.as_deref() != Some("ntske/1"),
        None => false,
    }
}

pub(super) fn ke_error(n: &NtsClient) -> bool {
    n.ke.as_ref().is_some_and(|k| {
        k.problem.is_some()
            || !k.errors.is_empty()
            || !k.unknown_critical.is_empty()
            || !k.next_protocols.as_ref().is_some_and(|p| p.contains(&0))
            || k.aead.as_ref().is_none_or(|a| a.is_empty())
    })
}

/// The NTS client stopped somewhere, or its requests alone went unanswered.
pub(super) fn nts_failed(e: &Exchange) -> bool {
    let Some(n) = &e.nts else {
        return false;
    };
    matches!(
        n.connect,
        KeConnect::Refused { .. } | KeConnect::NoReply { .. } | KeConnect::Failed { .. }
    ) || n.cert.is_some()
        || tls_failed(n)
        || ke_error(n)
        || n.ke.as_ref().is_some_and(|k| k.cookies == 0)
        || n.ntp.as_ref().is_some_and(|x| {
            x.ntsn > 0
                || (x.sent > 0 && x.authenticated == 0 && (x.unverified > 0 || e.answered() > 0))
        })
}

pub(super) fn date(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

pub(super) fn cert_lines(n: &NtsClient) -> Vec<String> {
    n.chain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "certificate {}: subject {}, issuer {}{}, valid {} to {}, names {}",
                i,
                c.subject,
                c.issuer,
                if c.self_signed { " (self-signed)" } else { "" },
                date(c.not_before),
                date(c.not_after),
                if c.sans.is_empty() {
                    "none".to_string()
                } else {
                    c.sans.join(" ")
                }
            )
        })
        .collect()
}

pub(super) fn ke_lines(n: &NtsClient) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(TlsOutcome::Done {
        version,
        suite,
        alpn,
    }) = &n.tls
    {
        v.push(format!(
            "TLS with {}: {version}, {suite}, ALPN {}",
            n.ke_server,
            alpn.as_deref().unwrap_or("none")
        ));
    }
    if let Some(k) = &n.ke {
        let list = |l: &Option<Vec<u16>>| {
            l.as_ref().map_or("absent".to_string(), |x| {
                if x.is_empty() {
                    "empty".to_string()
                } else {
                    x.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            })
        };
        v.push(format!(
            "NTS-KE answer: {} record(s), next protocol {}, AEAD {}, {} cookie(s){}{}{}",
            k.received.len(),
            list(&k.next_protocols),
            list(&k.aead),
            k.cookies,
            k.cookie_len
                .map(|l| format!(" of {l} octets"))
                .unwrap_or_default(),
            k.server
                .as_ref()
                .map(|s| format!(", NTP server {s}"))
                .unwrap_or_default(),
            k.port
                .map(|p| format!(", NTP port {p}"))
                .unwrap_or_default()
        ));
        if k.cookie_lens_differ {
            v.push("the cookies are not all of one length: ntpsec refuses such a jar (\"NTSc: Cookie length mismatch\")".to_string());
        }
    }
    v
}

pub(super) fn ntp_line(n: &NtsClient) -> Option<String> {
    let x = n.ntp.as_ref()?;
    Some(format!(
        "NTS requests ({} octets) to {}: {} sent, {} authenticated, {} NTSN, {} not authentic{}",
        x.request_len,
        x.address.map_or("?".to_string(), |a| a.to_string()),
        x.sent,
        x.authenticated,
        x.ntsn,
        x.unverified,
        x.first_unverified
            .as_ref()
            .map(|r| format!(" (first: {r})"))
            .unwrap_or_default()
    ))
}

/// The NTS lines added to a verdict another step made.
pub(super) fn nts_summary(n: &NtsClient) -> Vec<String> {
    let mut v = ke_lines(n);
    v.extend(ntp_line(n));
    v
}

pub(super) fn nts_refused(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Refused {
        icmp,
        icmp_readable,
        error,
    } = &n.connect
    else {
        unreachable!("checked")
    };
    let (head, ev) = match icmp {
        Some(i) => (
            format!(
                "{}: NTS-KE (TCP {}) is refused with {} from {}.",
                e.who,
                n.ke_server.port(),
                i.error,
                by(i)
            ),
            format!(
                "the connection to {} failed ({error}); the ICMP error quoting our SYN came from {}",
                n.ke_server,
                i.offender.map_or("?".to_string(), |o| o.to_string())
            ),
        ),
        None => (
            format!(
                "{}: NTS-KE (TCP {}) is refused: nothing listens there, or a firewall rejects the connection.",
                e.who,
                n.ke_server.port()
            ),
            if *icmp_readable {
                format!(
                    "the connection to {} failed at once: {error}, and no ICMP error quoted our SYN: a TCP RST",
                    n.ke_server
                )
            } else {
                format!(
                    "the connection to {} failed at once: {error} (a TCP RST, or an ICMP error this host could not read without root)",
                    n.ke_server
                )
            },
        ),
    };
    let mut v = Verdict::new(Cause::NtsKeRefused, head, Confidence::High).evidence(ev);
    if e.answered() > 0 {
        v = v.evidence(format!(
            "plain NTP with the same host is answered ({} of {} requests): only NTS is refused",
            e.answered(),
            e.requests
        ));
    }
    v.fix(Cause::NtsKeRefused.info().fix)
}

pub(super) fn nts_refused_here(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Refused {
        icmp: Some(i),
        error,
        ..
    } = &n.connect
    else {
        unreachable!("checked")
    };
    Verdict::new(
        Cause::LocalFirewallBlocksNtp,
        format!(
            "{}: this host's firewall rejects the connection to NTS-KE (TCP {}).",
            e.who,
            n.ke_server.port()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "the connection to {} failed ({error}); the {} quoting our SYN came from this host ({})",
        n.ke_server,
        i.error,
        i.offender.map_or("?".to_string(), |o| o.to_string())
    ))
    .fix("allow TCP 4460 out: `iptables -I OUTPUT -p tcp --dport 4460 -j ACCEPT` (and udp/123 for the NTP that follows)")
    .fix(Cause::LocalFirewallBlocksNtp.info().fix)
}

pub(super) fn nts_local(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Failed { error } = &n.connect else {
        unreachable!("checked")
    };
    let cause = local_cause(error.kind);
    let head = match cause {
        Cause::LocalFirewallBlocksNtp => format!(
            "{}: this host's firewall refuses the connection to NTS-KE (TCP {}).",
            e.who,
            n.ke_server.port()
        ),
        _ => format!(
            "{}: the connection to NTS-KE (TCP {}) failed on this host: {}.",
            e.who,
            n.ke_server.port(),
            error.message
        ),
    };
    let mut v = Verdict::new(cause, head, Confidence::High).evidence(format!(
        "{} {} failed: {}",
        error.op, error.target, error.message
    ));
    if cause == Cause::LocalFirewallBlocksNtp {
        v = v
            .evidence("EPERM: an OUTPUT rule (iptables/nftables) dropped or rejected the SYN")
            .fix("allow TCP 4460 out: `iptables -I OUTPUT -p tcp --dport 4460 -j ACCEPT` (and udp/123 for the NTP that follows)");
    }
    v.fix(cause.info().fix)
}

pub(super) fn nts_no_reply(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::NoReply { waited_s } = &n.connect else {
        unreachable!("checked")
    };
    let mut v = Verdict::new(
        Cause::NtsKeNoReply,
        format!(
            "{}: NTS-KE (TCP {}) gets no answer at all: dropped on the way or at the server.",
            e.who,
            n.ke_server.port()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "no SYN-ACK, RST or ICMP error from {} in {waited_s:.1} s",
        n.ke_server
    ));
    v = if e.answered() > 0 {
        v.evidence(format!(
            "plain NTP with the same host is answered ({} of {} requests): the host is up and only TCP {} is dropped",
            e.answered(),
            e.requests,
            n.ke_server.port()
        ))
    } else {
        v.evidence("plain NTP with the same host is not answered either: the host may be down or all of it filtered")
    };
    v.fix(Cause::NtsKeNoReply.info().fix)
        .note("a DROP rule in this host's own OUTPUT chain looks the same from here (TCP reports no error for it): `iptables -S OUTPUT`")
}

pub(super) fn true_time_line(c: &crate::diagnose::facts::CertCheck) -> String {
    match &c.at_true_time {
        Some(t) => format!(
            "an unauthenticated NTP exchange with the same host puts its clock {:+.0} s from this host's; at that time the chain {}",
            t.offset_s,
            if t.valid {
                "verifies".to_string()
            } else {
                format!(
                    "is refused too ({})",
                    t.detail.as_deref().unwrap_or("?")
                )
            }
        ),
        None => "no unauthenticated NTP answer from the same host: the server's time is unknown, so whether this host's clock is right could not be checked".to_string(),
    }
}

pub(super) fn local_clock_wrong(e: &Exchange) -> Verdict {
    let n = nts(e);
    let c = n.cert.as_ref().expect("checked");
    let t = c.at_true_time.as_ref().expect("checked");
    let what = match &c.problem {
        CertProblem::Expired { now, .. } => format!("expired at this host's time ({})", date(*now)),
        CertProblem::NotYetValid { now, .. } => {
            format!("not yet valid at this host's time ({})", date(*now))
        }
        _ => unreachable!("checked"),
    };
    let mut v = Verdict::new(
        Cause::LocalClockWrong,
        format!(
            "{}: this machine's clock is {} off: the NTS certificate is {what}, but valid at the time the server gives.",
            e.who,
            humantime::format_duration(std::time::Duration::from_secs(t.offset_s.abs().round() as u64))
        ),
        Confidence::High,
    )
    .evidence(true_time_line(c));
    for l in cert_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::LocalClockWrong.info().fix)
}

pub(super) fn certificate(e: &Exchange) -> Verdict {
    let n = nts(e);
    let c = n.cert.as_ref().expect("checked");
    // Refused for its dates here, and for something else at the server's
    // time: that something else is what setting the clock would not fix.
    let problem = match &c.at_true_time {
        Some(t) if !t.valid => match &t.problem {
            Some(p) if !time_problem(p) => p,
            _ => &c.problem,
        },
        _ => &c.problem,
    };
    let (cause, head) = match problem {
        CertProblem::Expired { not_after, .. } => (
            Cause::NtsCertificateExpired,
            format!(
                "{}: the NTS-KE server's certificate expired{}.",
                e.who,
                not_after
                    .map(|t| format!(" on {}", date(t)))
                    .unwrap_or_default()
            ),
        ),
        CertProblem::NotYetValid { not_before, .. } => (
            Cause::NtsCertificateNotYetValid,
            format!(
                "{}: the NTS-KE server's certificate is not valid yet{}.",
                e.who,
                not_before
                    .map(|t| format!(" (from {})", date(t)))
                    .unwrap_or_default()
            ),
        ),
        CertProblem::Untrusted { detail } => (
            Cause::NtsCertificateUntrusted,
            format!(
                "{}: the NTS-KE server's certificate is not trusted here: {detail}.",
                e.who
            ),
        ),
        CertProblem::NameMismatch {
            expected,
            presented,
        } => (
            Cause::NtsCertificateNameMismatch,
            format!(
                "{}: the NTS-KE server's certificate is not for {}{}.",
                e.who,
                if expected.is_empty() {
                    &n.name
                } else {
                    expected
                },
                if presented.is_empty() {
                    String::new()
                } else {
                    format!(" (it names {})", presented.join(", "))
                }
            ),
        ),
    };
    let mut v = Verdict::new(cause, head, Confidence::High);
    if time_problem(&c.problem) {
        v = v.evidence(true_time_line(c));
    }
    for l in cert_lines(n) {
        v = v.evidence(l);
    }
    if matches!(problem, CertProblem::Untrusted { .. }) {
        v = v.evidence(format!("trusted here: {}", n.trust.join("; ")));
    }
    v.fix(cause.info().fix)
}

pub(super) fn nts_tls_failed(e: &Exchange) -> Verdict {
    let n = nts(e);
    let (head, ev) = match &n.tls {
        Some(TlsOutcome::Failed {
            no_tls13: true,
            detail,
            ..
        }) => (
            "the NTS-KE server does not speak TLS 1.3, which NTS requires".to_string(),
            format!("TLS alert: {detail}"),
        ),
        Some(TlsOutcome::Failed {
            no_alpn: true,
            detail,
            ..
        }) => (
            "the NTS-KE server refuses ALPN ntske/1".to_string(),
            format!("TLS alert: {detail}"),
        ),
        Some(TlsOutcome::Failed {
            cut: true, detail, ..
        }) => (
            "the TLS handshake on the NTS-KE port does not finish".to_string(),
            detail.clone(),
        ),
        Some(TlsOutcome::Failed { detail, .. }) => (
            "the TLS handshake on the NTS-KE port fails".to_string(),
            detail.clone(),
        ),
        Some(TlsOutcome::Done { version, alpn, .. }) => (
            "the NTS-KE server completes TLS without selecting ALPN ntske/1 (RFC 8915 §4: the client must stop)".to_string(),
            format!(
                "{version}, ALPN selected: {}",
                alpn.as_deref().unwrap_or("none")
            ),
        ),
        None => unreachable!("checked"),
    };
    let v = Verdict::new(
        Cause::NtsTlsFailed,
        format!("{}: {head}.", e.who),
        Confidence::High,
    )
    .evidence(format!("{} (port {})", ev, n.ke_server.port()));
    v.fix(Cause::NtsTlsFailed.info().fix)
}

pub(super) fn nts_ke_error(e: &Exchange) -> Verdict {
    let n = nts(e);
    let k = n.ke.as_ref().expect("checked");
    let head = if let Some(code) = k.errors.first() {
        format!(
            "the NTS-KE server answered with Error {code} ({})",
            crate::wire::nts_ke::error_name(*code)
        )
    } else if let Some(p) = &k.problem {
        format!("the NTS-KE answer cannot be used: {p}")
    } else if !k.unknown_critical.is_empty() {
        format!(
            "the NTS-KE answer has critical records this client does not know ({:?})",
            k.unknown_critical
        )
    } else if !k.next_protocols.as_ref().is_some_and(|p| p.contains(&0)) {
        "the NTS-KE server offers no NTPv4 (Next Protocol 0)".to_string()
    } else {
        "the NTS-KE server shares no AEAD algorithm with this client (it offered AEAD_AES_SIV_CMAC_256, 15)".to_string()
    };
    let mut v = Verdict::new(
        Cause::NtsKeError,
        format!("{}: {head}.", e.who),
        Confidence::High,
    );
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsKeError.info().fix)
}

pub(super) fn nts_no_cookies(e: &Exchange) -> Verdict {
    let n = nts(e);
    let mut v = Verdict::new(
        Cause::NtsNoCookies,
        format!(
            "{}: the NTS-KE server completed the key exchange but gave no cookies.",
            e.who
        ),
        Confidence::High,
    );
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsNoCookies.info().fix)
}

pub(super) fn nts_ntsn(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let code = crate::wire::KissCode::Ntsn;
    let mut v = Verdict::new(
        Cause::Kod(code),
        format!(
            "{}: the server answers NTS requests with the kiss NTSN: {}.",
            e.who,
            code.meaning()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "{} of {} NTS request(s) drew NTSN, with cookies from the key exchange just made",
        x.ntsn, x.sent
    ));
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(kiss_fix(code))
}

pub(super) fn nts_not_authentic(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::NtsReplyNotAuthentic,
        format!(
            "{}: NTS-protected requests are answered, but not with NTS: {}.",
            e.who,
            x.first_unverified
                .as_deref()
                .unwrap_or("the replies do not verify")
        ),
        Confidence::High,
    )
    .evidence(ntp_line(n).unwrap_or_default());
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsReplyNotAuthentic.info().fix)
}

pub(super) fn nts_packets_dropped(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::NtsPacketsDropped,
        format!(
            "{}: NTS-protected requests ({} octets) vanish while plain ones (48 octets) to the same address are answered.",
            e.who, x.request_len
        ),
        Confidence::High,
    )
    .evidence(format!(
        "plain NTP: {} of {} requests answered",
        e.answered(),
        e.requests
    ));
    v = v.evidence(ntp_line(n).unwrap_or_default());
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsPacketsDropped.info().fix)
}
