//! Access lines checked as the daemons parse them: ntpd's `restrict` (the
//! `access_control_command` grammar of ntp_parser.y, ntpsec and classic
//! ntp 4.2.8, and `config_access()` of ntp_config.c) and chrony's
//! `allow`/`deny` (`CPS_ParseAllowDeny()` of cmdparse.c). What the daemon
//! refuses comes back as the message of a config error.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The flags of `access_control_flag`: ntpsec's, and classic ntpd's
/// (`lowpriotrap`; `noepeer`, `ippeerlimit N` and `serverresponse fuzz`
/// since 4.2.8p11). Any other word is a syntax error.
const NTP_FLAGS: &[&str] = &[
    "flake",
    "ignore",
    "kod",
    "mssntp",
    "limited",
    "lowpriotrap",
    "nomodify",
    "nomrulist",
    "noepeer",
    "nopeer",
    "noquery",
    "noserve",
    "notrap",
    "notrust",
    "ntpport",
    "version",
];

/// An address in the forms `getnetnum()` takes without a lookup: IPv6, or
/// IPv4 as `inet_aton()` reads it (one to four parts, decimal, 0x hex or
/// 0 octal, the last part filling the remaining octets).
pub fn numeric_address(s: &str) -> bool {
    if s.parse::<Ipv6Addr>().is_ok() || s.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return false;
    }
    let n = parts.len();
    parts.iter().enumerate().all(|(i, p)| {
        let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else {
            p.parse::<u64>().ok()
        };
        let room = if i + 1 == n { 4 - i as u32 } else { 1 };
        v.is_some_and(|v| v < 1u64 << (8 * room))
    })
}

/// Digits and dots only: meant as an IPv4 address, not a host name.
fn looks_ipv4(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.contains('.')
}

/// A `restrict`/`unrestrict` line's words after the keyword; `Err` says
/// why ntpd refuses it (the whole line is then ignored) or reads it
/// otherwise than written.
pub fn ntp_restrict(words: &[String]) -> Result<(), String> {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    let family = matches!(w.first(), Some(&"-4") | Some(&"-6"));
    if family {
        w.remove(0);
    }
    let Some(target) = w.first().copied() else {
        return Err("no address: ntpd ignores the line with a syntax error".into());
    };
    let mut rest = &w[1..];
    if rest.first() == Some(&"mask") {
        if family {
            return Err(
                "a -4/-6 flag before an address with a mask is a syntax error in ntpd's grammar: the line is ignored (write `restrict ADDR mask MASK …`)".into(),
            );
        }
        let Some(mask) = rest.get(1) else {
            return Err("`mask` without a mask: ntpd ignores the line with a syntax error".into());
        };
        if !numeric_address(mask) {
            return Err(format!(
                "mask '{mask}' is not an address: ntpd logs \"restrict: ignoring line, mask '{mask}' unusable\" and ignores the line"
            ));
        }
        rest = &rest[2..];
    }
    if target != "default" && target != "source" {
        let (addr, len) = match target.rsplit_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (target, None),
        };
        if let Some(l) = len {
            let max = if addr.contains(':') { 128 } else { 32 };
            match l.parse::<i64>() {
                Ok(n) if n > 0 && n <= max => {}
                _ => {
                    return Err(format!(
                        "prefix length /{l} is out of range (1–{max}): ntpsec drops it silently and restricts the host {addr} alone; classic ntpd cannot resolve '{target}' and ignores the line"
                    ));
                }
            }
        }
        if looks_ipv4(addr) && !numeric_address(addr) {
            return Err(format!(
                "'{addr}' is not an IPv4 address: ntpd tries it as a host name, logs \"restrict: ignoring line, address/host '{addr}' unusable\" and ignores the line"
            ));
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let f = rest[i].to_ascii_lowercase();
        match f.as_str() {
            "ippeerlimit" => {
                if rest.get(i + 1).is_none_or(|n| n.parse::<i64>().is_err()) {
                    return Err(
                        "`ippeerlimit` without a number: a syntax error, the line is ignored"
                            .into(),
                    );
                }
                i += 2;
            }
            "serverresponse" => {
                if rest
                    .get(i + 1)
                    .is_none_or(|n| !n.eq_ignore_ascii_case("fuzz"))
                {
                    return Err(
                        "`serverresponse` without `fuzz`: a syntax error, the line is ignored"
                            .into(),
                    );
                }
                i += 2;
            }
            f if NTP_FLAGS.contains(&f) => i += 1,
            _ => {
                return Err(format!(
                    "unknown restrict flag `{}`: ntpd ignores the whole line with a syntax error",
                    rest[i]
                ));
            }
        }
    }
    Ok(())
}

/// An `allow`/`deny` line's words after the keyword, as
/// `CPS_ParseAllowDeny()` reads them; `Err` makes chronyd exit with "Could
/// not parse allow directive". A host name is left to the resolver.
pub fn chrony_allow(words: &[String]) -> Result<(), String> {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    if w.first() == Some(&"all") {
        w.remove(0);
    }
    let net = match w.as_slice() {
        [] => return Ok(()),
        [n] => *n,
        _ => return Err("more than one subnet: chronyd exits with \"Could not parse\"".into()),
    };
    let (addr, bits) = match net.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (net, None),
    };
    if let Some(b) = bits
        && b.parse::<u32>().is_err()
    {
        return Err(format!(
            "prefix length /{b} is not a number: chronyd exits with \"Could not parse\""
        ));
    }
    if addr.parse::<Ipv4Addr>().is_ok() || addr.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if looks_ipv4(addr) || addr.chars().all(|c| c.is_ascii_digit()) {
        // chrony's shortened notation: one to three decimal numbers, each
        // at most 255.
        let parts: Vec<&str> = addr.split('.').collect();
        let ok = parts.len() <= 3
            && parts
                .iter()
                .all(|p| p.parse::<u32>().is_ok_and(|v| v <= 255));
        if !ok {
            return Err(format!(
                "'{addr}' is not an address or subnet: chronyd exits with \"Could not parse\""
            ));
        }
        return Ok(());
    }
    if bits.is_some() {
        return Err(format!(
            "'{net}': a host name takes no prefix length: chronyd exits with \"Could not parse\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// Lines ntpd takes, from Debian's, RHEL's and the seed's ntp.conf and
    /// ntpsec's documentation.
    #[test]
    fn restrict_lines_ntpd_takes() {
        for l in [
            "default kod nomodify nopeer noquery limited",
            "-4 default kod notrap nomodify nopeer noquery",
            "-6 default kod notrap nomodify nopeer noquery",
            "127.0.0.1",
            "::1",
            "source nomodify noquery notrap",
            "198.51.100.0 mask 255.255.255.0 nomodify notrap",
            "192.168.0.0/16 nomodify",
            "2001:db8::/32 noquery",
            "ntp.example.org nomodify",
            "default ippeerlimit 2 noepeer serverresponse fuzz",
            "10 mask 255.0.0.0",
        ] {
            assert_eq!(ntp_restrict(&w(l)), Ok(()), "{l}");
        }
    }

    /// Lines ntpd refuses or reads otherwise (config_access(),
    /// fix_node_cidr(), the grammar).
    #[test]
    fn restrict_lines_ntpd_refuses() {
        for (l, why) in [
            ("198.51.100.0 mask 255.255.256.0 nomodify", "mask"),
            ("198.51.100.0 mask everything", "mask"),
            ("198.51.100.300 nomodify", "not an IPv4"),
            ("10.0.0.0/33", "out of range"),
            ("10.0.0.0/0", "out of range"),
            ("-4 10.0.0.0 mask 255.0.0.0", "syntax error"),
            ("default nomodfy", "unknown restrict flag"),
            ("default ippeerlimit", "ippeerlimit"),
            ("", "no address"),
        ] {
            let e = ntp_restrict(&w(l)).expect_err(l);
            assert!(e.contains(why), "{l}: {e}");
        }
    }

    /// CPS_ParseAllowDeny(): what chronyd takes and what makes it exit.
    #[test]
    fn chrony_allow_lines() {
        for l in [
            "",
            "all",
            "198.51.100.0/24",
            "198.51.100",
            "10",
            "2001:db8::/32",
            "all 10.0.0.0/8",
            "ntp.example.org",
        ] {
            assert_eq!(chrony_allow(&w(l)), Ok(()), "{l}");
        }
        for l in [
            "198.51.100.0/x",
            "10.0.0.256",
            "256",
            "1.2.3.4.5",
            "10.0.0.0/8 192.168.0.0/16",
            "ntp.example.org/24",
        ] {
            assert!(chrony_allow(&w(l)).is_err(), "{l}");
        }
    }
}
