//! NTP control messages (mode 6, RFC 9327; formerly RFC 1305 appendix B):
//! the 12-octet header, and the peer status word that `ntpq -c assoc` shows.
//! One type each, for the server that answers ntpq (`engine::control`) and
//! for the parser of pasted ntpq output (`explain::paste`).
//!
//! Header: LI/VN/mode | R E M opcode | sequence | status | association id |
//! offset | count, then `count` octets of data padded to a multiple of 4.
//! Parsing never panics: short input is `None`.

/// Length of the control header.
pub const HEADER_LEN: usize = 12;

/// A mode-6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlHeader {
    pub version: u8,
    /// R: a response (set by the server).
    pub response: bool,
    /// E: an error response.
    pub error: bool,
    /// M: more fragments follow.
    pub more: bool,
    pub opcode: u8,
    pub sequence: u16,
    /// System or peer status word (or the error code << 8).
    pub status: u16,
    pub assoc: u16,
    pub offset: u16,
    pub count: u16,
}

impl ControlHeader {
    /// The header of a mode-6 datagram; `None` when too short or not mode 6.
    pub fn parse(b: &[u8]) -> Option<ControlHeader> {
        if b.len() < HEADER_LEN || b[0] & 7 != 6 {
            return None;
        }
        let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(ControlHeader {
            version: (b[0] >> 3) & 7,
            response: b[1] & 0x80 != 0,
            error: b[1] & 0x40 != 0,
            more: b[1] & 0x20 != 0,
            opcode: b[1] & 0x1f,
            sequence: be(2),
            status: be(4),
            assoc: be(6),
            offset: be(8),
            count: be(10),
        })
    }

    /// The 12 octets (leap bits zero, as ntpq and ntpd send them).
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = ((self.version & 7) << 3) | 6;
        b[1] = (u8::from(self.response) << 7)
            | (u8::from(self.error) << 6)
            | (u8::from(self.more) << 5)
            | (self.opcode & 0x1f);
        b[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        b[4..6].copy_from_slice(&self.status.to_be_bytes());
        b[6..8].copy_from_slice(&self.assoc.to_be_bytes());
        b[8..10].copy_from_slice(&self.offset.to_be_bytes());
        b[10..12].copy_from_slice(&self.count.to_be_bytes());
        b
    }
}

/// Peer selection codes, the low 3 bits of the status word's high octet
/// (RFC 9327 §2.4.2; ntpsec `decode.adoc`).
pub const SELECT_NAMES: [&str; 8] = [
    "reject",
    "falsetick",
    "excess",
    "outlier",
    "candidate",
    "backup",
    "sys.peer",
    "pps.peer",
];

/// Peer event codes, the low 4 bits (ntpsec `decode.adoc`, "Peer Event Codes").
pub const EVENT_NAMES: [&str; 16] = [
    "unspecified",
    "mobilize",
    "demobilize",
    "unreachable",
    "reachable",
    "restart",
    "no_reply",
    "rate_exceeded",
    "access_denied",
    "leap_armed",
    "sys_peer",
    "clock_event",
    "bad_auth",
    "popcorn",
    "interleave_mode",
    "interleave_error",
];

/// The peer status word: status bits, selection, event count and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub configured: bool,
    pub auth_enabled: bool,
    pub auth_ok: bool,
    pub reachable: bool,
    pub broadcast: bool,
    /// Selection code, 0-7 ([`SELECT_NAMES`]).
    pub select: u8,
    /// Events since the last report, 0-15.
    pub count: u8,
    /// Last event code, 0-15 ([`EVENT_NAMES`]).
    pub event: u8,
}

impl PeerStatus {
    pub fn from_word(w: u16) -> PeerStatus {
        let hi = (w >> 8) as u8;
        PeerStatus {
            configured: hi & 0x80 != 0,
            auth_enabled: hi & 0x40 != 0,
            auth_ok: hi & 0x20 != 0,
            reachable: hi & 0x10 != 0,
            broadcast: hi & 0x08 != 0,
            select: hi & 7,
            count: ((w >> 4) & 0xf) as u8,
            event: (w & 0xf) as u8,
        }
    }

    pub fn word(&self) -> u16 {
        let hi = (u16::from(self.configured) << 7)
            | (u16::from(self.auth_enabled) << 6)
            | (u16::from(self.auth_ok) << 5)
            | (u16::from(self.reachable) << 4)
            | (u16::from(self.broadcast) << 3)
            | u16::from(self.select & 7);
        (hi << 8) | (u16::from(self.count & 0xf) << 4) | u16::from(self.event & 0xf)
    }

    pub fn select_name(&self) -> &'static str {
        SELECT_NAMES[usize::from(self.select & 7)]
    }

    pub fn event_name(&self) -> &'static str {
        EVENT_NAMES[usize::from(self.event & 15)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's `8011` and a synced `961a`, decoded as ntpsec's ntpq
    /// prints them (`ntpq -c assoc`: conf yes, reach no, reject, mobilize).
    #[test]
    fn status_words_as_ntpq_shows_them() {
        let s = PeerStatus::from_word(0x8011);
        assert!(s.configured && !s.reachable);
        assert_eq!(
            (s.select_name(), s.count, s.event_name()),
            ("reject", 1, "mobilize")
        );
        let s = PeerStatus::from_word(0x961a);
        assert!(s.configured && s.reachable && !s.auth_enabled);
        assert_eq!(
            (s.select_name(), s.count, s.event_name()),
            ("sys.peer", 1, "sys_peer")
        );
    }

    #[test]
    fn words_and_headers_round_trip() {
        for w in 0..=u16::MAX {
            assert_eq!(PeerStatus::from_word(w).word(), w);
        }
        let h = ControlHeader {
            version: 2,
            response: true,
            error: false,
            more: true,
            opcode: 2,
            sequence: 7,
            status: 0x0615,
            assoc: 0,
            offset: 468,
            count: 12,
        };
        assert_eq!(ControlHeader::parse(&h.emit()), Some(h));
        assert_eq!(ControlHeader::parse(&h.emit()[..11]), None);
        let mut not6 = h.emit();
        not6[0] = (2 << 3) | 3;
        assert_eq!(ControlHeader::parse(&not6), None);
    }
}
