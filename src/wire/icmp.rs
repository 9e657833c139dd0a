//! ICMP and ICMPv6 error types and codes that matter when a UDP request fails
//! (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1, RFC 4443 §3).
//!
//! Classification is total: every (type, code) pair maps to a kind, odd ones to
//! [`IcmpKind::Other`] with the numbers kept.

use std::fmt;

/// What an ICMP error quoting one of our datagrams says happened to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IcmpKind {
    /// Type 3 code 3 / ICMPv6 type 1 code 4: nothing listens on the port
    /// (or a REJECT rule imitates that).
    PortUnreachable,
    /// Type 3 code 1, 7, 8, 12 / ICMPv6 1/3: a router (or this host) could
    /// not deliver to the host itself (no ARP/ND answer, `unreachable` route).
    HostUnreachable,
    /// Type 3 code 0, 6, 11 / ICMPv6 1/0: no route to the network.
    NetUnreachable,
    /// Type 3 code 9, 10, 13 / ICMPv6 1/1, 1/5, 1/6: a filter refused it.
    AdminProhibited,
    /// Type 3 code 2 / ICMPv6 type 4 code 1 (unrecognised next header): no UDP.
    ProtocolUnreachable,
    /// Type 3 code 4 / ICMPv6 type 2: too big to pass without fragmentation.
    FragmentationNeeded,
    /// Type 11 / ICMPv6 type 3: hop limit reached (a routing loop) or
    /// reassembly timed out.
    TimeExceeded,
    /// Anything else, numbers kept.
    Other,
}

/// Address family of the ICMP message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IcmpFamily {
    V4,
    V6,
}

/// One ICMP error: family, type, code and what they mean.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IcmpError {
    pub family: IcmpFamily,
    pub icmp_type: u8,
    pub code: u8,
}

impl IcmpError {
    pub fn v4(icmp_type: u8, code: u8) -> IcmpError {
        IcmpError {
            family: IcmpFamily::V4,
            icmp_type,
            code,
        }
    }

    pub fn v6(icmp_type: u8, code: u8) -> IcmpError {
        IcmpError {
            family: IcmpFamily::V6,
            icmp_type,
            code,
        }
    }

    pub fn kind(self) -> IcmpKind {
        match (self.family, self.icmp_type, self.code) {
            (IcmpFamily::V4, 3, 3) => IcmpKind::PortUnreachable,
            (IcmpFamily::V4, 3, 0 | 6 | 11) => IcmpKind::NetUnreachable,
            (IcmpFamily::V4, 3, 1 | 7 | 8 | 12) => IcmpKind::HostUnreachable,
            (IcmpFamily::V4, 3, 9 | 10 | 13) => IcmpKind::AdminProhibited,
            (IcmpFamily::V4, 3, 2) => IcmpKind::ProtocolUnreachable,
            (IcmpFamily::V4, 3, 4) => IcmpKind::FragmentationNeeded,
            (IcmpFamily::V4, 11, _) => IcmpKind::TimeExceeded,
            (IcmpFamily::V6, 1, 4) => IcmpKind::PortUnreachable,
            (IcmpFamily::V6, 1, 0) => IcmpKind::NetUnreachable,
            (IcmpFamily::V6, 1, 3) => IcmpKind::HostUnreachable,
            (IcmpFamily::V6, 1, 1 | 5 | 6) => IcmpKind::AdminProhibited,
            (IcmpFamily::V6, 2, _) => IcmpKind::FragmentationNeeded,
            (IcmpFamily::V6, 3, _) => IcmpKind::TimeExceeded,
            (IcmpFamily::V6, 4, 1) => IcmpKind::ProtocolUnreachable,
            _ => IcmpKind::Other,
        }
    }

    /// The RFC name of this type/code.
    pub fn name(self) -> &'static str {
        match (self.family, self.icmp_type, self.code) {
            (IcmpFamily::V4, 3, 0) => "net unreachable",
            (IcmpFamily::V4, 3, 1) => "host unreachable",
            (IcmpFamily::V4, 3, 2) => "protocol unreachable",
            (IcmpFamily::V4, 3, 3) => "port unreachable",
            (IcmpFamily::V4, 3, 4) => "fragmentation needed and DF set",
            (IcmpFamily::V4, 3, 5) => "source route failed",
            (IcmpFamily::V4, 3, 6) => "destination network unknown",
            (IcmpFamily::V4, 3, 7) => "destination host unknown",
            (IcmpFamily::V4, 3, 8) => "source host isolated",
            (IcmpFamily::V4, 3, 9) => "network administratively prohibited",
            (IcmpFamily::V4, 3, 10) => "host administratively prohibited",
            (IcmpFamily::V4, 3, 11) => "network unreachable for type of service",
            (IcmpFamily::V4, 3, 12) => "host unreachable for type of service",
            (IcmpFamily::V4, 3, 13) => "communication administratively prohibited",
            (IcmpFamily::V4, 3, 14) => "host precedence violation",
            (IcmpFamily::V4, 3, 15) => "precedence cutoff in effect",
            (IcmpFamily::V4, 3, _) => "destination unreachable (unknown code)",
            (IcmpFamily::V4, 11, 0) => "time to live exceeded in transit",
            (IcmpFamily::V4, 11, _) => "fragment reassembly time exceeded",
            (IcmpFamily::V4, 12, _) => "parameter problem",
            (IcmpFamily::V6, 1, 0) => "no route to destination",
            (IcmpFamily::V6, 1, 1) => "communication with destination administratively prohibited",
            (IcmpFamily::V6, 1, 2) => "beyond scope of source address",
            (IcmpFamily::V6, 1, 3) => "address unreachable",
            (IcmpFamily::V6, 1, 4) => "port unreachable",
            (IcmpFamily::V6, 1, 5) => "source address failed ingress/egress policy",
            (IcmpFamily::V6, 1, 6) => "reject route to destination",
            (IcmpFamily::V6, 1, _) => "destination unreachable (unknown code)",
            (IcmpFamily::V6, 2, _) => "packet too big",
            (IcmpFamily::V6, 3, 0) => "hop limit exceeded in transit",
            (IcmpFamily::V6, 3, _) => "fragment reassembly time exceeded",
            (IcmpFamily::V6, 4, _) => "parameter problem",
            _ => "unrecognised ICMP error",
        }
    }
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = match self.family {
            IcmpFamily::V4 => "ICMP",
            IcmpFamily::V6 => "ICMPv6",
        };
        write!(
            f,
            "{fam} type {} code {} ({})",
            self.icmp_type,
            self.code,
            self.name()
        )
    }
}

/// The quoted datagram's transport: UDP (NTP) or TCP (NTS-KE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QuotedProto {
    Udp,
    Tcp,
}

/// An ICMP or ICMPv6 error message and the datagram it quotes (RFC 792,
/// RFC 4443 §2.1, §3): the view capture's decoder and the NTS edge share.
/// Parsing never panics: anything short, odd or not an error is `None`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ErrorQuote<'a> {
    pub error: IcmpError,
    pub quoted_src: std::net::SocketAddr,
    pub quoted_dst: std::net::SocketAddr,
    pub quoted_proto: QuotedProto,
    /// What follows the quoted UDP or TCP header's first eight octets
    /// (the UDP payload; often shorter than the original).
    pub quoted_payload: &'a [u8],
}

impl<'a> ErrorQuote<'a> {
    /// `message` is an ICMP (`v6` false) or ICMPv6 message from its type
    /// octet on: a raw socket's ICMPv6 message, or an IP packet's payload.
    /// `None` unless it is an error quoting a UDP or TCP datagram whose
    /// first eight octets (the ports) are there.
    pub fn parse(message: &'a [u8], v6: bool) -> Option<ErrorQuote<'a>> {
        use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket};
        if message.len() < 8 {
            return None;
        }
        let (t, c) = (message[0], message[1]);
        let error = if v6 {
            (1..=4).contains(&t).then(|| IcmpError::v6(t, c))?
        } else {
            matches!(t, 3 | 11 | 12).then(|| IcmpError::v4(t, c))?
        };
        let q = LaxSlicedPacket::from_ip(&message[8..]).ok()?;
        let (src, dst, proto, payload) = match q.net.as_ref()? {
            LaxNetSlice::Ipv4(v4) => (
                std::net::IpAddr::V4(v4.header().source_addr()),
                std::net::IpAddr::V4(v4.header().destination_addr()),
                v4.payload().ip_number,
                v4.payload().payload,
            ),
            LaxNetSlice::Ipv6(v6) => (
                std::net::IpAddr::V6(v6.header().source_addr()),
                std::net::IpAddr::V6(v6.header().destination_addr()),
                v6.payload().ip_number,
                v6.payload().payload,
            ),
            _ => return None,
        };
        let quoted_proto = match proto {
            IpNumber::UDP => QuotedProto::Udp,
            IpNumber::TCP => QuotedProto::Tcp,
            _ => return None,
        };
        // UDP's and TCP's first four octets are the same: the ports.
        if payload.len() < 8 {
            return None;
        }
        let sport = u16::from_be_bytes([payload[0], payload[1]]);
        let dport = u16::from_be_bytes([payload[2], payload[3]]);
        Some(ErrorQuote {
            error,
            quoted_src: std::net::SocketAddr::new(src, sport),
            quoted_dst: std::net::SocketAddr::new(dst, dport),
            quoted_proto,
            quoted_payload: &payload[8..],
        })
    }

    /// An IPv4 packet carrying an ICMP error (as a raw ICMP socket gives
    /// it, with its IP header): (its source, its destination, the view).
    pub fn in_ipv4(
        packet: &'a [u8],
    ) -> Option<(std::net::Ipv4Addr, std::net::Ipv4Addr, ErrorQuote<'a>)> {
        let ihl = usize::from(*packet.first()? & 0x0f) * 4;
        if packet[0] >> 4 != 4 || ihl < 20 || packet.len() < ihl || packet[9] != 1 {
            return None;
        }
        let addr = |at: usize| {
            std::net::Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3])
        };
        Some((
            addr(12),
            addr(16),
            ErrorQuote::parse(&packet[ihl..], false)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMPv6 port unreachable as a raw socket gives it (no IPv6 header),
    /// quoting a TCP SYN to port 4460: read without any outer header.
    #[test]
    fn icmpv6_error_quoting_tcp_as_a_raw_socket_gives_it() {
        let src: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
        let dst: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut m = vec![1, 4, 0, 0, 0, 0, 0, 0];
        // The quoted IPv6 header: TCP, 20 octets of payload.
        m.extend([0x60, 0, 0, 0, 0, 20, 6, 64]);
        m.extend(src.octets());
        m.extend(dst.octets());
        m.extend(40000u16.to_be_bytes());
        m.extend(4460u16.to_be_bytes());
        m.extend([0u8; 16]);
        let q = ErrorQuote::parse(&m, true).unwrap();
        assert_eq!(q.error, IcmpError::v6(1, 4));
        assert_eq!(q.quoted_proto, QuotedProto::Tcp);
        assert_eq!(q.quoted_src, "[2001:db8::2]:40000".parse().unwrap());
        assert_eq!(q.quoted_dst, "[2001:db8::1]:4460".parse().unwrap());
        // Cut anywhere, or not an error: no view, no panic.
        for n in 0..m.len() - 16 {
            assert_eq!(ErrorQuote::parse(&m[..n], true), None, "{n}");
        }
        assert_eq!(ErrorQuote::parse(&[128, 0, 0, 0, 0, 0, 0, 0], true), None);
        assert_eq!(ErrorQuote::parse(&m, false), None);
    }

    /// An IPv4 port unreachable with its IP header, quoting UDP to 123.
    #[test]
    fn icmp_error_in_an_ipv4_packet() {
        let mut inner = vec![
            0x45, 0, 0, 76, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 2, 198, 51, 100, 1,
        ];
        inner.extend(40000u16.to_be_bytes());
        inner.extend(123u16.to_be_bytes());
        inner.extend([0, 56, 0, 0]);
        inner.extend([0x23u8; 48]);
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2,
        ];
        p.extend([3, 3, 0, 0, 0, 0, 0, 0]);
        p.extend(&inner);
        let (from, to, q) = ErrorQuote::in_ipv4(&p).unwrap();
        assert_eq!(from.to_string(), "198.51.100.1");
        assert_eq!(to.to_string(), "198.51.100.2");
        assert_eq!(q.error, IcmpError::v4(3, 3));
        assert_eq!(q.quoted_proto, QuotedProto::Udp);
        assert_eq!(q.quoted_dst, "198.51.100.1:123".parse().unwrap());
        assert_eq!(q.quoted_payload.len(), 48);
        for n in 0..48 {
            assert_eq!(ErrorQuote::in_ipv4(&p[..n]), None, "{n}");
        }
        p[9] = 17;
        assert_eq!(ErrorQuote::in_ipv4(&p), None);
    }

    #[test]
    fn the_codes_the_probe_names() {
        assert_eq!(IcmpError::v4(3, 3).kind(), IcmpKind::PortUnreachable);
        assert_eq!(IcmpError::v4(3, 13).kind(), IcmpKind::AdminProhibited);
        assert_eq!(IcmpError::v4(3, 10).kind(), IcmpKind::AdminProhibited);
        assert_eq!(IcmpError::v4(3, 9).kind(), IcmpKind::AdminProhibited);
        assert_eq!(IcmpError::v4(3, 1).kind(), IcmpKind::HostUnreachable);
        assert_eq!(IcmpError::v4(3, 0).kind(), IcmpKind::NetUnreachable);
        assert_eq!(IcmpError::v6(1, 4).kind(), IcmpKind::PortUnreachable);
        assert_eq!(IcmpError::v6(1, 1).kind(), IcmpKind::AdminProhibited);
        assert_eq!(IcmpError::v6(1, 3).kind(), IcmpKind::HostUnreachable);
        assert_eq!(IcmpError::v6(1, 0).kind(), IcmpKind::NetUnreachable);
        assert_eq!(IcmpError::v4(11, 0).kind(), IcmpKind::TimeExceeded);
        assert_eq!(IcmpError::v4(42, 7).kind(), IcmpKind::Other);
        assert_eq!(
            IcmpError::v4(3, 13).to_string(),
            "ICMP type 3 code 13 (communication administratively prohibited)"
        );
    }

    /// Every (family, type, code) against the RFCs' own lists: RFC 792 and
    /// RFC 1122 §3.2.2.1 (type 3 codes 0-12), RFC 1812 §5.2.7.1 (13-15),
    /// RFC 4443 §3.1-3.4 for ICMPv6. Written out here, not derived from
    /// `kind()`.
    #[test]
    fn every_pair_is_classified_as_the_rfcs_say() {
        use IcmpKind::*;
        let v4_unreach = [
            NetUnreachable,      // 0 net unreachable
            HostUnreachable,     // 1 host unreachable
            ProtocolUnreachable, // 2 protocol unreachable
            PortUnreachable,     // 3 port unreachable
            FragmentationNeeded, // 4 fragmentation needed and DF set
            Other,               // 5 source route failed
            NetUnreachable,      // 6 destination network unknown
            HostUnreachable,     // 7 destination host unknown
            HostUnreachable,     // 8 source host isolated
            AdminProhibited,     // 9 network administratively prohibited
            AdminProhibited,     // 10 host administratively prohibited
            NetUnreachable,      // 11 network unreachable for type of service
            HostUnreachable,     // 12 host unreachable for type of service
            AdminProhibited,     // 13 communication administratively prohibited
            Other,               // 14 host precedence violation
            Other,               // 15 precedence cutoff in effect
        ];
        let v6_unreach = [
            NetUnreachable,  // 0 no route to destination
            AdminProhibited, // 1 administratively prohibited
            Other,           // 2 beyond scope of source address
            HostUnreachable, // 3 address unreachable
            PortUnreachable, // 4 port unreachable
            AdminProhibited, // 5 source address failed ingress/egress policy
            AdminProhibited, // 6 reject route to destination
        ];
        for t in 0..=255u8 {
            for c in 0..=255u8 {
                let want4 = match t {
                    3 => v4_unreach.get(c as usize).copied().unwrap_or(Other),
                    11 => TimeExceeded,
                    _ => Other,
                };
                let want6 = match (t, c) {
                    (1, _) => v6_unreach.get(c as usize).copied().unwrap_or(Other),
                    (2, _) => FragmentationNeeded,
                    (3, _) => TimeExceeded,
                    (4, 1) => ProtocolUnreachable,
                    _ => Other,
                };
                let (e4, e6) = (IcmpError::v4(t, c), IcmpError::v6(t, c));
                assert_eq!(e4.kind(), want4, "ICMP {t}/{c}");
                assert_eq!(e6.kind(), want6, "ICMPv6 {t}/{c}");
                for e in [e4, e6] {
                    assert!(!e.name().is_empty());
                    assert!(e.to_string().contains(&format!("type {t} code {c}")));
                }
            }
        }
    }
}
