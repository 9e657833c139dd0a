//! Wire formats: bytes ⇄ types, no I/O, no clock.
//!
//! - [`packet`]: the NTP header (RFC 5905 §7.3), extension fields and MAC.
//! - [`timestamp`]: 64-bit timestamps, 32-bit short format, era-aware dates.
//! - [`refid`]: the reference id, read as its stratum requires.
//! - [`kiss`]: Kiss-o'-Death codes with their RFC meaning and the action RFC 5905 requires.

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
