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

/// The log until it holds `what`, or `limit` passes.
fn log_until(p: &mut Proc, what: &str, limit: Duration) -> String {
    let end = std::time::Instant::now() + limit;
    loop {
        let t = p.log_text();
        if t.contains(what) || std::time::Instant::now() > end {
            return t;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
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
