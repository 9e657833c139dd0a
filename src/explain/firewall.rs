//! Local firewall rules that concern NTP, read from `iptables-save` and
//! `nft list ruleset` output. Pure: text in, rules out.

use super::node::FirewallRule;

fn ntp_port(words: &[&str], flag: &str) -> bool {
    words
        .windows(2)
        .any(|w| w[0] == flag && (w[1] == "123" || w[1] == "ntp"))
}

/// Rules from `iptables-save` (or `ip6tables-save`) output.
pub fn parse_iptables(tool: &str, text: &str) -> Vec<FirewallRule> {
    let mut out = vec![];
    let mut input_policy_drop = false;
    let mut input_accepts_replies = false;
    let mut output_policy_drop = false;
    let mut output_accepts_established = false;
    let mut in_filter = false;
    for l in text.lines() {
        let t = l.trim();
        if let Some(table) = t.strip_prefix('*') {
            in_filter = table == "filter";
            continue;
        }
        if !in_filter {
            continue;
        }
        if let Some(p) = t.strip_prefix(':') {
            let w: Vec<&str> = p.split_whitespace().collect();
            if w.len() >= 2 && w[0] == "INPUT" && w[1] == "DROP" {
                input_policy_drop = true;
            }
            if w.len() >= 2 && w[0] == "OUTPUT" && w[1] == "DROP" {
                output_policy_drop = true;
            }
            continue;
        }
        let Some(rule) = t.strip_prefix("-A ") else {
            continue;
        };
        let w: Vec<&str> = rule.split_whitespace().collect();
        let chain = w.first().copied().unwrap_or("");
        let target = w
            .windows(2)
            .find(|x| x[0] == "-j")
            .map(|x| x[1])
            .unwrap_or("");
        let udp = w.windows(2).any(|x| x[0] == "-p" && x[1] == "udp");
        let ntp = ntp_port(&w, "--dport")
            || ntp_port(&w, "--sport")
            || ntp_port(&w, "--dports")
            || ntp_port(&w, "--sports");
        if chain == "INPUT" && target == "ACCEPT" && (rule.contains("ESTABLISHED") || (udp && ntp))
        {
            input_accepts_replies = true;
        }
        // Established traffic out: replies to clients, and every request
        // after the first of a flow (a daemon polls from one socket).
        let everything = w.len() == 3 && w[1] == "-j";
        if chain == "OUTPUT"
            && target == "ACCEPT"
            && (rule.contains("ESTABLISHED") || (udp && ntp) || everything)
        {
            output_accepts_established = true;
        }
        if udp && ntp && matches!(target, "DROP" | "REJECT") {
            out.push(FirewallRule {
                tool: tool.into(),
                text: format!("-A {rule}"),
                blocks_out: chain == "OUTPUT",
                blocks_in: chain == "INPUT",
            });
        }
    }
    if input_policy_drop && !input_accepts_replies {
        out.push(FirewallRule {
            tool: tool.into(),
            text: ":INPUT DROP (policy), and no rule accepts NTP replies or established traffic"
                .into(),
            blocks_out: false,
            blocks_in: true,
        });
    }
    if output_policy_drop && !output_accepts_established {
        out.push(FirewallRule {
            tool: tool.into(),
            text: ":OUTPUT DROP (policy), and no rule lets established traffic out: replies to this node's clients, and its own requests after the first of each flow, are dropped".into(),
            blocks_out: true,
            blocks_in: false,
        });
    }
    out
}

/// Whether `iptables-save` output comes from iptables-nft (its header names
/// nf_tables): its rules then also show in `nft list ruleset`.
pub fn iptables_on_nft(iptables_save: &str) -> bool {
    iptables_save
        .lines()
        .next()
        .is_some_and(|l| l.starts_with('#') && l.contains("(nf_tables)"))
}

/// Rules from `nft list ruleset` output. With `skip_iptables`, the chains
/// iptables-nft keeps (INPUT, OUTPUT, FORWARD of the `filter` tables of
/// families ip and ip6) are left out: they were read from iptables-save,
/// and one rule is one finding.
pub fn parse_nft(text: &str, skip_iptables: bool) -> Vec<FirewallRule> {
    let mut out = vec![];
    let mut table_is_iptables = false;
    let mut skip = false;
    let mut hook = "";
    let mut policy_drop = false;
    let mut accepts = false;
    let finish_chain = |hook: &str,
                        policy_drop: bool,
                        accepts: bool,
                        out: &mut Vec<FirewallRule>| {
        if hook == "input" && policy_drop && !accepts {
            out.push(FirewallRule {
                tool: "nft".into(),
                text: "chain with hook input, policy drop, and no rule accepting NTP replies or established traffic".into(),
                blocks_out: false,
                blocks_in: true,
            });
        }
    };
    for l in text.lines() {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("table ") {
            let w: Vec<&str> = rest.split_whitespace().collect();
            table_is_iptables = matches!(w.as_slice(), ["ip" | "ip6", "filter", ..]);
            continue;
        }
        if let Some(rest) = t.strip_prefix("chain ") {
            if !skip {
                finish_chain(hook, policy_drop, accepts, &mut out);
            }
            let name = rest.split_whitespace().next().unwrap_or("");
            skip = skip_iptables
                && table_is_iptables
                && matches!(name, "INPUT" | "OUTPUT" | "FORWARD");
            hook = "";
            policy_drop = false;
            accepts = false;
            continue;
        }
        if skip {
            continue;
        }
        if t.starts_with("type ") && t.contains(" hook ") {
            let w: Vec<&str> = t.split_whitespace().collect();
            hook = w
                .windows(2)
                .find(|x| x[0] == "hook")
                .map(|x| {
                    if x[1] == "input" {
                        "input"
                    } else if x[1] == "output" {
                        "output"
                    } else {
                        "other"
                    }
                })
                .unwrap_or("");
            policy_drop = t.contains("policy drop");
            continue;
        }
        let ntp = t.contains("udp dport 123")
            || t.contains("udp sport 123")
            || t.contains("udp dport ntp")
            || t.contains("udp sport ntp");
        if t.ends_with("accept") && (t.contains("established") || ntp) {
            accepts = true;
        }
        if ntp && (t.contains(" drop") || t.contains("reject")) {
            out.push(FirewallRule {
                tool: "nft".into(),
                text: t.to_string(),
                blocks_out: hook == "output",
                blocks_in: hook == "input",
            });
        }
    }
    if !skip {
        finish_chain(hook, policy_drop, accepts, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_policy_drop_without_established() {
        let only_new = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n\
             -A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n";
        let r = parse_iptables("iptables", only_new);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].blocks_out && r[0].text.contains("OUTPUT DROP"));
        let fine = only_new.replace("--ctstate NEW", "--ctstate NEW,RELATED,ESTABLISHED");
        assert!(parse_iptables("iptables", &fine).is_empty());
        let open = only_new.replace(":OUTPUT DROP", ":OUTPUT ACCEPT");
        assert!(parse_iptables("iptables", &open).is_empty());
    }

    #[test]
    fn iptables_rules() {
        let t = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 123 -j DROP\n-A OUTPUT -p udp -m udp --dport 123 -j REJECT --reject-with icmp-port-unreachable\n-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n*nat\n-A PREROUTING -p udp --dport 123 -j DROP\nCOMMIT\n";
        let r = parse_iptables("iptables", t);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].blocks_in && !r[0].blocks_out);
        assert!(r[1].blocks_out);
        let p = parse_iptables(
            "iptables",
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        );
        assert_eq!(p.len(), 1);
        let ok = parse_iptables(
            "iptables",
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n",
        );
        assert!(ok.is_empty());
        assert!(parse_iptables("iptables", "").is_empty());
    }

    #[test]
    fn nft_rules() {
        let t = "table inet t {\n\tchain in {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 123 reject with icmpx admin-prohibited\n\t}\n\tchain out {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tudp dport 123 drop\n\t}\n}\n";
        let r = parse_nft(t, false);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].blocks_in && r[1].blocks_out);
        let p = parse_nft(
            "table inet f {\n chain input {\n type filter hook input priority 0; policy drop;\n tcp dport 22 accept\n }\n}\n",
            false,
        );
        assert_eq!(p.len(), 1);
        let ok = parse_nft(
            "table inet f {\n chain input {\n type filter hook input priority 0; policy drop;\n ct state established,related accept\n }\n}\n",
            false,
        );
        assert!(ok.is_empty());
    }

    /// One rule added with iptables-nft (Debian 12's iptables 1.8.9), as
    /// both tools print it (recorded in a namespace: `iptables -A INPUT -p
    /// udp --dport 123 -j DROP`, then iptables-save and nft list ruleset).
    #[test]
    fn an_iptables_nft_rule_is_one_finding() {
        let save = "# Generated by iptables-save v1.8.9 (nf_tables) on Mon Dec  7 19:32:22 2026\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 123 -j DROP\nCOMMIT\n";
        let nft = "table ip filter {\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 123 counter packets 0 bytes 0 drop\n\t}\n}\n";
        assert!(iptables_on_nft(save));
        let mut all = parse_iptables("iptables", save);
        all.extend(parse_nft(nft, iptables_on_nft(save)));
        assert_eq!(all.len(), 1, "{all:?}");
        // Without iptables-nft (legacy iptables), nft's own tables count.
        assert_eq!(parse_nft(nft, false).len(), 1);
        // A table of nft's own, beside iptables-nft's, still counts.
        let own = "table inet mine {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 123 drop\n\t}\n}\n";
        assert_eq!(parse_nft(&format!("{nft}{own}"), true).len(), 1);
    }
}
