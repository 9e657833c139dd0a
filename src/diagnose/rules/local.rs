//! The local step: this machine kept the request from leaving (a name that
//! does not resolve, a socket call that failed).

use super::*;

pub(super) fn applies(e: &Exchange) -> bool {
    // A pasted tool's word that sending failed stands beside an answer in
    // the same paste (another run, or another attempt): not outvoted.
    let pasted = matches!(e.vantage, Vantage::Paste(_));
    e.unresolved.is_some() || (!e.local.is_empty() && (pasted || (!e.heard() && e.unrelated == 0)))
}

pub(super) static RULES: &[Rule<Exchange>] = &[
    Rule {
        names: &[Cause::NameUnresolved],
        when: When::If(|e| e.unresolved.is_some()),
        say: name_unresolved,
    },
    Rule {
        names: LOCAL_CAUSES,
        when: When::Always,
        say: local_failure,
    },
];

pub(super) fn name_unresolved(e: &Exchange) -> Verdict {
    let host = &e.who;
    Verdict::new(
        Cause::NameUnresolved,
        format!("{host} does not resolve to an address: nothing could be sent."),
        Confidence::High,
    )
    .evidence(format!(
        "resolver: {}",
        e.unresolved.clone().unwrap_or_default()
    ))
    .fix(format!(
        "check the name: `getent ahosts {host}`; add it to /etc/hosts or DNS"
    ))
    .fix("in an OpenStack-style setup every node needs the controller's name in /etc/hosts")
}

/// The cause a local error stands for.
pub fn local_cause(kind: LocalErrorKind) -> Cause {
    match kind {
        LocalErrorKind::AddressInUse => Cause::LocalPortInUse,
        LocalErrorKind::PermissionDenied => Cause::LocalPermissionDenied,
        LocalErrorKind::SendNotPermitted => Cause::LocalFirewallBlocksNtp,
        LocalErrorKind::NetworkUnreachable => Cause::NetUnreachable,
        LocalErrorKind::HostUnreachable => Cause::HostUnreachable,
        _ => Cause::LocalError,
    }
}

/// The cause an ICMP error quoting a request stands for.
pub fn icmp_cause(kind: IcmpKind) -> Cause {
    match kind {
        IcmpKind::PortUnreachable => Cause::PortUnreachable,
        IcmpKind::AdminProhibited => Cause::AdminProhibited,
        IcmpKind::HostUnreachable => Cause::HostUnreachable,
        _ => Cause::NetUnreachable,
    }
}

pub(super) fn local_failure(e: &Exchange) -> Verdict {
    let Some(Fact {
        value: Local { error, doing },
        at,
    }) = e.local.first()
    else {
        unreachable!("the local step needs a local failure")
    };
    let w = &e.who;
    let seen = format!(
        "{} failed while {doing}: {error}{}",
        error.op,
        at_suffix(at)
    );
    let dest = e
        .server
        .map_or_else(|| "<server>".to_string(), |a| a.ip().to_string());
    match local_cause(error.kind) {
        Cause::LocalPortInUse => Verdict::new(
            Cause::LocalPortInUse,
            format!("Cannot send from {}: the port is already held by another socket on this host.", error.target),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EADDRINUSE: typically a local ntpd or chronyd owns udp/123")
        .fix("see who holds it: `ss -ulpn 'sport = :123'`")
        .fix("probe from a random port (drop --source-port), or query the local daemon (`ntpq -p`, `chronyc sources`)"),
        Cause::LocalPermissionDenied => Verdict::new(
            Cause::LocalPermissionDenied,
            format!("Not allowed to {} {}: ports below 1024 need root or CAP_NET_BIND_SERVICE.", error.op, error.target),
            Confidence::High,
        )
        .evidence(seen)
        .fix(Cause::LocalPermissionDenied.info().fix),
        Cause::LocalFirewallBlocksNtp => Verdict::new(
            Cause::LocalFirewallBlocksNtp,
            format!("This host's firewall refused to send to {w}: sendto() returned EPERM."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EPERM on a UDP send comes from a local netfilter rule (OUTPUT chain) that drops or rejects it")
        .fix("list the rules: `iptables -S OUTPUT`, `ip6tables -S OUTPUT`, `nft list ruleset`")
        .fix("allow NTP out: `iptables -I OUTPUT -p udp --dport 123 -j ACCEPT`"),
        Cause::NetUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("This host has no route to {w} (ENETUNREACH): the request never left."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check the routing table: `ip route get {dest}`"))
        .fix("add a default route or a route to the server's network"),
        Cause::HostUnreachable => Verdict::new(
            Cause::HostUnreachable,
            format!("This host cannot reach {w} (EHOSTUNREACH): no neighbour answer, or an `unreachable` route."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check `ip route get {dest}` and `ip neigh show {dest}`")),
        _ => Verdict::new(Cause::LocalError, format!("Could not probe {w}: {error}."), Confidence::High)
            .evidence(seen)
            .fix(match error.kind {
                LocalErrorKind::FamilyNotSupported => "this host has no support for the address family: probe with -4 or -6",
                LocalErrorKind::AddressNotAvailable => "the local address is not configured on this host",
                _ => "see the error above",
            }),
    }
}
