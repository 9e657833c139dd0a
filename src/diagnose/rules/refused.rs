//! The refused step: an ICMP error quoting a request came back.

use super::*;

pub(super) static RULES: &[Rule<Exchange>] = &[Rule {
    names: &[
        Cause::PortUnreachable,
        Cause::AdminProhibited,
        Cause::HostUnreachable,
        Cause::NetUnreachable,
    ],
    when: When::Always,
    say: refused,
}];

pub(super) fn by(i: &Icmp) -> String {
    match (i.offender, i.sender) {
        (Some(o), Sender::Server) => format!("the server itself ({o})"),
        (Some(o), Sender::ClientHost) => format!("this host ({o})"),
        (Some(o), _) => format!("router {o}"),
        (None, _) => "an unknown sender".to_string(),
    }
}

pub(super) fn refused(e: &Exchange) -> Verdict {
    let w = &e.who;
    let f = e.icmp.as_ref().expect("checked");
    let i = &f.value;
    let by = by(i);
    let from_server = i.sender == Sender::Server;
    let dest = e
        .server
        .map_or_else(|| "<server>".to_string(), |a| a.ip().to_string());
    let seen = match &f.at {
        Origin::Request { n, .. } => format!(
            "request {n} → {} from {}{}",
            i.error,
            i.offender.map_or("?".to_string(), |o| o.to_string()),
            i.rtt_ms
                .map_or(String::new(), |t| format!(" after {}", fmt_ms(t)))
        ),
        at => format!(
            "{} from {}, the first {at}",
            i.error,
            i.offender.map_or("?".to_string(), |o| o.to_string())
        ),
    };
    let stopped = e
        .probe
        .as_ref()
        .is_some_and(|p| e.requests < u64::from(p.samples));
    let count_line = format!(
        "{} drew ICMP errors; no NTP reply{}",
        if e.requests > 0 {
            format!("{} of {} requests", e.icmp_count, e.requests)
        } else {
            format!("{} requests", e.icmp_count)
        },
        if stopped {
            " (ntpdiag stopped sending after the first error)"
        } else {
            ""
        }
    );
    match i.error.kind() {
        IcmpKind::PortUnreachable => {
            let v = Verdict::new(
                Cause::PortUnreachable,
                if from_server {
                    format!("{w} is up but refuses udp/123: ICMP port unreachable came back from the server itself — nothing listens on port 123 there, or a REJECT rule answers for it.")
                } else {
                    format!("{w}: ICMP port unreachable came back from {by}, on the server's behalf — a REJECT rule there, or nothing listens on port 123.")
                },
                Confidence::High,
            )
            .evidence(seen)
            .evidence(count_line)
            .alternative(
                Cause::PortUnreachable,
                "no NTP daemon listens on udp/123 (ntpd/chronyd stopped or crashed, or bound to other addresses: ntpd `interface ignore`, chrony `bindaddress`/`port 0`)",
                "on the server: `ss -ulpn 'sport = :123'` lists no socket for this address",
            )
            .alternative(
                Cause::PortUnreachable,
                "a firewall REJECT rule (iptables' default reject is icmp-port-unreachable)",
                "on the server: `iptables -S INPUT | grep -i reject`, `nft list ruleset | grep reject`; the daemon is running",
            )
            .fix("start the NTP daemon on the server (`systemctl start ntpsec` / `chronyd`) and check it listens on this address")
            .fix("or remove the REJECT rule for udp/123 (`iptables -I INPUT -p udp --dport 123 -j ACCEPT`)");
            if from_server {
                v
            } else {
                v.note(format!("the error came from {by}, not from the server: a firewall on the path imitates port unreachable"))
            }
        }
        IcmpKind::AdminProhibited => Verdict::new(
            Cause::AdminProhibited,
            format!("A firewall on {by} rejects udp/123 to {w}: ICMP {}.", i.error.name()),
            Confidence::High,
        )
        .evidence(seen)
        .evidence(count_line)
        .evidence(
            "administratively prohibited is what `REJECT --reject-with icmp-admin-prohibited`/`icmp-host-prohibited`, nft `reject with icmp type admin-prohibited` and firewalld's default reject send",
        )
        .fix(format!(
            "on {}: allow udp/123 (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`; iptables: `iptables -I INPUT -p udp --dport 123 -j ACCEPT`)",
            if from_server { "the server".to_string() } else { by.clone() }
        )),
        IcmpKind::HostUnreachable => {
            let v = Verdict::new(
                Cause::HostUnreachable,
                if i.sender == Sender::ClientHost {
                    format!("This host cannot deliver to {w}: no answer to ARP/neighbour discovery — the server is down, or not at that address on this link.")
                } else {
                    format!("{by} cannot deliver to {w}: the server is down or absent on that router's link, or the router has an `unreachable` route.")
                },
                Confidence::High,
            )
            .evidence(seen)
            .evidence(count_line);
            if i.sender == Sender::ClientHost {
                v.fix(format!("check the server is up and has address {dest}; `ip neigh show {dest}` here"))
            } else {
                v.fix("check that the server is up and that its address is right")
                    .fix(format!("on {by}: `ip route get {dest}` and `ip neigh show {dest}`"))
            }
        }
        IcmpKind::NetUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} has no route to {w}'s network."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix(format!("fix routing on {by} (`ip route get {dest}` there), or use a server on a reachable network")),
        IcmpKind::TimeExceeded => Verdict::new(
            Cause::NetUnreachable,
            format!("Requests to {w} loop in the network: {by} reported {}.", i.error.name()),
            Confidence::Medium,
        )
        .evidence(seen)
        .fix("a routing loop between routers: check `traceroute -U -p 123` to the server"),
        _ => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} could not deliver the request to {w}: {}.", i.error),
            Confidence::Medium,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix("check the path to the server (`tracepath`, `traceroute -U -p 123`)"),
    }
}
