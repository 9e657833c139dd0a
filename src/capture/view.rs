//! The server view: conversations (client addr:port ↔ server:123) summed
//! per client host and server as the tracker closes them, and per server,
//! each sum judged as one. A client that sends each request from a new
//! source port (chrony, ntpdig: RFC 9109) is one client host here, not
//! dozens of conversations; the view stays complete when the capture holds
//! more conversations than are kept in detail.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::judge;
use super::track::{self, Conv};
use crate::diagnose::Verdict;

/// A group of conversations judged as one.
#[derive(Clone, Debug)]
pub struct ServerGroup {
    /// The client host (None: every client of the server).
    pub client: Option<IpAddr>,
    pub server: SocketAddr,
    /// Conversations (source ports) in it.
    pub conversations: usize,
    /// Client hosts in it (1 for a client-host group).
    pub clients: usize,
    pub conv: Box<Conv>,
    pub verdict: Verdict,
}

/// The verdict of one (client host, server) group.
pub fn judge_host(g: &track::HostGroup) -> Verdict {
    judge::judge_as(&g.conv, asked_by(&g.server().to_string(), &host_name(g)))
}

/// [`judge_host`]'s cause and first line of evidence, with the group's
/// client host and server already written (a table row shows them too).
pub fn headline_host(g: &track::HostGroup, host: &str, server: &str) -> Verdict {
    judge::headline_as(&g.conv, asked_by(server, host))
}

/// "server (asked by host)", the name of a group in prose.
fn asked_by(server: &str, host: &str) -> String {
    let mut who = String::with_capacity(server.len() + host.len() + 12);
    who.push_str(server);
    who.push_str(" (asked by ");
    who.push_str(host);
    who.push(')');
    who
}

/// How the client hosts beyond --max-hosts are named.
pub const OTHER_HOSTS: &str = "other client hosts";

/// A group's client host as shown: its address, or the client hosts
/// beyond --max-hosts.
pub fn host_name(g: &track::HostGroup) -> String {
    if g.others {
        OTHER_HOSTS.into()
    } else {
        g.client().to_string()
    }
}

/// One verdict per server: every client host's conversations with it.
pub fn by_server(groups: &[track::HostGroup]) -> Vec<ServerGroup> {
    let mut per: BTreeMap<SocketAddr, (Box<Conv>, usize, usize)> = BTreeMap::new();
    for g in groups {
        match per.get_mut(&g.server()) {
            Some((c, convs, hosts)) => {
                c.merge(&g.conv);
                *convs += g.conversations;
                *hosts += 1;
            }
            None => {
                per.insert(g.server(), (g.conv.clone(), g.conversations, 1));
            }
        }
    }
    let mut out: Vec<ServerGroup> = per
        .into_iter()
        .map(|(server, (conv, conversations, clients))| ServerGroup {
            client: None,
            server,
            conversations,
            clients,
            verdict: judge::judge_as(
                &conv,
                format!("{server} (asked by {clients} client host(s))"),
            ),
            conv,
        })
        .collect();
    out.sort_by_key(|g| g.conv.first.map_or(0, |a| a.no));
    out
}
