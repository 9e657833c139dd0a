//! What a built-in client node shows the world (sans-IO): the server
//! presentation its clients get (leap 3 / stratum 16 / INIT until its
//! engine has synchronized its clock, then the system peer's stratum + 1
//! with the peer as reference), and the mode 6 variables `ntpq` reads, so
//! that `ntpq -p` inside a lab node shows the engine's associations as it
//! would show ntpd's.

use std::net::IpAddr;

use crate::engine::client::{Association, Snapshot, Status};
use crate::engine::control::{Association as CtlAssoc, Snapshot as CtlSnapshot};
use crate::engine::server::ServerConfig;
use crate::wire::control::PeerStatus;
use crate::wire::packet::Leap;
use crate::wire::{NtpShort, NtpTimestamp, ReferenceId};

/// The reference ID a server shows for a source at `ip` (RFC 5905 §7.3:
/// the IPv4 address, or the first four octets of the MD5 of an IPv6 one).
pub fn refid_of(ip: IpAddr) -> ReferenceId {
    match ip {
        IpAddr::V4(a) => ReferenceId::from_ipv4(a),
        IpAddr::V6(a) => ReferenceId::from_ipv6(a),
    }
}

/// The presentation of a synchronized node whose system peer is `a`
/// (`None` when it has none).
pub fn synchronized(
    snap: &Snapshot,
    assocs: &[Association],
    precision: i8,
) -> Option<ServerConfig> {
    let i = snap.system.peer?;
    let (a, s) = (assocs.get(i)?, snap.sources.get(i)?);
    let h = a.header.as_ref()?;
    Some(ServerConfig {
        leap: Leap::NoWarning,
        stratum: h.stratum.saturating_add(1).min(15),
        reference_id: refid_of(a.spec.addr.ip()),
        precision,
        root_delay: NtpShort::from_secs_f64(h.root_delay.as_secs_f64() + s.delay.max(0.0)),
        root_dispersion: NtpShort::from_secs_f64(
            h.root_dispersion.as_secs_f64() + a.filter.disp.min(16.0) + s.jitter,
        ),
        kiss: None,
    })
}

/// ntpq's select code for a status (`ntpq -p`'s tally character).
fn select(s: &Status) -> u8 {
    match s {
        Status::Falseticker => 1,
        Status::Outlier => 3,
        Status::Candidate => 4,
        Status::Backup => 5,
        Status::SystemPeer => 6,
        _ => 0,
    }
}

/// The peer event ntpd would have reported last.
fn event(s: &Status, reach: u8) -> u8 {
    match s {
        Status::SystemPeer => 10,
        Status::Stopped(_) => 8,
        _ if reach != 0 => 4,
        _ => 1,
    }
}

/// A refid as ntpd's mode 6 variable carries it: a dotted quad for an
/// upstream address, the ASCII code otherwise (ntpq adds the dots).
fn refid_var(r: ReferenceId, stratum: u8) -> String {
    match r.meaning(stratum) {
        crate::wire::refid::RefIdMeaning::Upstream(a) => a.to_string(),
        _ => r.ascii(),
    }
}

fn ms(s: f64) -> String {
    format!("{:.6}", s * 1000.0)
}

/// The mode 6 view: system variables and one association per source.
pub fn control(
    snap: &Snapshot,
    assocs: &[Association],
    served: &ServerConfig,
    now: NtpTimestamp,
    freq_ppm: f64,
) -> CtlSnapshot {
    let unsync = served.leap == Leap::Unsynchronized;
    let peer_id = snap.system.peer.map_or(0, |i| i as u16 + 1);
    let system_status: u16 = ((served.leap.bits() as u16) << 14)
        | (if unsync { 0 } else { 6 } << 8)
        | if unsync { 0x01 } else { 0x15 };
    let system_vars = vec![
        (
            "version".to_string(),
            format!("\"ntpdiag {} lab node\"", env!("CARGO_PKG_VERSION")),
        ),
        ("leap".into(), served.leap.bits().to_string()),
        ("stratum".into(), served.stratum.to_string()),
        ("precision".into(), served.precision.to_string()),
        ("rootdelay".into(), ms(served.root_delay.as_secs_f64())),
        ("rootdisp".into(), ms(served.root_dispersion.as_secs_f64())),
        (
            "refid".into(),
            refid_var(served.reference_id, served.stratum),
        ),
        ("peer".into(), peer_id.to_string()),
        ("clock".into(), format!("0x{}", now.hex())),
        ("offset".into(), ms(snap.system.offset)),
        ("frequency".into(), format!("{freq_ppm:.3}")),
        ("sys_jitter".into(), ms(snap.system.jitter)),
    ];
    let associations = snap
        .sources
        .iter()
        .zip(assocs)
        .enumerate()
        .map(|(i, (s, a))| {
            let h = a.header.as_ref();
            let (stratum, refid) = match (&s.status, h) {
                (Status::Stopped(k), _) => ("16".to_string(), k.text().to_string()),
                (_, Some(h)) if s.received > 0 => {
                    (h.stratum.to_string(), refid_var(h.reference_id, h.stratum))
                }
                _ => ("16".to_string(), "INIT".to_string()),
            };
            let status = PeerStatus {
                configured: true,
                auth_enabled: false,
                auth_ok: false,
                reachable: s.reach != 0,
                broadcast: false,
                select: select(&s.status),
                count: 1,
                event: event(&s.status, s.reach),
            }
            .word();
            let usable = s.usable > 0;
            CtlAssoc {
                id: i as u16 + 1,
                status,
                vars: vec![
                    ("srcadr".into(), s.addr.ip().to_string()),
                    ("srcport".into(), s.addr.port().to_string()),
                    ("srchost".into(), format!("\"{}\"", s.name)),
                    ("leap".into(), h.map_or(3, |h| h.leap.bits()).to_string()),
                    ("stratum".into(), stratum),
                    (
                        "precision".into(),
                        h.map_or(-20, |h| h.precision).to_string(),
                    ),
                    (
                        "rootdelay".into(),
                        ms(h.map_or(0.0, |h| h.root_delay.as_secs_f64())),
                    ),
                    (
                        "rootdisp".into(),
                        ms(h.map_or(0.0, |h| h.root_dispersion.as_secs_f64())),
                    ),
                    ("refid".into(), refid),
                    (
                        "reftime".into(),
                        format!(
                            "0x{}",
                            h.map_or(NtpTimestamp::ZERO, |h| h.reference_ts).hex()
                        ),
                    ),
                    ("reach".into(), format!("0x{:x}", s.reach)),
                    ("unreach".into(), a.unreach.to_string()),
                    ("hmode".into(), "3".into()),
                    ("pmode".into(), "4".into()),
                    ("hpoll".into(), s.hpoll.to_string()),
                    ("ppoll".into(), s.hpoll.to_string()),
                    ("flash".into(), format!("0x{:x}", s.flash)),
                    ("offset".into(), if usable { ms(s.offset) } else { ms(0.0) }),
                    ("delay".into(), if usable { ms(s.delay) } else { ms(0.0) }),
                    (
                        "dispersion".into(),
                        ms(if usable {
                            a.filter.disp.min(16.0)
                        } else {
                            16.0
                        }),
                    ),
                    ("jitter".into(), if usable { ms(s.jitter) } else { ms(0.0) }),
                ],
            }
        })
        .collect();
    CtlSnapshot {
        system_status,
        system_vars,
        associations,
    }
}
