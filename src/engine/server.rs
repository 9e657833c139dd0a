//! The server responder: request bytes + receive/transmit times → reply bytes
//! or a reasoned drop (RFC 5905 §9.2 fast_xmit, §7.4 kiss codes).
//!
//! Sans-IO: the edge reads the clock (ideally a kernel receive timestamp for
//! `recv_ts`, and the clock just before sending for `xmt_ts`) and moves bytes.
//!
//! Never amplifies: a reply is 48 octets and goes only to requests of at
//! least 48 octets.

use crate::wire::packet::{Leap, Mode, Packet, Repr};
use crate::wire::{KissCode, NtpShort, NtpTimestamp, ReferenceId};

/// How this server presents itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub leap: Leap,
    pub stratum: u8,
    pub reference_id: ReferenceId,
    /// log2 seconds of the clock's precision.
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    /// Answer every request with this kiss code (stratum 0) instead of time.
    pub kiss: Option<KissCode>,
}

impl Default for ServerConfig {
    /// A synchronized stratum-2 server whose reference is its local clock.
    fn default() -> Self {
        ServerConfig {
            leap: Leap::NoWarning,
            stratum: 2,
            reference_id: ReferenceId(*b"LOCL"),
            precision: -20,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort::from_secs_f64(0.001),
            kiss: None,
        }
    }
}

impl ServerConfig {
    /// The unsynchronized presentation: leap 3, stratum 16, refid INIT.
    pub fn unsynchronized() -> ServerConfig {
        ServerConfig {
            leap: Leap::Unsynchronized,
            stratum: 16,
            reference_id: ReferenceId(*b"INIT"),
            ..ServerConfig::default()
        }
    }
}

/// Why a datagram got no reply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DropReason {
    /// Shorter than an NTP header.
    Truncated,
    /// Version 0 or above 4.
    BadVersion(u8),
    /// Not a client (3) or symmetric active (1) request: passive, server,
    /// broadcast, control and private modes are not served by this responder.
    UnservedMode(Mode),
    /// The output buffer cannot hold a reply.
    BufferTooSmall,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Send the first `n` octets of the output buffer back to the source.
    Reply(usize),
    Drop(DropReason),
}

#[derive(Clone, Debug)]
pub struct Responder {
    cfg: ServerConfig,
}

impl Responder {
    pub fn new(cfg: ServerConfig) -> Responder {
        Responder { cfg }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Builds the reply to `request` into `out`.
    pub fn handle(
        &self,
        request: &[u8],
        recv_ts: NtpTimestamp,
        xmt_ts: NtpTimestamp,
        out: &mut [u8],
    ) -> Action {
        let Ok(p) = Packet::new_checked(request) else {
            return Action::Drop(DropReason::Truncated);
        };
        let version = p.version();
        if version == 0 || version > 4 {
            return Action::Drop(DropReason::BadVersion(version));
        }
        let reply_mode = match p.mode() {
            Mode::Client => Mode::Server,
            // Stateless symmetric passive answer (see `profile::SymmetricPolicy`).
            Mode::SymmetricActive => Mode::SymmetricPassive,
            m => return Action::Drop(DropReason::UnservedMode(m)),
        };
        if out.len() < 48 {
            return Action::Drop(DropReason::BufferTooSmall);
        }
        let c = &self.cfg;
        let reply = match c.kiss {
            // RFC 5905 §7.4 / ntpd practice: LI 3, stratum 0, code in refid;
            // receive and transmit echo the client's transmit (ntpsec rate.adoc).
            Some(code) => Repr {
                leap: Leap::Unsynchronized,
                version,
                mode: reply_mode,
                stratum: 0,
                poll: p.poll(),
                precision: c.precision,
                root_delay: NtpShort(0),
                root_dispersion: NtpShort(0),
                reference_id: ReferenceId(code.bytes()),
                reference_ts: NtpTimestamp::ZERO,
                origin_ts: p.transmit_ts(),
                receive_ts: p.transmit_ts(),
                transmit_ts: p.transmit_ts(),
            },
            None => Repr {
                leap: c.leap,
                version,
                mode: reply_mode,
                stratum: c.stratum,
                poll: p.poll(),
                precision: c.precision,
                root_delay: c.root_delay,
                root_dispersion: c.root_dispersion,
                reference_id: c.reference_id,
                // A local-clock server is "updated" continuously; ntpd's
                // reftime would lag by up to a poll interval. Whole seconds.
                reference_ts: if c.leap == Leap::Unsynchronized {
                    NtpTimestamp::ZERO
                } else {
                    NtpTimestamp::from_parts(recv_ts.seconds(), 0)
                },
                origin_ts: p.transmit_ts(),
                receive_ts: recv_ts,
                transmit_ts: xmt_ts,
            },
        };
        reply.emit(&mut Packet::new_unchecked(&mut out[..48]));
        Action::Reply(48)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::exchange::{ReplyClass, Request, UnsyncReason, build_request, judge_reply};
    use proptest::prelude::*;

    fn ts(s: u32) -> NtpTimestamp {
        NtpTimestamp::from_parts(s, 0x8000_0000)
    }

    fn exchange(cfg: ServerConfig) -> ReplyClass {
        let nonce = NtpTimestamp(0xdead_beef_0000_0001);
        let req = build_request(nonce, 4, 6);
        let mut out = [0u8; 64];
        let Action::Reply(n) =
            Responder::new(cfg).handle(&req, ts(3_900_000_000), ts(3_900_000_000), &mut out)
        else {
            panic!("no reply")
        };
        assert_eq!(n, 48);
        let r = Request {
            nonce,
            t1: ts(3_900_000_000),
            version: 4,
            local_precision: -20,
        };
        judge_reply(&r, &out[..n], ts(3_900_000_000), None).class
    }

    #[test]
    fn healthy_reply_is_valid_for_our_client() {
        assert_eq!(exchange(ServerConfig::default()), ReplyClass::Valid);
    }

    #[test]
    fn unsynchronized_reply() {
        assert_eq!(
            exchange(ServerConfig::unsynchronized()),
            ReplyClass::Unsynchronized(UnsyncReason::LeapAlarm)
        );
    }

    #[test]
    fn kiss_reply() {
        let cfg = ServerConfig {
            kiss: Some(KissCode::Rate),
            ..ServerConfig::default()
        };
        assert_eq!(exchange(cfg), ReplyClass::Kiss(KissCode::Rate));
    }

    #[test]
    fn drops() {
        let r = Responder::new(ServerConfig::default());
        let mut out = [0u8; 48];
        assert_eq!(
            r.handle(&[0u8; 47], ts(1), ts(1), &mut out),
            Action::Drop(DropReason::Truncated)
        );
        let mut req = build_request(NtpTimestamp(1), 4, 6);
        req[0] = 0xe6; // mode 6
        assert_eq!(
            r.handle(&req, ts(1), ts(1), &mut out),
            Action::Drop(DropReason::UnservedMode(Mode::Control))
        );
        req[0] = 0xfb; // version 7 mode 3
        assert_eq!(
            r.handle(&req, ts(1), ts(1), &mut out),
            Action::Drop(DropReason::BadVersion(7))
        );
        let req = build_request(NtpTimestamp(1), 3, 6);
        assert_eq!(
            r.handle(&req, ts(1), ts(1), &mut [0u8; 10]),
            Action::Drop(DropReason::BufferTooSmall)
        );
        assert_eq!(r.handle(&req, ts(1), ts(1), &mut out), Action::Reply(48));
        assert_eq!(out[0] >> 3 & 7, 3, "version copied from the request");
    }

    proptest! {
        #[test]
        fn never_panics_never_amplifies(req in proptest::collection::vec(any::<u8>(), 0..200)) {
            let r = Responder::new(ServerConfig::default());
            let mut out = [0u8; 512];
            if let Action::Reply(n) = r.handle(&req, ts(5), ts(6), &mut out) {
                prop_assert!(n <= req.len());
            }
        }
    }
}
