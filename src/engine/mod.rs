//! The sans-IO protocol cores: bytes, time and randomness in, decisions
//! out. No sockets, no clock reads, no random source of their own
//! (`tests/layers.rs` holds them to it); the `net` edge supplies all three.
//!
//! - [`exchange`]: one client request and the judgement of a reply;
//! - [`probe`]: a probe session (several exchanges, liveness check) as a
//!   state machine with `poll_transmit`/`handle_*`/`poll_timeout`;
//! - [`client`]: the RFC 5905 client (associations, clock filter,
//!   selection, cluster, combine) under ntpd's, chrony's or the RFC's rules,
//!   and replay of recorded traces;
//! - [`server`]: the responder that turns a request into a reply;
//!   [`profile`]: a server with faults on purpose, [`acl`] and
//!   [`ratelimit`] its access list and rate limiter, [`control`] its mode 6
//!   answers, [`nts`] its NTS side;
//! - [`cookies`]: an NTS client's cookie jar and protocol state;
//! - [`jump`]: clock jumps no one here made (a step seen in the clocks
//!   themselves, or every source moving at once);
//! - [`limits`]: every threshold a judgement uses, with its source;
//! - [`local`]: local failures as domain values.

pub mod acl;
pub mod client;
pub mod control;
pub mod cookies;
pub mod exchange;
pub mod jump;
pub mod limits;
pub mod local;
pub mod nts;
pub mod probe;
pub mod profile;
pub mod ratelimit;
pub mod server;
