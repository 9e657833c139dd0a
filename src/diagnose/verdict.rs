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
}

/// A possible explanation, with what would confirm or rule it out.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Alternative {
    pub cause: String,
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
        cause: impl Into<String>,
        tell_apart: impl Into<String>,
    ) -> Verdict {
        self.alternatives.push(Alternative {
            cause: cause.into(),
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
/// placed after every real finding. The one ranking: explain's findings and
/// pasted blocks both sort by it.
pub fn rank(v: &Verdict) -> u8 {
    if v.cause == Cause::ConfigError && v.confidence != Confidence::High {
        return 17;
    }
    v.cause.info().rank
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
