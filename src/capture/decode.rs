//! Captured frames → what matters to NTP: UDP datagrams to or from port 123,
//! and ICMP/ICMPv6 errors that quote one.
//!
//! Link layers: Ethernet (VLAN tags included), Linux cooked v1 and v2
//! (`tcpdump -i any`), raw IP, IPv4, IPv6, BSD loopback/null. IP layers are
//! sliced with `etherparse` in its lax mode (it copes with packets cut by the
//! snap length and reports fragments); pnet's packet views need whole
//! headers and know neither cooked capture, which is why etherparse is used.
//! UDP and ICMP headers are read here: 8 octets each.
//!
//! Contract: any bytes in, a [`Decoded`] out; no panic (fuzz target
//! `capture_decode_any_bytes`).

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket};

use crate::wire::icmp::{ErrorQuote, IcmpError, QuotedProto};

pub const NTP_PORT: u16 = 123;

/// Link-layer header types (tcpdump.org/linktypes.html) this reader knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkType {
    Null,
    Ethernet,
    Raw,
    Loop,
    LinuxSll,
    LinuxSll2,
    Ipv4,
    Ipv6,
    /// Linux NFLOG (`tcpdump -i nflog:N`): what an iptables/nft `NFLOG`
    /// rule logged, e.g. the packets a firewall drops.
    Nflog,
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            239 => LinkType::Nflog,
            _ => return None,
        })
    }

    pub const SUPPORTED: &'static str = "Ethernet (1), Linux cooked v1 (113) and v2 (276), raw IP (101), IPv4 (228), IPv6 (229), null/loopback (0, 108), NFLOG (239)";
}

/// An NTP-port UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpDatagram<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
    /// The capture holds less than the UDP length says (snap length).
    pub truncated: bool,
}

/// An ICMP error quoting a datagram to or from port 123.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpQuote<'a> {
    /// Who sent the ICMP error.
    pub offender: IpAddr,
    /// Whom it was sent to (the sender of the quoted datagram).
    pub to: IpAddr,
    pub error: IcmpError,
    pub quoted_src: SocketAddr,
    pub quoted_dst: SocketAddr,
    /// The quoted UDP payload (often shorter than the original).
    pub quoted_payload: &'a [u8],
    /// The quoted datagram was TCP to or from the NTS-KE port, not NTP.
    pub ke: bool,
}

/// The NTS-KE port (RFC 8915 §4).
pub const NTS_KE_PORT: u16 = 4460;

/// A TCP segment to or from the NTS-KE port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSeg {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
    pub fin: bool,
    /// Octets of payload (TLS records).
    pub len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Ntp(NtpDatagram<'a>),
    Icmp(IcmpQuote<'a>),
    /// An IP fragment: the tracker reassembles its datagram.
    Fragment(Frag<'a>),
    /// NTS-KE over TCP (port 4460).
    Tcp(TcpSeg),
    /// Nothing to do with NTP.
    Other,
    /// The frame could not be read as far as needed.
    Undecodable(&'static str),
}

/// One fragment of an IP datagram (RFC 791; RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The transport protocol (IP protocol number / next header).
    pub proto: u8,
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// Where this fragment's payload starts in the datagram's, in octets.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    pub payload: &'a [u8],
}

/// Identification, offset in octets and the more-fragments flag.
type FragInfo = (u32, usize, bool);

/// The IP layer's addresses, protocol, payload and, for a fragment, its place.
type NetView<'a> = (IpAddr, IpAddr, IpNumber, &'a [u8], Option<FragInfo>);

fn net_of<'a>(p: &LaxSlicedPacket<'a>) -> Option<NetView<'a>> {
    match p.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let pl = v4.payload();
            let frag = pl.fragmented.then(|| {
                (
                    h.identification() as u32,
                    h.fragments_offset().value() as usize * 8,
                    h.more_fragments(),
                )
            });
            Some((
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                pl.ip_number,
                pl.payload,
                frag,
            ))
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let pl = v6.payload();
            let frag = if pl.fragmented {
                // The fragment header gives identification and offset; a
                // fragment whose header cannot be read is not placed.
                let f = v6.extensions().clone().into_iter().find_map(|e| match e {
                    etherparse::Ipv6ExtensionSlice::Fragment(f) => Some((
                        f.identification(),
                        f.fragment_offset().value() as usize * 8,
                        f.more_fragments(),
                    )),
                    _ => None,
                });
                Some(f.unwrap_or((0, usize::MAX, false)))
            } else {
                None
            };
            Some((
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                pl.ip_number,
                pl.payload,
                frag,
            ))
        }
        LaxNetSlice::Arp(_) => None,
    }
}

fn udp_header(b: &[u8]) -> Option<(u16, u16, usize)> {
    if b.len() < 8 {
        return None;
    }
    let sport = u16::from_be_bytes([b[0], b[1]]);
    let dport = u16::from_be_bytes([b[2], b[3]]);
    let len = u16::from_be_bytes([b[4], b[5]]) as usize;
    Some((sport, dport, len))
}

/// The common case without etherparse: a whole IPv4 (any options) or IPv6
/// (no extension headers) packet carrying UDP, not fragmented. Anything else
/// (ICMP, extension headers, fragments, cut headers) returns `None` and goes
/// the general way. Profiling showed the general slicer's copies dominating
/// a 1 M-packet read; this path keeps the result identical and cheap.
fn fast_udp(ip: &[u8]) -> Option<Decoded<'_>> {
    let v = ip.first()? >> 4;
    let (src, dst, l4) = if v == 4 {
        let ihl = (ip[0] & 0x0f) as usize * 4;
        if ihl < 20 || ip.len() < ihl + 8 || ip[9] != 17 {
            return None;
        }
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        if frag & 0x3fff != 0 {
            return None; // MF set or a non-zero offset
        }
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let end = total.clamp(ihl, ip.len());
        let s: [u8; 4] = ip[12..16].try_into().ok()?;
        let d: [u8; 4] = ip[16..20].try_into().ok()?;
        (IpAddr::from(s), IpAddr::from(d), &ip[ihl..end.max(ihl)])
    } else if v == 6 {
        if ip.len() < 48 || ip[6] != 17 {
            return None;
        }
        let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
        let end = (40 + plen).min(ip.len());
        let s: [u8; 16] = ip[8..24].try_into().ok()?;
        let d: [u8; 16] = ip[24..40].try_into().ok()?;
        (IpAddr::from(s), IpAddr::from(d), &ip[40..end])
    } else {
        return None;
    };
    let (sport, dport, len) = udp_header(l4)?;
    if sport != NTP_PORT && dport != NTP_PORT {
        return Some(Decoded::Other);
    }
    let body = &l4[8..];
    let want = len.saturating_sub(8);
    let (body, truncated) = if body.len() >= want {
        (&body[..want], false)
    } else {
        (body, true)
    };
    Some(Decoded::Ntp(NtpDatagram {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: body,
        truncated,
    }))
}

/// Decodes an IP packet (no link header).
pub fn decode_ip(data: &[u8]) -> Decoded<'_> {
    if let Some(d) = fast_udp(data) {
        return d;
    }
    match LaxSlicedPacket::from_ip(data) {
        Ok(p) => decode_net(&p),
        Err(_) => Decoded::Undecodable("not an IP packet"),
    }
}

fn decode_net<'a>(p: &LaxSlicedPacket<'a>) -> Decoded<'a> {
    let Some((src, dst, proto, payload, frag)) = net_of(p) else {
        return Decoded::Other;
    };
    if let Some((id, offset, more)) = frag {
        return Decoded::Fragment(Frag {
            src,
            dst,
            proto: proto.0,
            id,
            offset,
            more,
            payload,
        });
    }
    transport(src, dst, proto.0, payload)
}

/// A whole transport datagram (UDP or ICMP) between two addresses: from a
/// packet, or from fragments the tracker reassembled.
pub fn transport(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Decoded<'_> {
    let proto = IpNumber(proto);
    match proto {
        IpNumber::UDP => {
            let Some((sport, dport, len)) = udp_header(payload) else {
                return Decoded::Undecodable("UDP header cut short");
            };
            if sport != NTP_PORT && dport != NTP_PORT {
                return Decoded::Other;
            }
            let body = &payload[8..];
            let want = len.saturating_sub(8);
            let (body, truncated) = if body.len() >= want {
                (&body[..want], false)
            } else {
                (body, true)
            };
            Decoded::Ntp(NtpDatagram {
                src: SocketAddr::new(src, sport),
                dst: SocketAddr::new(dst, dport),
                payload: body,
                truncated,
            })
        }
        IpNumber::ICMP | IpNumber::IPV6_ICMP => {
            if payload.len() < 8 {
                return Decoded::Undecodable("ICMP header cut short");
            }
            let Some(q) = ErrorQuote::parse(payload, proto == IpNumber::IPV6_ICMP) else {
                return Decoded::Other;
            };
            let ke = q.quoted_proto == QuotedProto::Tcp;
            let port = if ke { NTS_KE_PORT } else { NTP_PORT };
            if q.quoted_src.port() != port && q.quoted_dst.port() != port {
                return Decoded::Other;
            }
            Decoded::Icmp(IcmpQuote {
                offender: src,
                to: dst,
                error: q.error,
                quoted_src: q.quoted_src,
                quoted_dst: q.quoted_dst,
                quoted_payload: if ke { &[] } else { q.quoted_payload },
                ke,
            })
        }
        IpNumber::TCP => {
            let Some((sport, dport, _)) = udp_header(payload) else {
                return Decoded::Undecodable("TCP header cut short");
            };
            if sport != NTS_KE_PORT && dport != NTS_KE_PORT {
                return Decoded::Other;
            }
            if payload.len() < 20 {
                return Decoded::Undecodable("TCP header cut short");
            }
            let off = (payload[12] >> 4) as usize * 4;
            let flags = payload[13];
            Decoded::Tcp(TcpSeg {
                src: SocketAddr::new(src, sport),
                dst: SocketAddr::new(dst, dport),
                fin: flags & 0x01 != 0,
                syn: flags & 0x02 != 0,
                rst: flags & 0x04 != 0,
                ack: flags & 0x10 != 0,
                len: payload.len().saturating_sub(off.max(20)),
            })
        }
        _ => Decoded::Other,
    }
}

/// Decodes one frame of the given link type.
pub fn decode(link: LinkType, frame: &[u8]) -> Decoded<'_> {
    match link {
        // Untagged Ethernet carrying IPv4/IPv6: straight to the IP decoder.
        LinkType::Ethernet
            if frame.len() >= 14
                && matches!([frame[12], frame[13]], [0x08, 0x00] | [0x86, 0xdd]) =>
        {
            decode_ip(&frame[14..])
        }
        LinkType::Ethernet => match LaxSlicedPacket::from_ethernet(frame) {
            Ok(p) => decode_net(&p),
            Err(_) => Decoded::Undecodable("Ethernet header cut short"),
        },
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => decode_ip(frame),
        LinkType::LinuxSll => {
            if frame.len() < 16 {
                return Decoded::Undecodable("Linux cooked header cut short");
            }
            let et = u16::from_be_bytes([frame[14], frame[15]]);
            decode_net(&LaxSlicedPacket::from_ether_type(
                EtherType(et),
                &frame[16..],
            ))
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return Decoded::Undecodable("Linux cooked v2 header cut short");
            }
            let et = u16::from_be_bytes([frame[0], frame[1]]);
            decode_net(&LaxSlicedPacket::from_ether_type(
                EtherType(et),
                &frame[20..],
            ))
        }
        LinkType::Nflog => match nflog_payload(frame) {
            Some(ip) => decode_ip(ip),
            None => Decoded::Undecodable("NFLOG frame without a payload TLV"),
        },
        LinkType::Null | LinkType::Loop => {
            if frame.len() < 4 {
                return Decoded::Undecodable("loopback header cut short");
            }
            // The family is host-endian for NULL, big-endian for LOOP; both
            // small numbers, so look at either end.
            let fam = if link == LinkType::Loop {
                u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]])
            } else {
                let le = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
                if le < 256 {
                    le
                } else {
                    u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]])
                }
            };
            match fam {
                2 | 24 | 28 | 30 => decode_ip(&frame[4..]),
                _ => Decoded::Other,
            }
        }
    }
}

/// The packet inside an NFLOG frame (LINKTYPE_NFLOG, tcpdump.org's
/// link-layer header types): a 4-octet header (address family, version,
/// resource id), then TLVs — length (including its 4-octet header) and type,
/// both in the capturing host's byte order, each padded to 4 octets; type 9
/// (NFULA_PAYLOAD) holds the packet from its IP header.
fn nflog_payload(frame: &[u8]) -> Option<&[u8]> {
    const NFULA_PAYLOAD: u16 = 9;
    let mut off = 4;
    // The byte order is the writer's: take the one whose first TLV fits.
    let le = {
        let b = frame.get(off..off + 4)?;
        let len = u16::from_le_bytes([b[0], b[1]]) as usize;
        len >= 4 && off + len <= frame.len()
    };
    let read = |b: [u8; 2]| {
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    while off + 4 <= frame.len() {
        let len = read([frame[off], frame[off + 1]]) as usize;
        let ty = read([frame[off + 2], frame[off + 3]]);
        if len < 4 || off + len > frame.len() {
            return None;
        }
        if ty == NFULA_PAYLOAD {
            return Some(&frame[off + 4..off + len]);
        }
        off += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(7.try_into().unwrap())
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn ethernet_vlan_udp_123() {
        let f = udp_frame(
            [198, 51, 100, 2],
            [198, 51, 100, 1],
            40000,
            123,
            &[0xe3; 48],
        );
        let Decoded::Ntp(d) = decode(LinkType::Ethernet, &f) else {
            panic!()
        };
        assert_eq!(d.src, "198.51.100.2:40000".parse().unwrap());
        assert_eq!(d.payload.len(), 48);
        assert!(!d.truncated);
        // Cut by a snap length: still NTP, marked truncated.
        let Decoded::Ntp(d) = decode(LinkType::Ethernet, &f[..f.len() - 20]) else {
            panic!()
        };
        assert!(d.truncated && d.payload.len() == 28);
        // Other ports are not ours.
        let f = udp_frame([198, 51, 100, 2], [198, 51, 100, 1], 40000, 53, &[0; 12]);
        assert_eq!(decode(LinkType::Ethernet, &f), Decoded::Other);
    }

    #[test]
    fn icmp_port_unreachable_quoting_ntp() {
        let inner = {
            let b = PacketBuilder::ipv4([198, 51, 100, 2], [198, 51, 100, 1], 64).udp(40000, 123);
            let mut v = Vec::new();
            b.write(&mut v, &[0xe3; 48]).unwrap();
            v
        };
        let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner);
        let outer = {
            let b = PacketBuilder::ipv4([198, 51, 100, 1], [198, 51, 100, 2], 64);
            let mut v = Vec::new();
            b.write(&mut v, IpNumber::ICMP, &icmp).unwrap();
            v
        };
        let Decoded::Icmp(q) = decode(LinkType::Raw, &outer) else {
            panic!("{:?}", decode(LinkType::Raw, &outer))
        };
        assert_eq!(q.error, IcmpError::v4(3, 3));
        assert_eq!(q.offender, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(q.quoted_dst, "198.51.100.1:123".parse().unwrap());
        assert_eq!(q.quoted_payload.len(), 48);
    }

    #[test]
    fn cooked_and_loopback_headers() {
        let ip = {
            let b = PacketBuilder::ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                64,
            )
            .udp(40000, 123);
            let mut v = Vec::new();
            b.write(&mut v, &[0xe3; 48]).unwrap();
            v
        };
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&0x86ddu16.to_be_bytes());
        sll.extend_from_slice(&ip);
        assert!(matches!(decode(LinkType::LinuxSll, &sll), Decoded::Ntp(_)));
        let mut sll2 = 0x86ddu16.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        assert!(matches!(
            decode(LinkType::LinuxSll2, &sll2),
            Decoded::Ntp(_)
        ));
        let mut null = 30u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert!(matches!(decode(LinkType::Null, &null), Decoded::Ntp(_)));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x1234_5678u32;
        for len in 0..400 {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            for l in [
                LinkType::Ethernet,
                LinkType::Raw,
                LinkType::LinuxSll,
                LinkType::LinuxSll2,
                LinkType::Null,
                LinkType::Loop,
            ] {
                let _ = decode(l, &v);
            }
        }
    }

    /// The fast path and the general slicer agree on every UDP frame shape.
    #[test]
    fn fast_path_matches_the_general_decoder() {
        let mut x = 0x9e37_79b9u32;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for i in 0..2000 {
            let len = (rnd() % 80) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let ports = [(40000u16, 123u16), (123, 40000), (123, 123), (53, 40000)][i % 4];
            let v6 = i % 3 == 0;
            let mut pkt = Vec::new();
            if v6 {
                let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).udp(ports.0, ports.1);
                b.write(&mut pkt, &payload).unwrap();
            } else {
                let b = PacketBuilder::ipv4([198, 51, 100, 2], [198, 51, 100, 1], 64)
                    .udp(ports.0, ports.1);
                b.write(&mut pkt, &payload).unwrap();
            }
            let cut = if i % 5 == 0 {
                pkt.len() - (rnd() as usize % pkt.len().min(30))
            } else {
                pkt.len()
            };
            let data = &pkt[..cut];
            let general = match LaxSlicedPacket::from_ip(data) {
                Ok(p) => decode_net(&p),
                Err(_) => Decoded::Undecodable("not an IP packet"),
            };
            if let Some(fast) = fast_udp(data) {
                assert_eq!(fast, general, "case {i}, cut {cut} of {}", pkt.len());
            }
        }
    }
}
