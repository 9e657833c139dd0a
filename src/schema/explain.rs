//! `explain --json`: the node's or the paste's verdict, every finding, each
//! pasted block with its notes, and the configuration read.

use serde::{Deserialize, Serialize};

use super::probe::VerdictJson;
use crate::explain::paste;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FindingJson {
    pub subject: String,
    pub verdict: VerdictJson,
    /// It keeps the node from synchronizing (shown on the first screen),
    /// as opposed to a remark (a skipped config line, an outlier).
    #[serde(default)]
    pub blocks: bool,
    /// The configured server it is about (host as written), if any.
    #[serde(default)]
    pub server: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NoteJson {
    pub line: String,
    pub meaning: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BlockJson {
    pub kind: String,
    /// The command that printed it, when the paste shows its prompt.
    #[serde(default)]
    pub command: Option<String>,
    /// Where the block starts in the paste (1-based).
    #[serde(default)]
    pub first_line: usize,
    pub notes: Vec<NoteJson>,
    pub verdict: VerdictJson,
}

/// A time source line of the configuration.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConfiguredSourceJson {
    pub host: String,
    /// server, pool, peer, refclock, manycastclient, broadcastclient, multicastclient.
    pub kind: String,
    pub options: Vec<String>,
    pub file: String,
    pub line: usize,
}

/// An access line: ntpd `restrict`, chrony `allow`/`deny`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AccessJson {
    pub target: String,
    pub mask: Option<String>,
    pub flags: Vec<String>,
    /// chrony allow (true) / deny (false); ntpd restrict: false.
    pub allow: bool,
    pub file: String,
    pub line: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConfigIssueJson {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// The daemon refuses to start on it (else it skips the line).
    pub fatal: bool,
}

/// What explain read of the node's configuration.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DaemonConfigJson {
    pub daemon: String,
    pub files: Vec<String>,
    pub sources: Vec<ConfiguredSourceJson>,
    pub access: Vec<AccessJson>,
    pub issues: Vec<ConfigIssueJson>,
    /// What it says about NTS (sources, trusted certificates, time checks,
    /// the NTS-KE server's key and certificate).
    #[serde(default)]
    pub nts: crate::explain::conf::NtsSettings,
}

impl From<&crate::explain::conf::Config> for DaemonConfigJson {
    fn from(c: &crate::explain::conf::Config) -> DaemonConfigJson {
        DaemonConfigJson {
            daemon: c.daemon.name().into(),
            files: c.files.clone(),
            sources: c
                .sources
                .iter()
                .map(|s| ConfiguredSourceJson {
                    host: s.host.clone(),
                    kind: s.kind.name().into(),
                    options: s.options.clone(),
                    file: s.file.clone(),
                    line: s.line,
                })
                .collect(),
            access: c
                .access
                .iter()
                .map(|a| AccessJson {
                    target: a.target.clone(),
                    mask: a.mask.clone(),
                    flags: a.flags.clone(),
                    allow: a.allow,
                    file: a.file.clone(),
                    line: a.line,
                })
                .collect(),
            issues: c
                .issues
                .iter()
                .map(|i| ConfigIssueJson {
                    file: i.file.clone(),
                    line: i.line,
                    message: i.message.clone(),
                    fatal: i.fatal,
                })
                .collect(),
            nts: c.nts(),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ExplainReport {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    /// `node` or `paste`.
    pub mode: String,
    /// The machine that printed it (for `ntpdiag fleet`).
    #[serde(default)]
    pub node: Option<super::probe::NodeJson>,
    pub verdict: VerdictJson,
    pub findings: Vec<FindingJson>,
    pub blocks: Vec<BlockJson>,
    /// The configuration of the daemon in use (node mode; null when none
    /// was found or for pasted output).
    #[serde(default)]
    pub config: Option<DaemonConfigJson>,
    /// Every other daemon's configuration found.
    #[serde(default)]
    pub other_configs: Vec<DaemonConfigJson>,
    /// What the host beneath the daemon says (node mode; null for pasted
    /// output): each fact with the file or call it came from, and `live`
    /// where only the running host can give it.
    #[serde(default)]
    pub host: Option<crate::diagnose::host::HostFacts>,
    pub exit_code: u8,
}

pub fn explain_report(
    mode: &str,
    verdict: VerdictJson,
    findings: Vec<FindingJson>,
    blocks: Vec<BlockJson>,
    code: u8,
) -> ExplainReport {
    ExplainReport {
        schema_version: super::probe::SCHEMA_VERSION,
        tool: "ntpdiag".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: "explain".into(),
        mode: mode.into(),
        node: Some(super::probe::NodeJson::here()),
        verdict,
        findings,
        blocks,
        config: None,
        other_configs: vec![],
        host: None,
        exit_code: code,
    }
}

pub fn block_json(b: &paste::Explained) -> BlockJson {
    BlockJson {
        kind: format!("{:?}", b.kind),
        command: b.command.clone(),
        first_line: b.first_line,
        notes: b
            .notes
            .iter()
            .map(|n| NoteJson {
                line: n.line.clone(),
                meaning: n.meaning.clone(),
            })
            .collect(),
        verdict: (&b.verdict).into(),
    }
}
