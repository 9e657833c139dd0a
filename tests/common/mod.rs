//! Test harness for real peers in network namespaces.
//!
//! - Every namespace, veth, file and process a test creates is owned by a
//!   guard whose `Drop` removes it, so a failing test still tears down.
//! - Names are unique per process and counter (nextest runs each test in its
//!   own process), and short (interface names ≤ 15 characters).
//! - Addresses come from 198.51.100.0/24 and 203.0.113.0/24 only; namespaces
//!   have no route out of the test's own topology.
//! - Every wait is bounded.
//! - Without root, tests skip with a message; under CI (`CI=true`) a missing
//!   privilege or tool fails the test instead.

// Each test binary uses a part of these helpers, none all: `expect` would
// be unfulfilled in some binaries, so this is the one allow.
#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when the test can use namespaces and the named tools. Skips (false)
/// with a message otherwise, except under CI, where it panics.
pub fn require(what: &str, tools: &[&str]) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = if !root {
        "needs root (network namespaces)".to_string()
    } else {
        format!("needs {}", missing.join(", "))
    };
    if in_ci() {
        panic!("{what}: {why}; CI must run it (see scripts/test)");
    }
    eprintln!(
        "SKIPPED {what}: {why}. Run as root with the tools installed (scripts/test does both)."
    );
    false
}

pub fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Path::new(tool).exists().then(|| PathBuf::from(tool));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join(tool))
            .find(|f| f.exists())
    })
}

/// chronyd from `apt-get download chrony` + `dpkg -x` (scripts/test puts it
/// in /opt/chrony), or $NTPDIAG_CHRONYD.
pub fn chronyd_path() -> String {
    std::env::var("NTPDIAG_CHRONYD").unwrap_or_else(|_| "/opt/chrony/usr/sbin/chronyd".into())
}

pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{:x}{n:x}", std::process::id() % 0xfffff)
}

/// Runs a command to completion with a time bound; kills it on overrun.
/// Output is read while it runs, so a chatty command cannot block on a full pipe.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    use std::io::Read;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot start {cmd:?}: {e}"),
    };
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let ro = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let re = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
        }
    };
    Output {
        status,
        stdout: ro.join().unwrap_or_default(),
        stderr: re.join().unwrap_or_default(),
    }
}

fn sh(args: &[&str]) -> Output {
    run_bounded(
        Command::new(args[0]).args(&args[1..]),
        Duration::from_secs(20),
    )
}

fn must(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A network namespace, deleted on drop (which also deletes its veths).
pub struct Netns {
    pub name: String,
    etc: PathBuf,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("nd");
        must(&["ip", "netns", "add", &name]);
        let ns = Netns {
            etc: PathBuf::from("/etc/netns").join(&name),
            name,
        };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        // Name resolution inside the namespace never leaves it: a resolver
        // on the namespace's own loopback (nothing listens) and a hosts file
        // the test may extend.
        std::fs::create_dir_all(&ns.etc).expect("create /etc/netns/NAME");
        std::fs::write(
            ns.etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
        std::fs::write(ns.etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n").unwrap();
        ns
    }

    /// Puts a file the namespace's processes see as /etc/NAME (`ip netns
    /// exec` binds /etc/netns/NS/NAME over it).
    pub fn put_etc(&self, name: &str, text: &str) {
        std::fs::write(self.etc.join(name), text).unwrap();
    }

    /// Adds a line to the namespace's /etc/hosts.
    pub fn add_host(&self, addr: &str, name: &str) {
        let p = self.etc.join("hosts");
        let mut s = std::fs::read_to_string(&p).unwrap_or_default();
        s.push_str(&format!("{addr} {name}\n"));
        std::fs::write(p, s).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.cmd(args), Duration::from_secs(30))
    }

    pub fn exec_ok(&self, args: &[&str]) -> Output {
        let o = self.exec(args);
        assert!(
            o.status.success(),
            "in {}: {args:?} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// Runs a shell snippet in the namespace.
    pub fn sh(&self, script: &str) -> Output {
        self.exec_ok(&["sh", "-c", script])
    }

    /// Starts a long-running process in the namespace; stopped on drop.
    pub fn spawn(&self, args: &[&str], log: &Path) -> Proc {
        let f = std::fs::File::create(log).expect("log file");
        let child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        Proc {
            child,
            what: format!("{args:?}"),
            log: log.to_path_buf(),
        }
    }

    /// Waits (at most `limit`) until something listens on udp `port` in this namespace.
    pub fn wait_udp_listen(&self, port: u16, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let o = self.exec(&["ss", "-Hunl", &format!("sport = :{port}")]);
            if !String::from_utf8_lossy(&o.stdout).trim().is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

/// Connects two namespaces with a veth pair and gives each end an address
/// (CIDR notation). Deleted with either namespace.
pub fn link(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) -> (String, String) {
    let ia = unique("va");
    let ib = unique("vb");
    must(&[
        "ip", "link", "add", &ia, "netns", &a.name, "type", "veth", "peer", "name", &ib, "netns",
        &b.name,
    ]);
    for (ns, i, addr) in [(a, &ia, a_addr), (b, &ib, b_addr)] {
        ns.exec_ok(&["ip", "addr", "add", addr, "dev", i, "nodad"]);
        ns.exec_ok(&["ip", "link", "set", i, "up"]);
    }
    (ia, ib)
}

/// A client and a server namespace on one link: client 198.51.100.2,
/// server 198.51.100.1 (and 2001:db8::2 / 2001:db8::1).
pub struct Pair {
    pub client: Netns,
    pub server: Netns,
    pub client_if: String,
    pub server_if: String,
    pub dir: TempDir,
}

pub const SERVER: &str = "198.51.100.1";
pub const CLIENT: &str = "198.51.100.2";

impl Pair {
    pub fn new() -> Pair {
        let client = Netns::new();
        let server = Netns::new();
        let (ci, si) = link(&client, "198.51.100.2/24", &server, "198.51.100.1/24");
        client.exec_ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8::2/64",
            "dev",
            &ci,
            "nodad",
        ]);
        server.exec_ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            &si,
            "nodad",
        ]);
        Pair {
            client,
            server,
            client_if: ci,
            server_if: si,
            dir: TempDir::new(),
        }
    }
}

/// A process started by a test; SIGTERM then SIGKILL on drop, by PID.
pub struct Proc {
    child: Child,
    what: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process now (SIGTERM, then SIGKILL after 3 s).
    pub fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if !self.is_running() {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.is_running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
        let _ = &self.what;
    }
}

/// Starts `args` on this host (no namespace), its output in `log`; stopped
/// on drop.
pub fn spawn_local(args: &[&str], log: &Path) -> Proc {
    let f = std::fs::File::create(log).expect("log file");
    let child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    Proc {
        child,
        what: format!("{args:?}"),
        log: log.to_path_buf(),
    }
}

/// `ntpdiag serve --json` on 127.0.0.1:0 with `extra` (a random loopback
/// port, no namespace needed): the server, stopped on drop, and the address
/// its first JSON line gives.
pub fn serve_loopback(extra: &[&str]) -> (Proc, String) {
    use std::io::{BufRead, BufReader};
    let mut args = vec!["serve", "--json", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = Command::new(ntpdiag())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let addr = first["servers"][0]["address"].as_str().unwrap().to_string();
    (
        Proc {
            child,
            what: format!("{args:?}"),
            log: PathBuf::new(),
        },
        addr,
    )
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique("ntpdiag-test-"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` (which may name subdirectories) under the directory.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts ntpsec's ntpd in `ns` with the given extra config lines; never
/// touches the clock (`disable ntp`, `disable kernel`). Waits until it listens.
pub fn ntpd(ns: &Netns, dir: &TempDir, extra: &str) -> Proc {
    let d = dir.path();
    let conf = dir.file(
        "ntp.conf",
        &format!(
            // Without any restrict line, ntpsec 1.2.2 ignores ntpq's mode 6
            // queries even from loopback; these lines allow them locally.
            "driftfile {d}/ntp.drift\nstatsdir {d}/\ndisable ntp\ndisable kernel\ndisable monitor\n\
             restrict default kod nomodify\nrestrict 127.0.0.1\nrestrict ::1\n{extra}\n",
            d = d.display()
        ),
    );
    ntpd_with(ns, d, &conf)
}

/// Starts ntpsec's ntpd in `ns` with the configuration file `conf` as it
/// is (pid file and log `ntpd.log` in `dir`). Waits until it listens.
pub fn ntpd_with(ns: &Netns, dir: &Path, conf: &Path) -> Proc {
    let p = ns.spawn(
        &[
            "ntpd",
            "-n",
            "-c",
            conf.to_str().unwrap(),
            "-p",
            &format!("{}/ntpd.pid", dir.display()),
        ],
        &dir.join("ntpd.log"),
    );
    assert!(
        ns.wait_udp_listen(123, Duration::from_secs(10)),
        "ntpd did not start"
    );
    p
}

/// `ntpdiag explain --json --no-probe` on `text` as a pasted file: the
/// report and the exit status.
pub fn explain_paste(text: &str) -> (ntpdiag::schema::ExplainReport, i32) {
    let d = TempDir::new();
    let f = d.file("paste.txt", text);
    let o = run_bounded(
        Command::new(ntpdiag()).args(["explain", "--json", "--no-probe", f.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let r = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (r, o.status.code().unwrap_or(-1))
}

/// Starts chronyd (`-x`: never touches the clock) in `ns` with the given
/// config lines added to a private base config (its command socket is
/// `DIR/chronyd.sock`). Waits until it listens on 123.
pub fn chronyd(ns: &Netns, dir: &TempDir, extra: &str) -> Proc {
    let p = chronyd_client(ns, dir, extra);
    assert!(
        ns.wait_udp_listen(123, Duration::from_secs(10)),
        "chronyd did not start"
    );
    p
}

/// chronyd as a client (it may not listen on 123: `port 0`, or nothing to
/// serve): started, not waited for. Same base config as [`chronyd`].
pub fn chronyd_client(ns: &Netns, dir: &TempDir, extra: &str) -> Proc {
    let d = dir.path();
    // chronyd insists on a private directory for its command socket.
    let _ = std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let conf = dir.file(
        "chrony.conf",
        &format!(
            "pidfile {d}/chronyd.pid\ndriftfile {d}/chrony.drift\nbindcmdaddress {d}/chronyd.sock\ncmdport 0\n{extra}\n",
            d = d.display()
        ),
    );
    ns.spawn(
        &[
            &chronyd_path(),
            "-f",
            conf.to_str().unwrap(),
            "-d",
            "-x",
            "-u",
            "root",
        ],
        &d.join("chronyd.log"),
    )
}

pub fn ntpdiag() -> &'static str {
    env!("CARGO_BIN_EXE_ntpdiag")
}

/// Runs `ntpdiag probe --json ARGS` in `ns` and parses the report.
pub fn probe_json(ns: &Netns, args: &[&str]) -> (ntpdiag::schema::ProbeReport, i32) {
    let mut full = vec![ntpdiag(), "probe", "--json"];
    full.extend_from_slice(args);
    let o = run_bounded(&mut ns.cmd(&full), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&o.stdout);
    let report: ntpdiag::schema::ProbeReport = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (report, o.status.code().unwrap_or(-1))
}

/// Runs `ntpdiag probe ARGS` (text) in `ns`.
pub fn probe_text(ns: &Netns, args: &[&str]) -> String {
    let mut full = vec![ntpdiag(), "probe"];
    full.extend_from_slice(args);
    let o = run_bounded(&mut ns.cmd(&full), Duration::from_secs(60));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a peer tool (ntpdig, ntpdate) in `ns`, stdout+stderr together.
pub fn peer_output(ns: &Netns, args: &[&str]) -> String {
    let o = run_bounded(&mut ns.cmd(args), Duration::from_secs(60));
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// With NTPDIAG_UPDATE_FIXTURES=1, writes what ntpdiag and the peer tools
/// printed for a scenario into fixtures/peers/, to show them side by side.
pub fn keep_fixture(scenario: &str, parts: &[(&str, &str)]) {
    if std::env::var("NTPDIAG_UPDATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/peers");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = format!(
        "# scenario: {scenario}\n# recorded by tests/probe_netns.rs (NTPDIAG_UPDATE_FIXTURES=1)\n"
    );
    for (title, text) in parts {
        s.push_str(&format!("\n## {title}\n{}\n", strip_ansi(text).trim_end()));
    }
    std::fs::write(dir.join(format!("{scenario}.txt")), s).unwrap();
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts tcpdump in `ns` writing `file`; waits until it listens. Stop it
/// with [`stop_tcpdump`] (a pause, then SIGINT, so the last packets land).
pub fn tcpdump(ns: &Netns, iface: &str, file: &Path, extra: &[&str]) -> Proc {
    let log = file.with_extension("tcpdump.log");
    let mut args = vec![
        "tcpdump",
        "-n",
        "-i",
        iface,
        "-w",
        file.to_str().unwrap(),
        "--immediate-mode",
        "-U",
    ];
    args.extend_from_slice(extra);
    let p = ns.spawn(&args, &log);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening on")
        {
            std::thread::sleep(Duration::from_millis(100));
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "tcpdump did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

pub fn stop_tcpdump(mut p: Proc) {
    use nix::sys::signal::{Signal, kill};
    std::thread::sleep(Duration::from_millis(300));
    let _ = kill(nix::unistd::Pid::from_raw(p.pid() as i32), Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    p.stop();
}

/// Runs `ntpdiag capture --json ARGS` (anywhere) and parses the report.
pub fn capture_json(args: &[&str]) -> (ntpdiag::schema::CaptureReport, i32) {
    let mut full = vec!["capture", "--json"];
    full.extend_from_slice(args);
    let o = run_bounded(Command::new(ntpdiag()).args(&full), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&o.stdout);
    let r = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (r, o.status.code().unwrap_or(-1))
}

/// With NTPDIAG_UPDATE_FIXTURES=1, keeps a recorded pcap in fixtures/pcaps/.
pub fn keep_pcap(name: &str, file: &Path) {
    if std::env::var("NTPDIAG_UPDATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(file, dir.join(format!("{name}.pcap"))).unwrap();
}

/// chronyc beside chronyd (same unpacked package), or $NTPDIAG_CHRONYC.
pub fn chronyc_path() -> String {
    std::env::var("NTPDIAG_CHRONYC").unwrap_or_else(|_| "/opt/chrony/usr/bin/chronyc".into())
}

/// With NTPDIAG_UPDATE_FIXTURES=1, keeps a real tool's output in fixtures/outputs/.
pub fn keep_output(name: &str, text: &str) {
    if std::env::var("NTPDIAG_UPDATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/outputs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), text).unwrap();
}

/// An EC key and a self-signed certificate for ntp.test (a DNS name only),
/// made by openssl, in `dir`: (key, certificate).
pub fn openssl_cert(dir: &TempDir) -> (PathBuf, PathBuf) {
    let key = dir.path().join("server.key");
    let crt = dir.path().join("server.crt");
    let o = run_bounded(
        Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ntp.test",
            "-addext",
            "subjectAltName=DNS:ntp.test",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            crt.to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (key, crt)
}

/// OpenNTPD from `apt-get download openntpd` + `dpkg -x` (scripts/lib.sh
/// puts it in /opt/openntpd), or $NTPDIAG_OPENNTPD_DIR.
pub fn openntpd_dir() -> String {
    std::env::var("NTPDIAG_OPENNTPD_DIR").unwrap_or_else(|_| "/opt/openntpd/usr/sbin".into())
}

/// tests/shim/noclock.c built into `dir`: an LD_PRELOAD under which every
/// call that would set or adjust the clock succeeds without doing so.
pub fn noclock_shim(dir: &TempDir) -> PathBuf {
    let so = dir.path().join("noclock.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shim/noclock.c");
    let o = run_bounded(
        Command::new("gcc").args([
            "-shared",
            "-fPIC",
            "-O2",
            "-o",
            so.to_str().unwrap(),
            src.to_str().unwrap(),
            "-ldl",
        ]),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    so
}

/// Starts OpenNTPD (`ntpd -d -vv -f CONF`) in `ns`, in a mount namespace of
/// its own (tmpfs on /run and /var/lib: its socket, drift file and
/// privilege-separation directory are fixed paths), under the no-clock
/// shim and without CAP_SYS_TIME: it runs its whole logic, and the host's
/// clock is never touched. Its log is `openntpd.log` in `dir`; ask it with
/// [`ntpctl`].
pub fn openntpd(ns: &Netns, dir: &TempDir, conf: &str) -> Proc {
    let conf = dir.file("ntpd.conf", conf);
    openntpd_with(ns, dir, &conf)
}

/// [`openntpd`] with the configuration file `conf` as it is.
pub fn openntpd_with(ns: &Netns, dir: &TempDir, conf: &Path) -> Proc {
    let shim = noclock_shim(dir);
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs t /run && mkdir -p /run/openntpd && \
         mount -t tmpfs t /var/lib && mkdir -p /var/lib/openntpd/run /var/lib/openntpd/db && \
         exec env LD_PRELOAD={shim} capsh --drop=cap_sys_time -- -c 'exec {bin}/ntpd -d -vv -f {conf}'",
        shim = shim.display(),
        bin = openntpd_dir(),
        conf = conf.display()
    );
    ns.spawn(
        &["unshare", "-m", "sh", "-c", &script],
        &dir.path().join("openntpd.log"),
    )
}

/// `ntpctl -s WHAT` against the OpenNTPD `p` started (its mount and network
/// namespaces).
pub fn ntpctl(p: &Proc, what: &str) -> String {
    let pid = p.pid().to_string();
    let bin = format!("{}/ntpctl", openntpd_dir());
    let o = run_bounded(
        Command::new("nsenter").args(["-t", &pid, "-m", "-n", &bin, "-s", what]),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// ntpd-rs's binaries (scripts/lib.sh builds them with `cargo install ntpd
/// --version 1.9.0 --root /opt/ntpd-rs`), or $NTPDIAG_NTPD_RS_DIR.
pub fn ntpd_rs_dir() -> String {
    std::env::var("NTPDIAG_NTPD_RS_DIR").unwrap_or_else(|_| "/opt/ntpd-rs/bin".into())
}

/// `ntpdiag explain --json --root ROOT` in the network and mount namespaces
/// of the process `pid` (where a daemon's control socket is), with `path`
/// before PATH (where its control tool is).
pub fn explain_node_in(
    pid: u32,
    root: &Path,
    path: &str,
) -> (ntpdiag::schema::ExplainReport, String) {
    let env_path = format!("{path}:{}", std::env::var("PATH").unwrap_or_default());
    explain_json(Command::new("nsenter").args([
        "-t",
        &pid.to_string(),
        "-m",
        "-n",
        "env",
        &format!("PATH={env_path}"),
        ntpdiag(),
        "explain",
        "--json",
        "--root",
        root.to_str().unwrap(),
    ]))
}

/// The process's log until it holds `what`, `limit` passes, or it exits.
pub fn log_until(p: &mut Proc, what: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let t = p.log_text();
        if t.contains(what) || Instant::now() > end || !p.is_running() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Starts ntpd-rs's `ntp-daemon -c CONF` in `ns` under the no-clock shim
/// and without CAP_SYS_TIME (see [`openntpd`]); its log is `ntpd-rs.log`
/// in `dir`.
pub fn ntpd_rs(ns: &Netns, dir: &TempDir, conf: &Path) -> Proc {
    let shim = noclock_shim(dir);
    let script = format!(
        "exec env LD_PRELOAD={} capsh --drop=cap_sys_time -- -c 'exec {}/ntp-daemon -c {}'",
        shim.display(),
        ntpd_rs_dir(),
        conf.display()
    );
    ns.spawn(&["sh", "-c", &script], &dir.path().join("ntpd-rs.log"))
}

/// Runs `cmd` (an `ntpdiag explain --json …`), and parses its report: the
/// report and its text.
pub fn explain_json(cmd: &mut Command) -> (ntpdiag::schema::ExplainReport, String) {
    let o = run_bounded(cmd, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let r = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&o.stderr)));
    (r, text)
}
