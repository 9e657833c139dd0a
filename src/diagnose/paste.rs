//! Pasted text as a whole: what a text that holds no tool output is
//! ([`INPUT_STEPS`] over [`InputFacts`]), and a paste's verdict beside what
//! probing its silent servers found ([`with_probes`]). Each block of a paste
//! is judged by the exchange table; explain's readers fill the facts.

use super::cause::{Cause, Class};
use super::table::{Rule, Step, When, judge};
use super::verdict::{Confidence, Verdict, rank};

/// What the input table reads of a text no reader recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFacts {
    /// Characters as read.
    pub chars: usize,
    /// Non-empty lines.
    pub lines: usize,
    /// Binary data: a NUL, or more than one character in ten a control
    /// character other than white space.
    pub binary: bool,
    /// The first non-empty line, control characters left out, at most 80.
    pub first_line: String,
    /// Output a reader knows but does not judge (chronyc activity, …): what it is.
    pub read_not_judged: Option<String>,
    /// What explain reads, for the note.
    pub readers: &'static str,
}

impl InputFacts {
    /// The adapter for any text (`read_not_judged` is the readers' word).
    pub fn of(text: &str, read_not_judged: Option<String>, readers: &'static str) -> InputFacts {
        InputFacts {
            chars: text.chars().count(),
            lines: text.lines().filter(|l| !l.trim().is_empty()).count(),
            binary: text.contains('\0')
                || text
                    .chars()
                    .filter(|c| c.is_control() && !c.is_whitespace())
                    .count()
                    * 10
                    > text.chars().count().max(1),
            first_line: text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(80)
                .collect(),
            read_not_judged,
            readers,
        }
    }
}

/// A text that holds no tool output: what it was.
pub static INPUT_STEPS: &[Step<InputFacts>] = &[Step {
    name: "unrecognized",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::UnrecognizedInput],
            when: When::If(|f| f.lines == 0),
            say: |f| unrecognized(f, "The input is empty.".into()),
        },
        Rule {
            names: &[Cause::UnrecognizedInput],
            when: When::If(|f| f.binary),
            say: |f| {
                unrecognized(
                    f,
                    format!(
                        "The input is binary data ({} characters as read), not a tool's output.",
                        f.chars
                    ),
                )
            },
        },
        Rule {
            names: &[Cause::UnrecognizedInput],
            when: When::If(|f| f.read_not_judged.is_some()),
            say: |f| {
                unrecognized(
                    f,
                    format!(
                        "The input is {}: read, but it says nothing of whether time works. Paste the daemon's source table and status with it (`chronyc sources` and `chronyc tracking`, or `ntpq -p` and `ntpq -c rv`).",
                        f.read_not_judged.as_deref().unwrap_or_default()
                    ),
                )
            },
        },
        Rule {
            names: &[Cause::UnrecognizedInput],
            when: When::Always,
            say: |f| {
                unrecognized(
                    f,
                    format!(
                        "None of the {} line(s) given is output of a tool explain reads.",
                        f.lines
                    ),
                )
            },
        },
    ],
}];

fn unrecognized(f: &InputFacts, what: String) -> Verdict {
    let mut v = Verdict::new(Cause::UnrecognizedInput, what, Confidence::High)
        .evidence(format!(
            "{} characters, {} non-empty line(s)",
            f.chars, f.lines
        ))
        .fix(Cause::UnrecognizedInput.info().fix)
        .note(f.readers);
    if !f.first_line.is_empty() && !f.binary {
        v = v.evidence(format!("first line: {}", f.first_line));
    }
    v
}

/// The verdict on a text that holds no tool output.
pub fn unrecognized_input(f: &InputFacts) -> Verdict {
    judge(INPUT_STEPS, f).1
}

/// The paste's verdict beside what probing its silent servers from this
/// node found (`explain --probe`): a probe that names the silence ranks
/// first (by the one ranking) and keeps the paste's word as evidence;
/// every probe is noted.
pub fn with_probes(pasted: Verdict, probed: &[(String, Verdict)]) -> Verdict {
    let mut v = pasted;
    if let Some((host, top)) = probed
        .iter()
        .filter(|(_, pv)| pv.cause.class() != Class::Ok)
        .min_by_key(|(_, pv)| rank(pv))
        && rank(top) <= rank(&v)
    {
        let said = v.summary.clone();
        v = top.clone();
        v.summary = format!("{host}, probed from here: {}", v.summary);
        v.evidence.push(format!("the paste: {said}"));
    }
    for (host, pv) in probed {
        v.notes.push(format!(
            "probed {host} from here: [{}] {}",
            pv.cause.id(),
            pv.summary
        ));
    }
    v
}

/// One row of a daemon's source table (`ntpq -p`, `chronyc sources`), as
/// a lab node's or a fleet's per-source verdict: the row's tally, and the
/// verdict on the daemon's whole output.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonRow {
    /// The daemon uses it (ntpq `*` `+` `#` `o`, chronyc `*` `+`).
    pub usable: bool,
    /// The exchange table's verdict on the output the row is in.
    pub output: Option<Verdict>,
}

/// A row: ok when the daemon uses the source, else what its output says,
/// else silence.
pub static ROW_STEPS: &[Step<DaemonRow>] = &[Step {
    name: "row",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::Ok],
            when: When::If(|r| r.usable),
            say: |_| {
                Verdict::new(Cause::Ok, "the daemon uses this source", Confidence::High)
                    .evidence("its tally marks it used")
            },
        },
        Rule {
            names: Cause::ANY,
            when: When::If(|r| r.output.is_some()),
            say: |r| r.output.clone().expect("checked by the rule"),
        },
        Rule {
            names: &[Cause::NoReply],
            when: When::Always,
            say: |_| {
                Verdict::new(
                    Cause::NoReply,
                    "the daemon does not use this source, and its output says no more",
                    Confidence::Low,
                )
                .evidence(
                    "its tally marks it unused; no block of the daemon's output names a cause",
                )
                .fix(crate::diagnose::rules::prose::PROBE_TO_NAME)
            },
        },
    ],
}];

/// A row's verdict.
pub fn daemon_row(r: &DaemonRow) -> Verdict {
    judge(ROW_STEPS, r).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_the_one_shape() {
        crate::diagnose::table::check_shape(INPUT_STEPS).unwrap();
        crate::diagnose::table::check_shape(ROW_STEPS).unwrap();
    }

    #[test]
    fn empty_binary_and_other_text() {
        let say = |t: &str| unrecognized_input(&InputFacts::of(t, None, "r")).summary;
        assert_eq!(say(" \n\n"), "The input is empty.");
        assert!(say("\0\u{1}\u{2}ab").starts_with("The input is binary data"));
        assert!(say("hello\nworld\n").starts_with("None of the 2 line(s)"));
    }
}
