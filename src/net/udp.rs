//! The UDP socket of the probe and the server: bound once, non-blocking, with
//! the kernel's error queue (IP_RECVERR / IPV6_RECVERR) and receive
//! timestamps (SO_TIMESTAMPNS) switched on.
//!
//! With IP_RECVERR, an ICMP error that quotes one of our datagrams is queued
//! on the socket even though it is unconnected; `recv_error` reads it with the
//! ICMP type/code, the address of whoever sent it (SO_EE_OFFENDER), the
//! original destination, and the quoted payload. poll(2) reports such a
//! socket readable-with-error at once, so an ICMP error ends the wait
//! immediately instead of after a timeout.
//!
//! All system calls go through `nix` and `socket2`; this module has no
//! `unsafe` of its own.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};

use super::clock;
use super::errno::local_error;
use crate::engine::local::LocalError;
use crate::engine::probe::IcmpReport;
use crate::wire::NtpTimestamp;
use crate::wire::icmp::IcmpError;

/// Values of `sock_extended_err.ee_origin` (linux/errqueue.h); 1 is LOCAL.
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;
const SO_EE_ORIGIN_TIMESTAMPING: u8 = 4;

pub struct NtpSocket {
    sock: Socket,
}

/// A datagram read from the socket.
#[derive(Debug)]
pub struct Datagram {
    pub len: usize,
    pub from: SocketAddr,
    /// Kernel receive time (Unix seconds, nanoseconds), when the kernel gave one.
    pub kernel_time: Option<(i64, u32)>,
}

/// What the error queue held.
#[derive(Debug, Clone)]
pub enum QueuedError {
    /// An ICMP/ICMPv6 error.
    Icmp {
        error: IcmpError,
        offender: Option<IpAddr>,
        original_dest: Option<SocketAddr>,
        quoted: Vec<u8>,
    },
    /// A software transmit timestamp: the `id`-th datagram sent on this
    /// socket (from 0) left at `at` (Unix seconds, nanoseconds).
    TxTimestamp { id: u32, at: (i64, u32) },
    /// A locally generated error (e.g. EMSGSIZE), with errno.
    Local {
        errno: i32,
        original_dest: Option<SocketAddr>,
    },
}

fn to_std(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
}

impl NtpSocket {
    /// A socket of `local`'s family bound to `local` (port 0: a random port
    /// chosen by the kernel, RFC 9109).
    pub fn bind(local: SocketAddr) -> Result<NtpSocket, LocalError> {
        let domain = if local.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| local_error("socket", local, &e))?;
        if local.is_ipv6() {
            sock.set_only_v6(true)
                .map_err(|e| local_error("setsockopt(IPV6_V6ONLY)", local, &e))?;
            setsockopt(&sock, sockopt::Ipv6RecvErr, &true)
                .map_err(|e| local_error("setsockopt(IPV6_RECVERR)", local, &e.into()))?;
        } else {
            setsockopt(&sock, sockopt::Ipv4RecvErr, &true)
                .map_err(|e| local_error("setsockopt(IP_RECVERR)", local, &e.into()))?;
        }
        // Receive timestamps are a nicety: carry on without them.
        let _ = setsockopt(&sock, sockopt::ReceiveTimestampns, &true);
        // Software transmit timestamps (T1 as the kernel hands the datagram
        // to the device), each tagged with the send's number (OPT_ID),
        // read back from the error queue. NTPDIAG_NO_TX_TIMESTAMPS=1 turns
        // them off (the benchmark compares both).
        if std::env::var_os("NTPDIAG_NO_TX_TIMESTAMPS").is_none() {
            use nix::sys::socket::TimestampingFlag as F;
            let _ = setsockopt(
                &sock,
                sockopt::Timestamping,
                &(F::SOF_TIMESTAMPING_TX_SOFTWARE
                    | F::SOF_TIMESTAMPING_SOFTWARE
                    | F::SOF_TIMESTAMPING_OPT_ID
                    | F::SOF_TIMESTAMPING_OPT_TSONLY),
            );
        }
        sock.set_nonblocking(true)
            .map_err(|e| local_error("fcntl(O_NONBLOCK)", local, &e))?;
        sock.bind(&local.into())
            .map_err(|e| local_error("bind", local, &e))?;
        Ok(NtpSocket { sock })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok().and_then(|a| a.as_socket())
    }

    pub fn send_to(&self, buf: &[u8], dest: SocketAddr) -> Result<(), LocalError> {
        match self.sock.send_to(buf, &dest.into()) {
            Ok(_) => Ok(()),
            Err(e) => Err(local_error("sendto", dest, &e)),
        }
    }

    /// Waits until the socket has data or an error, or `timeout` passes.
    /// Returns whether it became ready.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up so a sub-millisecond wait does not spin.
        let ms = if timeout > Duration::ZERO && ms == 0 {
            1
        } else {
            ms
        };
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        let to = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, to) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one datagram into `buf`; `Ok(None)` when there is none.
    /// A pending ICMP error makes the kernel fail one read with its errno
    /// (ECONNREFUSED, EHOSTUNREACH, …); that is reported as `Err`, and the
    /// details are in the error queue.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec, [libc::timespec; 3]);
        let mut iov = [IoSliceMut::new(buf)];
        let r = recvmsg::<SockaddrStorage>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        );
        let msg = match r {
            Ok(m) => m,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut kernel_time = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::ScmTimestampns(ts) => {
                        kernel_time = Some((ts.tv_sec(), ts.tv_nsec() as u32));
                    }
                    ControlMessageOwned::ScmTimestampsns(ts) if kernel_time.is_none() => {
                        let t = ts.system;
                        if t.tv_sec() != 0 {
                            kernel_time = Some((t.tv_sec(), t.tv_nsec() as u32));
                        }
                    }
                    _ => {}
                }
            }
        }
        let Some(from) = msg.address.as_ref().and_then(to_std) else {
            return Err(io::Error::other("datagram without a source address"));
        };
        Ok(Some(Datagram {
            len: msg.bytes,
            from,
            kernel_time,
        }))
    }

    /// Reads one entry of the error queue; `Ok(None)` when it is empty.
    pub fn recv_error(&self) -> io::Result<Option<QueuedError>> {
        let mut buf = [0u8; 1500];
        // Room for everything one error-queue message carries: the error
        // with its offender, a SO_TIMESTAMPING stamp and a SO_TIMESTAMPNS
        // one (too small a buffer silently drops the last, MSG_CTRUNC).
        let mut cmsg = nix::cmsg_space!(
            libc::sock_extended_err,
            libc::sockaddr_in6,
            [libc::timespec; 3],
            nix::sys::time::TimeSpec
        );
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<SockaddrStorage>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        );
        let msg = match r {
            Ok(m) => m,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = msg.bytes;
        let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
        let original_dest = msg.address.as_ref().and_then(to_std);
        let mut found = None;
        let mut stamp = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampsns(ts) = c {
                    stamp = Some((ts.system.tv_sec(), ts.system.tv_nsec() as u32));
                    continue;
                }
                let (ee, offender) = match c {
                    ControlMessageOwned::Ipv4RecvErr(ee, addr) => (
                        ee,
                        addr.map(|a| IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
                    ),
                    ControlMessageOwned::Ipv6RecvErr(ee, addr) => (
                        ee,
                        addr.map(|a| IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr))),
                    ),
                    _ => continue,
                };
                // An unspecified offender means "none given".
                let offender = offender.filter(|o| !o.is_unspecified());
                found = Some(match ee.ee_origin {
                    SO_EE_ORIGIN_ICMP => QueuedError::Icmp {
                        error: IcmpError::v4(ee.ee_type, ee.ee_code),
                        offender,
                        original_dest,
                        quoted: Vec::new(),
                    },
                    SO_EE_ORIGIN_ICMP6 => QueuedError::Icmp {
                        error: IcmpError::v6(ee.ee_type, ee.ee_code),
                        offender,
                        original_dest,
                        quoted: Vec::new(),
                    },
                    SO_EE_ORIGIN_TIMESTAMPING => QueuedError::TxTimestamp {
                        id: ee.ee_data,
                        at: (0, 0),
                    },
                    _ => QueuedError::Local {
                        errno: ee.ee_errno as i32,
                        original_dest,
                    },
                });
            }
        }
        Ok(Some(match found {
            Some(QueuedError::Icmp {
                error,
                offender,
                original_dest,
                ..
            }) => QueuedError::Icmp {
                error,
                offender,
                original_dest,
                quoted: buf[..len.min(buf.len())].to_vec(),
            },
            Some(QueuedError::TxTimestamp { id, .. }) => match stamp {
                Some(at) => QueuedError::TxTimestamp { id, at },
                None => QueuedError::Local {
                    errno: 0,
                    original_dest,
                },
            },
            Some(other) => other,
            // Nothing readable: say why rather than "success".
            None => QueuedError::Local {
                errno: if truncated {
                    libc::ENOBUFS
                } else {
                    libc::ENOMSG
                },
                original_dest,
            },
        }))
    }
}

/// The source address the kernel would use to reach `dest` (no packet is
/// sent: a UDP connect only consults the routing table).
pub fn route_source(dest: SocketAddr) -> Option<IpAddr> {
    let domain = if dest.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).ok()?;
    s.connect(&dest.into()).ok()?;
    s.local_addr().ok()?.as_socket().map(|a| a.ip())
}

/// Where [`drain`] delivers what a socket holds.
pub trait Inbox {
    fn icmp(&mut self, report: IcmpReport);
    fn datagram(&mut self, from: SocketAddr, t4: NtpTimestamp, bytes: &[u8]);
    /// An error that belongs to no one datagram: kept, never dropped.
    fn socket_error(&mut self, e: LocalError);
    /// The kernel's transmit time of the `id`-th datagram sent (from 0).
    fn tx_timestamp(&mut self, id: u32, t1: NtpTimestamp);
}

/// The errnos a queued ICMP error makes the next read return (Linux
/// `icmp_err_convert`, `icmpv6_err_convert`).
fn from_icmp(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNREFUSED
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EACCES
            | libc::EPROTO
            | libc::EMSGSIZE
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP
            | libc::EHOSTDOWN
    )
}

/// Reads everything pending on `sock` (talking to `addr`), bounded: the
/// error queue first (so an ICMP error is seen even when the read below
/// fails with its errno), then datagrams.
pub fn drain(sock: &NtpSocket, addr: SocketAddr, inbox: &mut impl Inbox, buf: &mut [u8]) {
    for _ in 0..64 {
        match sock.recv_error() {
            Ok(Some(QueuedError::Icmp {
                error,
                offender,
                original_dest,
                quoted,
            })) => inbox.icmp(IcmpReport {
                error,
                offender,
                original_dest,
                quoted,
            }),
            Ok(Some(QueuedError::TxTimestamp { id, at })) => {
                inbox.tx_timestamp(id, clock::from_unix(at))
            }
            Ok(Some(QueuedError::Local {
                errno,
                original_dest,
            })) => inbox.socket_error(local_error(
                "error queue",
                original_dest.map_or("?".to_string(), |d| d.to_string()),
                &io::Error::from_raw_os_error(errno),
            )),
            Ok(None) => break,
            Err(e) => {
                inbox.socket_error(local_error("recvmsg(MSG_ERRQUEUE)", addr, &e));
                break;
            }
        }
    }
    for _ in 0..64 {
        match sock.recv(buf) {
            Ok(Some(d)) => {
                let t4 = d.kernel_time.map_or_else(clock::now, clock::from_unix);
                inbox.datagram(d.from, t4, &buf[..d.len]);
            }
            Ok(None) => break,
            // The errno of a queued ICMP error: already read from the queue
            // above, as the ICMP error itself.
            Err(e) if e.raw_os_error().is_some_and(from_icmp) => continue,
            Err(e) => {
                inbox.socket_error(local_error("recvmsg", addr, &e));
                break;
            }
        }
    }
}

/// Many sockets waited on at once (epoll: registered once, each wait costs
/// what is ready, not what is open — a thousand associations stay cheap).
pub struct Poller {
    epoll: nix::sys::epoll::Epoll,
    events: Vec<nix::sys::epoll::EpollEvent>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent};
        Ok(Poller {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            events: vec![EpollEvent::empty(); 256],
        })
    }

    /// Watches `sock` for data and queued errors; `token` names it.
    pub fn add(&self, sock: &NtpSocket, token: u64) -> io::Result<()> {
        use nix::sys::epoll::{EpollEvent, EpollFlags};
        self.epoll.add(
            sock.sock.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLERR, token),
        )?;
        Ok(())
    }

    /// Waits until a watched socket is ready or `timeout` passes; the
    /// tokens of the ready ones.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u64>> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let ms = if timeout > Duration::ZERO && ms == 0 {
            1
        } else {
            ms
        };
        let to = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match self.epoll.wait(&mut self.events, to) {
            Ok(n) => Ok(self.events[..n].iter().map(|e| e.data()).collect()),
            Err(Errno::EINTR) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback only: a datagram to a closed loopback port draws ICMP port
    /// unreachable from 127.0.0.1, which must surface through the error queue.
    #[test]
    fn icmp_port_unreachable_on_loopback() {
        // Find a closed port: bind, note the port, close.
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let sock = NtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        sock.send_to(b"0123456789abcdefghijklmnopqrstuvwxyz0123456789AB", closed)
            .unwrap();
        let mut got = None;
        for _ in 0..50 {
            sock.wait(Duration::from_millis(100)).unwrap();
            match sock.recv_error().unwrap() {
                // The send's own transmit timestamp comes first.
                Some(QueuedError::TxTimestamp { id, at }) => {
                    assert_eq!(id, 0);
                    assert!(at.0 > 1_700_000_000, "{at:?}");
                }
                Some(e) => {
                    got = Some(e);
                    break;
                }
                None => {}
            }
        }
        match got {
            Some(QueuedError::Icmp {
                error,
                offender,
                original_dest,
                quoted,
            }) => {
                assert_eq!(error, IcmpError::v4(3, 3));
                assert_eq!(offender, Some("127.0.0.1".parse().unwrap()));
                assert_eq!(original_dest, Some(closed));
                assert_eq!(&quoted[..10], b"0123456789");
            }
            other => panic!("expected an ICMP port unreachable, got {other:?}"),
        }
    }

    #[test]
    fn datagram_with_kernel_timestamp() {
        let a = NtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(b"hello", a.local_addr().unwrap()).unwrap();
        assert!(a.wait(Duration::from_secs(2)).unwrap());
        let mut buf = [0u8; 64];
        let d = a.recv(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..d.len], b"hello");
        assert_eq!(d.from, b.local_addr().unwrap());
        assert!(d.kernel_time.is_some());
        assert!(a.recv(&mut buf).unwrap().is_none());
    }

    #[test]
    fn route_source_for_loopback() {
        assert_eq!(
            route_source("127.0.0.1:123".parse().unwrap()),
            Some("127.0.0.1".parse().unwrap())
        );
    }
}
