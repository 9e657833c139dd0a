//! Evidence → verdict, as pure functions. Judgement lives here and only
//! here: no other module builds a [`Verdict`] or writes a cause id.
//!
//! - [`cause`]: the cause table (ids, classes, exit codes, ranks, titles,
//!   meanings, default fixes), and the rank where remarks begin;
//! - [`table`]: the one shape every judgement has (steps of rules, each
//!   rule naming the causes it gives);
//! - [`rules`]: the exchange table over [`facts::Exchange`], the one
//!   evidence type that probe ([`probe`], [`evidence`]), capture and pasted
//!   output fill; one file per step;
//! - [`node`]: a node's findings (explain); [`watch`]: a source's, the
//!   system's and the clock's (watch, lab); [`fleet`]: many nodes';
//!   [`paste`]: a text no reader knows, a daemon's source row;
//!   [`traffic`]: what a capture's other NTP traffic tells;
//! - [`verdict`]: the verdict, the one ranking, and which verdict leads
//!   ([`verdict::Lead`]) for every command's first screen and exit status;
//! - [`fixed`]: fast fixed-point number formatting for verdict text.

pub mod cause;
pub mod evidence;
pub mod facts;
pub mod fixed;
pub mod fleet;
pub mod host;
pub mod node;
pub mod paste;
pub mod probe;
pub mod rules;
pub mod table;
pub mod traffic;
pub mod verdict;
pub mod watch;

pub use cause::{Cause, CauseInfo, Class};
pub use evidence::{Neighbour, SourcePort, TargetEvidence};
pub use facts::Exchange;
pub use verdict::{Alternative, Confidence, Verdict};
