//! `ntpdiag explain`: one verdict for a broken node, from its configuration,
//! daemon, firewall, sockets and probes of its servers — or from pasted
//! output of the usual tools.
//!
//! - [`conf`]: configuration files (pure parsers);
//! - [`paste`]: tool outputs (pure parsers and explanations);
//! - [`firewall`]: iptables-save / nft output → rules about udp/123 (pure);
//! - [`node`]: a node's evidence → ranked findings (pure);
//! - [`collect`]: the collectors (files, /proc, tools, probes) — the edge.

pub mod collect;
pub mod conf;
pub mod firewall;
pub mod node;
pub mod paste;
