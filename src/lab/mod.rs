//! `ntpdiag lab`: a whole NTP setup rebuilt on one machine — nodes in
//! network namespaces joined by links (bridges in the lab's own `hub`
//! namespace, with `tc netem` delay, jitter and loss), routers, firewall
//! rules, and on each node the built-in server, the built-in client engine
//! on the node's own clock, or a real ntpd or chronyd that never touches
//! the host clock.
//!
//! - [`topology`]: the file, checked, with errors at file:line.
//! - [`builtin`]: the seed, its fix, and the gallery of failures.
//! - [`setup`]: namespaces, links, addresses, routes, firewall, processes;
//!   teardown, and leftovers of labs that crashed.
//! - [`node`]: the process that runs a built-in node.
//! - [`vclock`], [`present`]: a node's own clock and what it shows (sans-IO).
//! - [`report`]: status (every node's billboard) and verdicts (`explain`
//!   run inside each client node).
//!
//! State lives in `/run/ntpdiag/lab/LAB/` (`NTPDIAG_LAB_DIR` moves it):
//! the topology as started, `state.json` (namespaces, processes by PID and
//! start time, the owner), and one folder per node.

pub mod builtin;
pub mod node;
pub mod present;
pub mod report;
pub mod setup;
pub mod shaper;
pub mod topology;
pub mod vclock;

use std::path::PathBuf;

/// Where labs keep their state.
pub fn base() -> PathBuf {
    std::env::var_os("NTPDIAG_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/ntpdiag/lab"))
}

/// Prefix of every namespace a lab creates.
pub const NETNS_PREFIX: &str = "ndl-";

/// The names and folders of one lab.
#[derive(Clone, Debug, PartialEq)]
pub struct Paths {
    pub lab: String,
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(lab: &str) -> Paths {
        Paths {
            lab: lab.into(),
            dir: base().join(lab),
        }
    }

    pub fn node(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node)
    }

    /// The node's file system overlay: its daemon's configuration, as
    /// `explain --root` reads it.
    pub fn root(&self, node: &str) -> PathBuf {
        self.node(node).join("root")
    }

    pub fn netns(&self, node: &str) -> String {
        format!("{NETNS_PREFIX}{}-{node}", self.lab)
    }

    pub fn hub(&self) -> String {
        self.netns("hub")
    }

    pub fn topology(&self) -> PathBuf {
        self.dir.join("topology.toml")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}

/// Errors the lab reports as such (the rest are `anyhow` context).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "ntpdiag lab needs root: it creates network namespaces, links and firewall rules (run it as root)"
    )]
    NotRoot,
    #[error("no lab named {0} is up (`ntpdiag lab status` lists them)")]
    NoSuchLab(String),
    #[error("several labs are up ({0}); say which with --lab")]
    WhichLab(String),
    #[error("no node {node} in lab {lab} (nodes: {nodes})")]
    NoSuchNode {
        lab: String,
        node: String,
        nodes: String,
    },
    #[error("lab {0} is being run by `ntpdiag lab run` (pid {1}); pick another --name")]
    Busy(String, u32),
    #[error(transparent)]
    Topology(#[from] crate::scenario::ScenarioError),
    #[error("setting up the lab: {0}")]
    Setup(String),
}

/// A name that becomes part of interface or namespace names: 1 to `max`
/// characters a-z, 0-9 and '-', starting with a letter.
pub fn check_name(s: &str, max: usize) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?}: expected 1-{max} characters a-z, 0-9 and '-', starting with a letter"
        ))
    }
}

/// A lab name: what `--name` takes (it becomes part of namespace names).
pub fn check_lab_name(s: &str) -> Result<(), String> {
    check_name(s, 40)
}
