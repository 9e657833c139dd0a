//! Wire formats: bytes ⇄ types, no I/O, no clock, no panic on any input.
//!
//! - [`packet`]: the NTP header (RFC 5905 §7.3), extension fields and MAC;
//! - [`timestamp`]: 64-bit timestamps, 32-bit short format, era-aware dates;
//! - [`refid`]: the reference id, read as its stratum requires;
//! - [`kiss`]: Kiss-o'-Death codes with their RFC meaning and the action
//!   RFC 5905 requires;
//! - [`control`]: mode 6 control messages (RFC 9327) and the peer status word;
//! - [`nts`], [`nts_ke`]: NTS extension fields and authenticator, NTS-KE
//!   records (RFC 8915);
//! - [`icmp`]: ICMP and ICMPv6 errors, their kinds, and the view of an error
//!   with the datagram it quotes (capture and the NTS-KE edge share it).

pub mod control;
pub mod icmp;
pub mod kiss;
pub mod nts;
pub mod nts_ke;
pub mod packet;
pub mod refid;
pub mod timestamp;

pub use kiss::KissCode;
pub use packet::{HEADER_LEN, Leap, Mode, Packet, Repr};
pub use refid::ReferenceId;
pub use timestamp::{NtpDate, NtpDuration, NtpShort, NtpTimestamp};

/// Why bytes are not a (whole) NTP packet. Each variant says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: {got} octets, an NTP header needs {needed}")]
    Truncated { needed: usize, got: usize },
    #[error("bad extension/MAC area at octet {offset}: {reason}")]
    BadTrailer { offset: usize, reason: &'static str },
}
