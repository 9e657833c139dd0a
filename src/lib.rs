//! ntpdiag: finds out why NTP does not synchronize, and says so.
//!
//! Layers, bottom up, one module each; a layer imports only layers below it
//! (`doc/architecture.md`, held by `tests/layers.rs`):
//! - [`wire`]: bytes ⇄ types (NTP header, timestamps, kiss codes, mode 6,
//!   NTS and NTS-KE records, ICMP error views);
//! - [`engine`]: the sans-IO protocol cores (exchange, probe, RFC 5905
//!   client, server, NTS server, rate limiter); [`scenario`]: server
//!   scenarios as data, on the engine;
//! - [`diagnose`]: every judgement: the cause table, the one table shape,
//!   each step table and its evidence, the one ranking;
//! - [`capture`] and [`net`], side by side: capture files and live capture
//!   → conversations; sockets, clock, resolver, the probe, server and watch
//!   loops, NTS over TLS;
//! - [`explain`]: readers of configurations and pasted output, collectors
//!   of a node's state;
//! - [`schema`]: every `--json` type, the watch table, the fleet's reader;
//! - [`lab`]: whole setups in network namespaces;
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
