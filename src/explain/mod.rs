//! The readers and collectors behind `ntpdiag explain`, `watch --config`
//! and lab: what a node's configuration, daemon, firewall and sockets say,
//! and what pasted output of the usual tools says. They fill evidence and
//! judge nothing: every verdict is [`crate::diagnose`]'s.
//!
//! - [`conf`]: configuration files (pure parsers);
//! - [`paste`]: tool outputs, read as their sources print them, into the
//!   exchange table's evidence (pure);
//! - [`firewall`]: iptables-save / nft output → rules about udp/123 (pure);
//! - [`node`]: what the collectors read, and its adapter to the node
//!   table's evidence (pure);
//! - [`sources`]: a configuration's sources as the client engine polls them;
//! - [`collect`]: the collectors (files, /proc, tools, probes) — the edge;
//! - [`host`]: the host beneath the daemon (virtualization, capabilities,
//!   clocksource, RTC, other agents, step policy, cloud): files under
//!   `--root`, and live-only reads marked so.

pub mod access;
pub mod collect;
pub mod conf;
pub mod firewall;
pub mod host;
pub mod node;
pub mod paste;
pub mod sources;
