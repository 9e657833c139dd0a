//! Drives a [`ProbeSession`] over a real UDP socket: the only place where the
//! probe touches the network and the clock.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::errno::local_error;
use super::udp::{Inbox, NtpSocket, drain, route_source};
use super::{clock, neigh};
use crate::diagnose::{SourcePort, TargetEvidence};
use crate::engine::local::LocalError;
use crate::engine::probe::{IcmpReport, ProbeConfig, ProbeSession};
use crate::wire::NtpTimestamp;

/// Probes one address from a random port or from `source`, and collects the
/// evidence: the session's record, the local address, and (when nothing came
/// back) the neighbour table entry.
pub fn probe_address(
    host: &str,
    addr: SocketAddr,
    cfg: &ProbeConfig,
    source: SourcePort,
) -> TargetEvidence {
    let port = match source {
        SourcePort::Ephemeral => 0,
        SourcePort::Fixed(p) => p,
    };
    let any: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let mut ev = TargetEvidence {
        host: host.to_string(),
        address: addr,
        source_port: source,
        local_address: None,
        setup_error: None,
        record: None,
        neighbour: None,
        nts: None,
    };
    let sock = match NtpSocket::bind(SocketAddr::new(any, port)) {
        Ok(s) => s,
        Err(e) => {
            ev.setup_error = Some(e);
            return ev;
        }
    };
    let bound_port = sock.local_addr().map_or(port, |a| a.port());
    ev.local_address = Some(SocketAddr::new(
        route_source(addr).unwrap_or(any),
        bound_port,
    ));
    let record = drive(&sock, addr, cfg);
    let heard = record.events.iter().any(|e| {
        matches!(
            e.kind,
            crate::engine::probe::EventKind::Received { .. }
                | crate::engine::probe::EventKind::Icmp { .. }
        )
    });
    ev.record = Some(record);
    if !heard {
        ev.neighbour = neigh::lookup(addr.ip());
    }
    ev
}

fn drive(
    sock: &NtpSocket,
    addr: SocketAddr,
    cfg: &ProbeConfig,
) -> crate::engine::probe::ProbeRecord {
    let start = Instant::now();
    let mut session = ProbeSession::new(cfg.clone(), addr, start);
    let mut rng = rand::rng();
    // Hard bound, whatever the session does: every request's wait, the
    // liveness check, and a margin.
    let hard_stop = start + cfg.interval * cfg.samples + cfg.timeout * 3 + Duration::from_secs(1);
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        while let Some(tx) = session.poll_transmit(now, clock::now(), rng.next_u64()) {
            if let Err(e) = sock.send_to(&tx.payload, tx.dest) {
                session.handle_send_error(Instant::now(), tx.purpose, e);
            }
        }
        if session.is_finished() || now >= hard_stop {
            break;
        }
        let wake = session.poll_timeout().unwrap_or(now).min(hard_stop);
        let ready = match sock.wait(wake.saturating_duration_since(Instant::now())) {
            Ok(r) => r,
            Err(e) => {
                session.handle_socket_error(Instant::now(), local_error("poll", addr, &e));
                // Do not spin on a broken socket: the session's timers still run.
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
                false
            }
        };
        if ready {
            drain(sock, addr, &mut session, &mut buf);
        }
        session.handle_timeout(Instant::now());
    }
    session.finish()
}

impl Inbox for ProbeSession {
    fn icmp(&mut self, report: IcmpReport) {
        self.handle_icmp(Instant::now(), report);
    }
    fn datagram(&mut self, from: SocketAddr, t4: NtpTimestamp, bytes: &[u8]) {
        self.handle_datagram(Instant::now(), from, t4, bytes);
    }
    fn socket_error(&mut self, e: LocalError) {
        self.handle_socket_error(Instant::now(), e);
    }
    fn tx_timestamp(&mut self, id: u32, t1: NtpTimestamp) {
        self.handle_tx_timestamp(id, t1);
    }
}
