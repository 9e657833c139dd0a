//! `ntpdiag explain`: one verdict for this node, or for pasted tool output.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use colored::Colorize;

use super::{exit, render};
use crate::engine::probe::{LIVENESS_PORT, ProbeConfig};
use crate::explain::collect::{self, Options};
use crate::explain::node::findings;
use crate::explain::paste;
use crate::net::clock;

const EXPLAIN_HELP: &str = "\
On a node that does not synchronize, collects the evidence itself — the NTP
configuration in use (ntp.conf with its includefiles and restrict lines,
chrony.conf with include/confdir/sourcedir, timesyncd.conf, OpenNTPD's
ntpd.conf, ntpd-rs's ntp.toml), which time
daemons run (in this network namespace), what the local daemon says (ntpq,
chronyc, ntpctl, ntp-ctl), the kernel clock state, local firewall rules for udp/123
(iptables-save, nft), who holds udp/123, name resolution and a probe of every
configured server, all at once — and the host beneath the daemon:
virtualization (systemd-detect-virt, or its sources), the daemon's and its
own capabilities (/proc/PID/status: CAP_SYS_TIME), the kernel clock
(adjtimex, read only), the clocksource and the kernel's words about it
(dmesg, or a saved /var/log/dmesg), the RTC and /etc/adjtime, other agents
that set the clock (phc2sys, ptp4l -S, VMware Tools, VirtualBox, Hyper-V's
time sync), the daemon's step policy (ntpd -x/-g, tinker; chrony makestep,
maxslewrate), time suspended, the cloud (DMI) and leap-smearing servers.
It names the cause, ranked with the other findings: a host cause that
explains a network symptom leads. Every collector that fails is reported,
never fatal. Under --root, a tree with its own /proc is another host: its
/proc and /sys are read, and the live collectors (firewall, udp/123, the
daemon's tools, adjtimex) are not run; live-only facts are marked so in the
JSON.

With FILE or --paste (stdin), explains pasted output instead, read as the
tools' own sources print it: ntpq (peers, opeers, apeers, assoc, rv, its
errors, interactive sessions), classic ntpdate (-d, -q, its syslog lines),
ntpdig and ntpsec's ntpdate (every Response dropped reason, -j), chronyc
(sources, sourcestats, selectdata, tracking, ntpdata, activity, authdata,
text and -c), timedatectl timesync-status, Windows w32tm (/query /status,
/source, /peers, /configuration, /stripchart, /resync, /monitor), OpenNTPD's ntpctl,
ntpd-rs's ntp-ctl status, systemctl status of a time daemon's unit (and
systemd's condition skips), and the log lines of chronyd, ntpd,
systemd-timesyncd, OpenNTPD and ntpd-rs (their own log files, syslog, the
journal; the newest state stands, each fact cited with its line's time);
one block per command prompt and
per table, line by line, then as a whole. Below the verdict on a node, what
was read: each time source with its kind and options, the access lines, and
the NTS settings (NTS sources, trusted certificates, certificate time checks,
the NTS-KE server's key and certificate).

Causes, besides the probe's per server: no-servers-configured,
daemon-not-running, daemon-not-synchronized-yet, local-firewall-blocks-ntp,
restrict-blocks-clients, port-123-in-use, two-daemons, config-error (file and
line), server-name-unresolved, clock-step-needed, local-clock-only,
too-few-sources, constraint-failed (OpenNTPD), other-discipline (w32tm, or
an agent on this host), boot-dns-order, and the host's: clock-not-settable,
vm-clock-jump, clocksource-unstable, rtc-wrong, frequency-out-of-range,
slew-too-slow; and remarks (never the verdict): restrict-noquery (other
hosts' ntpq gets no answer, time service is unaffected), cloud-source-unused,
leap-smear-mixed.";

/// Explains why this node (or pasted ntpq/ntpdate/chronyc output) does not synchronize.
#[derive(Args, Debug, Clone)]
#[command(long_about = EXPLAIN_HELP, after_help = exit::help())]
pub struct ExplainArgs {
    /// A file of pasted tool output to explain ("-" for stdin).
    #[arg(value_name = "FILE", conflicts_with = "root")]
    pub file: Option<PathBuf>,

    /// Read pasted tool output from stdin.
    #[arg(long, conflicts_with = "file")]
    pub paste: bool,

    /// Read the node's files (etc/...) under this directory instead of /
    /// (default: $NTPDIAG_ROOT, which `lab exec` sets, else /).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not resolve or probe the configured servers (offline). Accepted
    /// with FILE and --paste, which never probe.
    #[arg(long)]
    pub no_probe: bool,

    /// With FILE or --paste: probe, from this node, each server that the
    /// pasted output shows silent (reach 0, no data), to tell what the
    /// silence is (a firewall, a refusal, a dead host).
    #[arg(long, conflicts_with = "no_probe")]
    pub probe: bool,

    /// How long each probe request waits.
    #[arg(short = 't', long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Every finding in full, not only the verdict.
    #[arg(short, long)]
    pub verbose: bool,

    /// One JSON document on stdout (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

fn run_paste(args: &ExplainArgs, text: &str) -> anyhow::Result<u8> {
    let blocks = paste::explain(text);
    let Some(v) = paste::overall(&blocks) else {
        // Still one verdict (and with --json one document): what was given.
        let v = paste::unrecognized(text);
        let code = v.cause.class().exit_code();
        if args.json {
            super::render::print_pretty(&crate::schema::explain_report(
                "paste",
                (&v).into(),
                vec![],
                vec![],
                code,
            ))?;
        } else {
            print!("{}", render::verdict("pasted output", &v));
        }
        // What explain reads is the verdict's note, in both forms: once.
        return Ok(code);
    };
    // --probe: the silent servers, probed from here; their verdicts rank
    // with the pasted blocks' (a probe that names the silence wins).
    let probed = if args.probe {
        collect::probe_silent(&blocks, args.timeout)
    } else {
        vec![]
    };
    let v = paste::with_probes(v, &probed);
    let code = crate::diagnose::verdict::exit_status([&v]);
    if args.json {
        let bj = blocks.iter().map(crate::schema::block_json).collect();
        let mut r = crate::schema::explain_report("paste", (&v).into(), vec![], bj, code);
        r.findings = probed
            .iter()
            .map(|(host, pv)| crate::schema::FindingJson {
                subject: format!("server {host} (probed from here)"),
                verdict: pv.into(),
                blocks: crate::diagnose::verdict::blocks(pv),
                server: Some(host.clone()),
            })
            .collect();
        super::render::print_pretty(&r)?;
        return Ok(code);
    }
    for b in &blocks {
        println!("{}", format!("── {} ──", b.kind.title()).bold());
        for n in &b.notes {
            println!("  {}", n.line.trim_end());
            if !n.meaning.is_empty() {
                println!("    {} {}", "→".cyan(), n.meaning);
            }
        }
        println!(
            "  {} {}: {}",
            "says:".bold(),
            b.verdict.cause.id(),
            b.verdict.summary
        );
        println!();
    }
    print!("{}", render::verdict("pasted output", &v));
    Ok(code)
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<u8> {
    if args.paste || args.file.as_ref().is_some_and(|f| f.as_os_str() == "-") {
        // Bytes, not a String: a binary or mis-encoded paste is judged, not
        // refused.
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        return run_paste(args, &String::from_utf8_lossy(&b));
    }
    if let Some(f) = &args.file {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => anyhow::bail!("cannot read {}: {e}", f.display()),
        };
        return run_paste(args, &String::from_utf8_lossy(&bytes));
    }
    let opts = Options {
        root: args
            .root
            .clone()
            .or_else(|| std::env::var_os("NTPDIAG_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/")),
        no_probe: args.no_probe,
        probe: ProbeConfig {
            timeout: args.timeout,
            local_precision: clock::precision(),
            liveness_port: Some(LIVENESS_PORT),
            ..ProbeConfig::default()
        },
    };
    let ev = collect::collect(&opts);
    let all = findings(&ev);
    let top = &all[0];
    let code = crate::diagnose::verdict::exit_status([&top.verdict]);
    if args.json {
        let fj = all
            .iter()
            .map(|f| crate::schema::FindingJson {
                subject: f.subject.clone(),
                verdict: (&f.verdict).into(),
                blocks: crate::diagnose::verdict::blocks(&f.verdict),
                server: f.server.clone(),
            })
            .collect();
        let bj = crate::explain::node::daemon_blocks(&ev)
            .iter()
            .map(crate::schema::block_json)
            .collect();
        let mut r = crate::schema::explain_report("node", (&top.verdict).into(), fj, bj, code);
        let (main, others) = primary_config(&ev);
        r.config = main.map(crate::schema::DaemonConfigJson::from);
        r.other_configs = others
            .into_iter()
            .map(crate::schema::DaemonConfigJson::from)
            .collect();
        r.host = Some(ev.host.clone());
        super::render::print_pretty(&r)?;
        return Ok(code);
    }
    print!("{}", render::verdict(&top.subject, &top.verdict));
    if all.len() > 1 {
        let (blocking, remarks): (Vec<_>, Vec<_>) = all[1..]
            .iter()
            .partition(|f| crate::diagnose::verdict::blocks(&f.verdict));
        if !blocking.is_empty() {
            println!();
            println!("{}", "also blocking, in the order to fix them:".bold());
            for (i, f) in blocking.iter().enumerate() {
                if args.verbose {
                    println!();
                    print!("{}", render::verdict(&f.subject, &f.verdict));
                    continue;
                }
                println!(
                    "  {}. {} [{}] {}",
                    i + 2,
                    f.subject,
                    f.verdict.cause.id(),
                    f.verdict.summary
                );
                if let Some(e) = f.verdict.evidence.first() {
                    println!("     evidence: {e}");
                }
                if let Some(x) = f.verdict.fix.first() {
                    println!("     fix: {x}");
                }
            }
        }
        if !remarks.is_empty() {
            println!();
            println!("{}", "also noted:".bold());
            for f in remarks {
                if args.verbose {
                    println!();
                    print!("{}", render::verdict(&f.subject, &f.verdict));
                } else {
                    println!(
                        "  • {} [{}] {}",
                        f.subject,
                        f.verdict.cause.id(),
                        f.verdict.summary
                    );
                }
            }
        }
    }
    let (main, others) = primary_config(&ev);
    for c in main.into_iter().chain(others) {
        print!("{}", config_text(c));
    }
    Ok(code)
}

/// The configuration of the daemon that runs (else the first found), and
/// the others.
fn primary_config(
    ev: &crate::explain::node::NodeEvidence,
) -> (
    Option<&crate::explain::conf::Config>,
    Vec<&crate::explain::conf::Config>,
) {
    let running =
        |c: &&crate::explain::conf::Config| ev.daemons.iter().any(|d| d.daemon == c.daemon);
    let main = ev.configs.iter().find(running).or(ev.configs.first());
    let others = ev
        .configs
        .iter()
        .filter(|c| main.is_none_or(|m| !std::ptr::eq(*c, m)))
        .collect();
    (main, others)
}

/// "What explain read": the daemon, its files, each source with its kind
/// and options, and the access lines.
fn config_text(c: &crate::explain::conf::Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{} {} ({})",
        "read:".bold(),
        c.daemon.name(),
        c.files.join(", ")
    );
    for src in &c.sources {
        let _ = writeln!(
            s,
            "  {:<15} {}{}  ({}:{})",
            src.kind.name(),
            if src.host.is_empty() { "-" } else { &src.host },
            if src.options.is_empty() {
                String::new()
            } else {
                format!(" {}", src.options.join(" "))
            },
            src.file,
            src.line
        );
    }
    if c.sources.is_empty() {
        let _ = writeln!(s, "  no time source");
    }
    for a in &c.access {
        let word = match (c.daemon, a.allow) {
            (crate::explain::conf::Daemon::Chrony, true) => "allow",
            (crate::explain::conf::Daemon::Chrony, false) => "deny",
            _ => "restrict",
        };
        let _ = writeln!(
            s,
            "  {:<15} {}{} {}  ({}:{})",
            word,
            a.target,
            a.mask
                .as_deref()
                .map(|m| format!(" mask {m}"))
                .unwrap_or_default(),
            a.flags.join(" "),
            a.file,
            a.line
        );
    }
    let nts = c.nts();
    if !nts.is_empty() {
        let mut parts = vec![];
        if !nts.sources.is_empty() {
            parts.push(format!("sources {}", nts.sources.join(", ")));
        }
        if !nts.trusted_certs.is_empty() {
            parts.push(format!(
                "trusted certificates {}{}",
                nts.trusted_certs.join(", "),
                if nts.no_system_certs {
                    " (not the system's)"
                } else {
                    ""
                }
            ));
        }
        if let Some(t) = &nts.no_cert_time_check {
            parts.push(format!("certificate times not checked {t}"));
        }
        if !nts.no_validation.is_empty() {
            parts.push(format!(
                "no certificate validation for {}",
                nts.no_validation.join(", ")
            ));
        }
        if !nts.server_certs.is_empty() || nts.server_enabled == Some(true) {
            parts.push(format!(
                "serves NTS-KE (certificate {})",
                if nts.server_certs.is_empty() {
                    "none given".to_string()
                } else {
                    nts.server_certs.join(", ")
                }
            ));
        }
        let _ = writeln!(s, "  {:<15} {}", "nts", parts.join("; "));
    }
    for i in &c.issues {
        let _ = writeln!(
            s,
            "  {} {}:{}: {}",
            if i.fatal { "error" } else { "warning" },
            i.file,
            i.line,
            i.message
        );
    }
    s
}
