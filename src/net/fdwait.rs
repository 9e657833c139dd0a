//! Waiting on a descriptor that a library owns but does not lend out (the
//! NFQUEUE socket of the `nfq` crate): ppoll(2) on the raw number (nanosecond timeouts), for
//! readability, with a timeout. A module with `unsafe`: one call, on a
//! `pollfd` it owns; the descriptor is not closed or kept.
#![expect(unsafe_code, reason = "one ppoll call on a descriptor the caller owns")]

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Whether `fd` became readable within `timeout`.
pub fn readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one pollfd and one timespec, owned here and alive for the
    // call; no signal mask.
    let n = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
    match n {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(p.revents & libc::POLLIN != 0),
    }
}

/// This process's open sockets (the directory listing's own descriptor,
/// and anything else that is not a socket, left out).
pub fn open_sockets() -> Vec<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
