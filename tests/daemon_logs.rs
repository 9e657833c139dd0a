//! explain on daemon logs recorded from real daemons in namespaces:
//! chronyd's own `-d` log (logging.c's `TIME MESSAGE`), also rewritten as
//! syslog and the journal print it.

mod common;

use std::time::Duration;

use common::*;

/// A daemon's own log rewritten as syslog prints it: its time replaced
/// by `Dec  7 10:00:00 node1`, and `PROGRAM[812]:` put before lines that
/// carry none (chronyd's `TIME MESSAGE`; ntpsec's `TIME ntpd[PID]: …`
/// keeps its own).
fn as_syslog(log: &str, program: &str) -> String {
    log.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(_, m)| {
            if m.starts_with(&format!("{program}[")) {
                format!("Dec  7 10:00:00 node1 {m}\n")
            } else {
                format!("Dec  7 10:00:00 node1 {program}[812]: {m}\n")
            }
        })
        .collect()
}

#[test]
fn chronyd_logs_as_it_writes_them() {
    if !require("chronyd logs", &["ip", "ss", &chronyd_path()]) {
        return;
    }
    let p = Pair::new();
    let _srv = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    // A healthy client: "Selected source …".
    {
        let d = TempDir::new();
        let mut c = chronyd_client(
            &p.client,
            &d,
            &format!("port 0\nserver {SERVER} iburst minpoll 0 maxpoll 0"),
        );
        let log = log_until(&mut c, "Selected source", Duration::from_secs(20));
        assert!(log.contains("Selected source"), "{log}");
        keep_output("real-chronyd-log-selected", &log);
        for text in [log.clone(), as_syslog(&log, "chronyd")] {
            let (r, _) = explain_paste(&text);
            assert_eq!(r.verdict.cause, "ok", "{text}\n{r:#?}");
            assert!(r.blocks.iter().any(|b| b.kind == "DaemonLog"), "{r:#?}");
        }
    }
    // Selected, then the server goes silent: chrony 4.3 reports the loss
    // ("Can't synchronise: no selectable sources …", sources.c) once the
    // source is unreachable; the log's newest state stands.
    {
        let d = TempDir::new();
        let mut c = chronyd_client(
            &p.client,
            &d,
            &format!("port 0\nserver {SERVER} iburst minpoll 0 maxpoll 0"),
        );
        let log = log_until(&mut c, "Selected source", Duration::from_secs(20));
        assert!(log.contains("Selected source"), "{log}");
        p.server.exec_ok(&[
            "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
        ]);
        let log = log_until(&mut c, "Can't synchronise", Duration::from_secs(40));
        p.server.exec_ok(&["iptables", "-F", "INPUT"]);
        keep_output("real-chronyd-log-lost", &log);
        assert!(log.contains("Can't synchronise"), "{log}");
        for text in [log.clone(), as_syslog(&log, "chronyd")] {
            let (r, _) = explain_paste(&text);
            assert_ne!(r.verdict.cause, "ok", "{text}\n{r:#?}");
            assert_eq!(r.verdict.cause, "no-reply", "{text}\n{r:#?}");
        }
    }
}

/// ntpd (ntpsec) in a namespace, its own log (`-n`: msyslog's `TIME
/// ntpd[PID]: PROTO: …` event reports, which ntpd logs with `logconfig`
/// sysevents/peerevents; its default mask, NLOG_SYNCMASK, leaves them out):
/// once it chooses its server, the log says ok, also rewritten as syslog.
#[test]
fn ntpd_logs_as_it_writes_them() {
    if !require("ntpd logs", &["ip", "ss", "ntpd", "ntpq"]) {
        return;
    }
    let p = Pair::new();
    let ctl = TempDir::new();
    let _ctl = ntpd(&p.server, &ctl, "tos orphan 5 orphanwait 1");
    let d = TempDir::new();
    let mut n = ntpd(
        &p.client,
        &d,
        &format!("logconfig =syncall +peerall +sysall\nserver {SERVER} iburst minpoll 3 maxpoll 3"),
    );
    let log = log_until(&mut n, "sys_peer", Duration::from_secs(40));
    let table = String::from_utf8_lossy(&p.client.exec(&["ntpq", "-pn"]).stdout).to_string();
    assert!(log.contains("sys_peer"), "{table}\n{log}");
    keep_output("real-ntpd-log-sys-peer", &log);
    for text in [log.clone(), as_syslog(&log, "ntpd")] {
        let (r, _) = explain_paste(&text);
        assert_eq!(r.verdict.cause, "ok", "{text}\n{r:#?}");
        assert!(r.blocks.iter().any(|b| b.kind == "DaemonLog"), "{r:#?}");
    }
}

/// chronyd without CAP_SYS_TIME and without -x: it stops at its first clock
/// adjustment (`Fatal error : adjtimex(0x8001) failed : Operation not
/// permitted`, sys_timex.c), and the log says the clock is not this
/// daemon's to set (clock-not-settable, before daemon-not-running), citing
/// that line and its time. The capability is dropped from the
/// bounding set first (and checked), so the clock cannot change.
#[test]
fn chronyd_without_cap_sys_time() {
    if !require(
        "chronyd without CAP_SYS_TIME",
        &["ip", "capsh", &chronyd_path()],
    ) {
        return;
    }
    let ns = Netns::new();
    let d = TempDir::new();
    let conf = d.file(
        "chrony.conf",
        &format!(
            "server 127.0.0.1 iburst\ndriftfile {0}/drift\npidfile {0}/pid\ncmdport 0\nport 0\n",
            d.path().display()
        ),
    );
    let caps = ns.exec_ok(&[
        "capsh",
        "--drop=cap_sys_time",
        "--",
        "-c",
        "grep CapBnd /proc/self/status",
    ]);
    let bnd = String::from_utf8_lossy(&caps.stdout);
    let mask = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap_or("ffff"), 16)
        .unwrap_or(u64::MAX);
    assert_eq!(
        mask & (1 << 25),
        0,
        "CAP_SYS_TIME still in the bounding set: {bnd}"
    );
    let o = run_bounded(
        ns.cmd(&[
            "capsh",
            "--drop=cap_sys_time",
            "--",
            "-c",
            &format!("exec {} -f {} -d -u root", chronyd_path(), conf.display()),
        ])
        .stdin(std::process::Stdio::null()),
        Duration::from_secs(20),
    );
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(log.contains("Fatal error : adjtimex"), "{log}");
    keep_output("real-chronyd-log-no-cap-sys-time", &log);
    for text in [log.clone(), as_syslog(&log, "chronyd")] {
        let (r, _) = explain_paste(&text);
        assert_eq!(r.verdict.cause, "clock-not-settable", "{text}\n{r:#?}");
        assert!(
            r.verdict
                .evidence
                .iter()
                .any(|e| e.contains("adjtimex") && e.contains("line ")),
            "{r:#?}"
        );
    }
}
