//! The server with its policy: access list, rate limiting, mode 6 queries and
//! the faults it can reproduce on purpose. Every fault is a decision made here;
//! the socket loop only moves bytes, waits the delay it is told, and stamps
//! the transmit time just before sending.
//!
//! Order of decisions for one datagram:
//! 1. `--silent`: read and drop everything;
//! 2. mode 7: never answered; mode 6: answered only to `query_allow` sources;
//! 3. anything that is not a mode 3/1 request of ≥ 48 octets, version 1–4: dropped;
//! 4. access list: denied sources get nothing or a KoD DENY/RSTR;
//! 5. rate limit: over-limit sources get a KoD RATE (one per interval) or nothing;
//! 6. `--drop` percent: dropped at random;
//! 7. the reply, shaped by the profile (kiss code, leap, stratum, refid,
//!    version, offset clock, bogus origin), held `--delay`, sent from
//!    `--reply-from` if set.
//!
//! A mode 3/1 reply is always 48 octets and the request at least 48: no
//! amplification. Mode 6 answers can be larger, hence the query list.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::acl::{Acl, Cidr, DenyAction};
use super::control;
use super::nts::{NtpDecision, NtsDrop, NtsServer};
use super::ratelimit::{Decision, RateConfig, RateTable};
use super::server::{Action as CoreAction, Responder, ServerConfig};
use crate::wire::control::PeerStatus;
use crate::wire::packet::{Mode, Packet};
use crate::wire::{KissCode, NtpDuration, NtpTimestamp};

/// What an over-limit client gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum RateAction {
    #[default]
    Kod,
    Drop,
}

/// How to treat symmetric active (mode 1) requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SymmetricPolicy {
    /// Answer statelessly as symmetric passive (mode 2), like a server reply.
    #[default]
    Answer,
    Ignore,
}

/// Faults reproduced on purpose.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Read and drop everything.
    pub silent: bool,
    /// Serve a clock shifted by this much.
    pub offset: NtpDuration,
    /// Hold each reply this long.
    pub delay: Duration,
    /// Drop this percentage of requests at random (0–100).
    pub drop_percent: u8,
    /// Put a wrong origin timestamp in replies.
    pub bogus_origin: bool,
    /// Send replies from this local address instead of the one asked.
    pub reply_from: Option<IpAddr>,
    /// Answer with this version number instead of the request's.
    pub version: Option<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerProfile {
    pub name: String,
    pub server: ServerConfig,
    pub faults: Faults,
    pub acl: Acl,
    pub rate: Option<(RateConfig, RateAction)>,
    /// Sources allowed mode 6 queries (default: loopback).
    pub query_allow: Vec<Cidr>,
    pub symmetric: SymmetricPolicy,
    /// A presentation that changes while serving (see [`Live`]).
    pub live: Option<Live>,
    /// NTS (`serve --nts`): requests with NTS fields are answered with NTS.
    pub nts: Option<std::sync::Arc<NtsServer>>,
}

/// What a server that synchronizes while it serves presents now: the lab's
/// client nodes answer leap 3 / stratum 16 until their engine has a system
/// peer, then the peer's stratum + 1, as ntpd does; `ntpq` sees the
/// engine's associations. Written by the node, read per request.
#[derive(Clone, Debug, Default)]
pub struct Live(pub std::sync::Arc<std::sync::RwLock<Presentation>>);

#[derive(Clone, Debug, Default)]
pub struct Presentation {
    pub server: Option<ServerConfig>,
    pub control: Option<control::Snapshot>,
}

impl Live {
    pub fn set(&self, p: Presentation) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn get(&self) -> Presentation {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl PartialEq for Live {
    fn eq(&self, o: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &o.0)
    }
}

impl Default for ServerProfile {
    fn default() -> Self {
        ServerProfile {
            name: "default".into(),
            server: ServerConfig::default(),
            faults: Faults::default(),
            acl: Acl::default(),
            rate: None,
            query_allow: Cidr::loopback().to_vec(),
            symmetric: SymmetricPolicy::default(),
            live: None,
            nts: None,
        }
    }
}

/// Why a datagram got no answer (counted).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DropReason {
    Silent,
    Malformed,
    BadVersion,
    UnservedMode,
    ControlNotAllowed,
    PrivateMode,
    Denied,
    RateLimited,
    RandomDrop,
    /// NTS: dropped on purpose (`--nts-fault drop-nts`), malformed, or not authentic.
    Nts(NtsDrop),
}

/// One reply to send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reply {
    pub len: usize,
    /// Hold it this long first.
    pub delay: Duration,
    /// Send it from this address (None: the address the request came to).
    pub source: Option<IpAddr>,
    /// Stamp the transmit timestamp (with [`Server::stamp`]) just before sending.
    pub stamp: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Reply(Reply),
    /// Mode 6 response fragments.
    Control(Vec<Vec<u8>>),
    Drop(DropReason),
}

/// Counters kept by the core.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub replied: u64,
    pub kod_sent: u64,
    pub control_answered: u64,
    pub dropped: std::collections::BTreeMap<String, u64>,
}

pub struct Server {
    profile: ServerProfile,
    responder: Responder,
    rate: Option<(RateTable, RateAction)>,
    /// Random octets for NTS nonces and cookies.
    rng: rand::rngs::StdRng,
    pub counters: Counters,
}

impl Server {
    pub fn new(profile: ServerProfile) -> Server {
        Server::with_seed(profile, [0; 32])
    }

    /// A server whose randomness (NTS nonces and cookies, the rate
    /// table's key) comes from `seed` (the edge gives fresh random octets;
    /// tests a fixed seed).
    pub fn with_seed(profile: ServerProfile, seed: [u8; 32]) -> Server {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::from_seed(seed);
        let key = (rng.next_u64(), rng.next_u64());
        let rate = profile.rate.map(|(c, a)| (RateTable::new(c, key), a));
        let responder = Responder::new(profile.server.clone());
        Server {
            profile,
            responder,
            rate,
            rng,
            counters: Counters::default(),
        }
    }

    pub fn profile(&self) -> &ServerProfile {
        &self.profile
    }

    /// Memory the rate table occupies (fixed).
    pub fn rate_table_bytes(&self) -> usize {
        self.rate.as_ref().map_or(0, |(t, _)| t.memory_bytes())
    }

    fn drop(&mut self, r: DropReason) -> Action {
        *self.counters.dropped.entry(format!("{r:?}")).or_default() += 1;
        Action::Drop(r)
    }

    /// Decides what to do with `request` from `peer`, received at local wall
    /// time `recv_ts` and monotonic `now_ms`. `random` is 32 fresh random bits.
    pub fn handle(
        &mut self,
        now_ms: u64,
        peer: SocketAddr,
        recv_ts: NtpTimestamp,
        random: u32,
        request: &[u8],
        out: &mut [u8],
    ) -> Action {
        self.counters.received += 1;
        if self.profile.faults.silent {
            return self.drop(DropReason::Silent);
        }
        let Ok(p) = Packet::new_checked(request) else {
            if let Some(req) = control::parse(request) {
                return self.control(peer, &req, recv_ts);
            }
            return self.drop(DropReason::Malformed);
        };
        match p.mode() {
            Mode::Control => {
                return match control::parse(request) {
                    Some(req) => self.control(peer, &req, recv_ts),
                    None => self.drop(DropReason::Malformed),
                };
            }
            Mode::Private => return self.drop(DropReason::PrivateMode),
            Mode::Client => {}
            Mode::SymmetricActive if self.profile.symmetric == SymmetricPolicy::Answer => {}
            _ => return self.drop(DropReason::UnservedMode),
        }
        let version = p.version();
        if version == 0 || version > 4 {
            return self.drop(DropReason::BadVersion);
        }
        let ip = peer.ip();
        if !self.profile.acl.permits(ip) {
            let code = match self.profile.acl.deny_action {
                DenyAction::Ignore => return self.drop(DropReason::Denied),
                DenyAction::KodDeny => KissCode::Deny,
                DenyAction::KodRstr => KissCode::Rstr,
            };
            *self.counters.dropped.entry("Denied".into()).or_default() += 1;
            return self.kiss(code, request, recv_ts, out);
        }
        if let Some((table, action)) = &mut self.rate
            && let Decision::Limited { kod_allowed } = table.check(ip, now_ms)
        {
            let action = *action;
            *self
                .counters
                .dropped
                .entry("RateLimited".into())
                .or_default() += 1;
            if action == RateAction::Kod && kod_allowed {
                return self.kiss(KissCode::Rate, request, recv_ts, out);
            }
            return Action::Drop(DropReason::RateLimited);
        }
        if self.profile.faults.drop_percent > 0
            && (random % 100) < self.profile.faults.drop_percent as u32
        {
            return self.drop(DropReason::RandomDrop);
        }
        let f = &self.profile.faults;
        let shifted = recv_ts + f.offset;
        if self
            .profile
            .nts
            .as_ref()
            .is_some_and(|n| !n.has(super::nts::NtsFault::PlainReplies))
            && crate::wire::nts::is_nts_request(request)
        {
            return self.nts(request, shifted, out);
        }
        let live = self.live_responder();
        let len = match live
            .as_ref()
            .unwrap_or(&self.responder)
            .handle(request, shifted, shifted, out)
        {
            CoreAction::Reply(n) => n,
            CoreAction::Drop(_) => return self.drop(DropReason::Malformed),
        };
        let is_kiss = self.profile.server.kiss.is_some();
        if let Some(v) = f.version {
            out[0] = (out[0] & 0xc7) | ((v & 7) << 3);
        }
        if f.bogus_origin {
            // As if answering a request one second older: a stale reply.
            let mut pk = Packet::new_unchecked(&mut out[..len]);
            let o = pk.origin_ts();
            pk.set_origin_ts(NtpTimestamp(o.0.wrapping_sub(1 << 32)));
        }
        self.counters.replied += 1;
        if is_kiss {
            self.counters.kod_sent += 1;
        }
        Action::Reply(Reply {
            len,
            delay: f.delay,
            source: f.reply_from,
            stamp: !is_kiss,
        })
    }

    /// The responder of a presentation that changes while serving, if any.
    fn live_responder(&self) -> Option<Responder> {
        self.profile
            .live
            .as_ref()
            .and_then(|l| l.get().server)
            .map(Responder::new)
    }

    /// An NTS request: an authenticated reply, the NTSN kiss, or nothing.
    fn nts(&mut self, request: &[u8], at: NtpTimestamp, out: &mut [u8]) -> Action {
        let nts = self.profile.nts.clone().expect("checked");
        let mut header = [0u8; 48];
        let mut kiss = [0u8; 48];
        let live = self.live_responder();
        // The transmit time is written now: the authenticator covers it.
        if live
            .as_ref()
            .unwrap_or(&self.responder)
            .handle(request, at, at, &mut header)
            != CoreAction::Reply(48)
        {
            return self.drop(DropReason::Malformed);
        }
        let k = Responder::new(ServerConfig {
            kiss: Some(KissCode::Ntsn),
            ..self.profile.server.clone()
        });
        let _ = k.handle(request, at, at, &mut kiss);
        if let Some(v) = self.profile.faults.version {
            header[0] = (header[0] & 0xc7) | ((v & 7) << 3);
        }
        match nts.ntp_answer(request, &header, &kiss, &mut self.rng) {
            NtpDecision::Drop(why) => self.drop(DropReason::Nts(why)),
            NtpDecision::Reply { bytes, ntsn } => {
                if bytes.len() > out.len() {
                    return self.drop(DropReason::Malformed);
                }
                out[..bytes.len()].copy_from_slice(&bytes);
                self.counters.replied += 1;
                if ntsn {
                    self.counters.kod_sent += 1;
                }
                Action::Reply(Reply {
                    len: bytes.len(),
                    delay: self.profile.faults.delay,
                    source: self.profile.faults.reply_from,
                    stamp: false,
                })
            }
        }
    }

    fn kiss(
        &mut self,
        code: KissCode,
        request: &[u8],
        recv_ts: NtpTimestamp,
        out: &mut [u8],
    ) -> Action {
        let r = Responder::new(ServerConfig {
            kiss: Some(code),
            ..self.profile.server.clone()
        });
        match r.handle(request, recv_ts, recv_ts, out) {
            CoreAction::Reply(len) => {
                self.counters.kod_sent += 1;
                self.counters.replied += 1;
                Action::Reply(Reply {
                    len,
                    delay: Duration::ZERO,
                    source: self.profile.faults.reply_from,
                    stamp: false,
                })
            }
            CoreAction::Drop(_) => self.drop(DropReason::Malformed),
        }
    }

    /// Writes the transmit timestamp (the served clock: `wall_now` plus the
    /// profile's offset) into a reply just before it is sent.
    pub fn stamp(&self, reply: &mut [u8], wall_now: NtpTimestamp) {
        if let Ok(mut p) = Packet::new_checked(reply) {
            p.set_transmit_ts(wall_now + self.profile.faults.offset);
        }
    }

    fn control(&mut self, peer: SocketAddr, req: &control::Request, wall: NtpTimestamp) -> Action {
        if !self
            .profile
            .query_allow
            .iter()
            .any(|c| c.contains(peer.ip()))
        {
            return self.drop(DropReason::ControlNotAllowed);
        }
        self.counters.control_answered += 1;
        let snap = match self.profile.live.as_ref().and_then(|l| l.get().control) {
            Some(s) => s,
            None => self.snapshot(wall),
        };
        Action::Control(control::respond(req, &snap))
    }

    /// The variables `ntpq` sees.
    pub fn snapshot(&self, wall: NtpTimestamp) -> control::Snapshot {
        let c = &self.profile.server;
        let f = &self.profile.faults;
        let unsync =
            c.leap == crate::wire::Leap::Unsynchronized || c.stratum >= 16 || c.kiss.is_some();
        let served = wall + f.offset;
        let refid = c.reference_id.ascii();
        let ms = |d: f64| format!("{:.6}", d * 1000.0);
        let system_status: u16 = if unsync {
            0xc016
        } else {
            ((c.leap.bits() as u16) << 14) | (5 << 8) | 0x15
        };
        let system_vars = vec![
            (
                "version".into(),
                format!("\"ntpdiag {}\"", env!("CARGO_PKG_VERSION")),
            ),
            (
                "processor".into(),
                format!("\"{}\"", std::env::consts::ARCH),
            ),
            ("system".into(), format!("\"{}\"", std::env::consts::OS)),
            ("leap".into(), c.leap.bits().to_string()),
            (
                "stratum".into(),
                if unsync {
                    "16".into()
                } else {
                    c.stratum.to_string()
                },
            ),
            ("precision".into(), c.precision.to_string()),
            ("rootdelay".into(), ms(c.root_delay.as_secs_f64())),
            ("rootdisp".into(), ms(c.root_dispersion.as_secs_f64())),
            ("refid".into(), refid.clone()),
            (
                "reftime".into(),
                format!(
                    "0x{}",
                    if unsync {
                        NtpTimestamp::ZERO.hex()
                    } else {
                        served.hex()
                    }
                ),
            ),
            ("clock".into(), format!("0x{}", served.hex())),
            ("peer".into(), if unsync { "0".into() } else { "1".into() }),
            ("tc".into(), "6".into()),
            ("mintc".into(), "3".into()),
            ("offset".into(), "0.000000".into()),
            ("frequency".into(), "0.000".into()),
            ("sys_jitter".into(), "0.000000".into()),
            ("clk_jitter".into(), "0.000".into()),
            ("clk_wander".into(), "0.000".into()),
            ("profile".into(), format!("\"{}\"", self.profile.name)),
        ];
        // Unsynchronized: configured, not reachable, reject, 1 event "mobilize"
        // (the seed's 8011); else configured, reachable, sys.peer, 1 event
        // "sys_peer" (961a).
        let peer_status = PeerStatus {
            configured: true,
            auth_enabled: false,
            auth_ok: false,
            reachable: !unsync,
            broadcast: false,
            select: if unsync { 0 } else { 6 },
            count: 1,
            event: if unsync { 1 } else { 10 },
        }
        .word();
        let peer = control::Association {
            id: 1,
            status: peer_status,
            vars: vec![
                ("srcadr".into(), "127.127.1.0".into()),
                ("srcport".into(), "123".into()),
                ("srchost".into(), "\"LOCAL(0)\"".into()),
                ("dstadr".into(), "127.0.0.1".into()),
                ("leap".into(), c.leap.bits().to_string()),
                (
                    "stratum".into(),
                    if unsync {
                        "16".into()
                    } else {
                        c.stratum.saturating_sub(1).to_string()
                    },
                ),
                ("precision".into(), c.precision.to_string()),
                ("rootdelay".into(), "0.000".into()),
                ("rootdisp".into(), "0.000".into()),
                ("refid".into(), refid),
                ("reftime".into(), format!("0x{}", served.hex())),
                ("rec".into(), format!("0x{}", served.hex())),
                (
                    "reach".into(),
                    if unsync { "0x0".into() } else { "0xff".into() },
                ),
                ("unreach".into(), "0".into()),
                ("hmode".into(), "3".into()),
                ("pmode".into(), "4".into()),
                ("hpoll".into(), "6".into()),
                ("ppoll".into(), "6".into()),
                (
                    "flash".into(),
                    if unsync {
                        "0x1400".into()
                    } else {
                        "0x0".into()
                    },
                ),
                ("offset".into(), "0.000000".into()),
                ("delay".into(), "0.000000".into()),
                ("dispersion".into(), "0.000000".into()),
                ("jitter".into(), "0.000000".into()),
            ],
        };
        control::Snapshot {
            system_status,
            system_vars,
            associations: vec![peer],
        }
    }
}

#[cfg(test)]
mod tests;
