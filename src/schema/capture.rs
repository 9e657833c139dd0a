//! `capture --json`: per client host, per conversation and per NTS-KE
//! server, the counts and the verdict; the capture's statistics.

use serde::{Deserialize, Serialize};

use super::VerdictJson;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CaptureReport {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    pub link: String,
    pub stats: StatsJson,
    pub stopped_early: Option<String>,
    pub interrupted: bool,
    /// The server view: one verdict per server (every client host's
    /// conversations with it, judged as one).
    #[serde(default)]
    pub servers: Vec<GroupJson>,
    /// One verdict per client host and server (all its source ports).
    #[serde(default)]
    pub clients: Vec<GroupJson>,
    /// Every conversation (client addr:port ↔ server), the detail.
    pub conversations: Vec<ConversationJson>,
    /// NTS-KE (TCP 4460) per server: connection attempts and how they went.
    #[serde(default)]
    pub nts_ke: Vec<NtsKeJson>,
    pub exit_code: u8,
}

/// NTS-KE connections to one server, as the capture saw them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NtsKeJson {
    pub server: String,
    pub connections: u64,
    pub answered: u64,
    pub reset: u64,
    pub icmp_errors: u64,
    /// The first ICMP error's kind and sender.
    pub icmp_error: Option<String>,
    pub icmp_from: Option<String>,
    pub unanswered: u64,
    pub syn_retries: u64,
    pub with_data: u64,
    pub server_octets: u64,
    /// The verdict on these connections (nts-ke-refused, nts-ke-no-reply, ok).
    pub verdict: Option<VerdictJson>,
}

impl NtsKeJson {
    pub fn new(k: &crate::capture::track::KeSeen, v: &crate::diagnose::Verdict) -> NtsKeJson {
        NtsKeJson {
            server: k.server.map_or("?".into(), |s| s.to_string()),
            connections: k.connections,
            answered: k.answered,
            reset: k.reset,
            icmp_errors: k.icmp,
            icmp_error: k.icmp_first.map(|(e, _)| e.to_string()),
            icmp_from: k.icmp_first.map(|(_, a)| a.to_string()),
            unanswered: k.unanswered(),
            syn_retries: k.syn_retries,
            with_data: k.with_data,
            server_octets: k.server_octets,
            verdict: Some(v.into()),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StatsJson {
    pub frames: u64,
    pub ntp: u64,
    pub icmp: u64,
    pub fragments: u64,
    /// Datagrams rebuilt from fragments, and those missing a fragment.
    #[serde(default)]
    pub reassembled: u64,
    #[serde(default)]
    pub fragments_incomplete: u64,
    pub undecodable: u64,
    pub truncated: u64,
    pub control: u64,
    pub evicted: u64,
    /// Conversations beyond --max-kept: in the server view's totals only.
    #[serde(default)]
    pub folded: u64,
    /// Conversations of client hosts beyond --max-hosts: in their server's
    /// "others" group.
    #[serde(default)]
    pub hosts_folded: u64,
    /// Mode 6 (ntpq) queries and answers.
    #[serde(default)]
    pub control_queries: u64,
    #[serde(default)]
    pub control_answers: u64,
    /// Mode 7 (ntpdc) datagrams, and of them monlist requests (CVE-2013-5211).
    #[serde(default)]
    pub private: u64,
    #[serde(default)]
    pub monlist: u64,
    /// Symmetric peers (modes 1 and 2) and broadcasts (mode 5).
    #[serde(default)]
    pub symmetric: u64,
    #[serde(default)]
    pub broadcast: u64,
    /// NTP datagrams by version field, 0 to 7.
    #[serde(default)]
    pub versions: Vec<u64>,
    /// Datagrams carrying NTS extension fields, a MAC, a crypto-NAK.
    #[serde(default)]
    pub nts: u64,
    #[serde(default)]
    pub mac: u64,
    #[serde(default)]
    pub crypto_nak: u64,
    /// TCP segments to or from the NTS-KE port (4460).
    #[serde(default)]
    pub nts_ke: u64,
}

/// What a conversation or a group of them holds, in numbers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Counts {
    pub first_packet: Option<u64>,
    pub last_packet: Option<u64>,
    pub requests: u64,
    pub answered: u64,
    pub replies: u64,
    pub icmp_errors: u64,
    pub unanswered: u64,
    /// Requests sent within the answer window (4 s) of the capture's end:
    /// neither answered nor unanswered.
    #[serde(default)]
    pub pending: u64,
    pub best_offset_s: Option<f64>,
    pub best_delay_s: Option<f64>,
}

impl From<&crate::capture::track::Conv> for Counts {
    fn from(c: &crate::capture::track::Conv) -> Counts {
        Counts {
            first_packet: c.first.map(|a| a.no),
            last_packet: c.last.map(|a| a.no),
            requests: c.requests,
            answered: c.answered,
            replies: c.replies,
            icmp_errors: c.rare().icmp_n,
            unanswered: c.unanswered(),
            pending: c.rare().pending_at_end,
            best_offset_s: c.best.as_ref().map(|b| b.0.offset),
            best_delay_s: c.best.as_ref().map(|b| b.0.delay),
        }
    }
}

/// A group of conversations judged as one: a client host with a server,
/// or a server with all its clients.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct GroupJson {
    /// The client host's address; null in a server's group.
    pub client: Option<String>,
    pub server: String,
    /// Client hosts in the group (1 for a client host's).
    pub clients: usize,
    /// Conversations (client source ports) in the group.
    pub conversations: usize,
    #[serde(flatten)]
    pub counts: Counts,
    pub verdict: VerdictJson,
}

pub fn group_json(g: &crate::capture::view::ServerGroup) -> GroupJson {
    GroupJson {
        client: g.client.map(|c| c.to_string()),
        server: g.server.to_string(),
        clients: g.clients,
        conversations: g.conversations,
        counts: (&*g.conv).into(),
        verdict: (&g.verdict).into(),
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConversationJson {
    pub client: String,
    pub server: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub verdict: VerdictJson,
}
