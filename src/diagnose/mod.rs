//! Evidence → verdict, as pure functions.
//!
//! - [`verdict`]: causes with stable ids, classes and exit codes, confidence;
//! - [`evidence`]: what the edge collected about a target;
//! - [`probe`]: the rules that turn a probe's evidence into a verdict.

pub mod evidence;
pub mod probe;
pub mod verdict;

pub use evidence::{Neighbour, SourcePort, TargetEvidence};
pub use verdict::{Alternative, Cause, Class, Confidence, Verdict};
