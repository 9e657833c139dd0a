//! NTS-KE (TCP 4460) per server: connection attempts and how each went.

use super::*;

/// NTS-KE (TCP 4460) seen for one server: connection attempts and how
/// each went. A connection is a client address:port; its state is kept
/// for at most [`KE_CONNECTIONS_MAX`] connections, counted beyond.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeSeen {
    pub server: Option<SocketAddr>,
    /// Connections begun (a client's SYN).
    pub connections: u64,
    /// Of them: answered by a SYN-ACK.
    pub answered: u64,
    /// Refused by an RST from the server's address before any data.
    pub reset: u64,
    /// Refused by an ICMP error, and the first one's sender.
    pub icmp: u64,
    pub icmp_first: Option<(IcmpError, IpAddr)>,
    /// SYNs sent again for a connection (no answer yet).
    pub syn_retries: u64,
    /// Octets the server sent (TLS records: the handshake and the KE records).
    pub server_octets: u64,
    /// Connections with data from the server (the TLS handshake went on).
    pub with_data: u64,
    /// Connections beyond the bound: counted only.
    pub untracked: u64,
}

impl KeSeen {
    /// Connections that got neither an answer nor a refusal.
    pub fn unanswered(&self) -> u64 {
        self.connections
            .saturating_sub(self.answered + self.reset + self.icmp + self.untracked)
    }
}

/// NTS-KE connections whose state is kept.
pub const KE_CONNECTIONS_MAX: usize = 4096;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeConn {
    pub(super) answered: bool,
    pub(super) refused: bool,
    pub(super) data: bool,
}

impl Tracker {
    pub(super) fn ke_server(&mut self, server: SocketAddr) -> &mut KeSeen {
        let i = match self.ke.iter().position(|k| k.server == Some(server)) {
            Some(i) => i,
            None => {
                self.ke.push(KeSeen {
                    server: Some(server),
                    ..KeSeen::default()
                });
                self.ke.len() - 1
            }
        };
        &mut self.ke[i]
    }

    /// A TCP segment of NTS-KE: connection attempts, answers, refusals.
    pub(super) fn tcp(&mut self, t: &crate::capture::decode::TcpSeg) {
        use crate::capture::decode::NTS_KE_PORT;
        self.stats.nts_ke += 1;
        if self.shard.0 != 0 {
            return;
        }
        let to_server = t.dst.port() == NTS_KE_PORT;
        let (client, server) = if to_server {
            (t.src, t.dst)
        } else {
            (t.dst, t.src)
        };
        let known = self.ke_conns.get(&(client, server)).copied();
        if to_server {
            if t.syn && !t.ack {
                match known {
                    Some(c) if !c.answered && !c.refused => self.ke_server(server).syn_retries += 1,
                    _ => {
                        let tracked = self.ke_conns.len() < KE_CONNECTIONS_MAX;
                        if tracked {
                            self.ke_conns.insert((client, server), KeConn::default());
                        }
                        let k = self.ke_server(server);
                        k.connections += 1;
                        if !tracked {
                            k.untracked += 1;
                        }
                    }
                }
            }
            return;
        }
        let Some(mut c) = known else {
            return;
        };
        if t.syn && t.ack && !c.answered && !c.refused {
            c.answered = true;
            self.ke_server(server).answered += 1;
        } else if t.rst && !c.answered && !c.refused {
            c.refused = true;
            self.ke_server(server).reset += 1;
        }
        if t.len > 0 {
            let k = self.ke_server(server);
            k.server_octets += t.len as u64;
            if !c.data {
                k.with_data += 1;
            }
            c.data = true;
        }
        if (t.fin || t.rst) && (c.answered || c.refused) {
            // The connection is over: its state goes (the bound counts
            // connections at once, not in the whole capture).
            self.ke_conns.remove(&(client, server));
        } else {
            self.ke_conns.insert((client, server), c);
        }
    }
}
