//! `lab status --json` and `lab run --json`: every node's billboard, its
//! sources, its verdict (`explain` run inside it), and the timeline.

use serde::{Deserialize, Serialize};

use super::VerdictJson;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabSourceJson {
    pub address: String,
    pub tally: String,
    /// Octal, as ntpq and chronyc print it.
    pub reach: String,
    pub cause: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabNodeJson {
    pub name: String,
    pub role: Role,
    /// Seconds the node's clock is ahead of true time (the host clock);
    /// 0 for nodes on the host clock (real daemons, routers).
    pub clock_offset_s: f64,
    pub synchronized: Option<bool>,
    pub addresses: Vec<String>,
    pub sources: Vec<LabSourceJson>,
    /// `explain` inside the node (client nodes), else null.
    pub verdict: Option<VerdictJson>,
    /// What it serves, for serving nodes.
    pub serving: Option<String>,
    /// The node's own view, as its tool prints it (watch's table, ntpq -p,
    /// chronyc sources).
    pub view: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimelineJson {
    /// Seconds since the lab came up.
    pub t_s: f64,
    pub node: String,
    pub text: String,
    pub cause: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabJson {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub version: String,
    /// `lab status` or `lab run`.
    #[serde(default)]
    pub command: String,
    pub lab: String,
    pub topology: String,
    pub nodes: Vec<LabNodeJson>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub timeline: Vec<TimelineJson>,
    /// The client node whose verdict leads and sets the exit status (null
    /// when every one is ok).
    #[serde(default)]
    pub lead: Option<LeadJson>,
    pub exit_code: u8,
}

/// The verdict that leads a lab: its node, cause id and summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LeadJson {
    pub node: String,
    pub cause: String,
    pub summary: String,
}

/// What a node is, by what it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The built-in engine, not serving.
    Client,
    /// The built-in engine, serving its own clock.
    ClientServer,
    /// The built-in server.
    Server,
    Ntpd,
    Chronyd,
    Router,
    Host,
}

impl Role {
    pub fn id(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::ClientServer => "client-server",
            Role::Server => "server",
            Role::Ntpd => "ntpd",
            Role::Chronyd => "chronyd",
            Role::Router => "router",
            Role::Host => "host",
        }
    }

    /// Synchronizes to something: its verdict is worth asking for.
    pub fn is_client(self) -> bool {
        matches!(
            self,
            Role::Client | Role::ClientServer | Role::Ntpd | Role::Chronyd
        )
    }

    /// Runs the built-in node process (engine and/or server).
    pub fn is_builtin(self) -> bool {
        matches!(self, Role::Client | Role::ClientServer | Role::Server)
    }
}

impl LabJson {
    /// A document of `command` ("lab status", "lab run").
    pub fn new(
        command: &str,
        lab: String,
        topology: String,
        nodes: Vec<LabNodeJson>,
        timeline: Vec<TimelineJson>,
        lead: Option<LeadJson>,
        exit_code: u8,
    ) -> LabJson {
        LabJson {
            schema_version: super::SCHEMA_VERSION,
            tool: "ntpdiag".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: command.into(),
            lab,
            topology,
            nodes,
            timeline,
            lead,
            exit_code,
        }
    }
}

/// `lab list --json`: the built-in topologies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabListJson {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    pub topologies: Vec<TopologyJson>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TopologyJson {
    pub name: String,
    pub about: String,
}

impl LabListJson {
    pub fn new(topologies: Vec<TopologyJson>) -> LabListJson {
        LabListJson {
            schema_version: super::SCHEMA_VERSION,
            tool: "ntpdiag".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: "lab list".into(),
            topologies,
        }
    }
}
