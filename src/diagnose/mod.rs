//! Evidence → verdict, as pure functions. Judgement lives here and only here.
//!
//! - [`cause`]: the cause table (ids, classes, exit codes, titles, meanings,
//!   default fixes) and the one ranking;
//! - [`facts`]: the one evidence type for a client–server exchange, which
//!   probe, capture, pasted output (and later watch) fill through adapters;
//! - [`rules`]: the one ordered rule table, facts → verdict;
//! - [`evidence`]: what a probe collected, and its adapter ([`probe`]).

pub mod cause;
pub mod evidence;
pub mod facts;
pub mod fixed;
pub mod fleet;
pub mod node;
pub mod paste;
pub mod probe;
pub mod rules;
pub mod table;
pub mod verdict;
pub mod watch;

pub use cause::{Cause, CauseInfo, Class};
pub use evidence::{Neighbour, SourcePort, TargetEvidence};
pub use facts::Exchange;
pub use verdict::{Alternative, Confidence, Verdict};
