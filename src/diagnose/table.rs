//! The one shape every judgement has: an ordered list of [`Step`]s over an
//! evidence type `E`, each an ordered list of [`Rule`]s. The first step
//! whose evidence is present decides the class of problem; the first of
//! its rules that applies gives the verdict. A step's last rule always
//! applies, and so does the last step: every evidence gets a verdict.
//!
//! The exchange table ([`super::rules::STEPS`]), the node table
//! ([`super::node`]), the watch tables ([`super::watch`]) and the fleet
//! table ([`super::fleet`]) all have this shape. Each rule names the causes
//! it can give ([`Rule::names`]); every debug build checks each verdict
//! against them, and the tables' tests do over generated evidence.

use super::cause::Cause;
use super::verdict::Verdict;

/// When a step or a rule applies.
pub enum When<E: 'static> {
    /// Always: the last rule of every step, and the last step.
    Always,
    If(fn(&E) -> bool),
}

impl<E> When<E> {
    pub fn holds(&self, e: &E) -> bool {
        match self {
            When::Always => true,
            When::If(f) => f(e),
        }
    }
}

/// One rule: the causes it can give, when it applies, and its verdict.
pub struct Rule<E: 'static> {
    /// Every cause `say` can return. A kiss-code cause stands for the whole
    /// kiss family (codes no registry lists included), see [`covers`].
    pub names: &'static [Cause],
    pub when: When<E>,
    pub say: fn(&E) -> Verdict,
}

/// A step: what evidence puts a case in it, and its rules in order.
pub struct Step<E: 'static> {
    pub name: &'static str,
    pub applies: When<E>,
    pub rules: &'static [Rule<E>],
}

/// The step and the rule that judge `e`.
pub fn pick<'a, E>(steps: &'a [Step<E>], e: &E) -> (&'a Step<E>, &'a Rule<E>) {
    let step = steps
        .iter()
        .find(|s| s.applies.holds(e))
        .expect("the last step always applies");
    let rule = step
        .rules
        .iter()
        .find(|r| r.when.holds(e))
        .expect("the last rule of a step always applies");
    (step, rule)
}

/// The verdict the table gives `e`, with its step; every debug build checks
/// that the rule gave a cause it names.
pub fn judge<'a, E>(steps: &'a [Step<E>], e: &E) -> (&'a Step<E>, Verdict) {
    let (step, rule) = pick(steps, e);
    let v = (rule.say)(e);
    #[cfg(debug_assertions)]
    if let Err(why) = named(step, rule, &v) {
        panic!("{why}");
    }
    (step, v)
}

/// Whether `rule` of `step` names the cause of `v` it gave, and keeps the
/// promise of its confidence ([`super::verdict::confidence_holds`]).
fn named<E>(step: &Step<E>, rule: &Rule<E>, v: &Verdict) -> Result<(), String> {
    if !super::verdict::confidence_holds(v) {
        return Err(format!(
            "a rule of step {} gave {} at high confidence beside alternatives of other causes",
            step.name,
            v.cause.id()
        ));
    }
    if covers(rule.names, v.cause) {
        return Ok(());
    }
    Err(format!(
        "a rule of step {} gave {}, which it does not name ({:?})",
        step.name,
        v.cause.id(),
        rule.names.iter().map(|c| c.id()).collect::<Vec<_>>()
    ))
}

/// Whether the rule that judges `e` names the cause it gives: checked
/// explicitly (release builds too) by the tables' tests over every fixture
/// and over generated evidence.
pub fn check_names<E>(steps: &[Step<E>], e: &E) -> Result<(), String> {
    let (step, rule) = pick(steps, e);
    named(step, rule, &(rule.say)(e))
}

/// Whether a rule naming `names` may give `c`: named exactly, or a kiss
/// code where the rule names a kiss code (one rule judges every code,
/// unregistered ones too).
pub fn covers(names: &[Cause], c: Cause) -> bool {
    names.contains(&c)
        || (matches!(c, Cause::Kod(_)) && names.iter().any(|n| matches!(n, Cause::Kod(_))))
}

/// The table's shape: every step ends in a rule that always applies, the
/// last step always applies, every rule names at least one cause, and the
/// step names are unique. For each table's tests.
pub fn check_shape<E>(steps: &[Step<E>]) -> Result<(), String> {
    let last = steps.last().ok_or("no steps")?;
    if !matches!(last.applies, When::Always) {
        return Err(format!(
            "the last step ({}) does not always apply",
            last.name
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        if steps[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("two steps named {}", s.name));
        }
        match s.rules.last() {
            Some(r) if matches!(r.when, When::Always) => {}
            _ => {
                return Err(format!(
                    "step {} does not end in a rule that always applies",
                    s.name
                ));
            }
        }
        if s.rules.iter().any(|r| r.names.is_empty()) {
            return Err(format!("a rule of step {} names no cause", s.name));
        }
    }
    Ok(())
}
