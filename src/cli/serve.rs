//! `ntpdiag serve`: a real NTP server on this host's clock, healthy, or
//! broken on purpose in the ways clients meet.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;

use std::net::SocketAddr;

use crate::engine::local::LocalErrorKind;
use crate::engine::nts::{NtsFault, NtsServer};
use crate::engine::profile::Counters;
use crate::net::nts::server as nts_server;
use crate::net::{clock, serve};
use crate::scenario::{ProfileSpec, Unsync, parse_scenario};

const SERVE_HELP: &str = "\
Answers NTP requests from this host's clock: mode 3 (client) with mode 4, mode
1 (symmetric active) statelessly with mode 2 (--symmetric ignore drops them),
versions 1-4, IPv4 and IPv6. A reply is 48 octets and goes only to requests of
at least 48 octets: no amplification. Mode 6 (ntpq) gets a read-only view of
the server's variables (ntpq -c rv, -c peers, -c assoc), but only from
loopback and --query-allow prefixes; mode 7 is never answered. Replies leave
from the address the request was sent to.

Fault profiles, and what a client sees:
  --unsynchronized[=INIT|XFAC]  leap 3, stratum 16, that refid: ntpq shows
                                the refid and st 16, ntpdig \"stratum too high\",
                                ntpdiag upstream-unsynchronized
  --stratum N, --refid ID, --leap N   announce these
  --kod CODE        every reply is a Kiss-o'-Death (leap 3, stratum 0, refid
                    CODE): ntpdig \"probable KOD\", ntpdiag kod-<code>
  --silent          read and drop everything: ntpq reach 0, ntpdiag no-reply
  --offset DURATION serve a shifted clock (negative too): beyond 1000 s ntpd
                    refuses to step without -g, ntpdiag offset-over-panic
  --delay DURATION  hold each reply: large delays and distances
  --drop PERCENT    drop requests at random: partial reach
  --bogus-origin    a wrong origin timestamp: clients discard the reply
                    (ntpdiag bogus-reply)
  --reply-from ADDR answer from another local address: clients with connected
                    sockets never see it (ntpdiag reply-from-other-address)
  --version N       answer with version N (0-7; 0 and 5-7 are invalid)

Access control, like ntpd's restrict and chrony's allow/deny: --allow and
--deny take prefixes (repeatable; the most specific match decides; with an
allow list, everything else is denied); --deny-action ignore (default),
kod-deny or kod-rstr. --rate-limit INTERVAL[,BURST] gives each client a token
bucket (BURST requests back to back, one more per INTERVAL); over the limit it
gets a KoD RATE (at most one per INTERVAL) or, with --rate-action drop,
nothing. The per-client table is fixed at 16384 entries (512 KiB) per socket
(--threads sockets per address; the kernel steers each client address to one
of them); a flood from many sources churns it without growing it.

NTS (RFC 8915) with --nts: NTS-KE on TCP 4460 of each listening address
(--nts-listen to choose), TLS 1.3 with ALPN ntske/1, eight cookies per key
exchange (AEAD_AES_SIV_CMAC_256), a Port Negotiation record when NTP is not on
123; requests with NTS extension fields get authenticated replies with fresh
cookies, never larger than the request. The certificate is generated for
--nts-name (a CA issues it; --nts-ca-out writes the CA for clients:
`ntstrustedcerts` in chrony, `probe --nts-ca`), valid around the served clock
(with --offset, the shifted one), or given with --nts-cert/--nts-key.
--nts-fault, and what a client sees:
  expired, not-yet-valid  the certificate's dates: nts-certificate-expired,
                    nts-certificate-not-yet-valid (with --offset instead, the
                    certificate is right and the client's clock is not:
                    local-clock-wrong)
  self-signed       not issued by the CA: nts-certificate-untrusted
  no-alpn, tls12    no ALPN ntske/1, or TLS 1.2 only: nts-tls-failed
  ke-error[=CODE]   an Error record (default 2): nts-ke-error
  no-cookies        a key exchange without cookies: nts-no-cookies
  ntsn              every NTS request answered with the kiss NTSN (chrony
                    counts NAKs): kod-ntsn
  drop-nts          NTS requests dropped, plain ones answered:
                    nts-packets-dropped
  plain-replies     NTS requests answered as plain ones, without NTS:
                    nts-reply-not-authentic

--scenario FILE starts several servers at once, each a [[server]] table with
the same settings (names in kebab-case: listen, stratum, refid, leap,
unsynchronized, kod, silent, offset, delay, drop, bogus-origin, reply-from,
version, allow, deny, deny-action, rate-limit, rate-action, query-allow,
symmetric, name); examples in fixtures/scenarios/.";

const SERVE_EXIT: &str = "\
Exit status:
  0  stopped by SIGINT/SIGTERM
  1  error: could not bind or serve (the message says why and how to fix it)
  2  usage: bad command line or scenario file";

/// Runs an NTP server on this host's clock: healthy, or broken on purpose.
#[derive(Args, Debug, Clone, Default)]
#[command(long_about = SERVE_HELP, after_help = SERVE_EXIT)]
pub struct ServeArgs {
    /// Address to listen on (repeatable): ADDR:PORT or [IPv6]:PORT. Default 0.0.0.0:123 and [::]:123.
    #[arg(short, long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Several servers from a TOML file (see fixtures/scenarios/); excludes the profile flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["listen", "stratum", "refid", "leap", "unsynchronized", "kod", "silent", "offset", "root_dispersion", "root_delay", "delay", "drop", "bogus_origin", "reply_from", "ntp_version", "allow", "deny", "rate_limit"])]
    pub scenario: Option<std::path::PathBuf>,

    /// Stratum to announce (1-16).
    #[arg(long)]
    pub stratum: Option<u8>,

    /// Reference id: 1-4 ASCII characters or an IPv4 address (default LOCL).
    #[arg(long)]
    pub refid: Option<String>,

    /// Leap indicator to announce (0-3).
    #[arg(long)]
    pub leap: Option<u8>,

    /// Answer as an unsynchronized server: leap 3, stratum 16, refid INIT (or the one given, e.g. XFAC).
    #[arg(long, value_name = "REFID", num_args = 0..=1, default_missing_value = "INIT", require_equals = true)]
    pub unsynchronized: Option<String>,

    /// Answer every request with this Kiss-o'-Death code (RATE, DENY, RSTR, ...).
    #[arg(long, value_name = "CODE")]
    pub kod: Option<String>,

    /// Read and drop everything.
    #[arg(long)]
    pub silent: bool,

    /// Serve a clock shifted by DURATION (e.g. 2000s, -1h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub offset: Option<String>,

    /// Announce this root dispersion (e.g. 2s): a server whose own
    /// synchronization is poor.
    #[arg(long, value_name = "DURATION")]
    pub root_dispersion: Option<String>,

    /// Announce this root delay.
    #[arg(long, value_name = "DURATION")]
    pub root_delay: Option<String>,

    /// Hold each reply for DURATION (at most 60s).
    #[arg(long, value_name = "DURATION")]
    pub delay: Option<String>,

    /// Drop this percentage of requests at random.
    #[arg(long, value_name = "PERCENT")]
    pub drop: Option<u8>,

    /// Put a wrong origin timestamp in every reply.
    #[arg(long)]
    pub bogus_origin: bool,

    /// Send replies from this local address.
    #[arg(long, value_name = "ADDR")]
    pub reply_from: Option<String>,

    /// Answer with this NTP version number (0-7).
    #[arg(long = "version", id = "ntp_version", value_name = "N")]
    pub ntp_version: Option<u8>,

    /// Serve only these prefixes (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,

    /// Refuse these prefixes (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub deny: Vec<String>,

    /// What denied sources get: ignore, kod-deny, kod-rstr.
    #[arg(long, value_name = "ACTION")]
    pub deny_action: Option<String>,

    /// Per-client rate limit: INTERVAL[,BURST] (e.g. 2s,4).
    #[arg(long, value_name = "INTERVAL[,BURST]")]
    pub rate_limit: Option<String>,

    /// What over-limit clients get: kod (KoD RATE) or drop.
    #[arg(long, value_name = "ACTION", requires = "rate_limit")]
    pub rate_action: Option<String>,

    /// Also answer mode 6 (ntpq) queries from these prefixes (loopback always).
    #[arg(long, value_name = "CIDR")]
    pub query_allow: Vec<String>,

    /// Mode 1 (symmetric active) requests: answer (as mode 2) or ignore.
    #[arg(long, value_name = "POLICY")]
    pub symmetric: Option<String>,

    /// Sockets and threads per address (SO_REUSEPORT); 0 = one per core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Drop root privileges to this user once the sockets are bound.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Serve NTS (RFC 8915) too: NTS-KE (TLS 1.3, ALPN ntske/1) on TCP 4460 of each listening
    /// address, and NTS-protected replies to requests that carry NTS extension fields.
    #[arg(long, conflicts_with = "scenario")]
    pub nts: bool,

    /// Where NTS-KE listens (repeatable): ADDR:PORT. Default: each --listen address, port 4460.
    #[arg(long, value_name = "ADDR", requires = "nts")]
    pub nts_listen: Vec<String>,

    /// The name (DNS name or IP address) of the certificate generated for NTS-KE. Default: the
    /// first listening address.
    #[arg(long, value_name = "NAME", requires = "nts")]
    pub nts_name: Option<String>,

    /// Present this certificate chain (PEM) instead of a generated one; needs --nts-key.
    #[arg(long, value_name = "FILE", requires_all = ["nts", "nts_key"])]
    pub nts_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --nts-cert.
    #[arg(long, value_name = "FILE", requires = "nts_cert")]
    pub nts_key: Option<std::path::PathBuf>,

    /// Write the generated certificate's issuing CA (PEM) here, for clients to trust
    /// (chrony ntstrustedcerts, ntpdiag probe --nts-ca).
    #[arg(long, value_name = "FILE", requires = "nts")]
    pub nts_ca_out: Option<std::path::PathBuf>,

    /// Break NTS on purpose (repeatable): expired, not-yet-valid, self-signed (certificate);
    /// no-alpn, tls12 (TLS); ke-error[=CODE], no-cookies (key exchange); ntsn, drop-nts,
    /// plain-replies (NTP).
    #[arg(long, value_name = "FAULT", requires = "nts", value_parser = NtsFault::parse)]
    pub nts_fault: Vec<NtsFault>,

    /// Print one JSON line when listening and one with the counters when
    /// stopped, each with schema_version (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

impl ServeArgs {
    /// The flags as a profile spec (the same type a scenario file holds).
    pub fn spec(&self) -> ProfileSpec {
        ProfileSpec {
            name: Some("serve".into()),
            listen: self.listen.clone(),
            stratum: self.stratum,
            refid: self.refid.clone(),
            leap: self.leap,
            unsynchronized: self.unsynchronized.clone().map(Unsync::RefId),
            kod: self.kod.clone(),
            silent: self.silent,
            offset: self.offset.clone(),
            root_dispersion: self.root_dispersion.clone(),
            root_delay: self.root_delay.clone(),
            delay: self.delay.clone(),
            drop: self.drop,
            bogus_origin: self.bogus_origin,
            reply_from: self.reply_from.clone(),
            version: self.ntp_version,
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            deny_action: self.deny_action.clone(),
            rate_limit: self.rate_limit.clone(),
            rate_action: self.rate_action.clone(),
            query_allow: self.query_allow.clone(),
            symmetric: self.symmetric.clone(),
        }
    }
}

fn counters_json(totals: &[(String, Counters)]) -> serde_json::Value {
    serde_json::Value::Array(
        totals
            .iter()
            .map(|(n, c)| {
                serde_json::json!({
                    "profile": n, "received": c.received, "replied": c.replied,
                    "kod_sent": c.kod_sent, "control_answered": c.control_answered, "dropped": c.dropped,
                })
            })
            .collect(),
    )
}

/// What `--nts` set up: the engine shared by the KE and NTP loops, the TLS
/// configuration, where KE listens.
struct NtsSetup {
    engine: Arc<NtsServer>,
    tls: Arc<rustls::ServerConfig>,
    ke_listen: Vec<SocketAddr>,
    describe: String,
}

fn ke_json(addr: &SocketAddr, k: &nts_server::KeStats) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    serde_json::json!({
        "address": addr.to_string(),
        "connections": k.connections.load(Relaxed),
        "handshakes_failed": k.handshakes_failed.load(Relaxed),
        "answered": k.answered.load(Relaxed),
        "errors_sent": k.errors_sent.load(Relaxed),
        "cookies_sent": k.cookies_sent.load(Relaxed),
    })
}

fn nts_setup(args: &ServeArgs, listeners: &mut [serve::Listener]) -> Result<NtsSetup, String> {
    let first = listeners
        .first()
        .and_then(|l| l.addrs.first().copied())
        .ok_or("no listening address")?;
    let ke_listen: Vec<SocketAddr> = if args.nts_listen.is_empty() {
        listeners
            .iter()
            .flat_map(|l| l.addrs.iter())
            .map(|a| SocketAddr::new(a.ip(), crate::net::nts::KE_PORT))
            .collect()
    } else {
        args.nts_listen
            .iter()
            .map(|l| crate::scenario::parse_listen(l, crate::net::nts::KE_PORT))
            .collect::<Result<_, _>>()?
    };
    let faults = args.nts_fault.clone();
    let offset = listeners
        .first()
        .map_or(0.0, |l| l.profile.faults.offset.as_secs_f64());
    let name = args.nts_name.clone().unwrap_or_else(|| {
        if first.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            first.ip().to_string()
        }
    });
    // A generated certificate is valid around the served clock (this
    // host's plus --offset).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs_f64()
        + offset;
    let built = crate::net::nts::server::build(&crate::net::nts::server::Spec {
        name: &name,
        cert_key: match (&args.nts_cert, &args.nts_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        },
        valid_at: now as i64,
        faults: faults.clone(),
        // Port Negotiation when NTP is not on 123 (RFC 8915 §4.1.8).
        ntp_port: (first.port() != 123).then_some(first.port()),
    })?;
    if let (Some(path), Some(pem)) = (&args.nts_ca_out, &built.ca_pem) {
        std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let (tls, engine) = (built.tls, built.engine);
    for l in listeners.iter_mut() {
        l.profile.nts = Some(engine.clone());
    }
    let describe = format!(
        "certificate for {name}{}{}",
        match (&args.nts_cert, &args.nts_ca_out) {
            (Some(c), _) => format!(" from {}", c.display()),
            (None, Some(p)) => format!(" (generated; its CA in {})", p.display()),
            (None, None) => " (generated)".into(),
        },
        if faults.is_empty() {
            String::new()
        } else {
            format!(", faults: {faults:?}")
        }
    );
    Ok(NtsSetup {
        engine,
        tls,
        ke_listen,
        describe,
    })
}

pub fn run(args: &ServeArgs) -> anyhow::Result<u8> {
    let built = match &args.scenario {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => anyhow::bail!("cannot read scenario {}: {e}", path.display()),
            };
            match parse_scenario(&path.display().to_string(), &text) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("ntpdiag: scenario error: {e}");
                    return Ok(super::exit::USAGE);
                }
            }
        }
        None => match args.spec().build() {
            Ok(b) => vec![b],
            Err(e) => {
                eprintln!("ntpdiag: --{}: {}", e.field, e.message);
                return Ok(super::exit::USAGE);
            }
        },
    };
    let precision = clock::precision();
    let mut listeners: Vec<serve::Listener> = built
        .into_iter()
        .map(|(mut profile, addrs)| {
            profile.server.precision = precision;
            serve::Listener { profile, addrs }
        })
        .collect();
    let nts = if args.nts {
        match nts_setup(args, &mut listeners) {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("ntpdiag: --nts: {e}");
                return Ok(super::exit::USAGE);
            }
        }
    } else {
        None
    };
    let describe: Vec<(String, String)> = listeners
        .iter()
        .map(|l| {
            let c = &l.profile.server;
            let f = &l.profile.faults;
            let mut d = match c.kiss {
                Some(k) => format!("Kiss-o'-Death {}", k.text()),
                None => {
                    let id = c.reference_id;
                    let refid = if crate::wire::KissCode::looks_like_code(id.0) {
                        format!(".{}.", id.ascii())
                    } else {
                        id.display(c.stratum)
                    };
                    format!(
                        "leap {}, stratum {}, refid {refid}",
                        c.leap.bits(),
                        c.stratum
                    )
                }
            };
            if f.silent {
                d.push_str(", silent");
            }
            if f.offset.0 != 0 {
                d.push_str(&format!(", offset {:+.3} s", f.offset.as_secs_f64()));
            }
            if !f.delay.is_zero() {
                d.push_str(&format!(", delay {}", humantime::format_duration(f.delay)));
            }
            if f.drop_percent > 0 {
                d.push_str(&format!(", drop {}%", f.drop_percent));
            }
            if f.bogus_origin {
                d.push_str(", bogus origin");
            }
            if let Some(a) = f.reply_from {
                d.push_str(&format!(", replies from {a}"));
            }
            if let Some(v) = f.version {
                d.push_str(&format!(", version {v}"));
            }
            if let Some((r, a)) = l.profile.rate {
                let act = match a {
                    crate::engine::profile::RateAction::Kod => "KoD RATE",
                    crate::engine::profile::RateAction::Drop => "drop",
                };
                d.push_str(&format!(
                    ", rate limit: bursts of {}, one more per {} ({act} beyond)",
                    r.burst,
                    humantime::format_duration(r.interval)
                ));
            }
            (l.profile.name.clone(), d)
        })
        .collect();
    let opts = serve::Options {
        threads: args.threads,
        user: args.user.clone(),
    };
    let server = match serve::start(listeners, &opts) {
        Ok(s) => s,
        Err(e) => {
            let hint = match e.kind {
                LocalErrorKind::AddressInUse => {
                    "another process holds the port (often ntpd or chronyd: `ss -ulpn 'sport = :123'`); stop it or use --listen ADDR:PORT"
                }
                LocalErrorKind::PermissionDenied => {
                    "ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or use --listen ADDR:PORT with a high port"
                }
                LocalErrorKind::AddressNotAvailable => {
                    "that address is not configured on this host"
                }
                _ => "check the address and the user",
            };
            anyhow::bail!("{e}\n  fix: {hint}");
        }
    };
    let ke_servers = match &nts {
        None => Vec::new(),
        Some(setup) => {
            let mut v = Vec::new();
            for a in &setup.ke_listen {
                match nts_server::start(*a, setup.tls.clone(), setup.engine.clone()) {
                    Ok(k) => v.push(k),
                    Err(e) => anyhow::bail!(
                        "cannot listen for NTS-KE on {a}: {e}\n  fix: another process holds the port (chronyd with ntsserverkey: `ss -tlpn 'sport = :4460'`) or use --nts-listen ADDR:PORT"
                    ),
                }
            }
            v
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    if args.json {
        let servers: Vec<_> = server
            .bound
            .iter()
            .map(|(n, a)| {
                let d = describe
                    .iter()
                    .find(|(dn, _)| dn == n)
                    .map_or("", |(_, d)| d.as_str());
                serde_json::json!({"profile": n, "address": a.to_string(), "behaviour": d})
            })
            .collect();
        let ke: Vec<_> = ke_servers.iter().map(|k| k.addr.to_string()).collect();
        println!(
            "{}",
            crate::schema::line(
                serde_json::json!({"event": "listening", "servers": servers, "nts_ke": ke})
            )
        );
    } else {
        if let Some(setup) = &nts {
            for k in &ke_servers {
                println!("serving NTS-KE on {}: {}", k.addr, setup.describe);
            }
        }
        for (n, a) in &server.bound {
            let d = describe
                .iter()
                .find(|(dn, _)| dn == n)
                .map_or("", |(_, d)| d.as_str());
            println!("serving NTP on {a} [{n}]: {d}");
        }
    }
    let totals = server.wait_until(&stop);
    let ke_totals: Vec<_> = ke_servers.into_iter().map(|k| (k.addr, k.stop())).collect();
    if args.json {
        println!(
            "{}",
            crate::schema::line(
                serde_json::json!({"event": "stopped", "counters": counters_json(&totals), "nts_ke": ke_totals.iter().map(|(a, k)| ke_json(a, k)).collect::<Vec<_>>()})
            )
        );
    } else {
        for (a, k) in &ke_totals {
            println!("stopped NTS-KE {a}: {}", ke_json(a, k));
        }
        for (n, c) in &totals {
            let dropped: u64 = c.dropped.values().sum();
            println!(
                "stopped [{n}]: {} received, {} replied ({} KoD), {} mode 6 answered, {dropped} dropped {:?}",
                c.received, c.replied, c.kod_sent, c.control_answered, c.dropped
            );
        }
    }
    Ok(super::exit::OK)
}
