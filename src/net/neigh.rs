//! The kernel's neighbour table entry for an address (`ip -j neigh show to`).

use std::net::IpAddr;
use std::process::{Command, Stdio};

use crate::diagnose::Neighbour;

/// Looks `addr` up in the neighbour table; `None` when there is no entry
/// (off-link targets) or `ip` is not available.
pub fn lookup(addr: IpAddr) -> Option<Neighbour> {
    let out = Command::new("ip")
        .args(["-j", "neigh", "show", "to", &addr.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse(&String::from_utf8_lossy(&out.stdout), addr)
}

/// Parses `ip -j neigh` output; the entry for `addr` if present.
pub fn parse(json: &str, addr: IpAddr) -> Option<Neighbour> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let entry = v
        .as_array()?
        .iter()
        .find(|e| e.get("dst").and_then(|d| d.as_str()) == Some(&addr.to_string()))?;
    let state = entry
        .get("state")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    Some(Neighbour {
        state: if state.is_empty() {
            "UNKNOWN".into()
        } else {
            state
        },
        lladdr: entry
            .get("lladdr")
            .and_then(|l| l.as_str())
            .map(str::to_string),
        dev: entry
            .get("dev")
            .and_then(|l| l.as_str())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json() {
        let j = r#"[{"dst":"198.51.100.1","dev":"nd1a","lladdr":"aa:bb:cc:dd:ee:ff","state":["REACHABLE"]},
                    {"dst":"198.51.100.9","dev":"nd1a","state":["FAILED"]}]"#;
        let n = parse(j, "198.51.100.1".parse().unwrap()).unwrap();
        assert_eq!(n.state, "REACHABLE");
        assert!(n.answered());
        let n = parse(j, "198.51.100.9".parse().unwrap()).unwrap();
        assert!(n.unanswered() && !n.answered());
        assert!(parse(j, "198.51.100.2".parse().unwrap()).is_none());
        assert!(parse("not json", "198.51.100.2".parse().unwrap()).is_none());
    }
}
