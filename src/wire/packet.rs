//! The NTP packet header (RFC 5905 §7.3, Figure 8), versions 1–4, modes 0–7,
//! with the extension fields (RFC 7822) and MAC that may follow it.
//!
//! Two levels, as in smoltcp: [`Packet`] is a checked view over a byte buffer
//! with field accessors, [`Repr`] a plain value that parses from and emits to
//! that view.
//!
//! Contract for untrusted input: [`Packet::new_checked`] verifies the length
//! once, after which every accessor is in bounds; [`Packet::trailer`] walks the
//! bytes after the header without trusting any length it reads. Nothing in this
//! module panics on any input, which the `wire_parse_any_bytes` fuzz target and
//! the property tests check.

use std::fmt;

use super::WireError;
use super::refid::ReferenceId;
use super::timestamp::{NtpShort, NtpTimestamp};

/// Byte layout of the 48-octet header.
pub mod field {
    pub type Field = std::ops::Range<usize>;
    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    pub const POLL: usize = 2;
    pub const PRECISION: usize = 3;
    pub const ROOT_DELAY: Field = 4..8;
    pub const ROOT_DISPERSION: Field = 8..12;
    pub const REFERENCE_ID: Field = 12..16;
    pub const REFERENCE_TS: Field = 16..24;
    pub const ORIGIN_TS: Field = 24..32;
    pub const RECEIVE_TS: Field = 32..40;
    pub const TRANSMIT_TS: Field = 40..48;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::TRANSMIT_TS.end;

/// Leap indicator (2 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Leap {
    NoWarning,
    AddSecond,
    DeleteSecond,
    /// 3: "alarm condition": the clock is unsynchronized.
    Unsynchronized,
}

impl Leap {
    pub fn from_bits(b: u8) -> Leap {
        match b & 3 {
            0 => Leap::NoWarning,
            1 => Leap::AddSecond,
            2 => Leap::DeleteSecond,
            _ => Leap::Unsynchronized,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::AddSecond => 1,
            Leap::DeleteSecond => 2,
            Leap::Unsynchronized => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Leap::NoWarning => "no warning",
            Leap::AddSecond => "last minute has 61 s",
            Leap::DeleteSecond => "last minute has 59 s",
            Leap::Unsynchronized => "unsynchronized (alarm)",
        }
    }
}

/// Association mode (3 bits). All eight values are named, so no value is lost.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// NTP control message (mode 6, `ntpq`).
    Control,
    /// Reserved for private use (mode 7, classic `ntpdc`).
    Private,
}

impl Mode {
    pub fn from_bits(b: u8) -> Mode {
        match b & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Reserved => "reserved",
            Mode::SymmetricActive => "symmetric active",
            Mode::SymmetricPassive => "symmetric passive",
            Mode::Client => "client",
            Mode::Server => "server",
            Mode::Broadcast => "broadcast",
            Mode::Control => "control (ntpq)",
            Mode::Private => "private (ntpdc)",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.bits(), self.name())
    }
}

/// A checked view of an NTP packet in a byte buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be32(b: &[u8], f: field::Field) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[f]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], f: field::Field) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[f]);
    u64::from_be_bytes(a)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length; accessors may then panic.
    /// Use [`Packet::new_checked`] for anything that came off the network.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let got = buffer.as_ref().len();
        if got < HEADER_LEN {
            return Err(WireError::Truncated {
                needed: HEADER_LEN,
                got,
            });
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn leap(&self) -> Leap {
        Leap::from_bits(self.b()[field::LI_VN_MODE] >> 6)
    }

    pub fn version(&self) -> u8 {
        (self.b()[field::LI_VN_MODE] >> 3) & 7
    }

    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.b()[field::LI_VN_MODE])
    }

    pub fn stratum(&self) -> u8 {
        self.b()[field::STRATUM]
    }

    pub fn poll(&self) -> i8 {
        self.b()[field::POLL] as i8
    }

    pub fn precision(&self) -> i8 {
        self.b()[field::PRECISION] as i8
    }

    pub fn root_delay(&self) -> NtpShort {
        NtpShort(be32(self.b(), field::ROOT_DELAY))
    }

    pub fn root_dispersion(&self) -> NtpShort {
        NtpShort(be32(self.b(), field::ROOT_DISPERSION))
    }

    pub fn reference_id(&self) -> ReferenceId {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b()[field::REFERENCE_ID]);
        ReferenceId(a)
    }

    pub fn reference_ts(&self) -> NtpTimestamp {
        NtpTimestamp(be64(self.b(), field::REFERENCE_TS))
    }

    pub fn origin_ts(&self) -> NtpTimestamp {
        NtpTimestamp(be64(self.b(), field::ORIGIN_TS))
    }

    pub fn receive_ts(&self) -> NtpTimestamp {
        NtpTimestamp(be64(self.b(), field::RECEIVE_TS))
    }

    pub fn transmit_ts(&self) -> NtpTimestamp {
        NtpTimestamp(be64(self.b(), field::TRANSMIT_TS))
    }

    /// The octets after the 48-octet header.
    pub fn trailer_bytes(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }

    /// Walks extension fields and MAC after the header (RFC 7822 §7.5).
    ///
    /// Rules: 4 octets left = a crypto-NAK (key id only); 20 or 24 octets left =
    /// a MAC (key id + 128/160-bit digest); otherwise an extension field with a
    /// 4-octet header whose length is ≥ 16, a multiple of 4, and fits. Anything
    /// else is reported with its offset, not guessed at.
    pub fn trailer(&self) -> Result<Trailer, WireError> {
        let t = self.trailer_bytes();
        let mut out = Trailer::default();
        let mut off = 0usize;
        while off < t.len() {
            let left = t.len() - off;
            if left == 4 || left == 20 || left == 24 {
                out.mac = Some(Mac {
                    key_id: be32(t, off..off + 4),
                    digest_len: left - 4,
                });
                return Ok(out);
            }
            if left < 16 {
                return Err(WireError::BadTrailer {
                    offset: HEADER_LEN + off,
                    reason: "fewer octets left than an extension field or MAC needs",
                });
            }
            let field_type = u16::from_be_bytes([t[off], t[off + 1]]);
            let len = u16::from_be_bytes([t[off + 2], t[off + 3]]) as usize;
            if len < 16 || !len.is_multiple_of(4) || len > left {
                return Err(WireError::BadTrailer {
                    offset: HEADER_LEN + off,
                    reason: "extension field length is below 16, not a multiple of 4, or runs past the end",
                });
            }
            out.extensions.push(ExtensionField {
                field_type,
                length: len as u16,
            });
            off += len;
        }
        Ok(out)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    pub fn set_li_vn_mode(&mut self, leap: Leap, version: u8, mode: Mode) {
        self.bm()[field::LI_VN_MODE] = (leap.bits() << 6) | ((version & 7) << 3) | mode.bits();
    }

    pub fn set_stratum(&mut self, v: u8) {
        self.bm()[field::STRATUM] = v;
    }

    pub fn set_poll(&mut self, v: i8) {
        self.bm()[field::POLL] = v as u8;
    }

    pub fn set_precision(&mut self, v: i8) {
        self.bm()[field::PRECISION] = v as u8;
    }

    pub fn set_root_delay(&mut self, v: NtpShort) {
        self.bm()[field::ROOT_DELAY].copy_from_slice(&v.0.to_be_bytes());
    }

    pub fn set_root_dispersion(&mut self, v: NtpShort) {
        self.bm()[field::ROOT_DISPERSION].copy_from_slice(&v.0.to_be_bytes());
    }

    pub fn set_reference_id(&mut self, v: ReferenceId) {
        self.bm()[field::REFERENCE_ID].copy_from_slice(&v.0);
    }

    pub fn set_reference_ts(&mut self, v: NtpTimestamp) {
        self.bm()[field::REFERENCE_TS].copy_from_slice(&v.0.to_be_bytes());
    }

    pub fn set_origin_ts(&mut self, v: NtpTimestamp) {
        self.bm()[field::ORIGIN_TS].copy_from_slice(&v.0.to_be_bytes());
    }

    pub fn set_receive_ts(&mut self, v: NtpTimestamp) {
        self.bm()[field::RECEIVE_TS].copy_from_slice(&v.0.to_be_bytes());
    }

    pub fn set_transmit_ts(&mut self, v: NtpTimestamp) {
        self.bm()[field::TRANSMIT_TS].copy_from_slice(&v.0.to_be_bytes());
    }
}

/// An extension field header (RFC 7822): its contents are skipped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtensionField {
    pub field_type: u16,
    pub length: u16,
}

/// A message authentication code (RFC 5905 §7.3): key id and digest length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mac {
    pub key_id: u32,
    /// 0 for a crypto-NAK, 16 for MD5/AES-CMAC, 20 for SHA-1.
    pub digest_len: usize,
}

/// What follows the header.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Trailer {
    pub extensions: Vec<ExtensionField>,
    pub mac: Option<Mac>,
}

/// The decoded header, independent of any buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Repr {
    pub leap: Leap,
    pub version: u8,
    pub mode: Mode,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: ReferenceId,
    pub reference_ts: NtpTimestamp,
    pub origin_ts: NtpTimestamp,
    pub receive_ts: NtpTimestamp,
    pub transmit_ts: NtpTimestamp,
}

impl Repr {
    /// Reads every header field. Version and mode are taken as they are: a
    /// diagnostic tool shows odd values; the protocol core judges them.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            leap: p.leap(),
            version: p.version(),
            mode: p.mode(),
            stratum: p.stratum(),
            poll: p.poll(),
            precision: p.precision(),
            root_delay: p.root_delay(),
            root_dispersion: p.root_dispersion(),
            reference_id: p.reference_id(),
            reference_ts: p.reference_ts(),
            origin_ts: p.origin_ts(),
            receive_ts: p.receive_ts(),
            transmit_ts: p.transmit_ts(),
        }
    }

    /// Checks the length and parses: the usual entry point for received bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr, WireError> {
        Ok(Repr::parse(&Packet::new_checked(bytes)?))
    }

    /// Writes the header into the first 48 octets of the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_li_vn_mode(self.leap, self.version, self.mode);
        p.set_stratum(self.stratum);
        p.set_poll(self.poll);
        p.set_precision(self.precision);
        p.set_root_delay(self.root_delay);
        p.set_root_dispersion(self.root_dispersion);
        p.set_reference_id(self.reference_id);
        p.set_reference_ts(self.reference_ts);
        p.set_origin_ts(self.origin_ts);
        p.set_receive_ts(self.receive_ts);
        p.set_transmit_ts(self.transmit_ts);
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut buf = [0u8; HEADER_LEN];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reply a fresh ntpsec 1.2.2 `ntpd` sent to `ntpdig` in a test
    /// namespace (captured with `ntpdig -d -d`): leap 3, stratum 0, refid INIT.
    const NTPSEC_FRESH_REPLY: [u8; 48] = [
        0xe4, 0x00, 0x00, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x49, 0x4e, 0x49,
        0x54, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xee, 0xb0, 0xd7, 0x9d, 0x12, 0xfa,
        0x60, 0x00, 0xee, 0xb0, 0xd7, 0x9d, 0x13, 0x0d, 0x39, 0x50, 0xee, 0xb0, 0xd7, 0x9d, 0x13,
        0x14, 0x4f, 0xc7,
    ];

    #[test]
    fn parse_captured_ntpsec_reply() {
        let r = Repr::parse_bytes(&NTPSEC_FRESH_REPLY).unwrap();
        assert_eq!(r.leap, Leap::Unsynchronized);
        assert_eq!(r.version, 4);
        assert_eq!(r.mode, Mode::Server);
        assert_eq!(r.stratum, 0);
        assert_eq!(r.poll, 0);
        assert_eq!(r.precision, -24);
        assert_eq!(r.root_delay, NtpShort(0));
        assert_eq!(r.root_dispersion, NtpShort(3));
        assert_eq!(r.reference_id, ReferenceId(*b"INIT"));
        assert_eq!(r.reference_ts, NtpTimestamp::ZERO);
        assert_eq!(r.origin_ts, NtpTimestamp(0xeeb0_d79d_12fa_6000));
        assert_eq!(r.transmit_ts, NtpTimestamp(0xeeb0_d79d_1314_4fc7));
        assert_eq!(r.to_bytes(), NTPSEC_FRESH_REPLY);
    }

    #[test]
    fn too_short_empty_and_abrupt() {
        assert_eq!(
            Repr::parse_bytes(&[]),
            Err(WireError::Truncated { needed: 48, got: 0 })
        );
        assert_eq!(
            Repr::parse_bytes(&NTPSEC_FRESH_REPLY[..47]),
            Err(WireError::Truncated {
                needed: 48,
                got: 47
            })
        );
    }

    #[test]
    fn trailers() {
        let mut buf = NTPSEC_FRESH_REPLY.to_vec();
        // MD5 MAC: key id 7 + 16 octets.
        buf.extend_from_slice(&7u32.to_be_bytes());
        buf.extend_from_slice(&[0xaa; 16]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            p.trailer().unwrap().mac,
            Some(Mac {
                key_id: 7,
                digest_len: 16
            })
        );
        assert_eq!(
            Repr::parse(&p),
            Repr::parse_bytes(&NTPSEC_FRESH_REPLY).unwrap()
        );

        // One 32-octet extension field (type 0x0104, NTS unique identifier) then SHA-1 MAC.
        let mut buf = NTPSEC_FRESH_REPLY.to_vec();
        buf.extend_from_slice(&[0x01, 0x04, 0x00, 0x20]);
        buf.extend_from_slice(&[0; 28]);
        buf.extend_from_slice(&[0, 0, 0, 9]);
        buf.extend_from_slice(&[0; 20]);
        let t = Packet::new_checked(&buf[..]).unwrap().trailer().unwrap();
        assert_eq!(
            t.extensions,
            vec![ExtensionField {
                field_type: 0x0104,
                length: 32
            }]
        );
        assert_eq!(
            t.mac,
            Some(Mac {
                key_id: 9,
                digest_len: 20
            })
        );

        // Crypto-NAK.
        let mut buf = NTPSEC_FRESH_REPLY.to_vec();
        buf.extend_from_slice(&[0; 4]);
        let t = Packet::new_checked(&buf[..]).unwrap().trailer().unwrap();
        assert_eq!(
            t.mac,
            Some(Mac {
                key_id: 0,
                digest_len: 0
            })
        );

        // Garbage: 7 octets.
        let mut buf = NTPSEC_FRESH_REPLY.to_vec();
        buf.extend_from_slice(&[1; 7]);
        assert!(matches!(
            Packet::new_checked(&buf[..]).unwrap().trailer(),
            Err(WireError::BadTrailer { offset: 48, .. })
        ));
        // Extension length running past the end.
        let mut buf = NTPSEC_FRESH_REPLY.to_vec();
        buf.extend_from_slice(&[0x01, 0x04, 0xff, 0xfc]);
        buf.extend_from_slice(&[0; 28]);
        assert!(Packet::new_checked(&buf[..]).unwrap().trailer().is_err());
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            (
                0u8..4,
                0u8..8,
                0u8..8,
                any::<u8>(),
                any::<i8>(),
                any::<i8>(),
            ),
            (any::<u32>(), any::<u32>(), any::<[u8; 4]>()),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |((li, vn, mode, st, poll, prec), (rd, rdisp, id), (r, o, rx, tx))| Repr {
                    leap: Leap::from_bits(li),
                    version: vn,
                    mode: Mode::from_bits(mode),
                    stratum: st,
                    poll,
                    precision: prec,
                    root_delay: NtpShort(rd),
                    root_dispersion: NtpShort(rdisp),
                    reference_id: ReferenceId(id),
                    reference_ts: NtpTimestamp(r),
                    origin_ts: NtpTimestamp(o),
                    receive_ts: NtpTimestamp(rx),
                    transmit_ts: NtpTimestamp(tx),
                },
            )
    }

    proptest! {
        #[test]
        fn parse_emit_roundtrip(r in arb_repr()) {
            let bytes = r.to_bytes();
            prop_assert_eq!(Repr::parse_bytes(&bytes).unwrap(), r);
        }

        #[test]
        fn emit_parse_roundtrip(bytes in any::<[u8; 48]>()) {
            let r = Repr::parse_bytes(&bytes).unwrap();
            prop_assert_eq!(r.to_bytes(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Repr::parse(&p);
                let _ = p.trailer();
                let r = Repr::parse(&p);
                let _ = r.reference_id.describe(r.stratum);
            } else {
                prop_assert!(bytes.len() < HEADER_LEN);
            }
        }
    }
}
