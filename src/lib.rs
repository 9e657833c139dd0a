//! ntpdiag: finds out why NTP does not synchronize, and says so.
//!
//! Layers, each in its own module:
//! - [`wire`]: bytes ⇄ types (RFC 5905 packet, timestamps, kiss codes);
//! - [`engine`]: the sans-IO protocol core (client exchange, server responder);
//! - [`diagnose`]: evidence → verdict, a pure function;
//! - [`net`]: the edge (sockets, ICMP error queue, kernel timestamps, DNS);
//! - [`cli`]: command line, rendering, exit codes, man pages.

// `unsafe` is denied everywhere (Cargo.toml's [lints]) but in `net::mmsg`
// (batched socket I/O), `net::kernel` (one read-only adjtimex call) and
// `net::fdwait` (one ppoll), which expect it and document each block.

pub mod capture;
pub mod cli;
pub mod diagnose;
pub mod engine;
pub mod explain;
pub mod lab;
pub mod net;
pub mod scenario;
pub mod schema;
pub mod wire;
