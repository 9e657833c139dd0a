//! `causes --json`: the cause table as documents.

use serde::{Deserialize, Serialize};

use crate::diagnose::CauseInfo;

/// One row of `causes --json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CauseJson {
    pub id: String,
    pub class: String,
    pub exit_code: u8,
    pub title: String,
    pub means: String,
    pub tell_apart: String,
    pub fix: String,
    pub emitted_by: Vec<String>,
    /// Where it ranks when several verdicts compete (lower leads): the one
    /// ranking that picks the first screen and the exit status.
    #[serde(default)]
    pub rank: u8,
    /// A blocker (ranked before the remarks, not of class ok): it keeps
    /// time from working.
    #[serde(default)]
    pub blocks: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CausesReport {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    pub causes: Vec<CauseJson>,
    /// Set when ID is not a cause id.
    pub error: Option<String>,
    pub exit_code: u8,
}

impl From<&CauseInfo> for CauseJson {
    fn from(i: &CauseInfo) -> CauseJson {
        CauseJson {
            id: i.id.to_string(),
            class: i.class.id().into(),
            exit_code: i.class.exit_code(),
            title: i.title.to_string(),
            means: i.means.to_string(),
            tell_apart: i.tell.to_string(),
            fix: i.fix.to_string(),
            emitted_by: i.emitted_by.iter().map(|s| s.to_string()).collect(),
            rank: i.rank,
            blocks: i.blocks(),
        }
    }
}
