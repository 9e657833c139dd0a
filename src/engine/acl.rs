//! Address prefixes and the server's access list, like ntpd's `restrict` and
//! chrony's `allow`/`deny`: the most specific matching prefix decides; with
//! no match, a source is allowed unless an allow list exists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix: `198.51.100.0/24`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical(self.addr), canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.len as u32)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.len as u32)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// `0.0.0.0/0` and `::/0`: everything.
    pub fn all() -> [Cidr; 2] {
        [
            Cidr {
                addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                len: 0,
            },
            Cidr {
                addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                len: 0,
            },
        ]
    }

    pub fn loopback() -> [Cidr; 2] {
        [
            Cidr {
                addr: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)),
                len: 8,
            },
            Cidr {
                addr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                len: 128,
            },
        ]
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        if s == "all" || s == "any" {
            return Err("use 0.0.0.0/0 and ::/0 for everything".into());
        }
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?}: not an address or prefix (e.g. 198.51.100.0/24)"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0-{max}"))?,
        };
        Ok(Cidr { addr, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What a denied source gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum DenyAction {
    /// Nothing at all (ntpd `restrict … ignore`).
    #[default]
    Ignore,
    /// A Kiss-o'-Death DENY (ntpd `restrict … kod` + `noserve`).
    KodDeny,
    /// A Kiss-o'-Death RSTR.
    KodRstr,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Acl {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
    pub deny_action: DenyAction,
}

impl Acl {
    /// True when `ip` may be served.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let best = |list: &[Cidr]| {
            list.iter()
                .filter(|c| c.contains(ip))
                .map(|c| c.len as i16)
                .max()
        };
        match (best(&self.allow), best(&self.deny)) {
            (Some(a), Some(d)) => a > d,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => self.allow.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes() {
        assert!(c("198.51.100.0/24").contains("198.51.100.77".parse().unwrap()));
        assert!(!c("198.51.100.0/24").contains("198.51.101.1".parse().unwrap()));
        assert!(c("2001:db8::/32").contains("2001:db8:1::5".parse().unwrap()));
        assert!(c("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        assert!(!c("0.0.0.0/0").contains("2001:db8::1".parse().unwrap()));
        assert!(c("198.51.100.1").contains("::ffff:198.51.100.1".parse().unwrap()));
        assert_eq!(c("198.51.100.1").len, 32);
        assert!("198.51.100.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert!("all".parse::<Cidr>().is_err());
    }

    #[test]
    fn most_specific_wins() {
        let acl = Acl {
            allow: vec![c("198.51.100.0/24")],
            deny: vec![c("198.51.100.7")],
            deny_action: DenyAction::Ignore,
        };
        assert!(acl.permits("198.51.100.1".parse().unwrap()));
        assert!(!acl.permits("198.51.100.7".parse().unwrap()));
        assert!(
            !acl.permits("203.0.113.1".parse().unwrap()),
            "an allow list denies the rest"
        );
        let acl = Acl {
            allow: vec![c("198.51.100.7")],
            deny: vec![c("198.51.100.0/24")],
            deny_action: DenyAction::Ignore,
        };
        assert!(acl.permits("198.51.100.7".parse().unwrap()));
        assert!(!acl.permits("198.51.100.8".parse().unwrap()));
        assert!(!acl.permits("203.0.113.1".parse().unwrap()));
        let open = Acl::default();
        assert!(open.permits("203.0.113.1".parse().unwrap()));
        let deny_only = Acl {
            deny: vec![c("203.0.113.0/24")],
            ..Acl::default()
        };
        assert!(!deny_only.permits("203.0.113.1".parse().unwrap()));
        assert!(deny_only.permits("198.51.100.1".parse().unwrap()));
    }
}
