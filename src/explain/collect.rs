//! The collectors (the edge of `explain`): files under `--root`, /proc,
//! firewall tools, the local daemon's query tools, the kernel clock, the
//! resolver and probes. Each runs on its own thread; each failure is kept as
//! evidence ("could not check …"), never fatal. Every external command and
//! every probe is bounded in time.
//!
//! Threads rather than an async runtime: every collector is a blocking
//! system call or a child process, and scoped threads give the concurrency
//! the speed goal needs (all probes at once) with nothing else to carry.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::conf::{
    Config, Daemon, Issue, parse_chrony, parse_ntp, parse_ntpd_rs, parse_openntpd, parse_timesyncd,
};
use super::firewall::{iptables_on_nft, parse_iptables, parse_nft};
use super::node::{NodeEvidence, PortHolder, RunningDaemon, ServerEvidence};
use crate::diagnose::SourcePort;
use crate::engine::probe::ProbeConfig;
use crate::net::resolve::{Family, resolve};
use crate::net::{kernel, probe};

pub struct Options {
    pub root: PathBuf,
    pub no_probe: bool,
    pub probe: ProbeConfig,
}

/// What a bounded command gave.
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with a time bound, reading its output while it runs (a
/// chatty command cannot block on a full pipe); `Err` with a reason when it
/// cannot be started or overruns (then it is killed).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Ran, String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped")));
    let err = read(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(Ran {
                    status,
                    stdout: out.join().unwrap_or_default(),
                    stderr: err.join().unwrap_or_default(),
                });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name} did not finish within {}",
                    humantime::format_duration(limit)
                ));
            }
        }
    }
}

/// Runs a command with a time bound; `Err` with a reason when it cannot be
/// run or overruns.
pub fn run(cmd: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let r = run_bounded(Command::new(cmd).args(args), limit)?;
    if r.status.success() || !r.stdout.is_empty() {
        Ok(r.stdout)
    } else {
        Err(format!("{cmd} exited with {}", r.status))
    }
}

fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Files matching a path that may end in a `*` glob (`/etc/chrony/conf.d/*.conf`).
fn expand(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let p = under(root, pattern);
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains('*') {
        return vec![p];
    }
    let (pre, suf) = name.split_once('*').unwrap_or(("", ""));
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(pre) && n.ends_with(suf))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads a configuration and everything it includes (depth ≤ 4, ≤ 64 files).
/// One daemon's configuration from `main` under `root`, with its includes.
pub fn load(root: &Path, main: &str, daemon: Daemon) -> Option<Config> {
    let path = under(root, main);
    if !path.exists() {
        return None;
    }
    let mut cfg = Config::new(daemon);
    let mut queue: Vec<(PathBuf, String, usize, usize)> = vec![(path, main.to_string(), 0, 0)];
    let mut seen = 0;
    let mut read: Vec<PathBuf> = vec![];
    while let Some((p, shown, depth, _)) = queue.pop() {
        // A file read before: an include loop, or the same file twice.
        let canon = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if read.contains(&canon) {
            cfg.issues.push(Issue {
                file: shown,
                line: 0,
                message: "included again (an include loop or a duplicate include): read once"
                    .into(),
                fatal: false,
            });
            continue;
        }
        read.push(canon);
        seen += 1;
        if seen > 64 {
            cfg.issues.push(Issue {
                file: shown,
                line: 0,
                message: "more than 64 included files: stopped following includes".into(),
                fatal: false,
            });
            break;
        }
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                cfg.issues.push(Issue {
                    file: shown,
                    line: 0,
                    message: format!("cannot read: {e}"),
                    fatal: depth == 0,
                });
                continue;
            }
        };
        let before = (cfg.includes.len(), cfg.dirs.len());
        match daemon {
            Daemon::Ntpd => parse_ntp(&shown, &text, &mut cfg),
            Daemon::Chrony => parse_chrony(&shown, &text, &mut cfg),
            Daemon::Timesyncd => parse_timesyncd(&shown, &text, &mut cfg),
            Daemon::Openntpd => parse_openntpd(&shown, &text, &mut cfg),
            Daemon::NtpdRs => parse_ntpd_rs(&shown, &text, &mut cfg),
        }
        if depth >= 4 {
            continue;
        }
        let new_inc: Vec<(String, String, usize)> = cfg.includes[before.0..].to_vec();
        for (inc, file, line) in new_inc {
            let files = expand(root, &inc);
            if files.is_empty() || (files.len() == 1 && !files[0].exists()) {
                cfg.issues.push(Issue {
                    file: file.clone(),
                    line,
                    message: format!("included file {inc} does not exist"),
                    fatal: daemon == Daemon::Chrony && !inc.contains('*'),
                });
                continue;
            }
            for f in files {
                let shown = format!("/{}", f.strip_prefix(root).unwrap_or(&f).display());
                queue.push((f, shown, depth + 1, line));
            }
        }
        let new_dirs: Vec<(String, String, usize)> = cfg.dirs[before.1..].to_vec();
        for (dir, _, _) in new_dirs {
            for ext in ["*.conf", "*.sources"] {
                for f in expand(root, &format!("{}/{ext}", dir.trim_end_matches('/'))) {
                    let shown = format!("/{}", f.strip_prefix(root).unwrap_or(&f).display());
                    queue.push((f, shown, depth + 1, 0));
                }
            }
        }
    }
    Some(cfg)
}

pub fn configs(root: &Path, timesyncd_running: bool) -> Vec<Config> {
    let mut out = vec![];
    if let Some(c) = ["/etc/ntpsec/ntp.conf", "/etc/ntp.conf"]
        .iter()
        .find_map(|f| load(root, f, Daemon::Ntpd))
    {
        out.push(c);
    }
    if let Some(c) = ["/etc/chrony/chrony.conf", "/etc/chrony.conf"]
        .iter()
        .find_map(|f| load(root, f, Daemon::Chrony))
    {
        out.push(c);
    }
    // ntpd-rs's packages.
    if let Some(c) = load(root, "/etc/ntpd-rs/ntp.toml", Daemon::NtpdRs) {
        out.push(c);
    }
    // Debian's openntpd package; OpenBSD and the portable build's default.
    if let Some(c) = ["/etc/openntpd/ntpd.conf", "/etc/ntpd.conf"]
        .iter()
        .find_map(|f| load(root, f, Daemon::Openntpd))
    {
        out.push(c);
    }
    if let Some(c) = load(root, "/etc/systemd/timesyncd.conf", Daemon::Timesyncd)
        && (timesyncd_running || !c.sources.is_empty())
    {
        out.push(c);
    }
    out
}

/// Time daemons running in this network namespace (a daemon in another
/// namespace or container is not this node's).
pub fn daemons() -> Result<Vec<RunningDaemon>, String> {
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let mut v = vec![];
    for e in std::fs::read_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .flatten()
    {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_string();
        let Some(mut daemon) = Daemon::of_process(&comm) else {
            continue;
        };
        if own.is_some() && std::fs::read_link(e.path().join("ns/net")).ok() != own {
            continue;
        }
        if comm == "ntpd" {
            daemon = Daemon::of_ntpd(&cmdline(pid), children(pid).iter().map(String::as_str));
        }
        v.push(RunningDaemon { daemon, pid, comm });
    }
    v.sort_by_key(|d| d.pid);
    Ok(v)
}

/// This network namespace's interface addresses (empty when unreadable).
pub fn local_addrs() -> Vec<std::net::IpAddr> {
    let Ok(it) = nix::ifaddrs::getifaddrs() else {
        return vec![];
    };
    let mut v: Vec<std::net::IpAddr> = it
        .filter_map(|i| {
            let a = i.address?;
            if let Some(s) = a.as_sockaddr_in() {
                Some(std::net::IpAddr::V4(s.ip()))
            } else {
                a.as_sockaddr_in6().map(|s| std::net::IpAddr::V6(s.ip()))
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A process's command line, its NUL separators as spaces ("" when gone).
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The command lines of a process's children (/proc/PID/task/*/children).
fn children(pid: u32) -> Vec<String> {
    let mut out = vec![];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                c.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(cmdline),
            );
        }
    }
    out
}

/// Who holds udp/123 (/proc/net/udp{,6}, owner found through /proc/*/fd).
pub fn port123() -> Result<Vec<PortHolder>, String> {
    let mut inodes = vec![];
    for f in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(t) = std::fs::read_to_string(f) else {
            continue;
        };
        for l in t.lines().skip(1) {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 10 {
                continue;
            }
            if let Some((addr, port)) = w[1].rsplit_once(':')
                && port.eq_ignore_ascii_case("007B")
            {
                inodes.push((
                    format!(
                        "{addr}:123 ({})",
                        if f.ends_with('6') { "IPv6" } else { "IPv4" }
                    ),
                    w[9].to_string(),
                ));
            }
        }
    }
    let mut out = vec![];
    for (addr, inode) in inodes {
        let target = format!("socket:[{inode}]");
        let mut holder = PortHolder {
            addr,
            pid: None,
            comm: None,
        };
        if let Ok(rd) = std::fs::read_dir("/proc") {
            'outer: for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
                    continue;
                };
                for fd in fds.flatten() {
                    if std::fs::read_link(fd.path())
                        .ok()
                        .is_some_and(|l| l.to_string_lossy() == target)
                    {
                        holder.pid = Some(pid);
                        holder.comm = std::fs::read_to_string(e.path().join("comm"))
                            .ok()
                            .map(|s| s.trim().to_string());
                        break 'outer;
                    }
                }
            }
        }
        out.push(holder);
    }
    Ok(out)
}

/// Resolves `host` and probes every address it has, all at once; with NTS
/// (a source configured `nts`), through the NTS client.
pub fn resolve_and_probe(
    host: &str,
    family: Family,
    cfg: &ProbeConfig,
    nts: Option<&crate::net::nts::NtsRun>,
) -> (
    Result<Vec<SocketAddr>, String>,
    Vec<crate::diagnose::TargetEvidence>,
) {
    let resolved = resolve(host, 123, family, Duration::from_secs(5));
    let probes = match &resolved {
        Ok(addrs) => std::thread::scope(|s| {
            let hs: Vec<_> = addrs
                .iter()
                .map(|a: &SocketAddr| {
                    s.spawn(move || match nts {
                        Some(run) => crate::net::nts::probe(host, *a, cfg, run),
                        None => probe::probe_address(host, *a, cfg, SourcePort::Ephemeral),
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        }),
        Err(_) => vec![],
    };
    (resolved, probes)
}

/// Why a live collector is not run on a copied tree (one with its own
/// /proc): what it would read is this host's, not the tree's.
const ELSEWHERE: &str =
    "not read: the tree under --root has its own /proc, and this host's would not be its";

/// Collects everything, concurrently.
pub fn collect(opts: &Options) -> NodeEvidence {
    let mut ev = NodeEvidence {
        no_probe: opts.no_probe,
        ..NodeEvidence::default()
    };
    // A copied tree's /proc names its own daemons; else those running in
    // this network namespace.
    let daemons = if super::host::host_is_live(&opts.root) {
        daemons()
    } else {
        Ok(super::host::daemons_in(&opts.root))
    };
    let live_host = super::host::host_is_live(&opts.root);
    let timesyncd = daemons
        .as_ref()
        .is_ok_and(|d| d.iter().any(|x| x.daemon == Daemon::Timesyncd));
    ev.configs = configs(&opts.root, timesyncd);
    ev.local_addrs = local_addrs();
    match daemons {
        Ok(d) => ev.daemons = d,
        Err(e) => ev.collector_errors.push(("running daemons".into(), e)),
    }
    // Each source, with the NTS trust of its configuration when it says `nts`.
    let sources: Vec<_> = ev
        .configs
        .iter()
        .flat_map(|c| {
            let n = c.nts();
            let run = (!n.sources.is_empty()).then(|| crate::net::nts::NtsRun {
                trust: crate::net::nts::tls::trust_from_config(
                    &n.trusted_certs,
                    !n.no_system_certs,
                    &opts.root,
                ),
                port: crate::net::nts::KE_PORT,
            });
            let run = run.map(std::sync::Arc::new);
            c.network_sources()
                .cloned()
                .map(move |s| {
                    let r = if s.has("nts") { run.clone() } else { None };
                    (s, r)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let running: Vec<Daemon> = ev.daemons.iter().map(|d| d.daemon).collect();
    // ntp-ctl finds ntpd-rs's socket through the node's ntp.toml.
    let ntpd_rs_conf = ev
        .configs
        .iter()
        .find(|c| c.daemon == Daemon::NtpdRs)
        .and_then(|c| c.files.first())
        .map(|f| under(&opts.root, f));
    std::thread::scope(|s| {
        let fw = s.spawn(|| {
            let mut rules = vec![];
            if !live_host {
                return (rules, vec![], vec![ELSEWHERE.to_string()]);
            }
            let mut read = vec![];
            let mut errors = vec![];
            let mut on_nft = false;
            for (tool, args) in [("iptables-save", vec![]), ("ip6tables-save", vec![])] {
                match run(tool, &args, Duration::from_secs(5)) {
                    Ok(t) => {
                        on_nft |= iptables_on_nft(&t);
                        rules.extend(parse_iptables(tool.trim_end_matches("-save"), &t));
                        read.push(tool.to_string());
                    }
                    Err(e) => errors.push(e),
                }
            }
            match run("nft", &["list", "ruleset"], Duration::from_secs(5)) {
                Ok(t) => {
                    rules.extend(parse_nft(&t, on_nft));
                    read.push("nft".into());
                }
                Err(e) => errors.push(e),
            }
            (rules, read, errors)
        });
        let port = s.spawn(move || {
            if live_host {
                port123()
            } else {
                Err(ELSEWHERE.to_string())
            }
        });
        let view = s.spawn(|| {
            let mut outputs = vec![];
            let mut errors = vec![];
            if !live_host {
                errors.push(ELSEWHERE.to_string());
                return (outputs, errors);
            }
            if running.contains(&Daemon::Ntpd) {
                match run(
                    "ntpq",
                    &["-c", "rv", "-c", "peers", "-c", "assoc", "127.0.0.1"],
                    Duration::from_secs(8),
                ) {
                    Ok(t) if t.contains("timed out") || t.trim().is_empty() => errors.push(
                        "ntpq: the local ntpd did not answer (restrict noquery?)".to_string(),
                    ),
                    Ok(t) => outputs.push(t),
                    Err(e) => errors.push(e),
                }
            }
            if running.contains(&Daemon::NtpdRs) {
                let mut args = vec![];
                if let Some(c) = ntpd_rs_conf.as_ref().and_then(|c| c.to_str()) {
                    args.extend(["-c", c]);
                }
                args.push("status");
                match run("ntp-ctl", &args, Duration::from_secs(5)) {
                    Ok(t) => outputs.push(t),
                    Err(e) => errors.push(e),
                }
            }
            if running.contains(&Daemon::Openntpd) {
                match run("ntpctl", &["-s", "all"], Duration::from_secs(5)) {
                    Ok(t) => outputs.push(t),
                    Err(e) => errors.push(e),
                }
            }
            if running.contains(&Daemon::Chrony) {
                for sub in ["tracking", "sources"] {
                    match run("chronyc", &["-c", sub], Duration::from_secs(5)) {
                        Ok(t) => outputs.push(t),
                        Err(e) => errors.push(e),
                    }
                }
            }
            (outputs, errors)
        });
        let kernel = s.spawn(move || {
            if live_host {
                kernel::read().map_err(|e| e.to_string())
            } else {
                Err(ELSEWHERE.to_string())
            }
        });
        let host = s.spawn(|| super::host::collect(&opts.root, &ev.configs, &ev.daemons));
        // A cloud VM's own time source, probed beside the servers.
        let cloud = super::host::cloud_target(&opts.root)
            .filter(|_| !opts.no_probe)
            .map(|target| {
                s.spawn(move || {
                    resolve_and_probe(&target, Family::Any, &opts.probe, None)
                        .1
                        .into_iter()
                        .next()
                })
            });
        // Servers: resolve, then probe every address, all at once.
        let servers: Vec<ServerEvidence> = if opts.no_probe {
            sources
                .iter()
                .map(|(src, _)| ServerEvidence {
                    source: src.clone(),
                    resolved: None,
                    probes: vec![],
                })
                .collect()
        } else {
            let hs: Vec<_> = sources
                .iter()
                .map(|(src, nts)| {
                    let cfg = &opts.probe;
                    s.spawn(move || {
                        let family = if src.has("-6") {
                            Family::V6
                        } else if src.has("-4") {
                            Family::V4
                        } else {
                            Family::Any
                        };
                        let (resolved, probes) =
                            resolve_and_probe(&src.host, family, cfg, nts.as_deref());
                        ServerEvidence {
                            source: src.clone(),
                            resolved: Some(resolved),
                            probes,
                        }
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        };
        ev.servers = servers;
        if let Some(Ok(p)) = cloud.map(|c| c.join()) {
            ev.cloud_probe = p;
        }
        match host.join() {
            Ok(h) => ev.host = h,
            Err(_) => ev
                .collector_errors
                .push(("the host".into(), "collector failed".into())),
        }
        if let Ok((rules, read, errors)) = fw.join() {
            ev.firewall = rules;
            if read.is_empty() {
                ev.collector_errors
                    .push(("the local firewall".into(), errors.join("; ")));
            } else {
                ev.firewall_read = Some(read);
            }
        }
        match port.join() {
            Ok(Ok(p)) => ev.port123 = Some(p),
            Ok(Err(e)) => ev.collector_errors.push(("udp/123".into(), e)),
            Err(_) => ev
                .collector_errors
                .push(("udp/123".into(), "collector failed".into())),
        }
        if let Ok((outputs, errors)) = view.join() {
            ev.daemon_output = outputs;
            for e in errors {
                ev.collector_errors
                    .push(("the local daemon's view".into(), e));
            }
        }
        match kernel.join() {
            Ok(Ok(k)) => ev.kernel_unsynchronized = Some(k.unsynchronized),
            Ok(Err(e)) => ev.collector_errors.push(("the kernel clock".into(), e)),
            Err(_) => {}
        }
    });
    ev
}

/// The servers a paste shows silent, each resolved and probed from this
/// node (at most 16, all at once): (host, verdict).
/// `explain --probe`: the servers a paste shows silent (at most 16, names
/// that look like host names or addresses), probed from here at once; each
/// with its verdict, the first by the one ranking of its addresses'.
pub fn probe_silent(
    blocks: &[super::paste::Explained],
    timeout: std::time::Duration,
) -> Vec<(String, crate::diagnose::Verdict)> {
    let mut hosts: Vec<String> = vec![];
    for b in blocks
        .iter()
        .filter(|b| b.kind != super::paste::Kind::NtpqError)
    {
        for s in &b.facts.silent_sources {
            let h = &s.value.name;
            let plausible = !h.is_empty()
                && !h.contains(char::is_whitespace)
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:[]%".contains(c));
            if plausible && !hosts.contains(h) && hosts.len() < 16 {
                hosts.push(h.clone());
            }
        }
    }
    let cfg = crate::engine::probe::ProbeConfig {
        timeout,
        local_precision: crate::net::clock::precision(),
        liveness_port: Some(crate::engine::probe::LIVENESS_PORT),
        ..crate::engine::probe::ProbeConfig::default()
    };
    std::thread::scope(|s| {
        let hs: Vec<_> = hosts
            .iter()
            .map(|h| {
                let cfg = &cfg;
                s.spawn(move || {
                    let host = h.trim_matches(['[', ']']);
                    let (resolved, probes) =
                        resolve_and_probe(host, crate::net::resolve::Family::Any, cfg, None);
                    let v = match resolved {
                        Err(e) => crate::diagnose::probe::name_unresolved(host, &e),
                        Ok(_) => probes
                            .iter()
                            .map(crate::diagnose::probe::diagnose)
                            .min_by_key(crate::diagnose::verdict::rank)
                            .unwrap_or_else(|| {
                                crate::diagnose::probe::name_unresolved(host, "no address")
                            }),
                    };
                    (h.clone(), v)
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}
