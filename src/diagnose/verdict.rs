//! Verdicts: a cause with a stable id, the evidence for it, a confidence and
//! a fix. The ids are a public interface (`--json`, scripts): never rename one.

use std::fmt;

use crate::wire::KissCode;

/// Every cause `probe` can name. `id()` is the stable string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Cause {
    Ok,
    NoReply,
    PortUnreachable,
    AdminProhibited,
    HostUnreachable,
    NetUnreachable,
    Kod(KissCode),
    UpstreamUnsynchronized,
    BogusReply,
    ReplyFromOtherAddress,
    OffsetOverPanic,
    NameUnresolved,
    LocalPortInUse,
    MalformedReply,
    SourcePortFiltered,
    /// EPERM on send: a local OUTPUT rule.
    LocalFirewallBlocksNtp,
    /// EACCES: e.g. source port 123 without root.
    LocalPermissionDenied,
    /// Any other local failure (socket, no IPv6, …).
    LocalError,
    /// Capture only: the client polls faster than servers allow.
    ClientPollsTooFast,
    /// Capture only: replies seen leaving the server but not arriving.
    AsymmetricPath,
    /// Capture only: replies arrive but the client acts as if they did not.
    ReplyIgnored,
    /// Explain: no server, pool or peer in the configuration.
    NoServersConfigured,
    /// Explain: the configured daemon is not running.
    DaemonNotRunning,
    /// Explain: the daemon runs and hears its servers but has not chosen one yet.
    DaemonNotSynchronizedYet,
    /// Explain: this node's `restrict`/`deny` refuses the clients it should serve.
    RestrictBlocksClients,
    /// Explain: another process holds udp/123.
    Port123InUse,
    /// Explain: two time daemons run at once.
    TwoDaemons,
    /// Explain: an error in a configuration file (with file and line).
    ConfigError,
    /// Explain: a configured server name does not resolve.
    ServerNameUnresolved,
    /// Explain: the clock is further off than the daemon will step.
    ClockStepNeeded,
}

/// Verdict classes; each has one exit code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Class {
    Ok,
    /// Nothing came back (or only on some source ports).
    Silence,
    /// An ICMP error came back.
    Refused,
    /// The server answered with a Kiss-o'-Death.
    Kiss,
    /// The server answered, but its answer is unusable.
    Unusable,
    /// The problem is on this machine (name resolution, ports, firewall).
    Local,
}

impl Class {
    pub fn id(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Silence => "silence",
            Class::Refused => "refused",
            Class::Kiss => "kiss",
            Class::Unusable => "unusable",
            Class::Local => "local",
        }
    }

    /// The process exit code for this class (documented in `--help` and the man page).
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Ok => 0,
            Class::Silence => 3,
            Class::Refused => 4,
            Class::Kiss => 5,
            Class::Unusable => 6,
            Class::Local => 7,
        }
    }

    pub const ALL: [Class; 6] = [
        Class::Ok,
        Class::Silence,
        Class::Refused,
        Class::Kiss,
        Class::Unusable,
        Class::Local,
    ];
}

impl Cause {
    pub fn id(self) -> String {
        match self {
            Cause::Ok => "ok".into(),
            Cause::NoReply => "no-reply".into(),
            Cause::PortUnreachable => "port-unreachable".into(),
            Cause::AdminProhibited => "admin-prohibited".into(),
            Cause::HostUnreachable => "host-unreachable".into(),
            Cause::NetUnreachable => "net-unreachable".into(),
            Cause::Kod(c) => format!("kod-{}", kiss_id(c)),
            Cause::UpstreamUnsynchronized => "upstream-unsynchronized".into(),
            Cause::BogusReply => "bogus-reply".into(),
            Cause::ReplyFromOtherAddress => "reply-from-other-address".into(),
            Cause::OffsetOverPanic => "offset-over-panic".into(),
            Cause::NameUnresolved => "name-unresolved".into(),
            Cause::LocalPortInUse => "local-port-in-use".into(),
            Cause::MalformedReply => "malformed-reply".into(),
            Cause::SourcePortFiltered => "source-port-filtered".into(),
            Cause::LocalFirewallBlocksNtp => "local-firewall-blocks-ntp".into(),
            Cause::LocalPermissionDenied => "local-permission-denied".into(),
            Cause::LocalError => "local-error".into(),
            Cause::ClientPollsTooFast => "client-polls-too-fast".into(),
            Cause::AsymmetricPath => "asymmetric-path".into(),
            Cause::ReplyIgnored => "reply-ignored".into(),
            Cause::NoServersConfigured => "no-servers-configured".into(),
            Cause::DaemonNotRunning => "daemon-not-running".into(),
            Cause::DaemonNotSynchronizedYet => "daemon-not-synchronized-yet".into(),
            Cause::RestrictBlocksClients => "restrict-blocks-clients".into(),
            Cause::Port123InUse => "port-123-in-use".into(),
            Cause::TwoDaemons => "two-daemons".into(),
            Cause::ConfigError => "config-error".into(),
            Cause::ServerNameUnresolved => "server-name-unresolved".into(),
            Cause::ClockStepNeeded => "clock-step-needed".into(),
        }
    }

    pub fn class(self) -> Class {
        match self {
            Cause::Ok => Class::Ok,
            Cause::NoReply | Cause::SourcePortFiltered | Cause::AsymmetricPath => Class::Silence,
            Cause::PortUnreachable
            | Cause::AdminProhibited
            | Cause::HostUnreachable
            | Cause::NetUnreachable => Class::Refused,
            Cause::Kod(_) => Class::Kiss,
            Cause::UpstreamUnsynchronized
            | Cause::BogusReply
            | Cause::ReplyFromOtherAddress
            | Cause::OffsetOverPanic
            | Cause::MalformedReply => Class::Unusable,
            Cause::NameUnresolved
            | Cause::LocalPortInUse
            | Cause::LocalFirewallBlocksNtp
            | Cause::LocalPermissionDenied
            | Cause::LocalError
            | Cause::ClientPollsTooFast
            | Cause::ReplyIgnored
            | Cause::NoServersConfigured
            | Cause::DaemonNotRunning
            | Cause::DaemonNotSynchronizedYet
            | Cause::RestrictBlocksClients
            | Cause::Port123InUse
            | Cause::TwoDaemons
            | Cause::ConfigError
            | Cause::ServerNameUnresolved => Class::Local,
            Cause::ClockStepNeeded => Class::Unusable,
        }
    }

    /// A short human title.
    pub fn title(self) -> String {
        match self {
            Cause::Ok => "OK".into(),
            Cause::NoReply => "NO REPLY".into(),
            Cause::PortUnreachable => "PORT UNREACHABLE".into(),
            Cause::AdminProhibited => "ADMINISTRATIVELY PROHIBITED".into(),
            Cause::HostUnreachable => "HOST UNREACHABLE".into(),
            Cause::NetUnreachable => "NETWORK UNREACHABLE".into(),
            Cause::Kod(c) => format!("KISS-O'-DEATH {}", c.text()),
            Cause::UpstreamUnsynchronized => "SERVER NOT SYNCHRONIZED".into(),
            Cause::BogusReply => "BOGUS REPLIES".into(),
            Cause::ReplyFromOtherAddress => "REPLY FROM ANOTHER ADDRESS".into(),
            Cause::OffsetOverPanic => "OFFSET OVER PANIC THRESHOLD".into(),
            Cause::NameUnresolved => "NAME DOES NOT RESOLVE".into(),
            Cause::LocalPortInUse => "LOCAL PORT IN USE".into(),
            Cause::MalformedReply => "MALFORMED REPLIES".into(),
            Cause::SourcePortFiltered => "SOURCE PORT 123 FILTERED".into(),
            Cause::LocalFirewallBlocksNtp => "LOCAL FIREWALL BLOCKS NTP".into(),
            Cause::LocalPermissionDenied => "PERMISSION DENIED".into(),
            Cause::LocalError => "LOCAL ERROR".into(),
            Cause::ClientPollsTooFast => "CLIENT POLLS TOO FAST".into(),
            Cause::AsymmetricPath => "ASYMMETRIC PATH".into(),
            Cause::ReplyIgnored => "REPLIES IGNORED".into(),
            Cause::NoServersConfigured => "NO SERVERS CONFIGURED".into(),
            Cause::DaemonNotRunning => "DAEMON NOT RUNNING".into(),
            Cause::DaemonNotSynchronizedYet => "NOT SYNCHRONIZED YET".into(),
            Cause::RestrictBlocksClients => "RESTRICT BLOCKS CLIENTS".into(),
            Cause::Port123InUse => "PORT 123 IN USE".into(),
            Cause::TwoDaemons => "TWO TIME DAEMONS".into(),
            Cause::ConfigError => "CONFIGURATION ERROR".into(),
            Cause::ServerNameUnresolved => "SERVER NAME DOES NOT RESOLVE".into(),
            Cause::ClockStepNeeded => "CLOCK STEP NEEDED".into(),
        }
    }

    /// Every fixed id, plus the kod ids for the RFC codes: the documented set.
    pub fn documented_ids() -> Vec<String> {
        let mut v: Vec<String> = [
            Cause::Ok,
            Cause::NoReply,
            Cause::PortUnreachable,
            Cause::AdminProhibited,
            Cause::HostUnreachable,
            Cause::NetUnreachable,
            Cause::UpstreamUnsynchronized,
            Cause::BogusReply,
            Cause::ReplyFromOtherAddress,
            Cause::OffsetOverPanic,
            Cause::NameUnresolved,
            Cause::LocalPortInUse,
            Cause::MalformedReply,
            Cause::SourcePortFiltered,
            Cause::LocalFirewallBlocksNtp,
            Cause::LocalPermissionDenied,
            Cause::LocalError,
            Cause::ClientPollsTooFast,
            Cause::AsymmetricPath,
            Cause::ReplyIgnored,
            Cause::NoServersConfigured,
            Cause::DaemonNotRunning,
            Cause::DaemonNotSynchronizedYet,
            Cause::RestrictBlocksClients,
            Cause::Port123InUse,
            Cause::TwoDaemons,
            Cause::ConfigError,
            Cause::ServerNameUnresolved,
            Cause::ClockStepNeeded,
        ]
        .iter()
        .map(|c| c.id())
        .collect();
        v.extend(KissCode::ALL.iter().map(|c| Cause::Kod(*c).id()));
        v
    }
}

/// `kod-` suffix: the code in lowercase; octets that are not letters or
/// digits become `_` so the id stays one token.
fn kiss_id(c: KissCode) -> String {
    let b = c.bytes();
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    b[..end]
        .iter()
        .map(|&x| {
            if x.is_ascii_alphanumeric() {
                x.to_ascii_lowercase() as char
            } else {
                '_'
            }
        })
        .collect()
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn id(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A possible explanation, with what would confirm or rule it out.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Alternative {
    pub cause: String,
    pub tell_apart: String,
}

/// The diagnosis of one target.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verdict {
    pub cause: Cause,
    /// One sentence: what happened and what it means.
    pub summary: String,
    /// What was seen that supports it, packet by packet where it can be.
    pub evidence: Vec<String>,
    pub confidence: Confidence,
    /// What to do, most likely first.
    pub fix: Vec<String>,
    /// When the evidence leaves more than one explanation: each, in order of
    /// likelihood, with what would tell them apart.
    pub alternatives: Vec<Alternative>,
    /// Remarks that do not change the verdict.
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn new(cause: Cause, summary: impl Into<String>, confidence: Confidence) -> Verdict {
        Verdict {
            cause,
            summary: summary.into(),
            evidence: Vec::new(),
            confidence,
            fix: Vec::new(),
            alternatives: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Verdict {
        self.evidence.push(e.into());
        self
    }

    pub fn fix(mut self, f: impl Into<String>) -> Verdict {
        self.fix.push(f.into());
        self
    }

    pub fn alternative(
        mut self,
        cause: impl Into<String>,
        tell_apart: impl Into<String>,
    ) -> Verdict {
        self.alternatives.push(Alternative {
            cause: cause.into(),
            tell_apart: tell_apart.into(),
        });
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Verdict {
        self.notes.push(n.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_documented_ones() {
        let ids = Cause::documented_ids();
        for id in [
            "ok",
            "no-reply",
            "port-unreachable",
            "admin-prohibited",
            "host-unreachable",
            "net-unreachable",
            "kod-rate",
            "kod-deny",
            "kod-rstr",
            "upstream-unsynchronized",
            "bogus-reply",
            "reply-from-other-address",
            "offset-over-panic",
            "name-unresolved",
            "local-port-in-use",
            "malformed-reply",
            "source-port-filtered",
        ] {
            assert!(ids.iter().any(|i| i == id), "{id} missing");
        }
        assert_eq!(Cause::Kod(KissCode::Unknown(*b"X\x01\0\0")).id(), "kod-x_");
    }

    #[test]
    fn classes_have_distinct_exit_codes() {
        let mut codes: Vec<u8> = Class::ALL.iter().map(|c| c.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Class::ALL.len());
        assert!(
            !codes.contains(&1) && !codes.contains(&2),
            "1 and 2 are errors and usage"
        );
    }
}
