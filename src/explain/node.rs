//! A node's evidence as explain's collectors read it ([`NodeEvidence`]), and
//! its adapter to the node table's evidence ([`facts`]). Pure: nothing here
//! reads a file or a socket, and nothing here judges: the findings are
//! [`crate::diagnose::node`]'s.

use std::net::SocketAddr;

use super::conf::{Config, Source};
use super::paste::{self, Explained};
use crate::diagnose::TargetEvidence;
use crate::diagnose::node::{
    ConfigFacts, ConfigIssue, DefaultAccess, NodeFacts, ServerFacts, ViewBlock,
};

pub use crate::diagnose::node::{Finding, FirewallRule, PortHolder, RunningDaemon};

/// A configured server: its line, what its name resolved to, the probes.
#[derive(Clone, Debug)]
pub struct ServerEvidence {
    pub source: Source,
    pub resolved: Option<Result<Vec<SocketAddr>, String>>,
    /// One probe per address: what was sent and what came back.
    pub probes: Vec<TargetEvidence>,
}

#[derive(Clone, Debug, Default)]
pub struct NodeEvidence {
    pub configs: Vec<Config>,
    pub daemons: Vec<RunningDaemon>,
    /// What the local daemon says about itself: ntpq / chronyc output as printed.
    pub daemon_output: Vec<String>,
    pub kernel_unsynchronized: Option<bool>,
    pub firewall: Vec<FirewallRule>,
    /// None when the firewall could not be read.
    pub firewall_read: Option<Vec<String>>,
    pub port123: Option<Vec<PortHolder>>,
    pub servers: Vec<ServerEvidence>,
    /// This host's interface addresses (getifaddrs), in its network namespace.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// Collectors that failed: (collector, what happened). Never fatal.
    pub collector_errors: Vec<(String, String)>,
    /// Probing was switched off (`--no-probe`).
    pub no_probe: bool,
    /// The host beneath the daemon.
    pub host: crate::diagnose::host::HostFacts,
    /// The cloud's own time source, probed (a cloud VM, probing on).
    pub cloud_probe: Option<TargetEvidence>,
}

/// The local daemon's own output, explained by the paste adapters.
pub fn daemon_blocks(ev: &NodeEvidence) -> Vec<Explained> {
    ev.daemon_output
        .iter()
        .flat_map(|t| paste::explain(t))
        .collect()
}

/// What the node table reads of one configuration.
fn config_facts(c: &Config) -> ConfigFacts {
    let (unicast_hosts, pools) = c.source_counts();
    ConfigFacts {
        unicast_hosts,
        pools,
        policy: c.policy(),
        daemon: c.daemon,
        files: c.files.clone(),
        issues: c
            .issues
            .iter()
            .map(|i| ConfigIssue {
                file: i.file.clone(),
                line: i.line,
                message: i.message.clone(),
                fatal: i.fatal,
            })
            .collect(),
        network_sources: c.network_sources().count(),
        refclocks: c
            .sources
            .iter()
            .filter(|s| s.is_refclock())
            .map(|s| s.host.clone())
            .collect(),
        local_clock: c.get("local").is_some()
            || c.sources.iter().any(|s| s.is_refclock())
            || c.get("refclock").is_some(),
        makestep: c.get("makestep").cloned(),
        default_access: c
            .access
            .iter()
            .filter(|a| a.is_default())
            .map(access_facts)
            .collect(),
        other_access: c
            .access
            .iter()
            .filter(|a| !a.is_default())
            .map(access_facts)
            .collect(),
    }
}

fn access_facts(a: &crate::explain::conf::Access) -> DefaultAccess {
    DefaultAccess {
        file: a.file.clone(),
        line: a.line,
        target: a.target.clone(),
        mask: a.mask.clone(),
        flags: a.flags.clone(),
        allow: a.allow,
    }
}

/// What the node table reads of a configured server.
pub fn server_facts(s: &ServerEvidence) -> ServerFacts {
    ServerFacts {
        host: s.source.host.clone(),
        file: s.source.file.clone(),
        line: s.source.line,
        kind: s.source.kind.name(),
        options: s.source.options.clone(),
        resolved: s.resolved.clone(),
        probes: s.probes.clone(),
    }
}

/// The adapter: what the collectors read → the node table's evidence.
pub fn facts(ev: &NodeEvidence) -> NodeFacts {
    NodeFacts {
        configs: ev.configs.iter().map(config_facts).collect(),
        daemons: ev.daemons.clone(),
        view: daemon_blocks(ev)
            .into_iter()
            .map(|b| ViewBlock {
                title: b.kind.title(),
                sys_peer: b
                    .facts
                    .daemon
                    .as_ref()
                    .is_some_and(|d| d.sys_peer.is_some()),
                offset_s: b
                    .facts
                    .daemon
                    .as_ref()
                    .and_then(|d| d.clock_offset_s.as_ref().map(|o| o.value)),
                no_sources: b
                    .facts
                    .daemon
                    .as_ref()
                    .is_some_and(|d| d.no_sources.is_some()),
                unresolved: b.facts.unresolved.clone(),
                verdict: b.verdict,
            })
            .collect(),
        kernel_unsynchronized: ev.kernel_unsynchronized,
        firewall: ev.firewall.clone(),
        firewall_read: ev.firewall_read.is_some(),
        port123: ev.port123.clone(),
        servers: ev.servers.iter().map(server_facts).collect(),
        local_addrs: ev.local_addrs.clone(),
        collector_errors: ev.collector_errors.clone(),
        no_probe: ev.no_probe,
        host: ev.host.clone(),
        cloud_probe: ev.cloud_probe.clone(),
    }
}

/// All findings, most important first, as the node table gives them. Never
/// empty: with nothing wrong, one `ok`.
pub fn findings(ev: &NodeEvidence) -> Vec<Finding> {
    crate::diagnose::node::findings(&facts(ev))
}

#[cfg(test)]
mod tests;
