//! OpenNTPD, the real one (Debian's openntpd 6.2p3, unpacked beside
//! ntpsec), in namespaces: what `ntpctl` prints and what it logs, read by
//! explain; and how explain tells its processes from ntpsec's.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// ntpsec's ntpd in orphan mode, waited for until it answers leap 0
/// (OpenNTPD backs off for ~50 minutes from a server that answers "not
/// synced").
fn healthy_server(p: &Pair) -> Proc {
    let srv = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let o = p.server.exec(&["ntpq", "-c", "rv 0 leap", "127.0.0.1"]);
        if String::from_utf8_lossy(&o.stdout).contains("leap=00") {
            return srv;
        }
        assert!(Instant::now() < end, "the ntpsec server never left leap 3");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What every test here needs: OpenNTPD, ntpsec's ntpd and ntpq as its
/// server, and what runs it safely (capsh, unshare, nsenter, gcc).
fn require_openntpd() -> bool {
    let bin = format!("{}/ntpd", openntpd_dir());
    require(
        "openntpd",
        &[
            "ip", "ss", "ntpd", "ntpq", "capsh", "unshare", "nsenter", "gcc", &bin,
        ],
    )
}

/// OpenNTPD with one healthy server and one address where no host is:
/// before it syncs, its log says the empty address never answers; once it
/// syncs, ntpctl and the log say ok, the silent peer aside.
#[test]
fn openntpd_syncs_and_says_so() {
    if !require_openntpd() {
        return;
    }
    let p = Pair::new();
    let _srv = healthy_server(&p);
    let d = TempDir::new();
    let mut o = openntpd(
        &p.client,
        &d,
        &format!("server {SERVER}\nserver 198.51.100.7\n"),
    );
    // Its processes: the parent keeps its command line, its children
    // retitle themselves ("ntpd: ntp engine"); explain tells it from ntpsec.
    std::thread::sleep(Duration::from_secs(2));
    let pid = o.pid();
    let own = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut kids = vec![];
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        for c in std::fs::read_to_string(t.path().join("children"))
            .unwrap_or_default()
            .split_whitespace()
        {
            let b = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            kids.push(String::from_utf8_lossy(&b).replace('\0', " "));
        }
    }
    assert!(kids.iter().any(|k| k.contains("ntp engine")), "{kids:?}");
    let own = String::from_utf8_lossy(&own).replace('\0', " ");
    assert_eq!(
        ntpdiag::diagnose::node::Daemon::of_ntpd(&own, kids.iter().map(String::as_str)),
        ntpdiag::diagnose::node::Daemon::Openntpd
    );
    assert_eq!(
        ntpdiag::diagnose::node::Daemon::of_ntpd(
            "/usr/sbin/ntpd -p /run/ntpd.pid -c /etc/ntpsec/ntp.conf -g -N -u ntpsec:ntpsec",
            []
        ),
        ntpdiag::diagnose::node::Daemon::Ntpd
    );

    // Before it syncs: the empty address timed out (client.c's debug line,
    // which -vv prints).
    let early = log_until(
        &mut o,
        "no reply from 198.51.100.7",
        Duration::from_secs(60),
    );
    assert!(early.contains("no reply from 198.51.100.7"), "{early}");
    if !early.contains("clock is now synced") {
        let (r, _) = explain_paste(&early);
        assert_eq!(r.verdict.cause, "no-reply", "{early}\n{r:#?}");
        assert!(
            r.verdict
                .evidence
                .iter()
                .any(|e| e.contains("198.51.100.7")),
            "{r:#?}"
        );
    }

    // OpenNTPD calls itself synced at its second clock adjustment whose
    // previous one has completed (ntpd.c ntpd_adjtime()); each needs a
    // fresh filter of good replies, polled every ~30 s once the peer is
    // trusted (seen: about 105 s in a run of its own; over 240 s under the
    // whole suite's load).
    let log = log_until(&mut o, "clock is now synced", Duration::from_secs(480));
    assert!(log.contains("clock is now synced"), "{log}");
    let all = ntpctl(&o, "all");
    let status = ntpctl(&o, "status");
    keep_output("real-openntpd-log-synced", &log);
    keep_output("real-ntpctl-all-synced", &all);
    assert!(all.contains("clock synced"), "{all}");
    for text in [
        log.clone(),
        log.lines()
            .map(|l| format!("Dec  7 10:00:00 node1 ntpd[812]: {l}\n"))
            .collect(),
        all.clone(),
        format!("$ ntpctl -s status\n{status}"),
    ] {
        let (r, _) = explain_paste(&text);
        assert_eq!(r.verdict.cause, "ok", "{text}\n{r:#?}");
    }
    let (r, _) = explain_paste(&all);
    assert!(r.blocks.iter().any(|b| b.kind == "Ntpctl"), "{r:#?}");
    assert!(r.verdict.summary.contains(SERVER), "{r:#?}");
}

/// An upstream that is not synchronized: OpenNTPD says `reply from …: not
/// synced (alarm)`, and explain names the upstream.
#[test]
fn openntpd_unsynchronized_upstream() {
    if !require_openntpd() {
        return;
    }
    let p = Pair::new();
    // A fresh ntpd without sources answers leap 3, stratum 0 (INIT).
    let _srv = ntpd(&p.server, &p.dir, "");
    let d = TempDir::new();
    let mut o = openntpd(&p.client, &d, &format!("server {SERVER}\n"));
    let log = log_until(&mut o, "not synced", Duration::from_secs(60));
    assert!(log.contains("not synced (alarm)"), "{log}");
    let all = ntpctl(&o, "all");
    keep_output("real-openntpd-log-unsynced-upstream", &log);
    keep_output("real-ntpctl-all-unsynced-upstream", &all);
    let (r, _) = explain_paste(&log);
    assert_eq!(r.verdict.cause, "upstream-unsynchronized", "{log}\n{r:#?}");
    // ntpctl alone cannot say why the peer is not valid: never ok.
    let (r, _) = explain_paste(&all);
    assert_ne!(r.verdict.cause, "ok", "{all}\n{r:#?}");
    assert!(r.blocks.iter().any(|b| b.kind == "Ntpctl"), "{all}\n{r:#?}");
}

/// explain on a node that runs OpenNTPD: it tells OpenNTPD from ntpsec by
/// its processes, reads /etc/openntpd/ntpd.conf and asks `ntpctl -s all`;
/// its server answers unsynchronized, and that is a finding. The test runs
/// OpenNTPD without CAP_SYS_TIME (so that it cannot touch the host's
/// clock), and the host step says so first: its /proc/PID/status.
#[test]
fn explain_finds_openntpd_on_the_node() {
    if !require_openntpd() {
        return;
    }
    let p = Pair::new();
    let _srv = ntpd(&p.server, &p.dir, "");
    let root = TempDir::new();
    let etc = root.path().join("etc/openntpd");
    std::fs::create_dir_all(&etc).unwrap();
    let conf = etc.join("ntpd.conf");
    std::fs::write(&conf, format!("server {SERVER}\n")).unwrap();
    let mut o = openntpd_with(&p.client, &root, &conf);
    let log = log_until(&mut o, "not synced", Duration::from_secs(60));
    assert!(log.contains("not synced"), "{log}");
    let (r, text) = explain_node_in(o.pid(), root.path(), &openntpd_dir());
    let cfg = r.config.as_ref().unwrap_or_else(|| panic!("{text}"));
    assert_eq!(cfg.daemon, "openntpd", "{text}");
    assert!(r.blocks.iter().any(|b| b.kind == "Ntpctl"), "{text}");
    assert_eq!(r.verdict.cause, "clock-not-settable", "{text}");
    assert!(
        r.verdict
            .evidence
            .iter()
            .any(|e| e.contains(&format!("/proc/{}/status", o.pid()))),
        "{text}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.verdict.cause == "upstream-unsynchronized"),
        "{text}"
    );
}
