//! `ntpdiag serve`: a real NTP server answering from this host's clock,
//! healthy or unsynchronized on purpose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;

use super::exit;
use crate::engine::server::ServerConfig;
use crate::net::{clock, serve};
use crate::wire::ReferenceId;

const SERVE_HELP: &str = "\
Answers NTP client requests (mode 3, versions 1-4) from this host's clock as a
synchronized server of the given stratum with reference id LOCL, or, with
--unsynchronized, as a server that has lost its time (leap 3, stratum 16,
reference id INIT): what clients see when a server's own upstream is gone.
Replies are 48 octets and go only to requests of at least 48 octets (no
amplification); other modes (symmetric, broadcast, control, private) and
versions outside 1-4 are dropped and counted.

Never run it where the default port 123 is already taken by ntpd or chronyd;
choose another port with --listen ADDR:PORT.";

const SERVE_EXIT: &str = "\
Exit status:
  0  stopped by SIGINT/SIGTERM
  1  error: could not bind or serve (the message says why and how to fix it)
  2  usage: bad command line";

/// Runs an NTP server on this host's clock (synchronized, or unsynchronized on purpose).
#[derive(Args, Debug, Clone)]
#[command(long_about = SERVE_HELP, after_help = SERVE_EXIT)]
pub struct ServeArgs {
    /// Address to listen on (repeatable): ADDR:PORT or [IPv6]:PORT. Default: 0.0.0.0:123 and [::]:123.
    #[arg(short, long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Stratum to announce (1-15).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub stratum: u8,

    /// Answer as an unsynchronized server: leap 3, stratum 16, refid INIT.
    #[arg(long)]
    pub unsynchronized: bool,

    /// Print one JSON line when listening and one with the counters when stopped.
    #[arg(long)]
    pub json: bool,
}

impl ServeArgs {
    pub fn server_config(&self) -> ServerConfig {
        let base = ServerConfig {
            precision: clock::precision(),
            ..ServerConfig::default()
        };
        if self.unsynchronized {
            ServerConfig {
                precision: base.precision,
                ..ServerConfig::unsynchronized()
            }
        } else {
            ServerConfig {
                stratum: self.stratum,
                reference_id: ReferenceId(*b"LOCL"),
                ..base
            }
        }
    }
}

pub fn run(args: &ServeArgs) -> anyhow::Result<u8> {
    let listen: Vec<SocketAddr> = if args.listen.is_empty() {
        vec!["0.0.0.0:123".parse()?, "[::]:123".parse()?]
    } else {
        args.listen.clone()
    };
    let server = match serve::start(&listen, args.server_config()) {
        Ok(s) => s,
        Err(e) => {
            let hint = match e.kind {
                crate::engine::local::LocalErrorKind::AddressInUse => {
                    "another process holds the port (often ntpd or chronyd: `ss -ulpn 'sport = :123'`); stop it or use --listen ADDR:PORT"
                }
                crate::engine::local::LocalErrorKind::PermissionDenied => {
                    "ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or use --listen ADDR:PORT with a high port"
                }
                crate::engine::local::LocalErrorKind::AddressNotAvailable => {
                    "that address is not configured on this host"
                }
                _ => "check the address",
            };
            anyhow::bail!("{e}\n  fix: {hint}");
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let cfg = args.server_config();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "listening",
                "addresses": server.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "stratum": cfg.stratum,
                "leap": cfg.leap.bits(),
                "refid": cfg.reference_id.display(cfg.stratum),
            })
        );
    } else {
        for a in &server.addrs {
            println!(
                "serving NTP on {a}: leap {}, stratum {}, refid {}",
                cfg.leap.bits(),
                cfg.stratum,
                cfg.reference_id.display(cfg.stratum)
            );
        }
    }
    let stats = server.stats.clone();
    server.wait_until(&stop);
    let (rx, tx, dropped) = (
        stats.received.load(Ordering::Relaxed),
        stats.replied.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"event": "stopped", "received": rx, "replied": tx, "dropped": dropped})
        );
    } else {
        println!("stopped: {rx} received, {tx} replied, {dropped} dropped");
    }
    Ok(exit::OK)
}
