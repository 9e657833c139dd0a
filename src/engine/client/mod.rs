//! The RFC 5905 client engine, sans-IO: associations with their poll
//! process, reach registers and clock filters; selection, cluster and
//! combine under a rule profile; the clock update a daemon would make,
//! computed and never applied. Time and randomness come in as parameters.

pub mod filter;
pub mod rules;
pub mod select;
