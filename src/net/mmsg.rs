//! Batched datagram I/O for the server: recvmmsg(2)/sendmmsg(2) with
//! per-message ancillary data — the destination address of each request
//! (IP_PKTINFO / IPV6_RECVPKTINFO), its kernel receive timestamp
//! (SO_TIMESTAMPNS) on the way in, and the source address of each reply
//! (IP_PKTINFO / IPV6_PKTINFO) on the way out, so that a server on a wildcard
//! address answers from the address it was asked on (or from the one a fault
//! profile names).
//!
//! This is the crate's one module with `unsafe`: the `libc` calls and the
//! walk over `cmsghdr`s. Audit notes are at each block. Everything it hands
//! out is a safe value (`SocketAddr`, `IpAddr`, byte slices).
#![expect(
    unsafe_code,
    reason = "batched socket I/O through libc (recvmmsg/sendmmsg, a BPF filter): each block says why it is sound"
)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Largest datagram read; longer ones are truncated (and judged malformed).
pub const DGRAM_MAX: usize = 2048;
const CMSG_SPACE: usize = 256;

/// What came with one received datagram.
#[derive(Clone, Copy, Debug)]
pub struct RecvMeta {
    /// Which buffer of the batch holds it.
    slot: usize,
    pub len: usize,
    pub from: SocketAddr,
    /// The local address the datagram was sent to.
    pub local: Option<IpAddr>,
    /// Kernel receive time (Unix s, ns).
    pub kernel_time: Option<(i64, u32)>,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
}

/// One datagram to send.
pub struct OutMsg<'a> {
    pub dest: SocketAddr,
    /// Source address to use (IP_PKTINFO); `None`: the kernel's choice.
    pub source: Option<IpAddr>,
    pub payload: &'a [u8],
}

fn to_storage(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut ss as *mut libc::sockaddr_storage as *mut libc::sockaddr_in).write(sin)
            };
            (ss, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe {
                (&mut ss as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6).write(sin6)
            };
            (ss, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family says so); storage is aligned.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Switches on what the batch reader needs: SO_TIMESTAMPNS, and PKTINFO
/// when `pktinfo` (a socket on a wildcard address must learn which address
/// each request came to; one bound to a single address need not pay for it).
pub fn enable_recv_meta(fd: RawFd, v6: bool, pktinfo: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let set = |level, name| {
        // SAFETY: fd is a socket owned by the caller; the option value is a c_int.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &on as *const _ as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    if pktinfo && v6 {
        set(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
    } else if pktinfo {
        set(libc::IPPROTO_IP, libc::IP_PKTINFO)?;
    }
    // Timestamps are optional.
    let _ = set(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS);
    Ok(())
}

/// Makes the kernel hand every datagram from one source address to the same
/// socket of an SO_REUSEPORT group of `sockets` (a classic BPF program:
/// `ld [net + 12 | 20]; mod #sockets; ret a`, the last 32 bits of the source
/// address modulo the group size). The default group hash uses the source
/// port too, so a client that changes ports (chrony, ntpdiag probe) would
/// meet a different per-client rate table each time.
pub fn steer_by_source(fd: RawFd, sockets: u32, v6: bool) -> io::Result<()> {
    let off = (libc::SKF_NET_OFF + if v6 { 20 } else { 12 }) as u32;
    let mut prog = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: off,
        },
        libc::sock_filter {
            code: (libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: sockets.max(1),
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_A) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at `prog`, alive for the call; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            &fprog as *const _ as *const libc::c_void,
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Preallocated buffers for one batch in each direction.
pub struct Batch {
    n: usize,
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u64; CMSG_SPACE / 8]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    pub meta: Vec<RecvMeta>,
}

// SAFETY: the raw pointers inside refer to the Batch's own boxed buffers
// only, which move with it; nothing else holds them.
unsafe impl Send for Batch {}

impl Batch {
    pub fn new(n: usize) -> Batch {
        let n = n.max(1);
        Batch {
            n,
            bufs: vec![0u8; n * DGRAM_MAX],
            // SAFETY: all-zero sockaddr_storage / iovec / mmsghdr are valid values.
            names: vec![unsafe { zeroed() }; n],
            cmsgs: vec![[0u64; CMSG_SPACE / 8]; n],
            // SAFETY: as above.
            iovs: vec![unsafe { zeroed() }; n],
            // SAFETY: as above.
            hdrs: vec![unsafe { zeroed() }; n],
            meta: Vec::with_capacity(n),
        }
    }

    pub fn capacity(&self) -> usize {
        self.n
    }

    /// The payload of received datagram `i`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let m = &self.meta[i];
        &self.bufs[m.slot * DGRAM_MAX..m.slot * DGRAM_MAX + m.len.min(DGRAM_MAX)]
    }

    /// Reads up to `capacity()` datagrams without blocking; fills `meta`.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.meta.clear();
        for i in 0..self.n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i * DGRAM_MAX..].as_mut_ptr() as *mut libc::c_void,
                iov_len: DGRAM_MAX,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = CMSG_SPACE as _;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by `self` that live
        // across the call and have the lengths given; n ≤ the vectors' length.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        let got = r as usize;
        for i in 0..got {
            let h = &self.hdrs[i].msg_hdr;
            let Some(from) = from_storage(&self.names[i]) else {
                continue;
            };
            let mut meta = RecvMeta {
                slot: i,
                len: (self.hdrs[i].msg_len as usize).min(DGRAM_MAX),
                from,
                local: None,
                kernel_time: None,
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            };
            // SAFETY: the kernel filled msg_control/msg_controllen for this
            // header; CMSG_* only walk within [msg_control, +msg_controllen).
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(h);
                while !c.is_null() {
                    let data = libc::CMSG_DATA(c);
                    match ((*c).cmsg_level, (*c).cmsg_type) {
                        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                            let pi = (data as *const libc::in_pktinfo).read_unaligned();
                            meta.local =
                                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                        }
                        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                            let pi = (data as *const libc::in6_pktinfo).read_unaligned();
                            meta.local = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                        }
                        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                            let ts = (data as *const libc::timespec).read_unaligned();
                            meta.kernel_time = Some((ts.tv_sec, ts.tv_nsec as u32));
                        }
                        _ => {}
                    }
                    c = libc::CMSG_NXTHDR(h, c);
                }
            }
            self.meta.push(meta);
        }
        Ok(self.meta.len())
    }

    /// Sends `msgs` (at most `capacity()`), each with its own source address.
    /// Returns how many the kernel took.
    pub fn send(&mut self, fd: RawFd, msgs: &[OutMsg]) -> io::Result<usize> {
        let n = msgs.len().min(self.n);
        if n == 0 {
            return Ok(0);
        }
        for (i, m) in msgs.iter().take(n).enumerate() {
            let (ss, len) = to_storage(&m.dest);
            self.names[i] = ss;
            self.iovs[i] = libc::iovec {
                iov_base: m.payload.as_ptr() as *mut libc::c_void,
                iov_len: m.payload.len(),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = len;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_flags = 0;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            if let Some(src) = m.source {
                let cbuf = self.cmsgs[i].as_mut_ptr() as *mut u8;
                // SAFETY: cbuf has CMSG_SPACE (256) octets, more than
                // CMSG_SPACE(in6_pktinfo); CMSG_FIRSTHDR on a header whose
                // control points there returns cbuf.
                unsafe {
                    std::ptr::write_bytes(cbuf, 0, CMSG_SPACE);
                    h.msg_control = cbuf as *mut libc::c_void;
                    match (src, m.dest) {
                        (IpAddr::V4(a), SocketAddr::V4(_)) => {
                            h.msg_controllen =
                                libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as _;
                            let c = libc::CMSG_FIRSTHDR(h);
                            (*c).cmsg_level = libc::IPPROTO_IP;
                            (*c).cmsg_type = libc::IP_PKTINFO;
                            (*c).cmsg_len =
                                libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                            let pi = libc::in_pktinfo {
                                ipi_ifindex: 0,
                                ipi_spec_dst: libc::in_addr {
                                    s_addr: u32::from(a).to_be(),
                                },
                                ipi_addr: libc::in_addr { s_addr: 0 },
                            };
                            (libc::CMSG_DATA(c) as *mut libc::in_pktinfo).write_unaligned(pi);
                        }
                        (IpAddr::V6(a), SocketAddr::V6(_)) => {
                            h.msg_controllen =
                                libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as _;
                            let c = libc::CMSG_FIRSTHDR(h);
                            (*c).cmsg_level = libc::IPPROTO_IPV6;
                            (*c).cmsg_type = libc::IPV6_PKTINFO;
                            (*c).cmsg_len =
                                libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                            let pi = libc::in6_pktinfo {
                                ipi6_addr: libc::in6_addr {
                                    s6_addr: a.octets(),
                                },
                                ipi6_ifindex: 0,
                            };
                            (libc::CMSG_DATA(c) as *mut libc::in6_pktinfo).write_unaligned(pi);
                        }
                        // Family mismatch: no control message, the kernel chooses.
                        _ => {
                            h.msg_control = std::ptr::null_mut();
                            h.msg_controllen = 0;
                        }
                    }
                }
            }
        }
        // SAFETY: headers 0..n point at `self`'s names/iovs/cmsgs and at the
        // callers' payload slices, all alive for the duration of the call.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn batch_roundtrip_with_pktinfo_and_timestamps() {
        let server = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        server.set_nonblocking(true).unwrap();
        enable_recv_meta(server.as_raw_fd(), false, true).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        for i in 0..5u8 {
            client.send_to(&[i; 48], ("127.0.0.3", port)).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut b = Batch::new(8);
        let n = b.recv(server.as_raw_fd()).unwrap();
        assert_eq!(n, 5);
        for i in 0..n {
            assert_eq!(b.payload(i), &[i as u8; 48][..]);
            assert_eq!(b.meta[i].from, client.local_addr().unwrap());
            assert_eq!(b.meta[i].local, Some("127.0.0.3".parse().unwrap()));
            assert!(b.meta[i].kernel_time.is_some());
        }
        // Reply from the address asked (127.0.0.3), not the kernel's default.
        let dest = b.meta[0].from;
        let payload = [9u8; 48];
        let msgs = [OutMsg {
            dest,
            source: Some("127.0.0.3".parse().unwrap()),
            payload: &payload,
        }];
        let mut out = Batch::new(4);
        assert_eq!(out.send(server.as_raw_fd(), &msgs).unwrap(), 1);
        let mut buf = [0u8; 64];
        let (len, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(
            (len, from.ip()),
            (48, "127.0.0.3".parse::<IpAddr>().unwrap())
        );
        assert_eq!(
            b.recv(server.as_raw_fd()).unwrap(),
            0,
            "empty socket: no block, zero"
        );
    }

    #[test]
    fn reuseport_group_steers_by_source_address() {
        use socket2::{Domain, Socket, Type};
        let mk = |port: u16| {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
            s.set_reuse_port(true).unwrap();
            s.set_nonblocking(true).unwrap();
            s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
                .unwrap();
            s
        };
        let a = mk(0);
        let port = a.local_addr().unwrap().as_socket().unwrap().port();
        steer_by_source(a.as_raw_fd(), 2, false).unwrap();
        let b = mk(port);
        // 20 clients on one address, each with its own port; then 20 on another.
        for src in ["127.0.0.5", "127.0.0.6"] {
            for _ in 0..20 {
                let c = std::net::UdpSocket::bind((src, 0)).unwrap();
                c.send_to(b"x", ("127.0.0.1", port)).unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let count = |s: &Socket| {
            let mut bt = Batch::new(64);
            let mut from = std::collections::BTreeMap::new();
            while let Ok(n) = bt.recv(s.as_raw_fd()) {
                if n == 0 {
                    break;
                }
                for m in &bt.meta {
                    *from.entry(m.from.ip()).or_insert(0) += 1;
                }
            }
            from
        };
        let (ca, cb) = (count(&a), count(&b));
        // Each source address went whole to one socket (and .5/.6 differ in
        // their last bit, so they went to different ones).
        for (ip, n) in ca.iter().chain(cb.iter()) {
            assert_eq!(*n, 20, "{ip} split between sockets: {ca:?} {cb:?}");
        }
        assert_eq!(ca.len() + cb.len(), 2);
        assert_eq!(ca.len(), 1);
    }
}
