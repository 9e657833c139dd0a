//! errno → [`LocalError`]: the one place where OS error codes become domain
//! values.

use std::fmt;

use crate::engine::local::{LocalError, LocalErrorKind};

/// The kind of local failure an errno stands for.
pub fn kind(errno: i32) -> LocalErrorKind {
    match errno {
        libc::EPERM => LocalErrorKind::SendNotPermitted,
        libc::EACCES => LocalErrorKind::PermissionDenied,
        libc::EADDRINUSE => LocalErrorKind::AddressInUse,
        libc::EADDRNOTAVAIL => LocalErrorKind::AddressNotAvailable,
        libc::ENETUNREACH => LocalErrorKind::NetworkUnreachable,
        libc::EHOSTUNREACH => LocalErrorKind::HostUnreachable,
        libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT => LocalErrorKind::FamilyNotSupported,
        _ => LocalErrorKind::Other,
    }
}

/// The kind of local failure a printed error stands for: a tool's
/// `strerror()` text (glibc's words), or Python's `[Errno N] …`.
pub fn kind_of_message(msg: &str) -> LocalErrorKind {
    if let Some(n) = msg
        .split("[Errno ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.trim().parse::<i32>().ok())
    {
        return kind(n);
    }
    const WORDS: [(&str, i32); 8] = [
        ("Operation not permitted", libc::EPERM),
        ("Permission denied", libc::EACCES),
        ("Address already in use", libc::EADDRINUSE),
        ("Cannot assign requested address", libc::EADDRNOTAVAIL),
        ("Network is unreachable", libc::ENETUNREACH),
        ("No route to host", libc::EHOSTUNREACH),
        ("Address family not supported", libc::EAFNOSUPPORT),
        ("Protocol not supported", libc::EPROTONOSUPPORT),
    ];
    WORDS
        .iter()
        .find(|(w, _)| msg.contains(w))
        .map_or(LocalErrorKind::Other, |(_, n)| kind(*n))
}

/// A failed operation `op` on `target`, from the OS's error.
pub fn local_error(op: &str, target: impl fmt::Display, e: &std::io::Error) -> LocalError {
    let errno = e.raw_os_error();
    LocalError {
        kind: errno.map_or(LocalErrorKind::Other, kind),
        op: op.to_string(),
        target: target.to_string(),
        errno,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errno values of Linux's asm-generic/errno-base.h and errno.h.
    #[test]
    fn errnos_map_to_their_kinds() {
        for (errno, k) in [
            (1, LocalErrorKind::SendNotPermitted),
            (13, LocalErrorKind::PermissionDenied),
            (98, LocalErrorKind::AddressInUse),
            (99, LocalErrorKind::AddressNotAvailable),
            (101, LocalErrorKind::NetworkUnreachable),
            (113, LocalErrorKind::HostUnreachable),
            (97, LocalErrorKind::FamilyNotSupported),
            (93, LocalErrorKind::FamilyNotSupported),
            (5, LocalErrorKind::Other),
        ] {
            assert_eq!(kind(errno), k, "errno {errno}");
        }
        let e = local_error(
            "bind",
            "0.0.0.0:123",
            &std::io::Error::from_raw_os_error(98),
        );
        assert_eq!((e.kind, e.errno), (LocalErrorKind::AddressInUse, Some(98)));
        assert!(e.to_string().starts_with("bind 0.0.0.0:123: "));
    }
}
