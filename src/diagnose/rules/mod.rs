//! The one rule table: [`Exchange`] → [`Verdict`]. Pure: same facts, same
//! verdict, whoever filled them (probe, capture, pasted output).
//!
//! Classify before explaining: [`STEPS`] is ordered from what is certain to
//! what is inferred — local failure, the daemon's own word, answers, ICMP
//! errors, silence — and the first step whose evidence is present decides
//! the class of problem. Its rules then pick the cause, in order; the last
//! rule of each step always applies. Every sentence an operator reads about
//! an exchange is written here (shared wording in [`prose`]), from facts.

use super::cause::{Cause, Class, kiss_fix};
use super::facts::{
    AnswerKind, CertProblem, Detail, Exchange, Fact, Icmp, KeConnect, Liveness, Local, NtsClient,
    Origin, Sender, TlsOutcome, Vantage, fmt_ms,
};
use super::table::{Rule, Step, When};
use super::verdict::{Confidence, Verdict};
use crate::engine::exchange::UnsyncReason;
use crate::engine::limits::{
    ANSWER_WINDOW, DISCARD_AVG_INTERVAL, DISCARD_MIN_INTERVAL, MAXDISP, MAXDIST_CHRONY,
    MAXDIST_NTPD, PANIC_THRESHOLD,
};
use crate::engine::local::LocalErrorKind;
use crate::wire::KissCode;
use crate::wire::icmp::IcmpKind;
use crate::wire::kiss::KissAction;
use crate::wire::refid::RefIdMeaning;

mod answers;
mod daemon;
mod header;
mod local;
mod nts;
mod refused;
mod silence;
#[cfg(test)]
mod tests;

use answers::*;
use daemon::*;
pub use local::{icmp_cause, local_cause};
use nts::*;
use refused::*;
pub use silence::source_ports;

/// Every cause a local failure stands for ([`local_cause`]).
const LOCAL_CAUSES: &[Cause] = &[
    Cause::LocalPortInUse,
    Cause::LocalPermissionDenied,
    Cause::LocalFirewallBlocksNtp,
    Cause::NetUnreachable,
    Cause::HostUnreachable,
    Cause::LocalError,
];

/// The table, in order: one step a screen line, each step's rules in its own file.
pub static STEPS: &[Step<Exchange>] = &[
    Step {
        name: "nts-ke",
        applies: When::If(nts::ke_alone),
        rules: nts::KE_RULES,
    },
    Step {
        name: "nts",
        applies: When::If(nts_failed),
        rules: nts::RULES,
    },
    Step {
        name: "local",
        applies: When::If(local::applies),
        rules: local::RULES,
    },
    Step {
        name: "daemon",
        applies: When::If(daemon::applies),
        rules: daemon::RULES,
    },
    Step {
        name: "answers",
        applies: When::If(answers::applies),
        rules: answers::RULES,
    },
    Step {
        name: "refused",
        applies: When::If(|e| e.icmp.is_some()),
        rules: refused::RULES,
    },
    Step {
        name: "header",
        applies: When::If(header::applies),
        rules: header::RULES,
    },
    Step {
        name: "silence",
        applies: When::Always,
        rules: silence::RULES,
    },
];

/// The verdict for one exchange, in the detail it asks for.
pub fn decide(e: &Exchange) -> Verdict {
    let v = decide_in_detail(e);
    // Every test that judges a headline checks it against the full verdict.
    #[cfg(debug_assertions)]
    if e.detail == Detail::Headline {
        let full = decide_in_detail(&Exchange {
            detail: Detail::Full,
            ..e.clone()
        });
        assert_eq!(
            (v.cause, v.evidence.first()),
            (full.cause, full.evidence.first()),
            "a headline verdict differs from the full one"
        );
    }
    v
}

fn decide_in_detail(e: &Exchange) -> Verdict {
    let (step, v) = super::table::judge(STEPS, e);
    let mut v = proven(e, v);
    // What follows adds notes and later lines of evidence, unless the rule
    // gave none: then it is the first line.
    if e.detail == Detail::Headline && !v.evidence.is_empty() {
        return v;
    }
    if step.name != "nts"
        && let Some(n) = &e.nts
    {
        for line in nts_summary(n) {
            v.evidence.push(line);
        }
    }
    if let Some(n) = &e.nts
        && n.ke_server.ip().is_loopback()
        && n.name.parse::<std::net::IpAddr>().is_err()
        && n.name != "localhost"
    {
        v.notes.push(format!(
            "{} resolves to a loopback address ({}): NTS talked to this host itself; check /etc/hosts if the server is elsewhere",
            n.name,
            n.ke_server.ip()
        ));
    }
    for f in &e.socket_errors {
        v.notes.push(format!(
            "the socket reported an error at {}: {} (the verdict may miss what it hid)",
            f.at, f.value
        ));
    }
    if let Some(w) = &e.wire {
        v.evidence.push(format!(
            "{} requests, {} answered, {} replies, {} ICMP errors, {} unanswered",
            e.requests,
            e.answered(),
            w.replies,
            e.icmp_count,
            w.unanswered
        ));
        if let Some(p) = &w.pending
            && v.cause != Cause::Pending
        {
            v.notes.push(format!(
                "the capture ended within {ANSWER_WINDOW:.0} s of {} request(s) (first{}): their answers may not be in it, and this verdict does not count them",
                p.value,
                at_suffix(&p.at)
            ));
        }
    }
    v
}

/// What proves good time: a sample that passed every packet test, or the
/// daemon's own word that it is synchronized to a real source; or what
/// is missing.
pub fn proof(e: &Exchange) -> Result<&'static str, &'static str> {
    if let Some(d) = &e.daemon
        && d.synchronized.as_ref().is_some_and(|s| s.value)
        && d.local_clock.is_none()
        && !over_panic(d.clock_offset_s.as_ref())
    {
        return Ok("the daemon says it is synchronized to a real source");
    }
    if e.valid == 0 {
        return Err("no answer passed the packet tests");
    }
    let Some(b) = &e.best else {
        // A tool's own count of answers that passed its tests (chronyc's
        // good samples, ntpq's reach with a sane header), without a sample.
        return Ok("answers passed the packet tests of the tool that printed them");
    };
    let s = &b.value.sample;
    if s.offset.abs() > PANIC_THRESHOLD {
        return Err("the best sample's offset is past the panic threshold");
    }
    if s.root_distance > MAXDIST_NTPD {
        return Err("the best sample's root distance is past ntpd's 1.5 s");
    }
    if let Some(h) = &b.value.header
        && (h.leap == crate::wire::packet::Leap::Unsynchronized
            || h.stratum == 0
            || h.stratum >= 16)
    {
        return Err("the best sample's header says its server is not synchronized");
    }
    Ok("a sample passed every packet test")
}

/// The one gate of `ok`: a rule's `ok` without [`proof`] is not judged,
/// with what is missing (rules are written not to need it; the property
/// test in `tests.rs` holds the table to it, gate or not).
fn proven(e: &Exchange, v: Verdict) -> Verdict {
    if v.cause != Cause::Ok {
        return v;
    }
    match proof(e) {
        Ok(_) => v,
        Err(missing) => {
            let mut n = Verdict::new(
                Cause::NotJudged,
                format!("{}: not judged: {missing}.", e.who),
                Confidence::Low,
            );
            n.evidence = v.evidence;
            n.fix(Cause::NotJudged.info().fix)
        }
    }
}

/// Words used by more than one rule, and by explain's node-level rules.
pub mod prose {
    pub const FW_DROPS: &str =
        "a firewall on the server drops udp/123 (iptables/nft DROP, firewalld)";
    pub const FW_TELL: &str = "on the server: `iptables -S INPUT`, `nft list ruleset`, `firewall-cmd --list-all`; DROP counters (`iptables -L INPUT -v -n`) grow while you probe";
    pub const RESTRICT: &str = "ntpd on the server ignores this client (`restrict … ignore`)";
    pub const RESTRICT_TELL: &str = "on the server: `grep ^restrict /etc/ntp.conf`; tcpdump there shows requests arriving and no reply leaving, with no firewall rule matching";
    pub const DOWN: &str = "the server is down or the address is wrong";
    pub const DOWN_TELL: &str =
        "ping it; for a host on this link, `ip neigh show <addr>` says FAILED/INCOMPLETE";
    pub const LOCAL_DROP: &str = "replies are dropped on this side (a local INPUT rule, or a NAT/stateful firewall on the path back)";
    pub const LOCAL_DROP_TELL: &str = "capture here (`ntpdiag capture any --duration 30s`, or `tcpdump -ni any udp port 123`): replies that arrive but never reach the client mean a local drop";
    pub const ALLOW_NTP: &str = "on the server, allow NTP requests from its clients: `iptables -I INPUT -p udp --dport 123 -s <clients' network> -j ACCEPT` (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`)";
    pub const PROBE_TO_NAME: &str = "run `ntpdiag probe <server>` from this node: its liveness check and ICMP errors name the cause";
    pub const STEP_ONCE: &str = "step the wrong clock once (`ntpd -gq`, `chronyc makestep`, or `ntpdig -S <server>`), then let the daemon keep it";
}

// ------------------------------------------------------------ helpers

/// An offset in seconds, or milliseconds below one second.
fn fmt_secs(v: f64) -> impl std::fmt::Display {
    Secs(v)
}

struct Secs(f64);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.abs() >= 1.0 {
            super::fixed::write_fixed(f, v, 3, true)?;
            f.write_str(" s")
        } else {
            super::fixed::write_fixed(f, v * 1000.0, 3, true)?;
            f.write_str(" ms")
        }
    }
}

fn over_panic(o: Option<&Fact<f64>>) -> bool {
    o.is_some_and(|f| f.value.abs() > PANIC_THRESHOLD)
}

/// " (packet #3 at …)", or nothing for an unknown origin.
fn at_suffix(at: &Origin) -> impl std::fmt::Display + '_ {
    AtSuffix(at)
}

struct AtSuffix<'a>(&'a Origin);

impl std::fmt::Display for AtSuffix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Origin::Unknown => Ok(()),
            o => write!(f, " ({o})"),
        }
    }
}

/// "N of M requests", or "N replies" when the number of requests is unknown.
fn of_requests(n: u64, e: &Exchange) -> impl std::fmt::Display {
    OfRequests(n, e.requests)
}

struct OfRequests(u64, u64);

impl std::fmt::Display for OfRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OfRequests(n, requests) = *self;
        f.write_str(itoa::Buffer::new().format(n))?;
        if requests > 0 {
            f.write_str(" of ")?;
            f.write_str(itoa::Buffer::new().format(requests))?;
            f.write_str(" requests")
        } else {
            f.write_str(" replies")
        }
    }
}
