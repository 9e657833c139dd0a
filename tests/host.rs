//! explain's host step on real processes and real kernel files: a time
//! daemon without CAP_SYS_TIME (the capability dropped from the bounding
//! set by capsh, and shown absent before the daemon starts), a container
//! tree whose /proc/self/status is the kernel's own, and trees built from
//! this machine's /proc and /sys. No test writes the clock, the RTC, or a
//! capability of a process it did not start.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// `capsh --drop=cap_sys_time -- -c 'cat /proc/self/status'`: the
/// kernel's own status of a process without CAP_SYS_TIME, checked.
fn status_without_cap_sys_time() -> String {
    let o = run_bounded(
        Command::new("capsh").args(["--drop=cap_sys_time", "--", "-c", "cat /proc/self/status"]),
        std::time::Duration::from_secs(10),
    );
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    let bnd = s
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap_or_else(|| panic!("no CapBnd: {s}"));
    let mask = u64::from_str_radix(bnd.trim(), 16).unwrap();
    assert_eq!(mask & (1 << 25), 0, "CAP_SYS_TIME still bounded: {s}");
    s
}

fn put(root: &Path, path: &str, text: &str) {
    let f = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, text).unwrap();
}

/// A root holding ntpd's configuration from `d`.
fn root_of(d: &TempDir) -> TempDir {
    let root = TempDir::new();
    put(
        root.path(),
        "/etc/ntpsec/ntp.conf",
        &std::fs::read_to_string(d.path().join("ntp.conf")).unwrap(),
    );
    root
}

fn explain_root(root: &Path) -> (ntpdiag::schema::ExplainReport, String) {
    explain_json(Command::new(ntpdiag()).args([
        "explain",
        "--json",
        "--no-probe",
        "--root",
        root.to_str().unwrap(),
    ]))
}

/// A copied container tree: Debian's stock chrony.conf, /.dockerenv, and a
/// /proc/self/status the kernel wrote for a process without CAP_SYS_TIME
/// in its bounding set. chronyd is not running, and could never set the
/// clock here: clock-not-settable leads, daemon-not-running follows.
#[test]
fn a_container_tree_without_cap_sys_time() {
    if !require("a status without CAP_SYS_TIME", &["capsh"]) {
        return;
    }
    let t = TempDir::new();
    let r = t.path();
    put(
        r,
        "/etc/chrony/chrony.conf",
        &std::fs::read_to_string("fixtures/configs/debian12-chrony-4.3-chrony.conf").unwrap(),
    );
    put(r, "/proc/self/status", &status_without_cap_sys_time());
    put(r, "/proc/1/cgroup", "0::/\n");
    put(r, "/.dockerenv", "");
    let (rep, text) = explain_root(r);
    assert_eq!(rep.verdict.cause, "clock-not-settable", "{text}");
    assert!(
        rep.findings
            .iter()
            .any(|f| f.verdict.cause == "daemon-not-running"),
        "{text}"
    );
    let host = rep.host.as_ref().unwrap();
    let virt = host.virt.as_ref().unwrap();
    assert_eq!(
        (virt.value.id.as_str(), virt.from.as_str(), virt.live),
        ("docker", "/.dockerenv", false)
    );
    let own = &host.caps[0];
    assert_eq!(own.from, "/proc/self/status");
    assert_eq!(own.value.bounding & (1 << 25), 0);
    // A copied tree holds no live fact.
    assert!(host.timex.is_none() && host.suspended_s.is_none(), "{text}");
    // The same tree with a status that has the capability: nothing of it.
    let full = std::fs::read_to_string("/proc/self/status").unwrap();
    if full.contains("CapBnd:\t000001ff") || full.contains("CapBnd:\t0000003f") {
        put(r, "/proc/self/status", &full);
        let (rep, text) = explain_root(r);
        assert!(
            rep.findings
                .iter()
                .all(|f| f.verdict.cause != "clock-not-settable"),
            "{text}"
        );
    }
}

/// explain itself run without CAP_SYS_TIME in an empty namespace, on the
/// running host (no copied /proc): its own status says no process here can
/// set the clock, live.
#[test]
fn explain_without_cap_sys_time_on_the_live_host() {
    if !require("explain without CAP_SYS_TIME", &["ip", "capsh"]) {
        return;
    }
    let ns = Netns::new();
    let t = TempDir::new();
    put(
        t.path(),
        "/etc/ntpsec/ntp.conf",
        &std::fs::read_to_string("fixtures/configs/debian12-ntpsec-1.2.2-ntp.conf").unwrap(),
    );
    let script = format!(
        "exec {} explain --json --no-probe --root {}",
        ntpdiag(),
        t.path().display()
    );
    let (rep, text) =
        explain_json(&mut ns.cmd(&["capsh", "--drop=cap_sys_time", "--", "-c", &script]));
    assert_eq!(rep.verdict.cause, "clock-not-settable", "{text}");
    assert!(
        rep.verdict
            .evidence
            .iter()
            .any(|e| e.starts_with("/proc/self/status") && e.contains("absent in the bounding set")),
        "{text}"
    );
    // On the live host, the kernel clock is read (read only) and marked live.
    let timex = rep.host.as_ref().unwrap().timex.as_ref().unwrap();
    assert!(timex.live && timex.value.tolerance_ppm == 500.0, "{text}");
}

/// A real ntpd (`disable ntp`, `disable kernel`: it never touches the clock
/// anyway) started without CAP_SYS_TIME: the capability's absence is shown
/// by the same shell before it execs ntpd. explain reads the running
/// daemon's /proc/PID/status and says ntpd may not set this clock; the same
/// ntpd started with its capabilities gets no such finding.
#[test]
fn a_running_ntpd_without_cap_sys_time() {
    if !require("ntpd without CAP_SYS_TIME", &["ip", "capsh", "ntpd", "ss"]) {
        return;
    }
    let ns = Netns::new();
    let d = TempDir::new();
    let dir = d.path().display().to_string();
    let conf = d.file(
        "ntp.conf",
        &format!(
            "driftfile {dir}/ntp.drift\ndisable ntp\ndisable kernel\ndisable monitor\nrestrict default kod nomodify\nrestrict 127.0.0.1\nrestrict ::1\ntos orphan 5 orphanwait 1\n"
        ),
    );
    let root = TempDir::new();
    put(
        root.path(),
        "/etc/ntpsec/ntp.conf",
        &std::fs::read_to_string(&conf).unwrap(),
    );
    let script = format!(
        "grep CapBnd /proc/self/status; exec ntpd -n -c {} -p {dir}/ntpd.pid",
        conf.display()
    );
    let mut p = ns.spawn(
        &["capsh", "--drop=cap_sys_time", "--", "-c", &script],
        &d.path().join("ntpd.log"),
    );
    assert!(
        ns.wait_udp_listen(123, std::time::Duration::from_secs(10)),
        "ntpd did not start: {}",
        p.log_text()
    );
    let first = p.log_text();
    let bnd = first
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap_or_else(|| panic!("{first}"));
    assert_eq!(
        u64::from_str_radix(bnd.trim(), 16).unwrap() & (1 << 25),
        0,
        "{first}"
    );
    let (rep, text) = explain_node_in(p.pid(), root.path(), "/usr/sbin");
    assert_eq!(rep.verdict.cause, "clock-not-settable", "{text}");
    assert!(
        rep.verdict
            .evidence
            .iter()
            .any(|e| e.contains(&format!("/proc/{}/status", p.pid()))),
        "{text}"
    );
    p.stop();
    // The control: ntpd with its capabilities.
    let d2 = TempDir::new();
    let q = ntpd(&ns, &d2, "tos orphan 5 orphanwait 1");
    let (rep, text) = explain_node_in(q.pid(), root.path(), "/usr/sbin");
    assert!(
        rep.findings
            .iter()
            .all(|f| f.verdict.cause != "clock-not-settable"),
        "{text}"
    );
    let daemon_caps = rep
        .host
        .as_ref()
        .unwrap()
        .caps
        .iter()
        .find(|c| c.value.pid == Some(q.pid()))
        .unwrap_or_else(|| panic!("{text}"));
    assert_ne!(daemon_caps.value.effective & (1 << 25), 0, "{text}");
}

/// boot-dns-order on a real ntpd: its server's name fails to resolve when
/// it starts (the namespace resolves from /etc/hosts alone, and the name is
/// not there: EAI_NONAME, which ntpsec retries only at its next DNS poll,
/// up to 4096 s later, when an interface appears, or on SIGHUP:
/// ntp_proto.c dns_try_again()). Its interfaces are settled before it
/// starts. The name is then added; ntpd still shows `.DNS.` for it while it
/// resolves from this node: boot-dns-order (not before 20 s: a first lookup
/// may be under way). After SIGHUP ntpd resolves it, and the finding goes.
#[test]
fn ntpd_whose_name_failed_at_start() {
    if !require(
        "ntpd with a name that fails at start",
        &["ip", "ntpd", "ntpq", "ss"],
    ) {
        return;
    }
    let p = Pair::new();
    let _srv = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.client.put_etc("nsswitch.conf", "hosts: files\n");
    // No address still in duplicate address detection: a new interface
    // address would make ntpd look the name up again.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !p
        .client
        .exec(&["ip", "-6", "addr", "show", "tentative"])
        .stdout
        .is_empty()
        && std::time::Instant::now() < end
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let d = TempDir::new();
    let mut c = ntpd(&p.client, &d, "server timesrc.test iburst");
    let log = log_until(&mut c, "timesrc.test=>", std::time::Duration::from_secs(20));
    assert!(
        log.contains("dns_take_status: timesrc.test=>error"),
        "{log}"
    );
    p.client.add_host(SERVER, "timesrc.test");
    // Before 20 s a name may still be on its first lookup: not judged.
    let (rep, text) = explain_node_in(c.pid(), root_of(&d).path(), "/usr/bin");
    assert!(
        rep.findings
            .iter()
            .all(|f| f.verdict.cause != "boot-dns-order"),
        "{text}"
    );
    std::thread::sleep(std::time::Duration::from_secs(21));
    let root = TempDir::new();
    put(
        root.path(),
        "/etc/ntpsec/ntp.conf",
        &std::fs::read_to_string(d.path().join("ntp.conf")).unwrap(),
    );
    let (rep, text) = explain_node_in(c.pid(), root.path(), "/usr/bin");
    assert_eq!(rep.verdict.cause, "boot-dns-order", "{text}");
    assert_eq!(rep.verdict.confidence, "medium", "{text}");
    // SIGHUP: ntpsec looks its names up again (dns_try_again).
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &c.pid().to_string()])
        .status();
    let _ = log_until(
        &mut c,
        "timesrc.test=>good",
        std::time::Duration::from_secs(10),
    );
    let (rep, text) = explain_node_in(c.pid(), root.path(), "/usr/bin");
    assert!(
        rep.findings
            .iter()
            .all(|f| f.verdict.cause != "boot-dns-order"),
        "{text}"
    );
    assert!(
        rep.findings
            .iter()
            .all(|f| f.verdict.cause != "name-unresolved"),
        "{text}"
    );
}

/// A copied tree of a troubled host, every file in the format its source
/// writes (proc(5), sysfs-class-rtc, hwclock(8)'s /etc/adjtime, the
/// kernel's clocksource.c and tsc.c messages, DMI), /proc/PID/status the
/// kernel's own: explain --root names each host cause from it, and runs
/// nothing live for it.
#[test]
fn a_copied_tree_of_a_troubled_host() {
    let t = TempDir::new();
    let r = t.path();
    put(
        r,
        "/etc/chrony/chrony.conf",
        "server time.google.com iburst\npool 2.debian.pool.ntp.org iburst\nmakestep 1 3\n",
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    put(r, "/proc/self/status", &status);
    put(r, "/proc/812/comm", "chronyd\n");
    put(r, "/proc/812/cmdline", "/usr/sbin/chronyd\0-F\x001\0");
    put(r, "/proc/812/status", &status);
    put(r, "/proc/4242/comm", "phc2sys\n");
    put(r, "/proc/4242/cmdline", "phc2sys\0-s\0eth0\0-w\0");
    let now = std::time::SystemTime::now();
    let secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    put(
        r,
        "/sys/class/rtc/rtc0/since_epoch",
        &format!("{}\n", secs + 3600),
    );
    put(r, "/etc/adjtime", "0.000000 0 0.000000\n0\nLOCAL\n");
    put(r, "/sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
    put(
        r,
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        "hpet\n",
    );
    put(
        r,
        "/sys/devices/system/clocksource/clocksource0/available_clocksource",
        "hpet acpi_pm \n",
    );
    put(
        r,
        "/var/log/dmesg",
        "[    0.000000] Linux version 6.1.0-28-amd64\n\
         [   26.402239] clocksource: timekeeping watchdog on CPU0: Marking clocksource 'tsc' as unstable because the skew is too large:\n\
         [   26.407029] clocksource:                       'hpet' wd_nsec: 503029760 wd_now: 48a38f74 wd_last: 47e3ab74 mask: ffffffff\n\
         [   26.409097] tsc: Marking TSC unstable due to clocksource watchdog\n\
         [   26.409300] clocksource: Switched to clocksource hpet\n",
    );
    let (rep, text) = explain_root(r);
    let causes: Vec<&str> = rep
        .findings
        .iter()
        .map(|f| f.verdict.cause.as_str())
        .collect();
    for want in [
        "other-discipline",
        "clocksource-unstable",
        "rtc-wrong",
        "cloud-source-unused",
        "leap-smear-mixed",
    ] {
        assert!(causes.contains(&want), "{want}: {causes:?}\n{text}");
    }
    // The daemon of the tree, not of this host, and no live collector.
    assert!(text.contains("\"pid\": 812"), "{text}");
    let host = rep.host.as_ref().unwrap();
    assert!(host.timex.is_none() && host.suspended_s.is_none());
    assert!(
        rep.verdict
            .notes
            .iter()
            .any(|n| n.contains("could not check the local firewall: not read")),
        "{text}"
    );
    // The RTC keeps local time and says so: high.
    let rtc = rep
        .findings
        .iter()
        .find(|f| f.verdict.cause == "rtc-wrong")
        .unwrap();
    assert_eq!(rtc.verdict.confidence, "high", "{text}");
    assert!(
        rtc.verdict
            .summary
            .contains("1h00 ahead of the system clock"),
        "{text}"
    );
}
