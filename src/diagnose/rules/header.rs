//! The header step: replies whose requests are not in the capture. Without
//! the request the origin test cannot be applied, so such a reply never
//! proves good time; its header alone can still prove a fault (a kiss
//! code, leap 3, stratum 0 or 16, a malformed header), and its transmit
//! time against the capturing host's clock can prove an offset past panic.

use super::*;
use crate::diagnose::facts::HeaderTells;

pub(super) fn applies(e: &Exchange) -> bool {
    e.requests == 0 && told(e).is_some()
}

fn told(e: &Exchange) -> Option<&Fact<HeaderTells>> {
    e.wire.as_ref().and_then(|w| w.unpaired_told.as_ref())
}

pub(super) static RULES: &[Rule<Exchange>] = &[Rule {
    names: &[
        Cause::Kod(KissCode::Rate),
        Cause::UpstreamUnsynchronized,
        Cause::MalformedReply,
        Cause::OffsetOverPanic,
    ],
    when: When::Always,
    say: by_header,
}];

fn by_header(e: &Exchange) -> Verdict {
    let t = told(e).expect("checked");
    let w = e.wire.as_ref().expect("checked");
    let who = &e.who;
    let v = match &t.value {
        HeaderTells::Kiss(code, h) => Verdict::new(
            Cause::Kod(*code),
            format!(
                "{who} sends a Kiss-o'-Death {}: {}. Its request is not in the capture, so the kiss is not proven genuine.",
                code.text(),
                code.meaning()
            ),
            Confidence::Medium,
        )
        .evidence(header_line(&t.at, h))
        .fix(kiss_fix(*code)),
        HeaderTells::Unsynchronized(r, h) => Verdict::new(
            Cause::UpstreamUnsynchronized,
            format!(
                "{who} says in its replies that it is not synchronized itself ({}): no client can use its time.",
                r.describe()
            ),
            // A header's leap, stratum and root distance are the server's
            // own statement, whoever asked.
            Confidence::High,
        )
        .evidence(header_line(&t.at, h))
        .fix("on the server, see why it is not synchronized: `ntpq -p` / `chronyc sources` there"),
        HeaderTells::Malformed(what) => Verdict::new(
            Cause::MalformedReply,
            format!("{who} sends replies that are not well-formed NTP ({what})."),
            Confidence::High,
        )
        .evidence(format!("reply, {}: {what}", t.at))
        .fix(Cause::MalformedReply.info().fix),
        HeaderTells::FarFromCapture(off, h) => Verdict::new(
            Cause::OffsetOverPanic,
            format!(
                "{who}'s replies carry a time {} from the capturing host's clock: past the {PANIC_THRESHOLD:.0} s panic threshold, one of the two clocks is wrong.",
                fmt_secs(*off)
            ),
            // The capture's own clock is the yardstick, not a proven sample.
            Confidence::Medium,
        )
        .evidence(format!(
            "reply, {}: transmit time {} against the capture's clock at arrival: {} apart (round trip unknown)",
            t.at,
            h.transmit_ts.hex(),
            fmt_secs(*off)
        ))
        .alternative(
            Cause::LocalClockWrong,
            "the capturing host's clock is the wrong one",
            "compare the capturing host's clock with another source (`ntpdiag probe` of a second server)",
        )
        .fix(prose::STEP_ONCE),
    };
    v.evidence(format!(
        "{} replies without their requests in the capture, {} of them telling this by their header alone: the origin test could not be applied",
        w.unpaired, w.unpaired_told_count
    ))
    .note("capture both directions from before the client's first request to judge the exchange itself")
}

fn header_line(at: &Origin, h: &crate::wire::Repr) -> String {
    format!(
        "reply, {at}: leap {}, stratum {}, refid {}, root delay {:.3} s, root dispersion {:.3} s",
        h.leap.bits(),
        h.stratum,
        h.reference_id.display(h.stratum),
        h.root_delay.as_secs_f64(),
        h.root_dispersion.as_secs_f64()
    )
}
