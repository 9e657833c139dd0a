//! NTP daemon configuration files as data: ntpsec/classic `ntp.conf`,
//! `chrony.conf`, and systemd-timesyncd's `timesyncd.conf`.
//!
//! Parsing is pure and total: any text gives a config plus a list of issues
//! (file, line, what is wrong); nothing is rejected wholesale. Include files
//! are not read here — the parsed config lists them and the collector
//! follows them (bounded depth), so parsing stays free of I/O.

use serde::Serialize;

pub use crate::diagnose::node::Daemon;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Server,
    Pool,
    Peer,
    /// A reference clock: ntpd `server 127.127.t.u` or `refclock NAME`,
    /// chrony `refclock DRIVER PARAM`.
    Refclock,
    /// ntpd `manycastclient ADDRESS`: finds servers by multicast.
    Manycastclient,
    /// ntpd `broadcastclient`: takes time from broadcast servers.
    Broadcastclient,
    /// ntpd `multicastclient [ADDRESS]`.
    Multicastclient,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Server => "server",
            SourceKind::Pool => "pool",
            SourceKind::Peer => "peer",
            SourceKind::Refclock => "refclock",
            SourceKind::Manycastclient => "manycastclient",
            SourceKind::Broadcastclient => "broadcastclient",
            SourceKind::Multicastclient => "multicastclient",
        }
    }
}

/// A `server`/`pool`/`peer` line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub kind: SourceKind,
    pub host: String,
    pub options: Vec<String>,
    pub file: String,
    pub line: usize,
}

impl Source {
    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt)
    }

    /// A reference clock (ntpd 127.127.t.u pseudo-addresses), not a network server.
    pub fn is_refclock(&self) -> bool {
        self.kind == SourceKind::Refclock || self.host.starts_with("127.127.")
    }

    /// A unicast server, pool or peer that can be asked directly.
    pub fn is_unicast(&self) -> bool {
        matches!(
            self.kind,
            SourceKind::Server | SourceKind::Pool | SourceKind::Peer
        ) && !self.is_refclock()
    }
}

/// An ntpd `restrict` line, or a chrony `allow`/`deny`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `default`, `-4 default`, an address, a prefix, `source`; chrony: the subnet or `all`.
    pub target: String,
    pub mask: Option<String>,
    pub flags: Vec<String>,
    /// chrony: allow (true) or deny (false); ntpd: false for `restrict`.
    pub allow: bool,
    pub file: String,
    pub line: usize,
}

impl Access {
    pub fn is_default(&self) -> bool {
        self.target == "default" || self.target == "all" || self.target.is_empty()
    }
}

/// Something wrong in a file, with where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// The daemon refuses to start (chronyd on an unknown directive), as
    /// opposed to ignoring the line (ntpd).
    pub fatal: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    pub daemon: Daemon,
    pub files: Vec<String>,
    pub sources: Vec<Source>,
    pub access: Vec<Access>,
    /// Include directives to follow: (path or glob, file, line).
    pub includes: Vec<(String, String, usize)>,
    /// chrony `confdir`/`sourcedir` directories.
    pub dirs: Vec<(String, String, usize)>,
    /// Every `key value…` line, for the rest (driftfile, tos, disable, port,
    /// bindaddress, makestep, …).
    pub directives: Vec<(String, Vec<String>, String, usize)>,
    pub issues: Vec<Issue>,
}

impl Config {
    pub fn new(daemon: Daemon) -> Config {
        Config {
            daemon,
            files: vec![],
            sources: vec![],
            access: vec![],
            includes: vec![],
            dirs: vec![],
            directives: vec![],
            issues: vec![],
        }
    }

    /// The first directive with this keyword.
    pub fn get(&self, key: &str) -> Option<&Vec<String>> {
        self.directives
            .iter()
            .find(|(k, ..)| k == key)
            .map(|(_, v, ..)| v)
    }

    /// Network servers (not reference clocks).
    pub fn network_sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.is_unicast())
    }

    /// What the configuration says about NTS.
    pub fn nts(&self) -> NtsSettings {
        let mut n = NtsSettings::default();
        for src in &self.sources {
            if src.has("nts") {
                n.sources.push(src.host.clone());
            }
            // ntpsec's server options: `ca LOCATION` (this source's CAs
            // only), `noval` (no validation), `nocerttimecheck`.
            if self.daemon == Daemon::Ntpd {
                if let Some(i) = src.options.iter().position(|o| o == "ca")
                    && let Some(loc) = src.options.get(i + 1)
                {
                    n.trusted_certs.push(loc.clone());
                }
                if src.has("noval") {
                    n.no_validation.push(src.host.clone());
                }
                if src.has("nocerttimecheck") {
                    n.no_cert_time_check = Some("until the clock is set".into());
                }
            }
        }
        for (key, args, ..) in &self.directives {
            match (self.daemon, key.as_str()) {
                // chrony: `ntstrustedcerts [set-id] FILE|DIR`: trusted besides
                // the system's (unless `nosystemcert`).
                (Daemon::Chrony, "ntstrustedcerts") => {
                    if let Some(path) = args.last() {
                        n.trusted_certs.push(path.clone());
                    }
                }
                (Daemon::Chrony, "nosystemcert") => n.no_system_certs = true,
                // chrony: the certificates' times are not checked for the
                // first N clock updates.
                (Daemon::Chrony, "nocerttimecheck") => {
                    n.no_cert_time_check = args
                        .first()
                        .map(|v| format!("for the first {v} clock updates"));
                }
                (Daemon::Chrony, "ntsserverkey") => n.server_keys.extend(args.iter().cloned()),
                (Daemon::Chrony, "ntsservercert") => n.server_certs.extend(args.iter().cloned()),
                // ntpsec: `nts [enable|disable] [key F] [cert F] [ca L] …`.
                (Daemon::Ntpd, "nts") => {
                    let mut words = args.iter();
                    while let Some(w) = words.next() {
                        match w.as_str() {
                            "enable" => n.server_enabled = Some(true),
                            "disable" => n.server_enabled = Some(false),
                            "key" => n.server_keys.extend(words.next().cloned()),
                            "cert" => n.server_certs.extend(words.next().cloned()),
                            "ca" => {
                                // Instead of the system's roots.
                                n.trusted_certs.extend(words.next().cloned());
                                n.no_system_certs = true;
                            }
                            "cookie" | "mintls" | "maxtls" | "tlsciphers" | "tlsciphersuites"
                            | "aead" => {
                                words.next();
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        n
    }
}

/// What a configuration says about NTS (RFC 8915), from chrony.conf(5)'s
/// NTS directives and source options and ntpsec's `nts` command and
/// `server … nts` options (docs/includes/nts-commands.adoc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NtsSettings {
    /// Sources that use NTS (the `nts` option of server/pool/peer).
    pub sources: Vec<String>,
    /// Certificates or directories trusted for NTS-KE servers: chrony
    /// `ntstrustedcerts` (besides the system's), ntpsec `nts ca` and a
    /// server's `ca` (instead of them).
    pub trusted_certs: Vec<String>,
    /// The system's trusted certificates are not used (chrony
    /// `nosystemcert`, ntpsec `nts ca`).
    pub no_system_certs: bool,
    /// Certificate times not checked, and for how long (chrony
    /// `nocerttimecheck N`: the first N clock updates).
    pub no_cert_time_check: Option<String>,
    /// Sources whose certificate is not validated at all (ntpsec `noval`).
    pub no_validation: Vec<String>,
    /// This node serves NTS-KE: its key and certificate files (chrony
    /// `ntsserverkey`/`ntsservercert`, ntpsec `nts key`/`nts cert`).
    pub server_keys: Vec<String>,
    pub server_certs: Vec<String>,
    /// ntpsec `nts enable` / `nts disable`.
    pub server_enabled: Option<bool>,
}

impl NtsSettings {
    pub fn is_empty(&self) -> bool {
        *self == NtsSettings::default()
    }
}

/// `server`, `pool` or `peer` (the caller matched one of them).
fn source_kind(key: &str) -> SourceKind {
    match key {
        "server" => SourceKind::Server,
        "pool" => SourceKind::Pool,
        _ => SourceKind::Peer,
    }
}

const NTP_KEYWORDS: &[&str] = &[
    "server",
    "pool",
    "peer",
    "restrict",
    "unrestrict",
    "includefile",
    "driftfile",
    "leapfile",
    "leapsmearinterval",
    "tos",
    "disable",
    "enable",
    "keys",
    "trustedkey",
    "requestkey",
    "controlkey",
    "statistics",
    "statsdir",
    "filegen",
    "logfile",
    "logconfig",
    "interface",
    "nic",
    "broadcast",
    "broadcastclient",
    "multicastclient",
    "manycastclient",
    "manycastserver",
    "fudge",
    "refclock",
    "discard",
    "limit",
    "mru",
    "rlimit",
    "tinker",
    "setvar",
    "ttl",
    "crypto",
    "nts",
    "broadcastdelay",
    "calldelay",
    "phone",
    "trap",
    "automax",
    "revoke",
    "saveconfigdir",
    "pidfile",
    "minsane",
    "orphan",
];

/// Parses ntp.conf text (ntpsec and classic ntpd share this syntax).
impl Config {
    /// The daemon's selection policy as written: ntpd's `tos` options
    /// (ntp_proto.c proto_config(): the last value written wins), chrony's
    /// `minsources` and `maxdistance`.
    pub fn policy(&self) -> crate::diagnose::node::Policy {
        use crate::diagnose::node::{Policy, Setting};
        let mut p = Policy::default();
        for (key, words, file, line) in &self.directives {
            let set = |v: &str, what: &str| -> (String, String, usize) {
                (format!("{key} {what} {v}"), file.clone(), *line)
            };
            let int = |v: &str, what: &str| {
                v.parse::<f64>().ok().map(|n| {
                    let (written, file, line) = set(v, what);
                    Setting {
                        value: n.max(0.0) as u32,
                        written,
                        file,
                        line,
                    }
                })
            };
            let real = |v: &str, what: &str| {
                v.parse::<f64>().ok().map(|n| {
                    let (written, file, line) = set(v, what);
                    Setting {
                        value: n,
                        written,
                        file,
                        line,
                    }
                })
            };
            match (self.daemon, key.as_str()) {
                (Daemon::Ntpd, "tos") => {
                    for pair in words.chunks(2) {
                        let [k, v] = pair else { break };
                        match k.to_ascii_lowercase().as_str() {
                            "minsane" => p.min_sources = int(v, k).or(p.min_sources.take()),
                            "minclock" => p.min_clock = int(v, k).or(p.min_clock.take()),
                            "orphan" => p.orphan = int(v, k).or(p.orphan.take()),
                            "maxdist" => p.max_dist = real(v, k).or(p.max_dist.take()),
                            "mindist" => p.min_dist = real(v, k).or(p.min_dist.take()),
                            _ => {}
                        }
                    }
                }
                (Daemon::Chrony, "minsources") => {
                    if let Some(v) = words.first() {
                        p.min_sources = int(v, "").map(|mut s| {
                            s.written = format!("minsources {v}");
                            s
                        });
                    }
                }
                (Daemon::NtpdRs, "minimum-agreeing-sources") => {
                    if let Some(v) = words.first() {
                        p.min_sources = int(v, "").map(|mut s| {
                            s.written = format!("minimum-agreeing-sources = {v}");
                            s
                        });
                    }
                }
                (Daemon::Chrony, "maxdistance") => {
                    if let Some(v) = words.first() {
                        p.max_dist = real(v, "").map(|mut s| {
                            s.written = format!("maxdistance {v}");
                            s
                        });
                    }
                }
                _ => {}
            }
        }
        if self.daemon == Daemon::NtpdRs && p.min_sources.is_none() {
            p.min_sources = Some(Setting {
                value: 3,
                written: "minimum-agreeing-sources = 3 (ntpd-rs's default)".into(),
                file: self.files.first().cloned().unwrap_or_default(),
                line: 0,
            });
        }
        p
    }

    /// Distinct hosts of unicast server and peer lines, and pool lines.
    pub fn source_counts(&self) -> (usize, usize) {
        let mut hosts: Vec<&str> = self
            .sources
            .iter()
            .filter(|s| matches!(s.kind, SourceKind::Server | SourceKind::Peer))
            .map(|s| s.host.as_str())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        let pools = self
            .sources
            .iter()
            .filter(|s| s.kind == SourceKind::Pool)
            .count();
        (hosts.len(), pools)
    }
}

pub fn parse_ntp(file: &str, text: &str, cfg: &mut Config) {
    cfg.files.push(file.to_string());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.split('#').next().unwrap_or("").trim();
        if t.is_empty() {
            continue;
        }
        let mut words = t.split_whitespace().map(str::to_string);
        let key = words.next().unwrap_or_default().to_lowercase();
        let rest: Vec<String> = words.collect();
        match key.as_str() {
            "server" | "pool" | "peer" => {
                let kind = source_kind(&key);
                let mut it = rest.iter();
                // Address-family flags come before the host.
                let mut host = None;
                let mut options = vec![];
                for w in it.by_ref() {
                    if host.is_none() && (w == "-4" || w == "-6") {
                        options.push(w.clone());
                        continue;
                    }
                    if host.is_none() {
                        host = Some(w.clone());
                    } else {
                        options.push(w.clone());
                    }
                }
                match host {
                    Some(h) => cfg.sources.push(Source {
                        kind: if h.starts_with("127.127.") {
                            SourceKind::Refclock
                        } else {
                            kind
                        },
                        host: h,
                        options,
                        file: file.into(),
                        line,
                    }),
                    None => cfg.issues.push(Issue {
                        file: file.into(),
                        line,
                        message: format!("`{key}` without an address"),
                        fatal: false,
                    }),
                }
            }
            "restrict" | "unrestrict" => {
                if let Err(why) = super::access::ntp_restrict(&rest) {
                    // The daemon ignores the line: so do the node rules.
                    if !rest.is_empty() {
                        cfg.issues.push(Issue {
                            file: file.into(),
                            line,
                            message: format!("`{key} {}`: {why}", rest.join(" ")),
                            fatal: false,
                        });
                        continue;
                    }
                }
                let mut rest = rest.clone();
                // The address family flag applies to `default`; the target is what follows.
                if rest.first().is_some_and(|w| w == "-4" || w == "-6") {
                    rest.remove(0);
                }
                if rest.is_empty() {
                    cfg.issues.push(Issue {
                        file: file.into(),
                        line,
                        message: format!("`{key}` without an address"),
                        fatal: false,
                    });
                    continue;
                }
                let target = rest.remove(0);
                let mut mask = None;
                if rest.first().is_some_and(|w| w == "mask") {
                    rest.remove(0);
                    if !rest.is_empty() {
                        mask = Some(rest.remove(0));
                    }
                }
                let flags = if key == "unrestrict" { vec![] } else { rest };
                cfg.access.push(Access {
                    target,
                    mask,
                    flags,
                    allow: false,
                    file: file.into(),
                    line,
                });
            }
            "includefile" => match rest.first() {
                Some(p) => cfg.includes.push((p.clone(), file.into(), line)),
                None => cfg.issues.push(Issue {
                    file: file.into(),
                    line,
                    message: "`includefile` without a path".into(),
                    fatal: false,
                }),
            },
            "refclock" | "manycastclient" | "broadcastclient" | "multicastclient" => {
                let kind = match key.as_str() {
                    "refclock" => SourceKind::Refclock,
                    "manycastclient" => SourceKind::Manycastclient,
                    "broadcastclient" => SourceKind::Broadcastclient,
                    _ => SourceKind::Multicastclient,
                };
                // broadcastclient takes no address (`novolley` is an option).
                let (host, options) = match (kind, rest.split_first()) {
                    (SourceKind::Broadcastclient, _) => (String::new(), rest.clone()),
                    (_, Some((h, o))) if !h.starts_with('-') => (h.clone(), o.to_vec()),
                    (SourceKind::Multicastclient, _) => ("224.0.1.1".into(), rest.clone()),
                    _ => {
                        cfg.issues.push(Issue {
                            file: file.into(),
                            line,
                            message: format!("`{key}` without an address"),
                            fatal: false,
                        });
                        continue;
                    }
                };
                cfg.sources.push(Source {
                    kind,
                    host,
                    options,
                    file: file.into(),
                    line,
                });
                cfg.directives.push((key.clone(), rest, file.into(), line));
            }
            k if NTP_KEYWORDS.contains(&k) => {
                cfg.directives
                    .push((k.to_string(), rest, file.into(), line))
            }
            k => cfg.issues.push(Issue {
                file: file.into(),
                line,
                message: format!(
                    "unknown directive `{k}` (ntpd ignores the line with a syntax error)"
                ),
                fatal: false,
            }),
        }
    }
}

/// chrony's directives: the `strcasecmp` chain of `CNF_ParseLine()` in
/// chrony's conf.c (4.3, the Debian 12 build, and later releases, which add
/// `hwtstimeout`, `leapseclist`, `ntsaeads`, `opencommands`, `ptpdomain` and
/// `refresh`); tests/chrony_directives.rs checks it against chronyd -p.
/// Anything else makes chronyd exit with "Invalid directive".
pub const CHRONY_KEYWORDS: &[&str] = &[
    "acquisitionport",
    "allow",
    "authselectmode",
    "bindacqaddress",
    "bindacqdevice",
    "bindaddress",
    "bindcmdaddress",
    "bindcmddevice",
    "binddevice",
    "broadcast",
    "clientloglimit",
    "clockprecision",
    "cmdallow",
    "cmddeny",
    "cmdport",
    "cmdratelimit",
    "combinelimit",
    "confdir",
    "corrtimeratio",
    "deny",
    "driftfile",
    "dscp",
    "dumpdir",
    "dumponexit",
    "fallbackdrift",
    "hwclockfile",
    "hwtimestamp",
    "hwtstimeout",
    "include",
    "initstepslew",
    "keyfile",
    "leapsecmode",
    "leapsectz",
    "leapseclist",
    "local",
    "lock_all",
    "log",
    "logbanner",
    "logchange",
    "logdir",
    "mailonchange",
    "makestep",
    "manual",
    "maxchange",
    "maxclockerror",
    "maxdistance",
    "maxdrift",
    "maxjitter",
    "maxntsconnections",
    "maxsamples",
    "maxslewrate",
    "maxupdateskew",
    "minsamples",
    "minsources",
    "nocerttimecheck",
    "noclientlog",
    "nosystemcert",
    "ntpsigndsocket",
    "ntsaeads",
    "ntsratelimit",
    "ntscachedir",
    "ntsdumpdir",
    "ntsntpserver",
    "ntsport",
    "ntsprocesses",
    "ntsrefresh",
    "ntsrotate",
    "ntsservercert",
    "ntsserverkey",
    "ntstrustedcerts",
    "opencommands",
    "peer",
    "pidfile",
    "pool",
    "port",
    "ptpdomain",
    "ptpport",
    "ratelimit",
    "refclock",
    "refresh",
    "reselectdist",
    "rtcautotrim",
    "rtcdevice",
    "rtcfile",
    "rtconutc",
    "rtcsync",
    "sched_priority",
    "server",
    "smoothtime",
    "sourcedir",
    "stratumweight",
    "tempcomp",
    "user",
];

/// Directives chronyd still reads but ignores with a warning ("… directive
/// is no longer supported").
pub const CHRONY_RETIRED: &[&str] = &[
    "commandkey",
    "generatecommandkey",
    "linux_freq_scale",
    "linux_hz",
];

/// Parses chrony.conf text. chronyd refuses to start on an unknown directive.
pub fn parse_chrony(file: &str, text: &str, cfg: &mut Config) {
    cfg.files.push(file.to_string());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with(['#', '!', ';', '%']) {
            continue;
        }
        let mut words = t.split_whitespace().map(str::to_string);
        let key = words.next().unwrap_or_default().to_lowercase();
        let rest: Vec<String> = words.collect();
        match key.as_str() {
            "server" | "pool" | "peer" => {
                let kind = source_kind(&key);
                match rest.split_first() {
                    Some((h, opts)) => cfg.sources.push(Source {
                        kind,
                        host: h.clone(),
                        options: opts.to_vec(),
                        file: file.into(),
                        line,
                    }),
                    None => cfg.issues.push(Issue {
                        file: file.into(),
                        line,
                        message: format!("`{key}` without an address"),
                        fatal: true,
                    }),
                }
            }
            "refclock" => match rest.split_first() {
                Some((driver, more)) => {
                    let (param, opts) = more
                        .split_first()
                        .map_or((None, more), |(p, o)| (Some(p), o));
                    cfg.sources.push(Source {
                        kind: SourceKind::Refclock,
                        host: match param {
                            Some(p) => format!("{driver} {p}"),
                            None => driver.clone(),
                        },
                        options: opts.to_vec(),
                        file: file.into(),
                        line,
                    });
                    cfg.directives
                        .push((key.clone(), rest.clone(), file.into(), line));
                }
                None => cfg.issues.push(Issue {
                    file: file.into(),
                    line,
                    message: "`refclock` without a driver".into(),
                    fatal: true,
                }),
            },
            "allow" | "deny" if super::access::chrony_allow(&rest).is_err() => {
                cfg.issues.push(Issue {
                    file: file.into(),
                    line,
                    message: format!(
                        "`{key} {}`: {}",
                        rest.join(" "),
                        super::access::chrony_allow(&rest).unwrap_err()
                    ),
                    fatal: true,
                })
            }
            "allow" | "deny" => cfg.access.push(Access {
                target: rest
                    .iter()
                    .find(|w| *w != "all")
                    .cloned()
                    .unwrap_or_else(|| "all".into()),
                mask: None,
                flags: rest.clone(),
                allow: key == "allow",
                file: file.into(),
                line,
            }),
            "include" => match rest.first() {
                Some(p) => cfg.includes.push((p.clone(), file.into(), line)),
                None => cfg.issues.push(Issue {
                    file: file.into(),
                    line,
                    message: "`include` without a path".into(),
                    fatal: true,
                }),
            },
            "confdir" | "sourcedir" => {
                for d in &rest {
                    cfg.dirs.push((d.clone(), file.into(), line));
                }
                cfg.directives.push((key, rest, file.into(), line));
            }
            k if CHRONY_KEYWORDS.contains(&k) => {
                cfg.directives
                    .push((k.to_string(), rest, file.into(), line))
            }
            k if CHRONY_RETIRED.contains(&k) => cfg.issues.push(Issue {
                file: file.into(),
                line,
                message: format!(
                    "`{k}` is no longer supported: chronyd warns and ignores the line"
                ),
                fatal: false,
            }),
            k => cfg.issues.push(Issue {
                file: file.into(),
                line,
                message: format!(
                    "unknown directive `{k}`: chronyd exits with \"Invalid directive\""
                ),
                fatal: true,
            }),
        }
    }
}

/// Parses systemd-timesyncd's `[Time]` section (`NTP=`, `FallbackNTP=`).
///
/// systemd ships its configuration files with every default written out as
/// a comment, from the same build (`#FallbackNTP=0.debian.pool.ntp.org …`
/// on Debian, the `-Dntp-servers=` of its meson build): when no `NTP=` or
/// `FallbackNTP=` is set anywhere, those built-in fallback servers are the
/// ones timesyncd uses, and they are read as such (`fallback built-in`).
pub fn parse_timesyncd(file: &str, text: &str, cfg: &mut Config) {
    cfg.files.push(file.to_string());
    let mut built_in: Vec<(String, usize)> = vec![];
    // An active NTP= or FallbackNTP= (an empty one clears the list).
    let mut set = false;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if let Some(v) = t.strip_prefix("#FallbackNTP=") {
            built_in.extend(v.split_whitespace().map(|h| (h.to_string(), i + 1)));
            continue;
        }
        if t.starts_with(['#', ';']) || t.is_empty() || t.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            let k = k.trim();
            if k == "NTP" || k == "FallbackNTP" {
                set = true;
                for h in v.split_whitespace() {
                    cfg.sources.push(Source {
                        kind: SourceKind::Server,
                        host: h.to_string(),
                        options: if k == "FallbackNTP" {
                            vec!["fallback".into()]
                        } else {
                            vec![]
                        },
                        file: file.into(),
                        line: i + 1,
                    });
                }
            } else {
                if !TIMESYNCD_KEYS.contains(&k) {
                    // systemd logs "Unknown key name" and goes on.
                    cfg.issues.push(Issue {
                        file: file.into(),
                        line: i + 1,
                        message: format!(
                            "unknown key `{k}` (systemd-timesyncd ignores it with a warning)"
                        ),
                        fatal: false,
                    });
                }
                cfg.directives.push((
                    k.to_string(),
                    vec![v.trim().to_string()],
                    file.into(),
                    i + 1,
                ));
            }
        }
    }
    if !set && cfg.sources.is_empty() {
        for (h, line) in built_in {
            cfg.sources.push(Source {
                kind: SourceKind::Server,
                host: h,
                options: vec!["fallback".into(), "built-in".into()],
                file: file.into(),
                line,
            });
        }
    }
}

/// Parses OpenNTPD's `ntpd.conf` (parse.y of OpenBSD's usr.sbin/ntpd,
/// 6.x): `server ADDR`, `servers NAME` (every address the name resolves
/// to: a pool), `sensor DEVICE` (a reference clock), each with `weight N`,
/// `rtable N`, `trusted` (sensors also `correction N`, `refid S`,
/// `stratum N`); `constraint from URL` (or `{ URL … }`), `constraints
/// from URL` (every address); `listen on ADDR`, `query from ADDR`. Any
/// other line is a syntax error, and ntpd does not start.
pub fn parse_openntpd(file: &str, text: &str, cfg: &mut Config) {
    cfg.files.push(file.to_string());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let words = openntpd_words(raw);
        let Some((key, rest)) = words.split_first() else {
            continue;
        };
        let issue = |cfg: &mut Config, message: String| {
            cfg.issues.push(Issue {
                file: file.into(),
                line,
                message,
                fatal: true,
            })
        };
        let opts_ok = |opts: &[String], with_arg: &[&str], flags: &[&str]| {
            let mut it = opts.iter();
            while let Some(o) = it.next() {
                if with_arg.contains(&o.as_str()) {
                    if it.next().is_none() {
                        return Err(format!("`{o}` without a value"));
                    }
                } else if !flags.contains(&o.as_str()) {
                    return Err(format!("unknown option `{o}`"));
                }
            }
            Ok(())
        };
        match key.as_str() {
            "server" | "servers" | "sensor" => {
                let Some((h, opts)) = rest.split_first() else {
                    issue(cfg, format!("syntax error: `{key}` without an address"));
                    continue;
                };
                let with_arg: &[&str] = if key == "sensor" {
                    &["correction", "refid", "stratum", "weight"]
                } else {
                    &["weight", "rtable"]
                };
                if let Err(m) = opts_ok(opts, with_arg, &["trusted"]) {
                    issue(cfg, format!("syntax error: {m}"));
                    continue;
                }
                cfg.sources.push(Source {
                    kind: match key.as_str() {
                        "server" => SourceKind::Server,
                        "servers" => SourceKind::Pool,
                        _ => SourceKind::Refclock,
                    },
                    host: h.clone(),
                    options: opts.to_vec(),
                    file: file.into(),
                    line,
                });
            }
            "constraint" | "constraints" | "listen" | "query" => {
                let want = if matches!(key.as_str(), "listen") {
                    "on"
                } else {
                    "from"
                };
                if rest.first().map(String::as_str) != Some(want) || rest.len() < 2 {
                    issue(cfg, format!("syntax error: `{key} {want} …` expected"));
                    continue;
                }
                let args: Vec<String> = rest[1..]
                    .iter()
                    .filter(|w| *w != "{" && *w != "}")
                    .cloned()
                    .collect();
                cfg.directives
                    .push((key.clone(), args, file.to_string(), line));
            }
            _ => issue(
                cfg,
                format!("syntax error: unknown keyword `{key}` (OpenNTPD does not start)"),
            ),
        }
    }
}

/// One ntpd.conf line as parse.y's lexer cuts it: words, "quoted strings"
/// as one, `#` to the end of the line a comment outside quotes, `{`/`}`
/// words of their own.
fn openntpd_words(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => break,
            '{' | '}' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses ntpd-rs's `ntp.toml` (ntpd's daemon/config: every table denies
/// unknown fields, so a bad file keeps ntp-daemon from starting): each
/// `[[source]]` with its `mode` (`server`, `pool` with `count`, `nts`,
/// `sock`, `pps`) and `address`/`path`; `[synchronization]`'s keys
/// (`minimum-agreeing-sources`, default 3; the step and panic thresholds)
/// as directives; `[observability]`'s `observation-path`.
pub fn parse_ntpd_rs(file: &str, text: &str, cfg: &mut Config) {
    cfg.files.push(file.to_string());
    let issue = |cfg: &mut Config, message: String| {
        cfg.issues.push(Issue {
            file: file.into(),
            line: 0,
            message,
            fatal: true,
        })
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            issue(cfg, format!("not valid TOML: {}", e.message()));
            return;
        }
    };
    // The line a value's key is written on (for the report): the first
    // line holding `key`, after `from`.
    let line_of = |needle: &str, from: usize| -> usize {
        text.lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.trim_start().starts_with(needle))
            .map_or(0, |(i, _)| i + 1)
    };
    let mut at = 0;
    for (k, v) in &table {
        match (k.as_str(), v) {
            ("source", toml::Value::Array(a)) => {
                for s in a {
                    at = line_of("[[source]]", at);
                    let Some(t) = s.as_table() else { continue };
                    let mode = t.get("mode").and_then(|m| m.as_str()).unwrap_or("");
                    let addr = t
                        .get("address")
                        .or_else(|| t.get("path"))
                        .and_then(|m| m.as_str())
                        .unwrap_or("")
                        .to_string();
                    let kind = match mode {
                        "server" | "nts" => SourceKind::Server,
                        "pool" => SourceKind::Pool,
                        "sock" | "pps" => SourceKind::Refclock,
                        other => {
                            issue(
                                cfg,
                                format!("source mode `{other}` is not one ntpd-rs knows"),
                            );
                            continue;
                        }
                    };
                    let mut options = vec![];
                    if mode == "nts" {
                        options.push("nts".to_string());
                    }
                    if let Some(c) = t.get("count").and_then(|c| c.as_integer()) {
                        options.push(format!("count={c}"));
                    }
                    cfg.sources.push(Source {
                        kind,
                        host: addr,
                        options,
                        file: file.into(),
                        line: at,
                    });
                }
            }
            (
                "synchronization" | "observability" | "server" | "nts-ke-server" | "keyset"
                | "clock",
                _,
            ) => {
                if let Some(t) = v.as_table() {
                    for (kk, vv) in t {
                        let val = match vv {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        cfg.directives.push((
                            kk.clone(),
                            vec![val],
                            file.to_string(),
                            line_of(kk, 0),
                        ));
                    }
                }
            }
            _ => issue(
                cfg,
                format!(
                    "unknown key `{k}` (ntp-daemon refuses the file: unknown fields are denied)"
                ),
            ),
        }
    }
}

/// timesyncd.conf(5)'s `[Time]` keys.
const TIMESYNCD_KEYS: &[&str] = &[
    "RootDistanceMaxSec",
    "PollIntervalMinSec",
    "PollIntervalMaxSec",
    "ConnectionRetrySec",
    "SaveIntervalSec",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The controller's config from the seed case (OpenStack install guide).
    const SEED_CONTROLLER: &str = "driftfile /var/lib/ntp/drift\n#restrict default nomodify notrap nopeer noquery\nrestrict -4 default kod notrap nomodify\nrestrict -6 default kod notrap nomodify\nrestrict 127.0.0.1\nrestrict ::1\nserver 0.centos.pool.ntp.org iburst\nserver 1.centos.pool.ntp.org iburst\nincludefile /etc/ntp/crypto/pw\nkeys /etc/ntp/keys\ndisable monitor\n";

    #[test]
    fn seed_controller_config() {
        let mut c = Config::new(Daemon::Ntpd);
        parse_ntp("/etc/ntp.conf", SEED_CONTROLLER, &mut c);
        assert_eq!(c.sources.len(), 2);
        assert!(c.sources[0].has("iburst"));
        assert_eq!(c.access.len(), 4);
        assert_eq!(c.access[0].target, "default");
        assert_eq!(c.access[0].flags, vec!["kod", "notrap", "nomodify"]);
        assert_eq!(
            c.includes,
            vec![("/etc/ntp/crypto/pw".into(), "/etc/ntp.conf".into(), 9)]
        );
        assert_eq!(c.get("disable"), Some(&vec!["monitor".to_string()]));
        assert!(c.issues.is_empty());
    }

    /// ntpd's `tos` options as proto_config() takes them (the last value
    /// written wins), chrony's minsources/maxdistance, and the engine's
    /// rules with them applied.
    #[test]
    fn selection_policy_is_read_and_applied() {
        let mut c = Config::new(Daemon::Ntpd);
        parse_ntp(
            "/etc/ntpsec/ntp.conf",
            "tos maxclock 11\ntos minclock 4 minsane 3\ntos orphan 5 orphanwait 1 mindist 0.02\ntos minsane 2\npool a iburst\nserver b\nserver b\npeer c\n",
            &mut c,
        );
        let p = c.policy();
        assert_eq!(
            p.min_sources.as_ref().map(|s| (s.value, s.line)),
            Some((2, 4))
        );
        assert_eq!(p.min_sources.as_ref().unwrap().written, "tos minsane 2");
        assert_eq!(p.min_clock.as_ref().map(|s| s.value), Some(4));
        assert_eq!(p.orphan.as_ref().map(|s| s.value), Some(5));
        assert_eq!(p.min_dist.as_ref().map(|s| s.value), Some(0.02));
        assert_eq!(c.source_counts(), (2, 1));
        let mut rules = crate::engine::client::Rules::of(crate::engine::client::Profile::Ntpd);
        p.apply(&mut rules);
        assert_eq!((rules.minsane, rules.minclock, rules.mindist), (2, 4, 0.02));
        let mut c = Config::new(Daemon::Chrony);
        parse_chrony("c", "minsources 2\nmaxdistance 1.5\n", &mut c);
        let p = c.policy();
        assert_eq!(
            p.min_sources.map(|s| (s.value, s.written)),
            Some((2, "minsources 2".into()))
        );
        assert_eq!(p.max_dist.map(|s| s.value), Some(1.5));
    }

    #[test]
    fn ntp_odd_lines() {
        let mut c = Config::new(Daemon::Ntpd);
        parse_ntp(
            "f",
            "server\nrestrict\nbogus thing\nserver -4 controller iburst # comment\nrestrict 10.0.0.0 mask 255.0.0.0 ignore\n\u{0}\u{1}",
            &mut c,
        );
        assert_eq!(c.issues.len(), 4, "{:?}", c.issues);
        assert_eq!(c.sources[0].host, "controller");
        assert_eq!(c.access[0].mask.as_deref(), Some("255.0.0.0"));
        assert_eq!(c.access[0].flags, vec!["ignore"]);
    }

    #[test]
    fn chrony_config() {
        let mut c = Config::new(Daemon::Chrony);
        parse_chrony(
            "/etc/chrony/chrony.conf",
            "pool 2.debian.pool.ntp.org iburst\nserver controller iburst\nallow 198.51.100.0/24\ndeny all\nconfdir /etc/chrony/conf.d\nmakestep 1 3\nsurely_wrong 1\n! comment\n",
            &mut c,
        );
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.access.len(), 2);
        assert!(c.access[0].allow && !c.access[1].allow);
        assert_eq!(c.dirs.len(), 1);
        assert_eq!(
            c.get("makestep"),
            Some(&vec!["1".to_string(), "3".to_string()])
        );
        assert_eq!(c.issues.len(), 1);
        assert!(c.issues[0].fatal && c.issues[0].line == 7);
    }

    #[test]
    fn timesyncd_config() {
        let mut c = Config::new(Daemon::Timesyncd);
        parse_timesyncd(
            "t",
            "[Time]\nNTP=controller 198.51.100.1\n#FallbackNTP=x\nFallbackNTP=0.debian.pool.ntp.org\n",
            &mut c,
        );
        assert_eq!(c.sources.len(), 3);
        assert!(c.sources[2].has("fallback"));
    }

    /// chrony.conf(5)'s NTS client and server directives.
    #[test]
    fn chrony_nts_settings() {
        let mut c = Config::new(Daemon::Chrony);
        parse_chrony(
            "chrony.conf",
            "server ntp.test iburst nts\npool pool.example iburst\nntstrustedcerts 1 /etc/chrony/ca.pem\nnocerttimecheck 1\nnosystemcert\nntsserverkey /k.pem\nntsservercert /c.pem\n",
            &mut c,
        );
        let n = c.nts();
        assert_eq!(n.sources, vec!["ntp.test"]);
        assert_eq!(n.trusted_certs, vec!["/etc/chrony/ca.pem"]);
        assert!(n.no_system_certs);
        assert_eq!(
            n.no_cert_time_check.as_deref(),
            Some("for the first 1 clock updates")
        );
        assert_eq!(
            (n.server_keys, n.server_certs),
            (vec!["/k.pem".to_string()], vec!["/c.pem".to_string()])
        );
        assert!(c.issues.is_empty(), "{:?}", c.issues);
    }

    /// ntpsec's `nts` command and server options (nts-commands.adoc).
    #[test]
    fn ntpsec_nts_settings() {
        let mut c = Config::new(Daemon::Ntpd);
        parse_ntp(
            "ntp.conf",
            "nts key /etc/ntpsec/key.pem cert /etc/ntpsec/cert.pem\nnts enable mintls TLS1.3\nserver time.example nts ca /etc/ntpsec/ca noval\nserver plain.example iburst\n",
            &mut c,
        );
        let n = c.nts();
        assert_eq!(n.sources, vec!["time.example"]);
        assert_eq!(n.server_enabled, Some(true));
        assert_eq!(n.server_keys, vec!["/etc/ntpsec/key.pem"]);
        assert_eq!(n.server_certs, vec!["/etc/ntpsec/cert.pem"]);
        assert_eq!(n.trusted_certs, vec!["/etc/ntpsec/ca"]);
        assert_eq!(n.no_validation, vec!["time.example"]);
        let mut plain = Config::new(Daemon::Ntpd);
        parse_ntp("ntp.conf", "server a.example iburst\n", &mut plain);
        assert!(plain.nts().is_empty());
    }
}

#[cfg(test)]
mod any_text {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text, alone or after a line each grammar knows, parses
        /// without a panic as OpenNTPD's ntpd.conf and ntpd-rs's ntp.toml.
        #[test]
        fn openntpd_and_ntpd_rs_configs_take_any_text(
            body in "\\PC{0,80}",
            head in prop_oneof![
                Just(""),
                Just("servers "),
                Just("sensor * "),
                Just("constraint from { \""),
                Just("[[source]]\nmode = \"pool\"\naddress = "),
                Just("[synchronization]\nminimum-agreeing-sources = "),
            ],
        ) {
            let text = format!("{head}{body}\n");
            let mut o = Config::new(Daemon::Openntpd);
            parse_openntpd("f", &text, &mut o);
            let mut r = Config::new(Daemon::NtpdRs);
            parse_ntpd_rs("f", &text, &mut r);
            let _ = (o.policy(), r.policy());
        }
    }

    #[test]
    fn openntpd_grammar() {
        let mut c = Config::new(Daemon::Openntpd);
        parse_openntpd(
            "f",
            "servers pool.example.org weight 2 # comment\nserver 198.51.100.1 trusted\nsensor nmea0 correction 70000 refid GPS\nconstraints from \"https://www.example.org/\"\nlisten on *\nbogus line\nserver x weight\n",
            &mut c,
        );
        assert_eq!(c.sources.len(), 3);
        assert_eq!(c.sources[0].kind, SourceKind::Pool);
        assert_eq!(c.sources[2].kind, SourceKind::Refclock);
        assert_eq!(
            c.get("constraints"),
            Some(&vec!["https://www.example.org/".to_string()])
        );
        assert_eq!(c.issues.len(), 2, "{:?}", c.issues);
        assert!(c.issues.iter().all(|i| i.fatal));
    }

    #[test]
    fn ntpd_rs_default_policy_is_three() {
        let mut c = Config::new(Daemon::NtpdRs);
        parse_ntpd_rs(
            "f",
            "[[source]]\nmode = \"server\"\naddress = \"a\"\n",
            &mut c,
        );
        assert_eq!(c.policy().min_sources.map(|s| s.value), Some(3));
        let mut c = Config::new(Daemon::NtpdRs);
        parse_ntpd_rs(
            "f",
            "[synchronization]\nminimum-agreeing-sources = 1\n[bogus]\n",
            &mut c,
        );
        assert_eq!(c.policy().min_sources.map(|s| s.value), Some(1));
        assert_eq!(c.issues.len(), 1);
    }
}
