//! Host names and addresses given on the command line → socket addresses.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// Which address families to use.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    pub fn admits(self, a: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        }
    }
}

/// A target as typed: `host`, `host:port`, `1.2.3.4`, `[2001:db8::1]:123`, `2001:db8::1`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HostSpec {
    pub host: String,
    pub port: Option<u16>,
}

impl HostSpec {
    pub fn parse(s: &str) -> Result<HostSpec, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty host".into());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(HostSpec {
                host: ip.to_string(),
                port: None,
            });
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(HostSpec {
                host: sa.ip().to_string(),
                port: Some(sa.port()),
            });
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("{s}: missing ']'"))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{s}: not an IPv6 address in brackets"))?;
            let port = match tail {
                "" => None,
                t => Some(parse_port(
                    s,
                    t.strip_prefix(':')
                        .ok_or_else(|| format!("{s}: expected ':' after ']'"))?,
                )?),
            };
            return Ok(HostSpec {
                host: h.to_string(),
                port,
            });
        }
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => Ok(HostSpec {
                host: h.to_string(),
                port: Some(parse_port(s, p)?),
            }),
            Some(_) => Err(format!(
                "{s}: not a valid address (write IPv6 with a port as [addr]:port)"
            )),
            None => {
                if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(format!("{s:?}: not a host name"));
                }
                Ok(HostSpec {
                    host: s.to_string(),
                    port: None,
                })
            }
        }
    }
}

fn parse_port(whole: &str, p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("{whole}: bad port {p:?}"))
}

/// Resolves every address (A and AAAA) of `host`, filtered by family,
/// deduplicated, in resolver order. Bounded by `timeout`: a resolver that
/// hangs is abandoned (its thread ends when the system call returns).
/// Whether this host has a non-loopback IPv4 and IPv6 address.
pub fn local_families() -> (bool, bool) {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return (true, true);
    };
    let mut v4 = false;
    let mut v6 = false;
    for a in addrs {
        let Some(addr) = a.address else { continue };
        if let Some(s) = addr.as_sockaddr_in() {
            v4 |= !s.ip().is_loopback();
        } else if let Some(s) = addr.as_sockaddr_in6() {
            let ip = s.ip();
            // Link-local addresses do not reach a server either.
            v6 |= !ip.is_loopback() && (ip.segments()[0] & 0xffc0) != 0xfe80;
        }
    }
    (v4, v6)
}

pub fn resolve(
    host: &str,
    port: u16,
    family: Family,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        let a = SocketAddr::new(ip, port);
        return if family.admits(&a) {
            Ok(vec![a])
        } else {
            Err(format!(
                "{host} is not an {} address",
                if family == Family::V4 { "IPv4" } else { "IPv6" }
            ))
        };
    }
    let (tx, rx) = mpsc::channel();
    let h = host.to_string();
    std::thread::spawn(move || {
        let r = (h.as_str(), port)
            .to_socket_addrs()
            .map(|i| i.collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(format!(
                "the resolver did not answer within {}",
                humantime::format_duration(timeout)
            ));
        }
    };
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs.into_iter().filter(|a| family.admits(a)) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    // As getaddrinfo's AI_ADDRCONFIG (which ntpd and chronyd ask for): a
    // family this host has no address of is dropped, if the name has
    // addresses of the other. Loopback does not count.
    let (v4, v6) = local_families();
    if out.iter().any(|a| a.is_ipv4()) && out.iter().any(|a| a.is_ipv6()) && v4 != v6 {
        out.retain(|a| if a.is_ipv4() { v4 } else { v6 });
    }
    if out.is_empty() {
        return Err(format!(
            "no {} address",
            match family {
                Family::V4 => "IPv4",
                Family::V6 => "IPv6",
                Family::Any => "",
            }
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs() {
        let p = |s| HostSpec::parse(s).unwrap();
        assert_eq!(
            p("controller"),
            HostSpec {
                host: "controller".into(),
                port: None
            }
        );
        assert_eq!(
            p("controller:1123"),
            HostSpec {
                host: "controller".into(),
                port: Some(1123)
            }
        );
        assert_eq!(
            p("198.51.100.1"),
            HostSpec {
                host: "198.51.100.1".into(),
                port: None
            }
        );
        assert_eq!(
            p("198.51.100.1:123"),
            HostSpec {
                host: "198.51.100.1".into(),
                port: Some(123)
            }
        );
        assert_eq!(
            p("2001:db8::1"),
            HostSpec {
                host: "2001:db8::1".into(),
                port: None
            }
        );
        assert_eq!(
            p("[2001:db8::1]:1123"),
            HostSpec {
                host: "2001:db8::1".into(),
                port: Some(1123)
            }
        );
        assert_eq!(
            p("[::1]"),
            HostSpec {
                host: "::1".into(),
                port: None
            }
        );
        assert!(HostSpec::parse("").is_err());
        assert!(HostSpec::parse("host:99999").is_err());
        assert!(HostSpec::parse("[::1").is_err());
        assert!(HostSpec::parse("[zz]:1").is_err());
        assert!(HostSpec::parse("a b").is_err());
    }

    #[test]
    fn literal_and_family() {
        assert_eq!(
            resolve("127.0.0.1", 123, Family::Any, Duration::from_secs(1)).unwrap(),
            vec!["127.0.0.1:123".parse().unwrap()]
        );
        assert!(resolve("127.0.0.1", 123, Family::V6, Duration::from_secs(1)).is_err());
        let v = resolve("localhost", 5, Family::V4, Duration::from_secs(5)).unwrap();
        assert!(v.iter().all(|a| a.is_ipv4() && a.port() == 5));
    }
}
