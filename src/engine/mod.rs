//! The sans-IO protocol core (RFC 5905): bytes and time in, decisions out.
//! No sockets, no clock reads; the `net` edge supplies both.
//!
//! - [`exchange`]: one client request and the judgement of a reply;
//! - [`probe`]: a probe session (several exchanges, liveness check) as a
//!   state machine with `poll_transmit`/`handle_*`/`poll_timeout`;
//! - [`server`]: the responder that turns a request into a reply;
//! - [`local`]: local failures as domain values.

pub mod acl;
pub mod client;
pub mod control;
pub mod exchange;
pub mod limits;
pub mod local;
pub mod nts;
pub mod probe;
pub mod profile;
pub mod ratelimit;
pub mod server;
