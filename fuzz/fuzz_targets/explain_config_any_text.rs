//! Any text as ntp.conf, chrony.conf, timesyncd.conf, OpenNTPD's ntpd.conf
//! and ntpd-rs's ntp.toml, then judged as a
//! node's only evidence (and as the local daemon's own output): no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::explain::conf::{
    Config, Daemon, parse_chrony, parse_ntp, parse_ntpd_rs, parse_openntpd, parse_timesyncd,
};
use ntpdiag::explain::firewall::{parse_iptables, parse_nft};
use ntpdiag::explain::node::{NodeEvidence, findings};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut a = Config::new(Daemon::Ntpd);
    parse_ntp("f", &text, &mut a);
    let mut b = Config::new(Daemon::Chrony);
    parse_chrony("f", &text, &mut b);
    let mut c = Config::new(Daemon::Timesyncd);
    parse_timesyncd("f", &text, &mut c);
    let mut o = Config::new(Daemon::Openntpd);
    parse_openntpd("f", &text, &mut o);
    let mut r = Config::new(Daemon::NtpdRs);
    parse_ntpd_rs("f", &text, &mut r);
    let mut fw = parse_iptables("iptables", &text);
    fw.extend(parse_nft(&text, false));
    let ev = NodeEvidence {
        configs: vec![a, b, c, o, r],
        firewall: fw,
        firewall_read: Some(vec![]),
        daemon_output: vec![text.to_string()],
        ..NodeEvidence::default()
    };
    assert!(!findings(&ev).is_empty());
});
