//! Local failures as domain values: the edge (`net::errno`) maps `errno` to
//! these at the boundary so that the core and the diagnosis never see raw OS
//! codes alone.

use std::fmt;

/// What went wrong on this machine.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LocalErrorKind {
    /// EPERM on send: a local firewall (OUTPUT chain) rejected the datagram.
    SendNotPermitted,
    /// EACCES: a privileged port or operation without the privilege.
    PermissionDenied,
    /// EADDRINUSE: the port is held by another socket (often ntpd/chronyd on 123).
    AddressInUse,
    /// EADDRNOTAVAIL: the address is not one of this host's.
    AddressNotAvailable,
    /// ENETUNREACH on send: this host has no route to the destination.
    NetworkUnreachable,
    /// EHOSTUNREACH on send: the neighbour could not be resolved, or an
    /// `unreachable` route.
    HostUnreachable,
    /// EAFNOSUPPORT and friends: no IPv6 (or IPv4) on this host.
    FamilyNotSupported,
    /// Anything else; the errno and message are kept.
    Other,
}

/// A failed local operation: which, on what, and the OS's words.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LocalError {
    pub kind: LocalErrorKind,
    /// The operation: `bind`, `sendto`, `socket`, `setsockopt(IP_RECVERR)`.
    pub op: String,
    /// The address the operation was on, as text.
    pub target: String,
    pub errno: Option<i32>,
    pub message: String,
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.target, self.message)
    }
}

impl std::error::Error for LocalError {}
