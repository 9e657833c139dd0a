//! The lab's topology file (TOML): links, nodes, what each node runs.
//!
//! ```toml
//! name = "seed"
//! about = "A controller and two compute nodes"
//!
//! [[link]]
//! name = "lan"
//! delay = "200us"          # one way, on every member's way out
//! jitter = "50us"
//! loss = 0.0               # percent
//!
//! [[node]]
//! name = "controller"
//! addresses = { lan = ["198.51.100.1/24", "2001:db8:100::1/64"] }
//! firewall = ["iptables -A INPUT -p udp --dport 123 -j DROP"]
//! [node.client]            # the built-in engine, ntp.conf lines
//! conf = "server upstream iburst"
//! serve = true             # and it serves its own clock
//! ```
//!
//! A node runs at most one of `serve` (a built-in server: every field of a
//! `serve --scenario` table), `client` (the built-in engine), `ntpd` or
//! `chronyd` (the real daemons, started so that they never touch the host
//! clock); `router = true` forwards between its links. `clock` gives a
//! built-in node its own clock: an offset and a frequency error.
//!
//! Every error names the file, the line, the field and what was expected.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

pub use crate::schema::Role;

use serde::{Deserialize, Serialize};

use crate::engine::acl::Cidr;
use crate::scenario::{ProfileSpec, ScenarioError, field_line, parse_signed_duration, toml_error};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default)]
    pub about: String,
    /// How long `lab run` runs it unless told (default 30s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// What `lab run` should find: the cause `explain` names on each
    /// listed node (the gallery's promise, checked by its tests).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, String>,
    #[serde(default)]
    pub link: Vec<LinkSpec>,
    #[serde(default)]
    pub node: Vec<NodeSpec>,
}

/// Delay, jitter and loss on the way out of an interface (`tc netem`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Netem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Percent of packets lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
}

/// A segment (a bridge): every node with an address on it is a member.
/// Its delay, jitter and loss are [`Netem`]'s fields, written out rather
/// than `#[serde(flatten)]`ed: with flatten, an unknown field loses its line.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub name: String,
    /// One-way delay a frame sent into the link gets: `200us`, `20ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Percent of frames lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
}

impl LinkSpec {
    pub fn netem(&self) -> Netem {
        Netem {
            delay: self.delay.clone(),
            jitter: self.jitter.clone(),
            loss: self.loss,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClockSpec {
    /// How far ahead of true time (the host clock) it starts: `100ms`, `-2s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Frequency error in ppm (positive: it runs fast).
    #[serde(default)]
    pub freq_ppm: f64,
    /// Fastest slew in ppm (default 500, the kernel's and RFC 5905's limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slew_ppm: Option<f64>,
    /// When the clock stands still, as a paused VM's does (`20s` after the
    /// node starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_at: Option<String>,
    /// For how long it stands still (`63s`): it resumes that far behind,
    /// with no step of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_for: Option<String>,
    /// Another agent also sets this clock, every this long (`20s`) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_every: Option<String>,
    /// ... to its own idea of the time: this far ahead of true time
    /// (`2s`), as a hypervisor's time sync does beside the NTP client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_offset: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// ntp.conf lines: `server`, `pool`, `peer` with their options.
    pub conf: String,
    /// Also serve this node's clock (leap 3 / stratum 16 until synchronized).
    #[serde(default)]
    pub serve: bool,
    /// Whose selection rules: ntpd (default), chrony or rfc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    /// Wait this long before the first poll (a node that boots after its
    /// servers): `8s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

impl ClientSpec {
    pub fn start_after(&self) -> Duration {
        parse_start(&self.start)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DaemonSpec {
    /// Lines added to the daemon's configuration (servers, restrict, …).
    pub conf: String,
    /// Start the daemon this long after the lab comes up: `8s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The node resolves no other node's name until this long after the
    /// lab comes up (`10s`): its names fail for good when the daemon first
    /// looks (hosts from /etc/hosts alone: EAI_NONAME), as a daemon that
    /// starts before its resolver does.
    #[serde(rename = "names-after", skip_serializing_if = "Option::is_none")]
    pub names_after: Option<String>,
}

fn parse_start(s: &Option<String>) -> Duration {
    s.as_deref()
        .and_then(|d| humantime::parse_duration(d.trim()).ok())
        .unwrap_or(Duration::ZERO)
}

impl DaemonSpec {
    pub fn start_after(&self) -> Duration {
        parse_start(&self.start)
    }

    pub fn names_after(&self) -> Option<Duration> {
        self.names_after
            .as_ref()
            .map(|_| parse_start(&self.names_after))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// Link name → addresses with prefix length on it.
    #[serde(default)]
    pub addresses: BTreeMap<String, Vec<String>>,
    /// Per link: netem on this node's way out, instead of the link's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub egress: BTreeMap<String, Netem>,
    /// `ip route` arguments: `203.0.113.0/24 via 198.51.100.254`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    #[serde(default)]
    pub router: bool,
    /// Shell commands run inside the node (iptables, nft, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firewall: Vec<String>,
    /// Extra /etc/hosts names: name → address (names of nodes are there).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve: Option<ProfileSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntpd: Option<DaemonSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chronyd: Option<DaemonSpec>,
    /// `false`: the node is a container without CAP_SYS_TIME. Its daemon
    /// (ntpd or chronyd, which then runs without -x) and every command run
    /// in it (`lab exec`, explain's verdict) run with CAP_SYS_TIME dropped
    /// from the bounding set, checked in the same process before it execs.
    #[serde(rename = "cap-sys-time", skip_serializing_if = "Option::is_none")]
    pub cap_sys_time: Option<bool>,
}

impl NodeSpec {
    pub fn role(&self) -> Role {
        if let Some(c) = &self.client {
            return if c.serve {
                Role::ClientServer
            } else {
                Role::Client
            };
        }
        if self.serve.is_some() {
            Role::Server
        } else if self.ntpd.is_some() {
            Role::Ntpd
        } else if self.chronyd.is_some() {
            Role::Chronyd
        } else if self.router {
            Role::Router
        } else {
            Role::Host
        }
    }

    /// Every address, without prefix length, in file order per link.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addresses
            .values()
            .flatten()
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect()
    }
}

/// A checked netem setting.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NetemValues {
    pub delay: Duration,
    pub jitter: Duration,
    pub loss: f64,
}

impl NetemValues {
    pub fn is_none(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.loss == 0.0
    }
}

impl Netem {
    pub fn values(&self) -> Result<NetemValues, (&'static str, String)> {
        let d =
            |field: &'static str, v: &Option<String>| -> Result<Duration, (&'static str, String)> {
                match v {
                    None => Ok(Duration::ZERO),
                    Some(s) => {
                        let d = humantime::parse_duration(s.trim()).map_err(|e| {
                            (
                                field,
                                format!("{s:?}: {e} (expected a duration: 20ms, 150us)"),
                            )
                        })?;
                        if d > Duration::from_secs(10) {
                            return Err((field, format!("{s:?}: at most 10s")));
                        }
                        Ok(d)
                    }
                }
            };
        let loss = self.loss.unwrap_or(0.0);
        if !(0.0..=100.0).contains(&loss) {
            return Err(("loss", format!("{loss}: expected a percentage, 0 to 100")));
        }
        Ok(NetemValues {
            delay: d("delay", &self.delay)?,
            jitter: d("jitter", &self.jitter)?,
            loss,
        })
    }
}

/// The documentation ranges a lab may use (and nothing else): RFC 5737's
/// 198.51.100.0/24 and 203.0.113.0/24, RFC 3849's 2001:db8::/32.
pub fn documentation_ranges() -> [Cidr; 3] {
    ["198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"].map(|c| c.parse().expect("a CIDR"))
}

fn in_doc_range(ip: IpAddr) -> bool {
    documentation_ranges().iter().any(|c| c.contains(ip))
}

/// A node or link name: a short lowercase word (it names interfaces).
fn check_name(s: &str) -> Result<(), String> {
    super::check_name(s, 15)
}

/// Parses and checks a topology; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Topology, ScenarioError> {
    let t: Topology = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let top_err = |field: &str, message: String| ScenarioError {
        file: file.into(),
        line: text
            .lines()
            .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == field))
            .map_or(1, |n| n + 1),
        message: format!("field `{field}`: {message}"),
    };
    super::check_lab_name(&t.name).map_err(|m| top_err("name", m))?;
    if let Some(d) = &t.duration {
        humantime::parse_duration(d.trim())
            .map_err(|e| top_err("duration", format!("{d:?}: {e} (expected e.g. 30s, 2m)")))?;
    }
    if t.node.is_empty() {
        return Err(ScenarioError {
            file: file.into(),
            line: 1,
            message: "no [[node]] tables: a lab needs at least one node".into(),
        });
    }
    let link_err = |i: usize, name: &str, field: &str, message: String| ScenarioError {
        file: file.into(),
        line: field_line(text, "[[link]]", i, field),
        message: format!("[[link]] #{} ({name}): field `{field}`: {message}", i + 1),
    };
    let mut links = BTreeMap::new();
    for (i, l) in t.link.iter().enumerate() {
        check_name(&l.name).map_err(|m| link_err(i, &l.name, "name", m))?;
        if links.insert(l.name.clone(), i).is_some() {
            return Err(link_err(
                i,
                &l.name,
                "name",
                "a second link of this name".into(),
            ));
        }
        l.netem()
            .values()
            .map_err(|(f, m)| link_err(i, &l.name, f, m))?;
    }
    let node_err = |i: usize, name: &str, field: &str, message: String| ScenarioError {
        file: file.into(),
        line: field_line(text, "[[node]]", i, field),
        message: format!("[[node]] #{} ({name}): field `{field}`: {message}", i + 1),
    };
    let mut names = BTreeMap::new();
    let mut seen_ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (i, n) in t.node.iter().enumerate() {
        let e = |field: &str, m: String| node_err(i, &n.name, field, m);
        check_name(&n.name).map_err(|m| e("name", m))?;
        if n.name == "hub" {
            return Err(e(
                "name",
                "\"hub\" is the lab's own switch; pick another".into(),
            ));
        }
        if names.insert(n.name.clone(), i).is_some() {
            return Err(e("name", "a second node of this name".into()));
        }
        let runs: Vec<&str> = [
            ("serve", n.serve.is_some()),
            ("client", n.client.is_some()),
            ("ntpd", n.ntpd.is_some()),
            ("chronyd", n.chronyd.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect();
        if runs.len() > 1 {
            return Err(e(
                runs[1],
                format!(
                    "a node runs one of serve, client, ntpd, chronyd; this one has {}",
                    runs.join(" and ")
                ),
            ));
        }
        for (link, addrs) in &n.addresses {
            if !links.contains_key(link) {
                return Err(e(
                    "addresses",
                    format!(
                        "no [[link]] named {link:?} (links: {})",
                        links.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            for a in addrs {
                let (ip, len) = a
                    .split_once('/')
                    .and_then(|(ip, len)| {
                        Some((ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?))
                    })
                    .ok_or_else(|| {
                        e(
                            "addresses",
                            format!("{a:?}: expected ADDRESS/PREFIXLEN, e.g. 198.51.100.1/24"),
                        )
                    })?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if len == 0 || len > max {
                    return Err(e("addresses", format!("{a:?}: prefix length 1-{max}")));
                }
                if !in_doc_range(ip) {
                    return Err(e(
                        "addresses",
                        format!(
                            "{a:?}: a lab uses only the documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32"
                        ),
                    ));
                }
                if let Some(other) = seen_ips.insert(ip, n.name.clone()) {
                    return Err(e("addresses", format!("{ip} is also {other}'s")));
                }
            }
        }
        for (link, ne) in &n.egress {
            if !n.addresses.contains_key(link) {
                return Err(e(
                    "egress",
                    format!("{link:?}: the node has no address on that link"),
                ));
            }
            ne.values().map_err(|(f, m)| e(f, m))?;
        }
        for r in &n.routes {
            let dest = r.split_whitespace().next().unwrap_or("");
            if !r.contains(" via ") && !r.contains(" dev ") {
                return Err(e("routes", format!("{r:?}: expected `PREFIX via ADDRESS`")));
            }
            if dest == "default" {
                continue;
            }
            let ok = dest
                .split('/')
                .next()
                .and_then(|x| x.parse::<IpAddr>().ok())
                .is_some_and(in_doc_range);
            if !ok {
                return Err(e(
                    "routes",
                    format!(
                        "{r:?}: the destination must be in a documentation range (or `default`)"
                    ),
                ));
            }
        }
        for (host, addr) in &n.hosts {
            if addr.parse::<IpAddr>().is_err() || host.is_empty() {
                return Err(e(
                    "hosts",
                    format!("{host} = {addr:?}: expected an address"),
                ));
            }
        }
        if n.cap_sys_time == Some(false) && !matches!(n.role(), Role::Ntpd | Role::Chronyd) {
            return Err(e(
                "cap-sys-time",
                format!(
                    "only real daemon nodes (ntpd, chronyd) run without CAP_SYS_TIME; a {} node never sets a clock",
                    n.role().id()
                ),
            ));
        }
        if let Some(c) = &n.clock {
            if !n.role().is_builtin() {
                return Err(e(
                    "clock",
                    format!(
                        "only built-in nodes (serve, client) have their own clock; a {} node uses the host's, which the lab never touches",
                        n.role().id()
                    ),
                ));
            }
            if let Some(o) = &c.offset {
                let d = parse_signed_duration(o).map_err(|m| e("offset", m))?;
                if d.as_secs_f64().abs() > 1e6 {
                    return Err(e("offset", format!("{o:?}: at most 1000000s")));
                }
            }
            if !c.freq_ppm.is_finite() || c.freq_ppm.abs() > 1000.0 {
                return Err(e(
                    "freq-ppm",
                    format!("{}: expected -1000 to 1000", c.freq_ppm),
                ));
            }
            if let Some(s) = c.slew_ppm
                && !(1.0..=100_000.0).contains(&s)
            {
                return Err(e("slew-ppm", format!("{s}: expected 1 to 100000")));
            }
        }
        if let Some(s) = &n.serve {
            let spec = ProfileSpec {
                name: Some(n.name.clone()),
                listen: vec![],
                ..s.clone()
            };
            if !s.listen.is_empty() {
                return Err(e(
                    "listen",
                    "a lab's server listens on its node's addresses; leave `listen` out".into(),
                ));
            }
            spec.build().map_err(|fe| e(fe.field, fe.message))?;
        }
        for start in [
            n.client.as_ref().and_then(|c| c.start.as_ref()),
            n.ntpd.as_ref().and_then(|c| c.start.as_ref()),
            n.chronyd.as_ref().and_then(|c| c.start.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            match humantime::parse_duration(start.trim()) {
                Ok(x) if x <= Duration::from_secs(3600) => {}
                Ok(_) => return Err(e("start", format!("{start:?}: at most 1h"))),
                Err(er) => return Err(e("start", format!("{start:?}: {er} (expected e.g. 8s)"))),
            }
        }
        if let Some(c) = &n.client {
            if let Some(r) = &c.rules
                && !["ntpd", "chrony", "rfc"].contains(&r.as_str())
            {
                return Err(e("rules", format!("{r:?}: expected ntpd, chrony or rfc")));
            }
            let mut cfg = crate::explain::conf::Config::new(crate::explain::conf::Daemon::Ntpd);
            crate::explain::conf::parse_ntp("conf", &c.conf, &mut cfg);
            if cfg.network_sources().next().is_none() && !c.serve {
                return Err(e(
                    "conf",
                    "no server, pool or peer line: a client needs something to poll".into(),
                ));
            }
        }
    }
    for (node, cause) in &t.expect {
        if !t.node.iter().any(|n| &n.name == node) {
            return Err(top_err("expect", format!("{node:?}: no such node")));
        }
        if crate::diagnose::Cause::from_id(cause).is_none() {
            return Err(top_err(
                "expect",
                format!("{cause:?}: not a cause id (`ntpdiag causes`)"),
            ));
        }
    }
    Ok(t)
}

impl Topology {
    /// `lab run`'s default duration.
    pub fn run_for(&self) -> Duration {
        self.duration
            .as_deref()
            .and_then(|d| humantime::parse_duration(d.trim()).ok())
            .unwrap_or(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "t"
[[link]]
name = "lan"
delay = "1ms"

[[node]]
name = "a"
addresses = { lan = ["198.51.100.1/24", "2001:db8::1/64"] }
[node.serve]
stratum = 1

[[node]]
name = "b"
addresses = { lan = ["198.51.100.2/24"] }
[node.client]
conf = "server a iburst"
"#;

    #[test]
    fn a_good_file_parses_with_roles() {
        let t = parse("t.toml", OK).unwrap();
        assert_eq!(t.node[0].role(), Role::Server);
        assert_eq!(t.node[1].role(), Role::Client);
        assert_eq!(t.node[0].ips().len(), 2);
        assert_eq!(
            t.link[0].netem().values().unwrap().delay,
            Duration::from_millis(1)
        );
    }

    fn err(text: &str) -> ScenarioError {
        parse("lab.toml", text).unwrap_err()
    }

    #[test]
    fn errors_name_file_line_field_and_what_was_expected() {
        // An unknown field (a typo) is found by the TOML layer, with its line.
        let e = err(&OK.replace("delay = \"1ms\"", "delai = \"1ms\""));
        assert_eq!((e.file.as_str(), e.line), ("lab.toml", 5), "{e}");
        assert!(
            e.message.contains("delai") && e.message.contains("expected"),
            "{e}"
        );
        // An address outside the documentation ranges.
        let e = err(&OK.replace("198.51.100.2/24", "10.0.0.2/24"));
        assert_eq!(e.line, 15, "{e}");
        assert!(
            e.message.contains("field `addresses`") && e.message.contains("documentation"),
            "{e}"
        );
        // A link that does not exist.
        let e = err(&OK.replace("lan = [\"198.51.100.2/24\"]", "wan = [\"198.51.100.2/24\"]"));
        assert!(e.message.contains("no [[link]] named \"wan\""), "{e}");
        // A serve field with a bad value, on its own line.
        let e = err(&OK.replace("stratum = 1", "stratum = 1\nkod = \"NOPE!\""));
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("field `kod`"), "{e}");
        // Two things to run.
        let e = err(&OK.replace("[node.client]", "[node.ntpd]\nconf = \"\"\n[node.client]"));
        assert!(e.message.contains("runs one of"), "{e}");
        // A bad duration in a link.
        let e = err(&OK.replace("\"1ms\"", "\"soon\""));
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("field `delay`"), "{e}");
        // A clock on a real daemon.
        let e = err(&OK.replace(
            "[node.client]\nconf = \"server a iburst\"",
            "clock = { offset = \"1s\" }\n[node.ntpd]\nconf = \"server a\"",
        ));
        assert!(e.message.contains("host's"), "{e}");
        // Duplicate names and addresses.
        let e = err(&OK.replace("name = \"b\"", "name = \"a\""));
        assert!(e.message.contains("second node"), "{e}");
        let e = err(&OK.replace("198.51.100.2/24", "198.51.100.1/24"));
        assert!(e.message.contains("also a's"), "{e}");
        // Syntax.
        let e = err("name = \n");
        assert_eq!(e.line, 1, "{e}");
        // No node.
        assert!(err("name = \"x\"\n").message.contains("no [[node]]"));
    }
}
