//! The host beneath the daemon, as evidence: virtualization, capabilities,
//! the kernel clock, the clocksource, the RTC, other agents that set the
//! clock, the daemon's step policy, the cloud and the smearing servers.
//! Every fact says where it came from ([`Sourced::from`]) and whether it
//! can only be read live ([`Sourced::live`]: an adjtimex call, a running
//! process), as opposed to a file a `--root` tree can hold.
//!
//! Pure: explain's host collector fills it; the node table's host step
//! ([`super::node`]) judges it.

use serde::{Deserialize, Serialize};

/// A fact and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    /// The file or command it was read from (`/sys/class/rtc/rtc0/since_epoch`,
    /// `adjtimex(2)`).
    pub from: String,
    /// Only readable on the running host (a system call, a process): a
    /// copied tree cannot hold it.
    pub live: bool,
}

impl<T> Sourced<T> {
    pub fn file(value: T, from: impl Into<String>) -> Sourced<T> {
        Sourced {
            value,
            from: from.into(),
            live: false,
        }
    }

    pub fn live(value: T, from: impl Into<String>) -> Sourced<T> {
        Sourced {
            value,
            from: from.into(),
            live: true,
        }
    }
}

/// What the host runs in, by systemd-detect-virt's ids (`kvm`, `microsoft`,
/// `vmware`, `xen`, `amazon`, `oracle`, `docker`, `podman`, `lxc`, `wsl`,
/// `container-other`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Virt {
    pub id: String,
    /// A container (shares the host's kernel clock), as opposed to a VM.
    pub container: bool,
}

/// CAP_SYS_TIME's bit in the capability sets of /proc/PID/status.
pub const CAP_SYS_TIME: u32 = 25;

/// A process's capability sets (`CapEff`, `CapBnd` of /proc/PID/status).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Caps {
    /// None: this process (ntpdiag itself).
    pub pid: Option<u32>,
    pub comm: String,
    pub effective: u64,
    pub bounding: u64,
    /// `Seccomp:` 0 none, 1 strict, 2 filter.
    pub seccomp: Option<u8>,
}

impl Caps {
    /// It may set the clock now.
    pub fn sys_time(&self) -> bool {
        self.effective >> CAP_SYS_TIME & 1 == 1
    }

    /// It, and every process it starts, can never gain CAP_SYS_TIME.
    pub fn never_sys_time(&self) -> bool {
        self.bounding >> CAP_SYS_TIME & 1 == 0
    }
}

/// The kernel clock's discipline state (adjtimex(2), read only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelTimex {
    /// STA_UNSYNC.
    pub unsynchronized: bool,
    pub maxerror_us: i64,
    /// The frequency correction in use (ppm).
    pub freq_ppm: f64,
    /// The most the kernel takes (ppm; 500 on Linux).
    pub tolerance_ppm: f64,
    /// TIME_OK 0 … TIME_ERROR 5.
    pub state: i32,
}

impl KernelTimex {
    /// The frequency sits at the kernel's limit: the daemon asked for more
    /// than it may set.
    pub fn saturated(&self) -> bool {
        self.tolerance_ppm > 0.0 && self.freq_ppm.abs() >= self.tolerance_ppm - 0.5
    }
}

/// The clocksource (/sys/devices/system/clocksource/clocksource0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clocksource {
    pub current: String,
    pub available: Vec<String>,
}

/// The RTC against the system clock, read at the same moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rtc {
    /// `rtc0`.
    pub device: String,
    /// Its time as the kernel reads it (seconds since 1970, taking the RTC
    /// for UTC): `since_epoch`.
    pub rtc_epoch: i64,
    /// The system clock when it was read (or, in a copied tree, the time
    /// the tree was saved: the file `since_epoch`'s modification time).
    pub system_epoch: i64,
}

impl Rtc {
    /// RTC minus system clock (s).
    pub fn ahead_s(&self) -> i64 {
        self.rtc_epoch - self.system_epoch
    }
}

/// The RTC's time scale as /etc/adjtime's third line or timedatectl says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RtcScale {
    Utc,
    Local,
}

/// Another agent that can set the clock, and how it was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// `vmtoolsd`, `VBoxService`, `phc2sys`, `ptp4l`, `hv_utils`.
    pub what: String,
    pub pid: Option<u32>,
    /// It is set to keep the clock: VMware Tools' periodic sync enabled,
    /// phc2sys steering CLOCK_REALTIME, ptp4l with software timestamps
    /// (`-S`, it sets the system clock itself). None: not known.
    pub sets_clock: Option<bool>,
    /// How it was judged so.
    pub detail: String,
}

/// How a daemon treats a large offset, from its configuration and command
/// line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepPolicy {
    pub daemon: String,
    /// Offsets over this are stepped (s); None: it never steps once running.
    pub step_over_s: Option<f64>,
    /// It steps only in its first updates (chrony `makestep T N`, N > 0).
    pub step_updates: Option<i64>,
    /// It exits past this offset (ntpd's panic threshold); None: no limit.
    pub panic_s: Option<f64>,
    /// Its fastest slew (ppm).
    pub slew_ppm: f64,
    /// The lines and flags it comes from.
    pub written: Vec<String>,
}

impl StepPolicy {
    /// How long slewing `offset_s` takes at its fastest rate (s).
    pub fn slew_time_s(&self, offset_s: f64) -> f64 {
        offset_s.abs() / (self.slew_ppm * 1e-6)
    }
}

/// The cloud this VM runs in, from DMI, with its time source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cloud {
    /// `aws`, `gcp`, `azure`, `oracle`.
    pub vendor: String,
    /// What the vendor documents as its time source, as a config line.
    pub source: String,
    /// Names or addresses that are that source in a configuration.
    pub matches: Vec<String>,
}

/// What the boot order says about time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Boot {
    /// systemd-time-wait-sync.service is enabled: units after
    /// time-sync.target wait until the kernel says the clock is synchronized.
    pub time_wait_sync: bool,
    /// /run/systemd/timesync/synchronized exists (timesyncd synchronized
    /// once since boot); None in a copied tree without /run.
    pub synchronized_flag: Option<bool>,
    /// /etc/fake-hwclock.data: no RTC; each boot starts from the last saved
    /// time.
    pub fake_hwclock: bool,
    /// Time daemons' units enabled to start at boot.
    pub enabled_units: Vec<String>,
}

/// A line of the kernel's log about the clocksource or the clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelLine {
    pub line: usize,
    pub text: String,
}

/// Everything the host step reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub virt: Option<Sourced<Virt>>,
    /// PTP clocks: (device, clock_name).
    pub ptp: Vec<Sourced<(String, String)>>,
    /// The time daemons' capabilities and this process's.
    pub caps: Vec<Sourced<Caps>>,
    pub timex: Option<Sourced<KernelTimex>>,
    pub clocksource: Option<Sourced<Clocksource>>,
    /// The kernel's own clocksource and clock messages.
    pub kernel_log: Vec<Sourced<KernelLine>>,
    pub rtc: Option<Sourced<Rtc>>,
    pub rtc_scale: Option<Sourced<RtcScale>>,
    pub agents: Vec<Sourced<Agent>>,
    pub step_policy: Vec<Sourced<StepPolicy>>,
    pub cloud: Option<Sourced<Cloud>>,

    /// Seconds the host spent suspended since boot (CLOCK_BOOTTIME −
    /// CLOCK_MONOTONIC).
    pub suspended_s: Option<Sourced<f64>>,
    /// The running daemon's command line (/proc/PID/cmdline).
    pub daemon_cmdline: Option<Sourced<String>>,
    /// The running daemon's age (s), from /proc/PID/stat.
    pub daemon_age_s: Option<Sourced<f64>>,
    /// Boot order: systemd-time-wait-sync enabled, timesyncd's
    /// synchronized flag file present, fake-hwclock's saved time, the time
    /// daemons' units enabled to start at boot.
    pub boot: Option<Sourced<Boot>>,
    /// Known leap-smearing servers among the configured sources, and the
    /// configured sources not known to smear.
    pub smearing: Vec<String>,
    pub not_smearing: Vec<String>,
    /// Host facts that could not be read: (what, why).
    pub unread: Vec<(String, String)>,
}

/// Servers known to smear leap seconds (their operators say so): Google
/// Public NTP and the GCE metadata server, the Amazon Time Sync Service and
/// AWS's public NTP, Meta's public NTP.
pub fn smears(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    matches!(
        h.as_str(),
        "time.google.com"
            | "time1.google.com"
            | "time2.google.com"
            | "time3.google.com"
            | "time4.google.com"
            | "metadata.google.internal"
            | "metadata.google"
            | "169.254.169.254"
            | "169.254.169.123"
            | "fd00:ec2::123"
            | "time.aws.com"
            | "time.facebook.com"
            | "time1.facebook.com"
            | "time2.facebook.com"
            | "time3.facebook.com"
            | "time4.facebook.com"
            | "time5.facebook.com"
    )
}

/// The cloud a DMI `sys_vendor`/`product_name`/`chassis_asset_tag` names,
/// and its time source (each vendor's documentation): AWS's Amazon Time
/// Sync Service at 169.254.169.123 (fd00:ec2::123 on Nitro), GCE's metadata
/// server, Azure's PTP clock from the host (/dev/ptp_hyperv), Oracle
/// Cloud's 169.254.169.254.
pub fn cloud_of(sys_vendor: &str, product: &str, asset_tag: &str, bios: &str) -> Option<Cloud> {
    let c = |vendor: &str, source: &str, matches: &[&str]| Cloud {
        vendor: vendor.into(),
        source: source.into(),
        matches: matches.iter().map(|s| s.to_string()).collect(),
    };
    let v = sys_vendor.trim();
    if v.starts_with("Amazon EC2") || bios.trim().starts_with("Amazon EC2") {
        Some(c(
            "aws",
            "server 169.254.169.123 prefer iburst",
            &["169.254.169.123", "fd00:ec2::123"],
        ))
    } else if v.starts_with("Google") || product.trim().starts_with("Google Compute Engine") {
        Some(c(
            "gcp",
            "server metadata.google.internal prefer iburst",
            &[
                "metadata.google.internal",
                "metadata.google",
                "169.254.169.254",
            ],
        ))
    } else if asset_tag.trim() == "7783-7084-3265-9085-8269-3286-77" {
        Some(c(
            "azure",
            "refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2",
            &["/dev/ptp_hyperv", "ptp_hyperv"],
        ))
    } else if asset_tag.trim() == "OracleCloud.com" {
        Some(c(
            "oracle",
            "server 169.254.169.254 prefer iburst",
            &["169.254.169.254"],
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_bits() {
        // This machine's CapEff (docker's default plus more): bit 25 set.
        let c = Caps {
            pid: None,
            comm: "x".into(),
            effective: 0x1fffeffffff,
            bounding: 0x1fffeffffff,
            seccomp: Some(0),
        };
        assert!(c.sys_time() && !c.never_sys_time());
        // Docker's default set (no CAP_SYS_TIME): 00000000a80425fb.
        let d = Caps {
            effective: 0xa80425fb,
            bounding: 0xa80425fb,
            ..c
        };
        assert!(!d.sys_time() && d.never_sys_time());
    }

    #[test]
    fn clouds_from_dmi() {
        assert_eq!(
            cloud_of("Amazon EC2", "m5.large", "", "").unwrap().vendor,
            "aws"
        );
        assert_eq!(
            cloud_of("Xen", "HVM domU", "", "Amazon EC2")
                .unwrap()
                .vendor,
            "aws"
        );
        assert_eq!(
            cloud_of("Google", "Google Compute Engine", "", "")
                .unwrap()
                .vendor,
            "gcp"
        );
        assert_eq!(
            cloud_of(
                "Microsoft Corporation",
                "Virtual Machine",
                "7783-7084-3265-9085-8269-3286-77",
                ""
            )
            .unwrap()
            .vendor,
            "azure"
        );
        // Hyper-V on premises is no cloud.
        assert!(cloud_of("Microsoft Corporation", "Virtual Machine", "", "").is_none());
        assert!(cloud_of("QEMU", "Standard PC", "", "").is_none());
    }

    #[test]
    fn slew_time() {
        let p = StepPolicy {
            daemon: "chronyd".into(),
            step_over_s: None,
            step_updates: None,
            panic_s: None,
            slew_ppm: 83333.333,
            written: vec![],
        };
        // chrony's default maxslewrate: 83 ms/s, so 300 s takes an hour.
        assert!((p.slew_time_s(300.0) - 3600.0).abs() < 1.0);
    }
}
