//! The server view: conversations (client addr:port ↔ server:123) grouped
//! per client host and server, and per server, each group judged as one.
//! A client that sends each request from a new source port (chrony, ntpdig:
//! RFC 9109) is one client host here, not dozens of conversations.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::judge;
use super::track::{Conv, Key};
use crate::diagnose::Verdict;

/// A group of conversations judged as one.
#[derive(Clone, Debug)]
pub struct Group {
    /// The client host (None: every client of the server).
    pub client: Option<IpAddr>,
    pub server: SocketAddr,
    /// Conversations (source ports) in it.
    pub conversations: usize,
    /// Client hosts in it (1 for a client-host group).
    pub clients: usize,
    pub conv: Conv,
    pub verdict: Verdict,
}

fn merged<'a>(convs: impl Iterator<Item = &'a Conv>) -> (Conv, usize) {
    let mut all: Vec<&Conv> = convs.collect();
    // In time order, so that request intervals run across conversations.
    all.sort_by(|a, b| {
        let t = |c: &Conv| c.first.map_or(0.0, |x| x.ts.as_f64());
        t(a).total_cmp(&t(b))
    });
    let n = all.len();
    let mut it = all.into_iter();
    let mut m = it.next().cloned().unwrap_or_default();
    for c in it {
        m.merge(c);
    }
    (m, n)
}

/// One group per (client host, server), in order of their first packet.
pub fn by_client_host(convs: &[(Key, &Conv)]) -> Vec<Group> {
    let mut groups: BTreeMap<(IpAddr, SocketAddr), Vec<&Conv>> = BTreeMap::new();
    for ((client, server), c) in convs {
        groups.entry((client.ip(), *server)).or_default().push(c);
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|((client, server), cs)| {
            let (conv, n) = merged(cs.into_iter());
            let verdict = judge::judge_as(&conv, format!("{server} (asked by {client})"));
            Group {
                client: Some(client),
                server,
                conversations: n,
                clients: 1,
                conv,
                verdict,
            }
        })
        .collect();
    out.sort_by_key(|g| g.conv.first.map_or(0, |a| a.no));
    out
}

/// One group per server: every client host's conversations with it.
pub fn by_server(convs: &[(Key, &Conv)]) -> Vec<Group> {
    let mut groups: BTreeMap<SocketAddr, Vec<(IpAddr, &Conv)>> = BTreeMap::new();
    for ((client, server), c) in convs {
        groups.entry(*server).or_default().push((client.ip(), c));
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(server, cs)| {
            let mut hosts: Vec<IpAddr> = cs.iter().map(|(h, _)| *h).collect();
            hosts.sort();
            hosts.dedup();
            let (conv, n) = merged(cs.into_iter().map(|(_, c)| c));
            let verdict = judge::judge_as(
                &conv,
                format!("{server} (asked by {} client host(s))", hosts.len()),
            );
            Group {
                client: None,
                server,
                conversations: n,
                clients: hosts.len(),
                conv,
                verdict,
            }
        })
        .collect();
    out.sort_by_key(|g| g.conv.first.map_or(0, |a| a.no));
    out
}
