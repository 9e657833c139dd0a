//! Server profiles as data: the `serve` flags and the scenario file
//! (`serve --scenario FILE`, TOML) both become a [`ProfileSpec`], which one
//! function turns into a [`ServerProfile`] with its listening addresses. Errors
//! name the server, the field, what was expected and, for files, the line.
//!
//! ```toml
//! [[server]]
//! name = "healthy"
//! listen = ["127.0.0.1:11123", "[::1]:11123"]
//! stratum = 2
//!
//! [[server]]
//! name = "rate-limited"
//! listen = ["127.0.0.1:11124"]
//! rate-limit = "2s,4"        # one request per 2 s, bursts of 4
//! rate-action = "kod"        # or "drop"
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::acl::{Acl, Cidr, DenyAction};
use crate::engine::profile::{Faults, RateAction, ServerProfile, SymmetricPolicy};
use crate::engine::ratelimit::RateConfig;
use crate::engine::server::ServerConfig;
use crate::wire::{KissCode, Leap, NtpDuration, ReferenceId};

/// `unsynchronized = true` or `unsynchronized = "XFAC"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Unsync {
    Yes(bool),
    RefId(String),
}

/// One server as written by a user (flags or a `[[server]]` table).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stratum: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leap: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsynchronized: Option<Unsync>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kod: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Root dispersion to announce (a duration, below 65536 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_dispersion: Option<String>,
    /// Root delay to announce (a duration, below 65536 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<u8>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bogus_origin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_allow: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<String>,
}

/// A field that does not hold what it must.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn ferr(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A signed duration: `2000s`, `-1h`, `150ms`.
pub fn parse_signed_duration(s: &str) -> Result<NtpDuration, String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let d = humantime::parse_duration(body.trim())
        .map_err(|e| format!("{s:?}: {e} (expected e.g. 2000s, -1h, 150ms)"))?;
    let v = NtpDuration::from_std(d);
    Ok(if neg { NtpDuration(-v.0) } else { v })
}

fn duration(field: &'static str, s: &str, max: Duration) -> Result<Duration, FieldError> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| ferr(field, format!("{s:?}: {e} (expected e.g. 200ms, 2s)")))?;
    if d > max {
        return Err(ferr(
            field,
            format!("{s:?}: at most {}", humantime::format_duration(max)),
        ));
    }
    Ok(d)
}

fn cidrs(field: &'static str, v: &[String]) -> Result<Vec<Cidr>, FieldError> {
    v.iter()
        .map(|s| s.parse::<Cidr>().map_err(|e| ferr(field, e)))
        .collect()
}

/// Parses `ADDR:PORT` or `[V6]:PORT`, or a bare address with `default_port`.
pub fn parse_listen(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, default_port));
    }
    Err(format!(
        "{s:?}: expected ADDR:PORT, [IPv6]:PORT or an address"
    ))
}

impl ProfileSpec {
    /// Builds the profile and its listening addresses (default: 0.0.0.0:123
    /// and [::]:123 when `listen` is empty).
    pub fn build(&self) -> Result<(ServerProfile, Vec<SocketAddr>), FieldError> {
        let mut server = ServerConfig::default();
        if let Some(s) = self.stratum {
            if !(1..=16).contains(&s) {
                return Err(ferr(
                    "stratum",
                    format!("{s}: expected 1-16 (16 = unsynchronized)"),
                ));
            }
            server.stratum = s;
        }
        if let Some(u) = &self.unsynchronized {
            let refid = match u {
                Unsync::Yes(false) => None,
                Unsync::Yes(true) => Some("INIT".to_string()),
                Unsync::RefId(r) => Some(r.to_uppercase()),
            };
            if let Some(r) = refid {
                let id = ReferenceId::from_name(&r).ok_or_else(|| {
                    ferr(
                        "unsynchronized",
                        format!(
                            "{r:?}: expected true, \"INIT\" or \"XFAC\" (1-4 ASCII characters)"
                        ),
                    )
                })?;
                server = ServerConfig {
                    reference_id: id,
                    ..ServerConfig::unsynchronized()
                };
            }
        }
        if let Some(r) = &self.refid {
            server.reference_id = match r.parse::<std::net::Ipv4Addr>() {
                Ok(a) => ReferenceId::from_ipv4(a),
                Err(_) => ReferenceId::from_name(r).ok_or_else(|| {
                    ferr(
                        "refid",
                        format!("{r:?}: expected 1-4 ASCII characters or an IPv4 address"),
                    )
                })?,
            };
        }
        if let Some(l) = self.leap {
            if l > 3 {
                return Err(ferr("leap", format!("{l}: expected 0-3")));
            }
            server.leap = Leap::from_bits(l);
        }
        if let Some(k) = &self.kod {
            server.kiss = Some(KissCode::parse(k).ok_or_else(|| {
                ferr(
                    "kod",
                    format!(
                        "{k:?}: expected a kiss code such as RATE, DENY, RSTR (1-4 characters)"
                    ),
                )
            })?);
        }
        for (field, value, slot) in [
            (
                "root-dispersion",
                &self.root_dispersion,
                &mut server.root_dispersion,
            ),
            ("root-delay", &self.root_delay, &mut server.root_delay),
        ] {
            if let Some(v) = value {
                let d = duration(field, v, Duration::from_secs(65_535))?;
                *slot = crate::wire::NtpShort::from_secs_f64(d.as_secs_f64());
            }
        }
        let mut faults = Faults {
            silent: self.silent,
            bogus_origin: self.bogus_origin,
            ..Faults::default()
        };
        if let Some(o) = &self.offset {
            faults.offset = parse_signed_duration(o).map_err(|e| ferr("offset", e))?;
        }
        if let Some(d) = &self.delay {
            faults.delay = duration("delay", d, Duration::from_secs(60))?;
        }
        if let Some(p) = self.drop {
            if p > 100 {
                return Err(ferr("drop", format!("{p}: expected a percentage 0-100")));
            }
            faults.drop_percent = p;
        }
        if let Some(r) = &self.reply_from {
            faults.reply_from =
                Some(r.parse().map_err(|_| {
                    ferr("reply-from", format!("{r:?}: expected a local IP address"))
                })?);
        }
        if let Some(v) = self.version {
            if v > 7 {
                return Err(ferr(
                    "version",
                    format!("{v}: expected 0-7 (1-4 are real versions)"),
                ));
            }
            faults.version = Some(v);
        }
        let deny_action = match self.deny_action.as_deref() {
            None | Some("ignore") => DenyAction::Ignore,
            Some("kod-deny") | Some("deny") => DenyAction::KodDeny,
            Some("kod-rstr") | Some("rstr") => DenyAction::KodRstr,
            Some(o) => {
                return Err(ferr(
                    "deny-action",
                    format!("{o:?}: expected ignore, kod-deny or kod-rstr"),
                ));
            }
        };
        let acl = Acl {
            allow: cidrs("allow", &self.allow)?,
            deny: cidrs("deny", &self.deny)?,
            deny_action,
        };
        let rate = match &self.rate_limit {
            None => None,
            Some(r) => {
                let (i, b) = match r.split_once(',') {
                    Some((i, b)) => (i, Some(b)),
                    None => (r.as_str(), None),
                };
                let interval = duration("rate-limit", i, Duration::from_secs(3600))?;
                if interval.is_zero() {
                    return Err(ferr("rate-limit", "interval must be more than 0"));
                }
                let burst = match b {
                    None => 1,
                    Some(b) => b
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|b| (1..=1000).contains(b))
                        .ok_or_else(|| {
                            ferr("rate-limit", format!("{b:?}: burst must be 1-1000"))
                        })?,
                };
                let action = match self.rate_action.as_deref() {
                    None | Some("kod") => RateAction::Kod,
                    Some("drop") => RateAction::Drop,
                    Some(o) => {
                        return Err(ferr("rate-action", format!("{o:?}: expected kod or drop")));
                    }
                };
                Some((RateConfig { interval, burst }, action))
            }
        };
        if self.rate_action.is_some() && self.rate_limit.is_none() {
            return Err(ferr("rate-action", "needs rate-limit"));
        }
        let symmetric = match self.symmetric.as_deref() {
            None | Some("answer") => SymmetricPolicy::Answer,
            Some("ignore") => SymmetricPolicy::Ignore,
            Some(o) => {
                return Err(ferr(
                    "symmetric",
                    format!("{o:?}: expected answer or ignore"),
                ));
            }
        };
        let mut query_allow = Cidr::loopback().to_vec();
        query_allow.extend(cidrs("query-allow", &self.query_allow)?);
        let listen = if self.listen.is_empty() {
            vec![
                "0.0.0.0:123".parse().expect("literal"),
                "[::]:123".parse().expect("literal"),
            ]
        } else {
            self.listen
                .iter()
                .map(|l| parse_listen(l, 123).map_err(|e| ferr("listen", e)))
                .collect::<Result<_, _>>()?
        };
        let profile = ServerProfile {
            name: self.name.clone().unwrap_or_else(|| "default".into()),
            server,
            faults,
            acl,
            rate,
            query_allow,
            symmetric,
            live: None,
            nts: None,
        };
        Ok((profile, listen))
    }
}

/// A scenario file: several servers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub server: Vec<ProfileSpec>,
}

/// An error in a scenario file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Parses and checks a scenario file's text; every server is built so that
/// every error is found before anything is bound.
pub fn parse_scenario(
    file: &str,
    text: &str,
) -> Result<Vec<(ServerProfile, Vec<SocketAddr>)>, ScenarioError> {
    let sc: Scenario = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    if sc.server.is_empty() {
        return Err(ScenarioError {
            file: file.into(),
            line: 1,
            message: "no [[server]] tables".into(),
        });
    }
    let mut out = Vec::new();
    for (i, spec) in sc.server.iter().enumerate() {
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("server{}", i + 1));
        let spec = ProfileSpec {
            name: Some(name.clone()),
            ..spec.clone()
        };
        match spec.build() {
            Ok(p) => out.push(p),
            Err(fe) => {
                return Err(ScenarioError {
                    file: file.into(),
                    line: field_line(text, "[[server]]", i, fe.field),
                    message: format!(
                        "[[server]] #{} ({name}): field `{}`: {}",
                        i + 1,
                        fe.field,
                        fe.message
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// A TOML syntax or type error as `file:line: field `key`: message`.
pub fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
    let start = e.span().map_or(0, |s| s.start.min(text.len()));
    let line = text[..start].matches('\n').count() + 1;
    // Name the field when the error sits on a `key = value` line.
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string());
    let message = match key {
        Some(k) if !k.is_empty() && !k.starts_with('[') => {
            format!("field `{k}`: {}", e.message())
        }
        _ => e.message().to_string(),
    };
    ScenarioError {
        file: file.into(),
        line,
        message,
    }
}

/// The line of `field = …` inside the `index`-th table whose header line
/// starts with `header` (`[[server]]`), counting from 0; the table's own line
/// if the field is not found (1 if there is no such table). A field in a
/// sub-table of it (`[node.serve]`) is found too.
pub fn field_line(text: &str, header: &str, index: usize, field: &str) -> usize {
    let mut table = None;
    let mut table_line = 1;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("[[") && !t.starts_with(header) {
            if table == Some(index) {
                break;
            }
            continue;
        }
        if t.starts_with(header) {
            table = Some(table.map_or(0, |x: usize| x + 1));
            if table == Some(index) {
                table_line = n + 1;
            }
            continue;
        }
        if table == Some(index)
            && let Some((k, _)) = t.split_once('=')
            && k.trim() == field
        {
            return n + 1;
        }
    }
    table_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_field() {
        let spec = ProfileSpec {
            name: Some("x".into()),
            listen: vec![
                "127.0.0.1:11123".into(),
                "[::1]:11123".into(),
                "127.0.0.2".into(),
            ],
            stratum: Some(3),
            refid: Some("GPS".into()),
            kod: Some("rate".into()),
            offset: Some("-2000s".into()),
            delay: Some("150ms".into()),
            drop: Some(10),
            bogus_origin: true,
            reply_from: Some("127.0.0.2".into()),
            version: Some(3),
            allow: vec!["198.51.100.0/24".into()],
            deny: vec!["198.51.100.7".into()],
            deny_action: Some("kod-rstr".into()),
            rate_limit: Some("2s,4".into()),
            rate_action: Some("drop".into()),
            query_allow: vec!["203.0.113.0/24".into()],
            ..ProfileSpec::default()
        };
        let (p, listen) = spec.build().unwrap();
        assert_eq!(listen.len(), 3);
        assert_eq!(listen[2], "127.0.0.2:123".parse().unwrap());
        assert_eq!(p.server.stratum, 3);
        assert_eq!(p.server.kiss, Some(KissCode::Rate));
        assert!((p.faults.offset.as_secs_f64() + 2000.0).abs() < 1e-6);
        assert_eq!(p.faults.delay, Duration::from_millis(150));
        assert_eq!(
            p.rate,
            Some((
                RateConfig {
                    interval: Duration::from_secs(2),
                    burst: 4
                },
                RateAction::Drop
            ))
        );
        assert_eq!(p.acl.deny_action, DenyAction::KodRstr);
        assert_eq!(p.query_allow.len(), 3);
    }

    #[test]
    fn unsynchronized_variants() {
        let s = ProfileSpec {
            unsynchronized: Some(Unsync::RefId("xfac".into())),
            ..ProfileSpec::default()
        };
        let (p, listen) = s.build().unwrap();
        assert_eq!(
            (p.server.leap, p.server.stratum, p.server.reference_id),
            (Leap::Unsynchronized, 16, ReferenceId(*b"XFAC"))
        );
        assert_eq!(listen.len(), 2, "default 0.0.0.0:123 and [::]:123");
    }

    #[test]
    fn field_errors() {
        let bad = |s: ProfileSpec, field: &str| {
            let e = s.build().unwrap_err();
            assert_eq!(e.field, field, "{e:?}");
        };
        bad(
            ProfileSpec {
                stratum: Some(0),
                ..Default::default()
            },
            "stratum",
        );
        bad(
            ProfileSpec {
                kod: Some("TOOLONG".into()),
                ..Default::default()
            },
            "kod",
        );
        bad(
            ProfileSpec {
                offset: Some("soon".into()),
                ..Default::default()
            },
            "offset",
        );
        bad(
            ProfileSpec {
                drop: Some(101),
                ..Default::default()
            },
            "drop",
        );
        bad(
            ProfileSpec {
                allow: vec!["10.0.0.0/99".into()],
                ..Default::default()
            },
            "allow",
        );
        bad(
            ProfileSpec {
                rate_limit: Some("2s,0".into()),
                ..Default::default()
            },
            "rate-limit",
        );
        bad(
            ProfileSpec {
                rate_action: Some("kod".into()),
                ..Default::default()
            },
            "rate-action",
        );
        bad(
            ProfileSpec {
                listen: vec!["localhost:123".into()],
                ..Default::default()
            },
            "listen",
        );
        bad(
            ProfileSpec {
                version: Some(9),
                ..Default::default()
            },
            "version",
        );
    }

    #[test]
    fn scenario_errors_have_line_and_field() {
        let text = "[[server]]\nname = \"a\"\nlisten = [\"127.0.0.1:1\"]\n\n[[server]]\nname = \"b\"\nlisten = [\"127.0.0.1:2\"]\ndrop = 150\n";
        let e = parse_scenario("s.toml", text).unwrap_err();
        assert_eq!(e.line, 8, "{e}");
        assert!(
            e.message.contains("field `drop`")
                && e.message.contains("(b)")
                && e.message.contains("0-100"),
            "{e}"
        );
        let e = parse_scenario("s.toml", &text.replace("150", "300")).unwrap_err();
        assert_eq!(e.line, 8, "{e}");
        assert!(
            e.message.contains("field `drop`") && e.message.contains("expected u8"),
            "{e}"
        );
        let e = parse_scenario("s.toml", "[[server]]\nname = \"a\"\nstratom = 2\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown field `stratom`"), "{e}");
        let e = parse_scenario("s.toml", "[[server]]\nstratum = \"two\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected"), "{e}");
        assert!(parse_scenario("s.toml", "").is_err());
        assert!(parse_scenario("s.toml", "not toml at all [").is_err());
    }

    #[test]
    fn signed_durations() {
        assert!((parse_signed_duration("-1h").unwrap().as_secs_f64() + 3600.0).abs() < 1e-6);
        assert!((parse_signed_duration("+150ms").unwrap().as_secs_f64() - 0.15).abs() < 1e-6);
        assert!(parse_signed_duration("-").is_err());
    }
}
