//! Which machine this is, for the JSON documents that a fleet gathers: the
//! host name and the addresses of its interfaces (not loopback).

/// The host name (`/proc/sys/kernel/hostname`, the UTS name) and every
/// non-loopback address, sorted.
pub fn identity() -> (String, Vec<String>) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let mut addrs: Vec<String> = nix::ifaddrs::getifaddrs()
        .map(|it| {
            it.filter_map(|i| {
                let a = i.address?;
                let ip: std::net::IpAddr = if let Some(v4) = a.as_sockaddr_in() {
                    std::net::IpAddr::V4(v4.ip())
                } else if let Some(v6) = a.as_sockaddr_in6() {
                    std::net::IpAddr::V6(v6.ip())
                } else {
                    return None;
                };
                let link_local =
                    matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                (!ip.is_loopback() && !link_local).then(|| ip.to_string())
            })
            .collect()
        })
        .unwrap_or_default();
    addrs.sort();
    addrs.dedup();
    (hostname, addrs)
}
