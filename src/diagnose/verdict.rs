//! Verdicts: a cause from the cause table ([`super::cause`]), the evidence
//! for it, a confidence and a fix.

pub use super::cause::{Cause, Class};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn id(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    /// The confidence an id names (`--json` read back).
    pub fn from_id(id: &str) -> Option<Confidence> {
        [Confidence::Low, Confidence::Medium, Confidence::High]
            .into_iter()
            .find(|c| c.id() == id)
    }
}

/// A possible explanation, with what would confirm or rule it out: the
/// cause it falls under (often the verdict's own, by another mechanism),
/// what it is in words, and how to tell.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Alternative {
    pub cause: Cause,
    pub what: String,
    pub tell_apart: String,
}

/// The diagnosis of one target.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verdict {
    pub cause: Cause,
    /// One sentence: what happened and what it means.
    pub summary: String,
    /// What was seen that supports it, packet by packet where it can be.
    pub evidence: Vec<String>,
    pub confidence: Confidence,
    /// What to do, most likely first.
    pub fix: Vec<String>,
    /// When the evidence leaves more than one explanation: each, in order of
    /// likelihood, with what would tell them apart.
    pub alternatives: Vec<Alternative>,
    /// Remarks that do not change the verdict.
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn new(cause: Cause, summary: impl Into<String>, confidence: Confidence) -> Verdict {
        Verdict {
            cause,
            summary: summary.into(),
            evidence: Vec::new(),
            confidence,
            fix: Vec::new(),
            alternatives: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Verdict {
        self.evidence.push(e.into());
        self
    }

    pub fn fix(mut self, f: impl Into<String>) -> Verdict {
        self.fix.push(f.into());
        self
    }

    pub fn alternative(
        mut self,
        cause: Cause,
        what: impl Into<String>,
        tell_apart: impl Into<String>,
    ) -> Verdict {
        self.alternatives.push(Alternative {
            cause,
            what: what.into(),
            tell_apart: tell_apart.into(),
        });
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Verdict {
        self.notes.push(n.into());
        self
    }
}

/// Where a verdict ranks among findings (lower first): the cause table's
/// rank, with a config error the daemon skips over (not of high confidence)
/// placed among the remarks, after every real finding. The one ranking:
/// explain's findings, pasted blocks, fleet, and [`lead`] all sort by it.
pub fn rank(v: &Verdict) -> u8 {
    rank_of(v.cause, v.confidence)
}

/// [`rank`] of a cause given with a confidence (a verdict read back from
/// JSON).
pub fn rank_of(cause: Cause, confidence: Confidence) -> u8 {
    if cause == Cause::ConfigError && confidence != Confidence::High {
        return super::cause::REMARK_RANK;
    }
    cause.info().rank
}

/// Whether a verdict blocks synchronization: not of class ok, and ranked
/// before the remarks ([`super::cause::REMARK_RANK`]). explain lists the
/// others as remarks.
pub fn blocks(v: &Verdict) -> bool {
    v.cause.class() != Class::Ok && rank(v) < super::cause::REMARK_RANK
}

/// Which verdict leads, the one rule for every command's first screen and
/// exit status (probe's targets, capture's conversations, explain's
/// findings, watch's and fleet's system, lab's nodes): the first by the
/// one ranking among those not of class ok, the one given first on a tie;
/// with none, none leads (the status is ok).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lead {
    best: Option<(u8, Class)>,
}

impl Lead {
    /// Counts one verdict, given in order.
    pub fn note(&mut self, v: &Verdict) {
        self.note_cause(v.cause, v.confidence);
    }

    /// Counts one cause with its confidence, given in order.
    pub fn note_cause(&mut self, cause: Cause, confidence: Confidence) {
        if cause.class() == Class::Ok {
            return;
        }
        let r = rank_of(cause, confidence);
        if self.best.is_none_or(|(b, _)| r < b) {
            self.best = Some((r, cause.class()));
        }
    }

    /// The leading verdict's class, if any is not ok.
    pub fn class(&self) -> Option<Class> {
        self.best.map(|(_, c)| c)
    }

    /// The exit status: the leading verdict's class's, 0 with none.
    pub fn exit_code(&self) -> u8 {
        self.class().map_or(0, Class::exit_code)
    }
}

/// The verdict that leads (see [`Lead`]); none when every one is ok.
pub fn lead<'a>(vs: impl IntoIterator<Item = &'a Verdict>) -> Option<&'a Verdict> {
    lead_by(vs, |v| (v.cause.class() != Class::Ok).then(|| rank(v)))
}

/// [`lead`] over any items, given each one's rank (`None`: it is ok).
pub fn lead_by<T>(
    items: impl IntoIterator<Item = T>,
    rank: impl Fn(&T) -> Option<u8>,
) -> Option<T> {
    items
        .into_iter()
        .filter_map(|t| rank(&t).map(|r| (r, t)))
        .fold(None, |best: Option<(u8, T)>, (r, t)| match best {
            Some((b, _)) if b <= r => best,
            _ => Some((r, t)),
        })
        .map(|(_, t)| t)
}

/// The exit status of verdicts given in order (see [`Lead`]).
pub fn exit_status<'a>(vs: impl IntoIterator<Item = &'a Verdict>) -> u8 {
    let mut l = Lead::default();
    for v in vs {
        l.note(v);
    }
    l.exit_code()
}

/// Several verdicts as one: the first by the one ranking, with each other's
/// summary (under its title) as evidence. For a paste's blocks and a
/// daemon's own output.
pub fn overall<'a>(items: impl IntoIterator<Item = (&'a str, &'a Verdict)>) -> Option<Verdict> {
    let items: Vec<(&str, &Verdict)> = items.into_iter().collect();
    let (i, (_, lead)) = items.iter().enumerate().min_by_key(|(_, (_, v))| rank(v))?;
    let mut v = (*lead).clone();
    for (j, (title, other)) in items.iter().enumerate() {
        if j != i {
            v.evidence.push(format!("{title}: {}", other.summary));
        }
    }
    Some(v)
}

/// What each confidence level promises (doc/json.md): `high` only when the
/// evidence excludes every other cause, so the alternatives it lists (if
/// any) refine its own cause id and never compete with it; an alternative
/// of another id makes it `medium` at most.
pub fn confidence_holds(v: &Verdict) -> bool {
    v.confidence != Confidence::High || v.alternatives.iter().all(|a| a.cause == v.cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(c: Cause) -> Verdict {
        Verdict::new(c, "", Confidence::High)
    }

    /// The one rule: the first by rank among those not ok, the first given
    /// on a tie; a skipped config line is a remark.
    #[test]
    fn the_lead_is_the_first_by_rank_among_those_not_ok() {
        let vs = [
            v(Cause::Ok),
            v(Cause::NoReply),
            v(Cause::DaemonNotRunning),
            v(Cause::PortUnreachable),
        ];
        assert_eq!(lead(&vs).unwrap().cause, Cause::DaemonNotRunning);
        assert_eq!(exit_status(&vs), 7);
        let tie = [v(Cause::PortUnreachable), v(Cause::AdminProhibited)];
        assert_eq!(lead(&tie).unwrap().cause, Cause::PortUnreachable);
        assert_eq!(lead(&[v(Cause::Ok), v(Cause::Outlier)]), None);
        assert_eq!(exit_status(&[v(Cause::Ok), v(Cause::Pending)]), 0);
        assert_eq!(exit_status(&[]), 0);
        let skipped = Verdict::new(Cause::ConfigError, "", Confidence::Medium);
        assert!(!blocks(&skipped));
        assert!(blocks(&v(Cause::ConfigError)));
        assert_eq!(
            lead([&skipped, &v(Cause::RestrictBlocksClients)])
                .unwrap()
                .cause,
            Cause::RestrictBlocksClients
        );
        assert!(!blocks(&v(Cause::UnrecognizedInput)));
        assert_eq!(exit_status(&[v(Cause::UnrecognizedInput)]), 2);
    }
}
