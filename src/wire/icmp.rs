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

#[cfg(test)]
mod tests {
    use super::*;

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
