//! Bringing a lab up and down, with `ip`, `tc`, `sysctl` and the nodes'
//! own processes. Every namespace is named `ndl-LAB-NODE` (the switch:
//! `ndl-LAB-hub`); interface names are local to a namespace (a node's
//! interface is named after its link), so labs never collide.
//!
//! The state is written before anything is created, so that a lab that
//! dies half-way (or whose `lab run` is killed) is recognised and removed
//! by the next `lab up` or `lab down`. Processes are stopped by PID and
//! start time only: a PID reused by someone else is left alone.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::topology::{Role, Topology};
use super::{LabError, NETNS_PREFIX, Paths, base};

/// A process the lab started.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProcRec {
    pub node: String,
    /// ntpdiag-lab, ntpd or chronyd.
    pub what: String,
    pub pid: u32,
    /// /proc/PID/stat's start time (clock ticks since boot).
    pub start: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub lab: String,
    pub topology: String,
    /// Unix time it came up.
    pub created: f64,
    /// A `lab run` that owns the lab (the lab goes when it goes).
    pub owner: Option<(u32, u64)>,
    /// The process building it, while it does.
    pub builder: Option<(u32, u64)>,
    pub namespaces: Vec<String>,
    pub procs: Vec<ProcRec>,
}

/// A process's start time, if it lives (a zombie does not).
pub fn proc_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut w = rest.split_whitespace();
    // Field 3 (state) is the first after the name; 22 (start time) the 20th.
    if matches!(w.next(), Some("Z" | "X")) {
        return None;
    }
    w.nth(18)?.parse().ok()
}

fn me() -> (u32, u64) {
    let pid = std::process::id();
    (pid, proc_start(pid).unwrap_or(0))
}

fn alive((pid, start): (u32, u64)) -> bool {
    proc_start(pid) == Some(start)
}

impl State {
    pub fn load(p: &Paths) -> Option<State> {
        serde_json::from_slice(&std::fs::read(p.state()).ok()?).ok()
    }

    fn save(&self, p: &Paths) -> std::io::Result<()> {
        let j = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        super::node::write_atomic(&p.state(), &j)
    }

    /// A lab whose owner or builder died: ours to remove.
    pub fn is_leftover(&self) -> bool {
        self.owner.is_some_and(|o| !alive(o)) || self.builder.is_some_and(|b| !alive(b))
    }
}

/// Runs a command to completion (30 s at most), failing with its stderr.
fn run(cmd: &mut Command) -> Result<String, LabError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let r = crate::explain::collect::run_bounded(cmd, Duration::from_secs(30))
        .map_err(|e| LabError::Setup(format!("{shown}: {e}")))?;
    if r.status.success() {
        Ok(r.stdout)
    } else {
        Err(LabError::Setup(format!("{shown}: {}", r.stderr.trim())))
    }
}

/// `ip -n NS -batch -` with these lines.
fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), LabError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::Setup(format!("ip: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(lines.join("\n").as_bytes());
        let _ = i.write_all(b"\n");
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::Setup(format!("ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Setup(format!(
            "ip -n {} -batch: {}",
            ns.unwrap_or("-"),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Folders of /etc/netns for a namespace: its hosts and resolv.conf.
fn etc_netns(ns: &str) -> PathBuf {
    Path::new("/etc/netns").join(ns)
}

/// chronyd: $NTPDIAG_CHRONYD, on PATH, or unpacked in /opt/chrony.
pub fn chronyd_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NTPDIAG_CHRONYD") {
        return Some(p.into());
    }
    find_tool("chronyd").or_else(|| {
        let p = PathBuf::from("/opt/chrony/usr/sbin/chronyd");
        p.exists().then_some(p)
    })
}

pub fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join(name))
            .find(|f| f.exists())
    })
}

/// The marker file of a node without CAP_SYS_TIME (in its folder).
const NO_CAP: &str = "no-cap-sys-time";

/// `args` wrapped to run with CAP_SYS_TIME dropped from the bounding set:
/// the shell capsh starts checks /proc/self/status's CapBnd (bit 25) and
/// exits 99 unless it is gone, before it execs the command in its place.
fn without_cap_sys_time(args: &[String]) -> Vec<String> {
    let mut v: Vec<String> = [
        "capsh",
        "--drop=cap_sys_time",
        "--",
        "-c",
        "b=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status); \
         [ $(( 0x$b >> 25 & 1 )) -eq 0 ] || { echo \"CAP_SYS_TIME still bounded ($b): not started\" >&2; exit 99; }; \
         echo \"CapBnd $b: CAP_SYS_TIME absent\" >&2; exec \"$0\" \"$@\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(args.iter().cloned());
    v
}

/// The configuration file a real daemon node runs with, and that `explain`
/// inside it reads (under the node's root).
fn daemon_conf(paths: &Paths, node: &str, role: Role, extra: &str) -> (PathBuf, String) {
    let d = paths.node(node);
    let dd = d.display();
    match role {
        Role::Chronyd => (
            paths.root(node).join("etc/chrony/chrony.conf"),
            format!(
                "# written by ntpdiag lab; chronyd runs with -x, or without CAP_SYS_TIME: it never touches the clock\n\
                 pidfile {dd}/chronyd.pid\ndriftfile {dd}/chrony.drift\nbindcmdaddress {dd}/chronyd.sock\n\
                 {extra}\n"
            ),
        ),
        _ => (
            paths.root(node).join("etc/ntpsec/ntp.conf"),
            format!(
                "# written by ntpdiag lab; `disable ntp` and `disable kernel`: ntpd never touches the clock\n\
                 driftfile {dd}/ntp.drift\nstatsdir {dd}/\ndisable ntp\ndisable kernel\ndisable monitor\n\
                 restrict default kod nomodify\nrestrict 127.0.0.1\nrestrict ::1\n{extra}\n"
            ),
        ),
    }
}

/// The /etc/hosts of node `me`: every node's name, for its addresses on
/// the links `me` shares with it (as split-horizon DNS answers), or for all
/// of them when they share none (a node behind a router).
fn hosts_file(topo: &Topology, me: &super::topology::NodeSpec) -> String {
    let mut s = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for n in &topo.node {
        let shared: Vec<&String> = n
            .addresses
            .keys()
            .filter(|l| me.addresses.contains_key(*l))
            .collect();
        for (link, addrs) in &n.addresses {
            if !shared.is_empty() && !shared.contains(&link) {
                continue;
            }
            for a in addrs {
                if let Some(ip) = a.split('/').next() {
                    s.push_str(&format!("{ip} {}\n", n.name));
                }
            }
        }
    }
    for (name, addr) in &me.hosts {
        s.push_str(&format!("{addr} {name}\n"));
    }
    s
}

/// Brings a lab up; `owner` ties it to a `lab run` process. On any error,
/// what was built is taken down again.
pub fn up(topo: &Topology, lab: &str, owned: bool) -> Result<(Paths, State), LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(LabError::NotRoot);
    }
    super::check_lab_name(lab).map_err(LabError::Setup)?;
    remove_leftovers();
    let paths = Paths::new(lab);
    if let Some(s) = State::load(&paths) {
        if let Some(o) = s.owner.filter(|o| alive(*o)) {
            return Err(LabError::Busy(lab.into(), o.0));
        }
        // Ours, up from an earlier `lab up`: replaced.
        down(&paths);
    }
    let mut state = State {
        lab: lab.into(),
        topology: topo.name.clone(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        owner: owned.then(me),
        builder: Some(me()),
        namespaces: std::iter::once(paths.hub())
            .chain(topo.node.iter().map(|n| paths.netns(&n.name)))
            .collect(),
        procs: vec![],
    };
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| LabError::Setup(format!("{}: {e}", p.display())))
    };
    mkdir(&paths.dir)?;
    let text = toml::to_string(topo).map_err(|e| LabError::Setup(e.to_string()))?;
    std::fs::write(paths.topology(), text).map_err(|e| LabError::Setup(e.to_string()))?;
    state
        .save(&paths)
        .map_err(|e| LabError::Setup(format!("{}: {e}", paths.state().display())))?;
    match build(topo, &paths, &mut state) {
        Ok(()) => {
            state.builder = None;
            state
                .save(&paths)
                .map_err(|e| LabError::Setup(e.to_string()))?;
            Ok((paths, state))
        }
        Err(e) => {
            let _ = state.save(&paths);
            down(&paths);
            Err(e)
        }
    }
}

fn build(topo: &Topology, paths: &Paths, state: &mut State) -> Result<(), LabError> {
    for ns in &state.namespaces {
        run(Command::new("ip").args(["netns", "add", ns]))?;
    }
    let hub = paths.hub();
    let link_index: BTreeMap<&str, usize> = topo
        .link
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    // Sysctls before any interface exists, so that new interfaces take the
    // defaults: no reverse-path filter (asymmetric routes are the point of
    // some labs), no duplicate address detection (addresses work at once).
    let sysctls = |router: bool| {
        let mut v = vec![
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ];
        if router {
            v.push("net.ipv4.ip_forward=1");
            v.push("net.ipv6.conf.all.forwarding=1");
        }
        v
    };
    let mut hub_lines = vec!["link set lo up".to_string()];
    for (i, _) in topo.link.iter().enumerate() {
        hub_lines.push(format!("link add b{i} type bridge"));
        hub_lines.push(format!("link set b{i} up"));
    }
    for (ni, n) in topo.node.iter().enumerate() {
        let ns = paths.netns(&n.name);
        let mut args = vec!["sysctl", "-q", "-w"];
        args.extend(sysctls(n.router));
        run(&mut in_ns(&ns, &args))?;
        for link in n.addresses.keys() {
            let li = link_index[link.as_str()];
            let h = format!("n{ni}l{li}");
            hub_lines.push(format!(
                "link add {h} type veth peer name {link} netns {ns}"
            ));
            hub_lines.push(format!("link set {h} master b{li} up"));
        }
    }
    ip_batch(Some(&hub), &hub_lines)?;
    // Bridged frames through iptables, so that the shaper can hold them.
    run(&mut in_ns(
        &hub,
        &[
            "sysctl",
            "-q",
            "-w",
            "net.bridge.bridge-nf-call-iptables=1",
            "net.bridge.bridge-nf-call-ip6tables=1",
        ],
    ))?;
    for n in &topo.node {
        let ns = paths.netns(&n.name);
        let mut lines = vec!["link set lo up".to_string()];
        for (link, addrs) in &n.addresses {
            lines.push(format!("link set {link} up"));
            for a in addrs {
                let v6 = a.contains(':');
                lines.push(format!(
                    "addr add {a} dev {link}{}",
                    if v6 { " nodad" } else { "" }
                ));
            }
        }
        for r in &n.routes {
            lines.push(format!("route add {r}"));
        }
        ip_batch(Some(&ns), &lines)?;
        // Name resolution never leaves the node: the lab's hosts file and
        // a resolver on the node's own loopback (nothing listens there).
        let etc = etc_netns(&ns);
        std::fs::create_dir_all(&etc)
            .map_err(|e| LabError::Setup(format!("{}: {e}", etc.display())))?;
        // A node whose names come late: /etc/hosts alone, and at first
        // without the other nodes (the full file follows, see below).
        let late = n
            .ntpd
            .as_ref()
            .or(n.chronyd.as_ref())
            .and_then(|d| d.names_after());
        let hosts = if late.is_some() {
            std::fs::write(etc.join("nsswitch.conf"), "hosts: files\n")
                .map_err(|e| LabError::Setup(format!("{}: {e}", etc.display())))?;
            "127.0.0.1 localhost\n::1 localhost\n".to_string()
        } else {
            hosts_file(topo, n)
        };
        std::fs::write(etc.join("hosts"), hosts)
            .and_then(|_| {
                std::fs::write(
                    etc.join("resolv.conf"),
                    "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
                )
            })
            .map_err(|e| LabError::Setup(format!("{}: {e}", etc.display())))?;
        for cmd in &n.firewall {
            run(&mut in_ns(&ns, &["sh", "-c", cmd]))
                .map_err(|e| LabError::Setup(format!("node {}: firewall: {e}", n.name)))?;
        }
    }
    // Processes last, once every address and rule is in place; the link
    // shaper first, so that the nodes start on shaped links.
    let exe = std::env::current_exe().map_err(|e| LabError::Setup(format!("own path: {e}")))?;
    if !super::shaper::ports(topo).is_empty() {
        let dir = paths.node("hub");
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::Setup(format!("{}: {e}", dir.display())))?;
        let args = vec![
            exe.display().to_string(),
            "lab".into(),
            "shape".into(),
            "--lab".into(),
            paths.lab.clone(),
        ];
        spawn(
            paths,
            state,
            "hub",
            "ntpdiag-shaper",
            &args,
            &dir.join("shaper.log"),
        )?;
        let ready = dir.join("shaper.ready");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            let p = state.procs.last().map_or(0, |p| p.pid);
            if proc_start(p).is_none() || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("shaper.log")).unwrap_or_default();
                return Err(LabError::Setup(format!(
                    "the link shaper did not start: {}",
                    log.lines().last().unwrap_or("(no log)")
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for n in &topo.node {
        let dir = paths.node(&n.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::Setup(format!("{}: {e}", dir.display())))?;
        let role = n.role();
        let (what, args): (&str, Vec<String>) = match role {
            Role::Client | Role::ClientServer | Role::Server => {
                if let Some(c) = &n.client {
                    let conf = paths.root(&n.name).join("etc/ntpsec/ntp.conf");
                    write_file(
                        &conf,
                        &format!("# the built-in client of lab node {}\n{}\n", n.name, c.conf),
                    )?;
                }
                (
                    "ntpdiag-lab",
                    vec![
                        exe.display().to_string(),
                        "lab".into(),
                        "node".into(),
                        "--lab".into(),
                        paths.lab.clone(),
                        "--node".into(),
                        n.name.clone(),
                    ],
                )
            }
            Role::Ntpd => {
                let (conf, text) = daemon_conf(
                    paths,
                    &n.name,
                    role,
                    &n.ntpd.as_ref().map_or(String::new(), |d| d.conf.clone()),
                );
                write_file(&conf, &text)?;
                let ntpd = find_tool("ntpd").ok_or_else(|| {
                    LabError::Setup(format!(
                        "node {}: ntpd is not installed (apt-get install ntpsec)",
                        n.name
                    ))
                })?;
                (
                    "ntpd",
                    vec![
                        ntpd.display().to_string(),
                        "-n".into(),
                        "-c".into(),
                        conf.display().to_string(),
                        "-p".into(),
                        dir.join("ntpd.pid").display().to_string(),
                    ],
                )
            }
            Role::Chronyd => {
                let (conf, text) = daemon_conf(
                    paths,
                    &n.name,
                    role,
                    &n.chronyd.as_ref().map_or(String::new(), |d| d.conf.clone()),
                );
                write_file(&conf, &text)?;
                // chronyd wants its command socket's folder private.
                let _ = std::fs::set_permissions(
                    &dir,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                );
                let chronyd = chronyd_path().ok_or_else(|| {
                    LabError::Setup(format!(
                        "node {}: chronyd is not installed (apt-get download chrony; dpkg -x … /opt/chrony, or set NTPDIAG_CHRONYD)",
                        n.name
                    ))
                })?;
                let mut args = vec![
                    chronyd.display().to_string(),
                    "-f".into(),
                    conf.display().to_string(),
                    "-d".into(),
                    "-u".into(),
                    "root".into(),
                ];
                // Without CAP_SYS_TIME it may try: the kernel refuses.
                if n.cap_sys_time != Some(false) {
                    args.insert(4, "-x".into());
                }
                ("chronyd", args)
            }
            Role::Router | Role::Host => continue,
        };
        let after = n
            .ntpd
            .as_ref()
            .or(n.chronyd.as_ref())
            .map_or(Duration::ZERO, |d| d.start_after());
        let args = if n.cap_sys_time == Some(false) {
            write_file(
                &dir.join(NO_CAP),
                "CAP_SYS_TIME dropped from every process of this node\n",
            )?;
            without_cap_sys_time(&args)
        } else {
            args
        };
        let args = if after.is_zero() {
            args
        } else {
            // The shell execs the daemon after the wait: the PID stays.
            let mut v = vec![
                "sh".to_string(),
                "-c".into(),
                format!("sleep {}; exec \"$0\" \"$@\"", after.as_secs_f64()),
            ];
            v.extend(args);
            v
        };
        spawn(paths, state, &n.name, what, &args, &dir.join("log"))?;
        // Its names arrive late: the full hosts file, written in place
        // (the bind mount every process of the node sees) after the wait.
        if let Some(after) = n
            .ntpd
            .as_ref()
            .or(n.chronyd.as_ref())
            .and_then(|d| d.names_after())
        {
            let full = dir.join("hosts.later");
            write_file(&full, &hosts_file(topo, n))?;
            let target = etc_netns(&paths.netns(&n.name)).join("hosts");
            let script = format!(
                "sleep {}; cat {} > {}",
                after.as_secs_f64(),
                full.display(),
                target.display()
            );
            spawn(
                paths,
                state,
                &n.name,
                "names-later",
                &["sh".into(), "-c".into(), script],
                &dir.join("names.log"),
            )?;
        }
    }
    // Ready: every built-in node has written its billboard.
    let deadline = Instant::now() + Duration::from_secs(15);
    for p in &state.procs {
        if p.what != "ntpdiag-lab" {
            continue;
        }
        let board = paths.node(&p.node).join("billboard.json");
        while !board.exists() {
            if proc_start(p.pid).is_none() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(paths.node(&p.node).join("log")).unwrap_or_default();
                return Err(LabError::Setup(format!(
                    "node {} did not start: {}",
                    p.node,
                    log.lines().last().unwrap_or("(no log)")
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Starts `args` inside the node's namespace, detached, and records it.
fn spawn(
    paths: &Paths,
    state: &mut State,
    node: &str,
    what: &str,
    args: &[String],
    log: &Path,
) -> Result<(), LabError> {
    let out = std::fs::File::create(log)
        .map_err(|e| LabError::Setup(format!("{}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| LabError::Setup(e.to_string()))?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &paths.netns(node)])
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // Its own process group: a Ctrl-C at the terminal reaches `lab run`,
    // which takes the lab down in order.
    cmd.process_group(0);
    if state.owner.is_some() && what.starts_with("ntpdiag") {
        cmd.arg("--owned");
    }
    let child = cmd
        .spawn()
        .map_err(|e| LabError::Setup(format!("node {node}: {what}: {e}")))?;
    let pid = child.id();
    // `ip netns exec` execs the command: the PID is the node's process.
    // The child is not waited for here (`down` reaps it).
    drop(child);
    state.procs.push(ProcRec {
        node: node.into(),
        what: what.into(),
        pid,
        start: proc_start(pid).unwrap_or(0),
    });
    state
        .save(paths)
        .map_err(|e| LabError::Setup(e.to_string()))
}

fn write_file(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| LabError::Setup(format!("{}: {e}", d.display())))?;
    }
    std::fs::write(path, text).map_err(|e| LabError::Setup(format!("{}: {e}", path.display())))
}

/// Stops the lab's processes (by PID and start time), deletes its
/// namespaces and files. Never fails: what cannot be removed is reported
/// on stderr and left for the next `lab down`.
pub fn down(paths: &Paths) {
    let state = State::load(paths);
    if let Some(s) = &state {
        let live: Vec<&ProcRec> = s
            .procs
            .iter()
            .filter(|p| proc_start(p.pid) == Some(p.start))
            .collect();
        for p in &live {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for p in &live {
            while proc_start(p.pid) == Some(p.start) && Instant::now() < deadline {
                // Our own child: reap it, or it stays a zombie.
                let _ = nix::sys::wait::waitpid(
                    nix::unistd::Pid::from_raw(p.pid as i32),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            if proc_start(p.pid) == Some(p.start) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let namespaces: Vec<String> = match &state {
        Some(s) => s.namespaces.clone(),
        None => list_netns()
            .into_iter()
            .filter(|n| n.starts_with(&format!("{NETNS_PREFIX}{}-", paths.lab)))
            .collect(),
    };
    for ns in &namespaces {
        if list_netns().contains(ns)
            && let Err(e) = run(Command::new("ip").args(["netns", "del", ns]))
        {
            eprintln!("ntpdiag lab: {e}");
        }
        let _ = std::fs::remove_dir_all(etc_netns(ns));
    }
    let _ = std::fs::remove_dir_all(&paths.dir);
}

/// Every namespace on this host.
pub fn list_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Labs with a state folder: (name, state).
pub fn labs() -> Vec<(String, Option<State>)> {
    let mut v: Vec<(String, Option<State>)> = std::fs::read_dir(base())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .map(|n| {
                    let s = State::load(&Paths::new(&n));
                    (n, s)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Removes what crashed labs left: labs whose `lab run` or builder died,
/// state folders without a state, and `ndl-` namespaces no lab claims.
/// Returns the names removed.
pub fn remove_leftovers() -> Vec<String> {
    let mut removed = vec![];
    let mut claimed: Vec<String> = vec![];
    for (name, st) in labs() {
        match st {
            Some(s) if s.is_leftover() => {
                down(&Paths::new(&name));
                removed.push(name);
            }
            Some(s) => claimed.extend(s.namespaces),
            None => {
                // A folder without a readable state, older than a minute
                // (a builder writes its state first thing).
                let old = std::fs::metadata(base().join(&name))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60));
                if old {
                    down(&Paths::new(&name));
                    removed.push(name);
                }
            }
        }
    }
    // Claimed again: a lab may have been created since the first look.
    claimed.extend(
        labs()
            .into_iter()
            .filter_map(|(_, s)| s)
            .flat_map(|s| s.namespaces),
    );
    for ns in list_netns() {
        if ns.starts_with(NETNS_PREFIX) && !claimed.contains(&ns) {
            let _ = run(Command::new("ip").args(["netns", "del", &ns]));
            let _ = std::fs::remove_dir_all(etc_netns(&ns));
            removed.push(ns);
        }
    }
    removed
}

/// Replaces this process with `cmd` run inside `node` of the lab, on the
/// node's clock and with its configuration root (for `ntpdiag` commands,
/// `ntpdiag` being this program), and with the lab's chrony on PATH.
pub fn exec(paths: &Paths, node: &str, cmd: &[String]) -> std::io::Error {
    // `ntpdiag` is this very program, installed or not.
    let mut cmd = cmd.to_vec();
    if cmd.first().map(String::as_str) == Some("ntpdiag")
        && let Ok(me) = std::env::current_exe()
    {
        cmd[0] = me.display().to_string();
    }
    node_command(paths, node, &cmd).exec()
}

/// `cmd` run inside `node`: in its namespace, with [`node_env`], and
/// without CAP_SYS_TIME where the node has none.
pub fn node_command(paths: &Paths, node: &str, cmd: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &paths.netns(node)]);
    if paths.node(node).join(NO_CAP).exists() {
        c.args(without_cap_sys_time(cmd));
    } else {
        c.args(cmd);
    }
    node_env(&mut c, paths, node);
    c
}

/// What a command run inside a node gets: the node's clock and root (for
/// `ntpdiag`), and PATH with the chrony the lab runs (chronyc beside it).
pub fn node_env(c: &mut Command, paths: &Paths, node: &str) {
    c.env("NTPDIAG_CLOCK", paths.node(node).join("clock"))
        .env("NTPDIAG_ROOT", paths.root(node));
    if let Some(ch) = chronyd_path() {
        let mut path: Vec<PathBuf> = vec![];
        if let Some(d) = ch.parent() {
            path.push(d.to_path_buf());
            if let Some(usr) = d.parent() {
                path.push(usr.join("bin"));
            }
        }
        if let Some(p) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&p));
        }
        if let Ok(j) = std::env::join_paths(path) {
            c.env("PATH", j);
        }
    }
}
