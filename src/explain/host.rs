//! The host collector: what lies beneath the daemon, read from files under
//! `--root` (so a copied tree can be explained elsewhere) and, on the live
//! host only, from system calls and commands (a read-only adjtimex, the
//! boot and monotonic clocks, `systemd-detect-virt`, `dmesg`,
//! `vmware-toolbox-cmd timesync status`). Nothing here writes: no clock,
//! no RTC, no capability. Each fact records its file or call.
//!
//! The file formats: proc(5) (`/proc/PID/status` CapEff/CapBnd/Seccomp,
//! `/proc/PID/stat` field 22, `/proc/uptime`), the kernel's
//! Documentation/ABI (sysfs-class-rtc `since_epoch`, sysfs-ptp
//! `clock_name`, sysfs-devices-system-clocksource), hwclock(8)'s
//! /etc/adjtime (third line UTC or LOCAL), and systemd-detect-virt's
//! sources (src/basic/virt.c: /proc/1/environ `container=`,
//! /run/systemd/container, /.dockerenv, /run/.containerenv, WSL's
//! osrelease, DMI vendors, /sys/hypervisor/type, the cpuinfo flag).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::collect::run;
use super::conf::{Config, Daemon};
use super::node::RunningDaemon;
use crate::diagnose::host::{
    Agent, Boot, Caps, Clocksource, HostFacts, KernelLine, KernelTimex, Rtc, RtcScale, Sourced,
    StepPolicy, Virt, cloud_of, smears,
};

fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

fn live(root: &Path) -> bool {
    root == Path::new("/")
}

/// Where a tree's `top` (`/proc`, `/sys`) is read from: the tree's own copy
/// when it has one, else the running host's (a tree of configuration files
/// alone is explained with the host it runs on). A tree with its own /proc
/// is another host: nothing of this one is read for it.
fn part<'a>(root: &'a Path, top: &str) -> &'a Path {
    if under(root, top).is_dir() || under(root, "/proc").is_dir() {
        root
    } else {
        Path::new("/")
    }
}

/// The host's facts come from the running host (not a copied /proc).
pub fn host_is_live(root: &Path) -> bool {
    live(part(root, "/proc"))
}

fn read(root: &Path, p: &str) -> Option<String> {
    std::fs::read_to_string(under(root, p)).ok()
}

fn read_trim(root: &Path, p: &str) -> Option<String> {
    read(root, p)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Virtualization, as systemd-detect-virt finds it: a container first
/// (it shares the host's clock), then a VM.
pub fn virt(root: &Path) -> Option<Sourced<Virt>> {
    let c = |id: &str, from: &str| {
        Some(Sourced::file(
            Virt {
                id: id.into(),
                container: true,
            },
            from,
        ))
    };
    if let Some(env) = std::fs::read(under(root, "/proc/1/environ")).ok()
        && let Some(v) = env
            .split(|b| *b == 0)
            .filter_map(|e| std::str::from_utf8(e).ok())
            .find_map(|e| e.strip_prefix("container="))
        && !v.is_empty()
    {
        return c(container_id(v), "/proc/1/environ");
    }
    if let Some(v) = read_trim(root, "/run/systemd/container") {
        return c(container_id(&v), "/run/systemd/container");
    }
    if under(root, "/run/.containerenv").exists() {
        return c("podman", "/run/.containerenv");
    }
    if under(root, "/.dockerenv").exists() {
        return c("docker", "/.dockerenv");
    }
    if let Some(o) = read(root, "/proc/sys/kernel/osrelease")
        && (o.contains("Microsoft") || o.contains("microsoft") || o.contains("WSL"))
    {
        return c("wsl", "/proc/sys/kernel/osrelease");
    }
    if let Some(cg) = read(root, "/proc/1/cgroup") {
        for (k, id) in [
            ("kubepods", "container-other"),
            ("docker", "docker"),
            ("lxc", "lxc"),
        ] {
            if cg.contains(k) {
                return c(id, "/proc/1/cgroup");
            }
        }
    }
    let vm = |id: &str, from: &str| {
        Some(Sourced::file(
            Virt {
                id: id.into(),
                container: false,
            },
            from,
        ))
    };
    for f in [
        "/sys/class/dmi/id/product_name",
        "/sys/class/dmi/id/sys_vendor",
        "/sys/class/dmi/id/board_vendor",
        "/sys/class/dmi/id/bios_vendor",
    ] {
        let Some(v) = read_trim(root, f) else {
            continue;
        };
        // virt.c's dmi_vendor_table.
        let id = [
            ("KVM", "kvm"),
            ("OpenStack", "kvm"),
            ("KubeVirt", "kvm"),
            ("Amazon EC2", "amazon"),
            ("QEMU", "qemu"),
            ("VMware", "vmware"),
            ("VMW", "vmware"),
            ("innotek GmbH", "oracle"),
            ("VirtualBox", "oracle"),
            ("Oracle Corporation", "oracle"),
            ("Xen", "xen"),
            ("Bochs", "bochs"),
            ("Parallels", "parallels"),
            ("BHYVE", "bhyve"),
            ("Hyper-V", "microsoft"),
            ("Apple Virtualization", "apple"),
            ("Google Compute Engine", "google"),
            ("Google", "google"),
        ]
        .iter()
        .find(|(k, _)| v.starts_with(k))
        .map(|(_, id)| *id);
        if let Some(id) = id {
            return vm(id, f);
        }
        if v == "Virtual Machine" {
            // Hyper-V's product name (with sys_vendor Microsoft Corporation).
            return vm("microsoft", f);
        }
    }
    if let Some(t) = read_trim(root, "/sys/hypervisor/type") {
        return vm(&t, "/sys/hypervisor/type");
    }
    if read(root, "/proc/cpuinfo").is_some_and(|c| {
        c.lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
    }) {
        return vm("vm-other", "/proc/cpuinfo (the hypervisor flag)");
    }
    None
}

fn container_id(v: &str) -> &'static str {
    match v.trim() {
        "docker" => "docker",
        "podman" => "podman",
        "lxc" => "lxc",
        "lxc-libvirt" => "lxc-libvirt",
        "systemd-nspawn" => "systemd-nspawn",
        "rkt" => "rkt",
        "wsl" => "wsl",
        "oci" => "container-other",
        _ => "container-other",
    }
}

/// A process's capability sets and seccomp mode (proc(5)).
pub fn caps(root: &Path, pid: Option<u32>, comm: &str) -> Option<Sourced<Caps>> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = read(root, &path)?;
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(str::trim);
    let hex = |k: &str| field(k).and_then(|v| u64::from_str_radix(v, 16).ok());
    Some(Sourced::file(
        Caps {
            pid,
            comm: comm.into(),
            effective: hex("CapEff:")?,
            bounding: hex("CapBnd:")?,
            seccomp: field("Seccomp:").and_then(|v| v.parse().ok()),
        },
        path,
    ))
}

/// Processes under root's /proc: (pid, comm, cmdline with spaces).
fn processes(root: &Path) -> Vec<(u32, String, String)> {
    let mut v = vec![];
    let Ok(rd) = std::fs::read_dir(under(root, "/proc")) else {
        return v;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        v.push((pid, comm.trim().to_string(), cmd));
    }
    v.sort();
    v
}

/// Time daemons in a copied tree's /proc (live, explain finds them by
/// network namespace instead).
pub fn daemons_in(root: &Path) -> Vec<RunningDaemon> {
    processes(root)
        .into_iter()
        .filter_map(|(pid, comm, cmd)| {
            let mut daemon = Daemon::of_process(&comm)?;
            if comm == "ntpd" {
                daemon = Daemon::of_ntpd(&cmd, std::iter::empty());
            }
            Some(RunningDaemon { daemon, pid, comm })
        })
        .collect()
}

/// Other agents that can set the clock.
fn agents(proc: &Path, sys: &Path, is_live: bool) -> Vec<Sourced<Agent>> {
    let mut out = vec![];
    for (pid, comm, cmd) in processes(proc) {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let has = |f: &str| words.contains(&f);
        let after = |f: &str| {
            words
                .iter()
                .position(|w| *w == f)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        let (sets, detail) = match comm.as_str() {
            // phc2sys(8): -c's default is CLOCK_REALTIME; -a alone syncs the
            // PHCs among themselves, -a -r adds the system clock.
            "phc2sys" => {
                let sets = if has("-a") {
                    has("-r")
                } else {
                    after("-c").is_none_or(|c| c == "CLOCK_REALTIME")
                };
                (
                    Some(sets),
                    if sets {
                        format!("phc2sys steers CLOCK_REALTIME ({cmd})")
                    } else {
                        format!("phc2sys steers PHCs only ({cmd})")
                    },
                )
            }
            // ptp4l(8): -S (software timestamping) disciplines the system
            // clock itself.
            "ptp4l" => (
                Some(has("-S")),
                if has("-S") {
                    format!("ptp4l with software timestamping sets the system clock ({cmd})")
                } else {
                    format!("ptp4l disciplines a NIC's PHC ({cmd})")
                },
            ),
            // VirtualBox's guest additions: time sync on unless disabled.
            "VBoxService" => (
                Some(!has("--disable-timesync")),
                format!("VBoxService ({cmd})"),
            ),
            "vmtoolsd" => {
                let status = if is_live {
                    run(
                        "vmware-toolbox-cmd",
                        &["timesync", "status"],
                        Duration::from_secs(3),
                    )
                    .ok()
                } else {
                    None
                };
                match status.as_deref().map(str::trim) {
                    Some("Enabled") => (
                        Some(true),
                        "VMware Tools' periodic time sync is Enabled (vmware-toolbox-cmd timesync status)".into(),
                    ),
                    Some("Disabled") => (
                        Some(false),
                        "VMware Tools runs, its periodic time sync Disabled".into(),
                    ),
                    _ => (
                        None,
                        "VMware Tools runs; whether its periodic time sync is on is not known (`vmware-toolbox-cmd timesync status`); it also sets the clock after a resume or a snapshot".into(),
                    ),
                }
            }
            _ => continue,
        };
        out.push(Sourced::file(
            Agent {
                what: comm.clone(),
                pid: Some(pid),
                sets_clock: sets,
                detail,
            },
            format!("/proc/{pid}/cmdline"),
        ));
    }
    // Hyper-V's time synchronization integration service (VMBus class id).
    if let Ok(rd) = std::fs::read_dir(under(sys, "/sys/bus/vmbus/devices")) {
        for e in rd.flatten() {
            let id = std::fs::read_to_string(e.path().join("class_id")).unwrap_or_default();
            if id
                .trim()
                .eq_ignore_ascii_case("{9527e630-d0ae-497b-adce-e80ab0175caf}")
            {
                out.push(Sourced::file(
                    Agent {
                        what: "Hyper-V time sync".into(),
                        pid: None,
                        sets_clock: None,
                        detail: "the Hyper-V time synchronization integration service sets the clock at boot and after a resume; its samples are the PTP clock ptp_hyperv".into(),
                    },
                    format!("/sys/bus/vmbus/devices/{}/class_id", e.file_name().to_string_lossy()),
                ));
                break;
            }
        }
    }
    out
}

/// The kernel's clocksource messages: `dmesg` on the live host, else a
/// saved log under root (var/log/dmesg, var/log/kern.log).
fn kernel_log(
    root: &Path,
    is_live: bool,
    unread: &mut Vec<(String, String)>,
) -> Vec<Sourced<KernelLine>> {
    let pick = |text: &str, from: &str| -> Vec<Sourced<KernelLine>> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| {
                l.contains("clocksource") || (l.contains("TSC") && l.contains("unstable"))
            })
            .take(50)
            .map(|(i, l)| {
                Sourced::file(
                    KernelLine {
                        line: i + 1,
                        text: l.trim().to_string(),
                    },
                    from,
                )
            })
            .collect()
    };
    let mut why = vec![];
    if is_live {
        // dmesg, else the journal, which keeps the kernel's messages too.
        for (cmd, args, name) in [
            ("dmesg", &[][..], "dmesg"),
            (
                "journalctl",
                &["-k", "-b", "-q", "--no-pager"][..],
                "journalctl -k -b",
            ),
        ] {
            match run(cmd, args, Duration::from_secs(5)) {
                Ok(t) if !t.trim().is_empty() => {
                    return pick(&t, name)
                        .into_iter()
                        .map(|mut s| {
                            s.live = true;
                            s
                        })
                        .collect();
                }
                Ok(_) => why.push(format!("{name} printed nothing")),
                Err(e) => why.push(e),
            }
        }
    }
    for f in ["/var/log/dmesg", "/var/log/kern.log"] {
        if let Some(t) = read(root, f) {
            return pick(&t, f);
        }
    }
    why.push("no /var/log/dmesg or /var/log/kern.log".into());
    unread.push(("the kernel log".into(), why.join("; ")));
    vec![]
}

/// The RTC against the system clock: the live clock, or the time a copied
/// tree's since_epoch file was written.
fn rtc(root: &Path) -> Option<Sourced<Rtc>> {
    let rd = std::fs::read_dir(under(root, "/sys/class/rtc")).ok()?;
    let mut devs: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    devs.sort();
    let dev = devs.into_iter().next()?;
    let p = format!("/sys/class/rtc/{dev}/since_epoch");
    let rtc_epoch: i64 = read_trim(root, &p)?.parse().ok()?;
    let system_epoch = if live(root) {
        std::time::SystemTime::now()
    } else {
        std::fs::metadata(under(root, &p)).ok()?.modified().ok()?
    }
    .duration_since(std::time::UNIX_EPOCH)
    .ok()?
    .as_secs() as i64;
    let mut s = Sourced::file(
        Rtc {
            device: dev,
            rtc_epoch,
            system_epoch,
        },
        p,
    );
    if !live(root) {
        s.from
            .push_str(" (system clock: the file's modification time)");
    }
    Some(s)
}

/// /etc/adjtime's third line (hwclock(8)): UTC or LOCAL.
fn rtc_scale(root: &Path) -> Option<Sourced<RtcScale>> {
    let t = read(root, "/etc/adjtime")?;
    let scale = match t.lines().nth(2).map(str::trim)? {
        "LOCAL" => RtcScale::Local,
        "UTC" => RtcScale::Utc,
        _ => return None,
    };
    Some(Sourced::file(scale, "/etc/adjtime"))
}

/// The daemon's step policy, from its configuration and command line.
pub fn step_policy(c: &Config, cmdline: Option<&str>) -> Sourced<StepPolicy> {
    let flags: Vec<&str> = cmdline.unwrap_or("").split_whitespace().collect();
    let file = c.files.first().cloned().unwrap_or_default();
    let mut p = StepPolicy {
        daemon: c.daemon.name().into(),
        step_over_s: None,
        step_updates: None,
        panic_s: None,
        slew_ppm: 500.0,
        written: vec![],
    };
    let num = |v: Option<&String>| v.and_then(|s| s.parse::<f64>().ok());
    match c.daemon {
        Daemon::Ntpd => {
            // ntpd(8): 128 ms step, 1000 s panic; -x makes the step 600 s.
            p.step_over_s = Some(crate::engine::limits::STEP_THRESHOLD);
            p.panic_s = Some(crate::engine::limits::PANIC_THRESHOLD);
            for (k, v, f, l) in &c.directives {
                if k == "tinker" {
                    for w in v.chunks(2) {
                        match (w[0].as_str(), num(w.get(1))) {
                            ("step", Some(x)) => {
                                p.step_over_s = (x > 0.0).then_some(x);
                                p.written.push(format!("{f}:{l}: tinker step {x}"));
                            }
                            ("panic", Some(x)) => {
                                p.panic_s = (x > 0.0).then_some(x);
                                p.written.push(format!("{f}:{l}: tinker panic {x}"));
                            }
                            _ => {}
                        }
                    }
                }
            }
            if flags.contains(&"-x") {
                p.step_over_s = Some(600.0);
                p.written.push("-x (steps only over 600 s)".into());
            }
            if p.written.is_empty() {
                p.written
                    .push("ntpd's defaults: step over 0.128 s, exit over 1000 s".into());
            }
        }
        Daemon::Chrony => {
            // chrony.conf(5): no makestep, no step once running; maxslewrate
            // 83333.333 ppm.
            p.slew_ppm = 83_333.333;
            if let Some(m) = c.get("makestep") {
                p.step_over_s = num(m.first());
                p.step_updates = m.get(1).and_then(|n| n.parse().ok());
                p.written.push(format!("makestep {}", m.join(" ")));
            } else {
                p.written
                    .push("no makestep: chronyd never steps once running".into());
            }
            if let Some(r) = num(c.get("maxslewrate").and_then(|v| v.first())) {
                p.slew_ppm = r;
                p.written.push(format!("maxslewrate {r}"));
            }
            if flags.contains(&"-x") {
                p.written.push("-x".into());
            }
        }
        // timesyncd (timesyncd-manager.c): steps offsets over 0.4 s.
        Daemon::Timesyncd => {
            p.step_over_s = Some(0.4);
            p.written
                .push("systemd-timesyncd steps offsets over 0.4 s".into());
        }
        // ntpd-rs: steps over its step threshold, with panic thresholds.
        Daemon::NtpdRs => {
            p.step_over_s = Some(0.01);
            p.written
                .push("ntpd-rs steps offsets over its step threshold".into());
        }
        // OpenNTPD adjusts with adjtime(2) once running (-s steps at start only).
        Daemon::Openntpd => {
            p.written.push(
                "OpenNTPD slews with adjtime(2) once running (only `-s` steps, at start)".into(),
            );
        }
    }
    Sourced::file(p, file)
}

/// A process's age (s): /proc/PID/stat's starttime (field 22, clock
/// ticks after boot) against /proc/uptime.
fn age(root: &Path, pid: u32) -> Option<Sourced<f64>> {
    let stat = read(root, &format!("/proc/{pid}/stat"))?;
    // comm may hold spaces: fields after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let start: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let up: f64 = read(root, "/proc/uptime")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some(Sourced::file(
        (up - start / tck).max(0.0),
        format!("/proc/{pid}/stat, /proc/uptime"),
    ))
}

/// The boot order's facts, from systemd's unit links under /etc and /run.
fn boot(root: &Path) -> Sourced<Boot> {
    let wants = |unit: &str| {
        [
            "sysinit.target.wants",
            "multi-user.target.wants",
            "time-sync.target.wants",
        ]
        .iter()
        .any(|w| under(root, &format!("/etc/systemd/system/{w}/{unit}")).exists())
    };
    let enabled_units = [
        "chrony.service",
        "chronyd.service",
        "ntpsec.service",
        "ntp.service",
        "ntpd.service",
        "openntpd.service",
        "ntpd-rs.service",
        "systemd-timesyncd.service",
        "phc2sys.service",
        "vmtoolsd.service",
    ]
    .iter()
    .filter(|u| wants(u))
    .map(|u| u.to_string())
    .collect();
    Sourced::file(
        Boot {
            time_wait_sync: wants("systemd-time-wait-sync.service"),
            synchronized_flag: under(root, "/run")
                .is_dir()
                .then(|| under(root, "/run/systemd/timesync/synchronized").exists()),
            fake_hwclock: under(root, "/etc/fake-hwclock.data").exists(),
            enabled_units,
        },
        "/etc/systemd/system/*.wants, /run/systemd/timesync, /etc/fake-hwclock.data",
    )
}

/// The cloud this host runs in, from the DMI under `sys`.
fn cloud(sys: &Path) -> Option<Sourced<crate::diagnose::host::Cloud>> {
    let dmi = |f: &str| read_trim(sys, &format!("/sys/class/dmi/id/{f}")).unwrap_or_default();
    cloud_of(
        &dmi("sys_vendor"),
        &dmi("product_name"),
        &dmi("chassis_asset_tag"),
        &dmi("bios_vendor"),
    )
    .map(|c| Sourced::file(c, "/sys/class/dmi/id"))
}

/// The cloud's own time source to probe from here: its address or name
/// (none for a PTP device), when the host is live and a cloud VM.
pub fn cloud_target(root: &Path) -> Option<String> {
    if !host_is_live(root) {
        return None;
    }
    cloud(part(root, "/sys"))?
        .value
        .matches
        .into_iter()
        .next()
        .filter(|m| !m.starts_with('/'))
}

/// Seconds spent suspended since boot: CLOCK_BOOTTIME − CLOCK_MONOTONIC.
fn suspended() -> Option<Sourced<f64>> {
    use nix::time::{ClockId, clock_gettime};
    let b = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let m = clock_gettime(ClockId::CLOCK_MONOTONIC).ok()?;
    let d = (b.tv_sec() - m.tv_sec()) as f64 + (b.tv_nsec() - m.tv_nsec()) as f64 * 1e-9;
    Some(Sourced::live(
        d.max(0.0),
        "clock_gettime(CLOCK_BOOTTIME) − clock_gettime(CLOCK_MONOTONIC)",
    ))
}

/// Everything the host step reads.
pub fn collect(root: &Path, configs: &[Config], daemons: &[RunningDaemon]) -> HostFacts {
    let mut h = HostFacts::default();
    let is_live = host_is_live(root);
    let (proc, sys) = (part(root, "/proc"), part(root, "/sys"));
    h.virt = if is_live {
        run("systemd-detect-virt", &[], Duration::from_secs(3))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "none")
            .map(|id| {
                // Its container ids; a VM otherwise.
                let container = run("systemd-detect-virt", &["-c"], Duration::from_secs(3))
                    .ok()
                    .is_some_and(|c| c.trim() == id);
                Sourced::live(Virt { id, container }, "systemd-detect-virt")
            })
            .or_else(|| virt(Path::new("/")))
    } else {
        virt(root)
    };
    if let Ok(rd) = std::fs::read_dir(under(sys, "/sys/class/ptp")) {
        let mut v: Vec<_> = rd
            .flatten()
            .filter_map(|e| {
                let dev = e.file_name().to_string_lossy().into_owned();
                let f = format!("/sys/class/ptp/{dev}/clock_name");
                read_trim(sys, &f).map(|n| Sourced::file((dev, n), f))
            })
            .collect();
        v.sort_by(|a, b| a.value.cmp(&b.value));
        h.ptp = v;
    }
    h.caps.extend(caps(proc, None, "ntpdiag"));
    for d in daemons {
        match caps(proc, Some(d.pid), &d.comm) {
            Some(c) => h.caps.push(c),
            None => h
                .unread
                .push((format!("/proc/{}/status", d.pid), "not readable".into())),
        }
    }
    if is_live {
        match crate::net::kernel::read() {
            Ok(k) => {
                h.timex = Some(Sourced::live(
                    KernelTimex {
                        unsynchronized: k.unsynchronized,
                        maxerror_us: k.maxerror_us,
                        freq_ppm: k.freq_ppm,
                        tolerance_ppm: k.tolerance_ppm,
                        state: k.state,
                    },
                    "adjtimex(2), read only",
                ))
            }
            Err(e) => h.unread.push(("adjtimex(2)".into(), e.to_string())),
        }
        h.suspended_s = suspended();
    }
    let cs = "/sys/devices/system/clocksource/clocksource0";
    if let Some(cur) = read_trim(sys, &format!("{cs}/current_clocksource")) {
        h.clocksource = Some(Sourced::file(
            Clocksource {
                current: cur,
                available: read(sys, &format!("{cs}/available_clocksource"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
            },
            format!("{cs}/current_clocksource"),
        ));
    }
    h.kernel_log = kernel_log(root, is_live, &mut h.unread);
    h.rtc = rtc(sys);
    h.rtc_scale = rtc_scale(root).or_else(|| {
        // timedatectl's `RTC in local TZ`, from systemd-timedated (live).
        if !is_live {
            return None;
        }
        let v = run(
            "timedatectl",
            &["show", "--property=LocalRTC", "--value"],
            Duration::from_secs(3),
        )
        .ok()?;
        let scale = match v.trim() {
            "yes" => RtcScale::Local,
            "no" => RtcScale::Utc,
            _ => return None,
        };
        Some(Sourced::live(scale, "timedatectl show --property=LocalRTC"))
    });
    h.agents = agents(proc, sys, is_live);
    let first = daemons.first();
    h.daemon_cmdline = first.and_then(|d| {
        let f = format!("/proc/{}/cmdline", d.pid);
        std::fs::read(under(proc, &f))
            .ok()
            .map(|b| Sourced::file(String::from_utf8_lossy(&b).replace('\0', " "), f))
    });
    h.daemon_age_s = first.and_then(|d| age(proc, d.pid));
    h.step_policy = configs
        .iter()
        .map(|c| {
            let cmd = first
                .filter(|d| d.daemon == c.daemon)
                .and(h.daemon_cmdline.as_ref())
                .map(|s| s.value.as_str());
            step_policy(c, cmd)
        })
        .collect();
    h.boot = Some(boot(root));
    h.cloud = cloud(sys);
    for c in configs {
        for s in c.network_sources() {
            if smears(&s.host) {
                h.smearing.push(s.host.clone());
            } else {
                h.not_smearing.push(s.host.clone());
            }
        }
    }
    for v in [&mut h.smearing, &mut h.not_smearing] {
        v.sort();
        v.dedup();
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch tree, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Tree {
            let p = std::env::temp_dir().join(format!(
                "ntpdiag-host-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tree(p)
        }

        fn put(&self, path: &str, text: &str) -> PathBuf {
            let f = under(&self.0, path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, text).unwrap();
            f
        }

        /// Copies a file of this machine into the tree, if it is readable.
        fn copy(&self, path: &str) -> bool {
            match std::fs::read(path) {
                Ok(b) => {
                    let f = under(&self.0, path);
                    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                    std::fs::write(f, b).unwrap();
                    true
                }
                Err(_) => false,
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// This machine's own files, copied, read as a tree: the same
    /// clocksource and capabilities as read live, and the virtualization
    /// systemd-detect-virt names (its answer is the oracle, where installed).
    #[test]
    fn this_machines_files_as_a_copied_tree() {
        let t = Tree::new("own");
        for f in [
            "/proc/self/status",
            "/proc/cpuinfo",
            "/proc/1/cgroup",
            "/proc/1/environ",
            "/proc/sys/kernel/osrelease",
            "/run/systemd/container",
            "/run/.containerenv",
            "/.dockerenv",
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            "/sys/devices/system/clocksource/clocksource0/available_clocksource",
            "/sys/class/dmi/id/product_name",
            "/sys/class/dmi/id/sys_vendor",
            "/sys/class/dmi/id/board_vendor",
            "/sys/class/dmi/id/bios_vendor",
            "/sys/hypervisor/type",
        ] {
            t.copy(f);
        }
        let h = collect(&t.0, &[], &[]);
        assert!(!host_is_live(&t.0));
        let live = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap();
        assert_eq!(h.clocksource.unwrap().value.current, live.trim());
        let own = h.caps.iter().find(|c| c.value.pid.is_none()).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let bnd = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim();
        assert_eq!(own.value.bounding, u64::from_str_radix(bnd, 16).unwrap());
        // Copied facts are files, never live ones.
        assert!(h.timex.is_none() && h.suspended_s.is_none());
        if let Ok(v) = run("systemd-detect-virt", &[], Duration::from_secs(3)) {
            let v = v.trim();
            match &h.virt {
                Some(x) => assert_eq!(x.value.id, v, "{x:?}"),
                None => assert_eq!(v, "none"),
            }
        }
    }

    #[test]
    fn containers_and_vms_as_systemd_detect_virt_finds_them() {
        let t = Tree::new("virt");
        t.put("/proc/1/cgroup", "0::/\n");
        assert!(virt(&t.0).is_none());
        t.put(
            "/proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n",
        );
        assert_eq!(virt(&t.0).unwrap().value.id, "vm-other");
        t.put("/sys/class/dmi/id/sys_vendor", "QEMU\n");
        assert_eq!(virt(&t.0).unwrap().value.id, "qemu");
        t.put(
            "/sys/class/dmi/id/product_name",
            "VMware Virtual Platform\n",
        );
        assert_eq!(virt(&t.0).unwrap().value.id, "vmware");
        let f = t.put("/proc/1/environ", "");
        std::fs::write(f, b"PATH=/bin\0container=podman\0").unwrap();
        let v = virt(&t.0).unwrap();
        assert!(v.value.container && v.value.id == "podman", "{v:?}");
        assert_eq!(v.from, "/proc/1/environ");
    }

    #[test]
    fn rtc_adjtime_dmi_and_agents_from_a_tree() {
        let t = Tree::new("rtc");
        // Documentation/ABI/testing/sysfs-class-rtc: since_epoch in seconds.
        let f = t.put("/sys/class/rtc/rtc0/since_epoch", "1796003600\n");
        let saved = std::time::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(saved)
            .unwrap();
        // hwclock(8): drift line, last calibration, UTC|LOCAL.
        t.put(
            "/etc/adjtime",
            "0.000000 1796000000 0.000000\n1796000000\nLOCAL\n",
        );
        t.put("/sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
        t.put("/proc/4242/comm", "phc2sys\n");
        let c = t.put("/proc/4242/cmdline", "");
        std::fs::write(c, b"phc2sys\0-s\0eth0\0-w\0").unwrap();
        t.put("/proc/4243/comm", "ptp4l\n");
        let c = t.put("/proc/4243/cmdline", "");
        std::fs::write(c, b"ptp4l\0-i\0eth0\0").unwrap();
        t.put(
            "/sys/bus/vmbus/devices/2dd1ce17-079e-403c-b352-a1921ee207ee/class_id",
            "{9527e630-d0ae-497b-adce-e80ab0175caf}\n",
        );
        t.put(
            "/var/log/dmesg",
            "[    0.000000] Linux version 6.1.0\n[    4.512345] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:\n[    4.512399] tsc: Marking TSC unstable due to clocksource watchdog\n[    4.600000] clocksource: Switched to clocksource hpet\n",
        );
        t.put(
            "/etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service",
            "",
        );
        t.put(
            "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service",
            "",
        );
        t.put(
            "/etc/systemd/system/multi-user.target.wants/chrony.service",
            "",
        );
        t.put("/etc/fake-hwclock.data", "2026-12-01 10:00:00\n");
        std::fs::create_dir_all(t.0.join("run")).unwrap();
        let h = collect(&t.0, &[], &[]);
        let b = h.boot.as_ref().unwrap();
        assert_eq!(
            b.value,
            Boot {
                time_wait_sync: true,
                synchronized_flag: Some(false),
                fake_hwclock: true,
                enabled_units: vec!["chrony.service".into(), "systemd-timesyncd.service".into()],
            }
        );
        let r = h.rtc.unwrap();
        assert_eq!(r.value.ahead_s(), 3600);
        assert_eq!(h.rtc_scale.unwrap().value, RtcScale::Local);
        assert_eq!(h.cloud.unwrap().value.vendor, "aws");
        let sets: Vec<(String, Option<bool>)> = h
            .agents
            .iter()
            .map(|a| (a.value.what.clone(), a.value.sets_clock))
            .collect();
        assert_eq!(
            sets,
            vec![
                ("phc2sys".to_string(), Some(true)),
                ("ptp4l".to_string(), Some(false)),
                ("Hyper-V time sync".to_string(), None)
            ]
        );
        assert_eq!(h.kernel_log.len(), 3, "{:?}", h.kernel_log);
        assert_eq!(h.kernel_log[0].value.line, 2);
    }

    #[test]
    fn step_policies_from_configs_and_flags() {
        use crate::explain::conf::{parse_chrony, parse_ntp};
        let mut c = Config::new(Daemon::Chrony);
        parse_chrony(
            "/etc/chrony/chrony.conf",
            "makestep 1 3\nmaxslewrate 500\n",
            &mut c,
        );
        let p = step_policy(&c, None).value;
        assert_eq!(
            (p.step_over_s, p.step_updates, p.slew_ppm),
            (Some(1.0), Some(3), 500.0)
        );
        let mut n = Config::new(Daemon::Ntpd);
        parse_ntp("/etc/ntpsec/ntp.conf", "tinker panic 0 step 0.5\n", &mut n);
        let p = step_policy(&n, Some("ntpd -g -u ntpsec:ntpsec")).value;
        assert_eq!((p.step_over_s, p.panic_s), (Some(0.5), None));
        let p = step_policy(&Config::new(Daemon::Ntpd), Some("ntpd -x")).value;
        assert_eq!(p.step_over_s, Some(600.0));
    }
}
