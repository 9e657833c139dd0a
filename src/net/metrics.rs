//! `watch --metrics ADDR`: OpenMetrics text for Prometheus
//! (`prometheus-client`), served over plain HTTP. Labels are the configured
//! sources' names and addresses (low cardinality); nothing is resolved at
//! scrape time: the gauges are set when a snapshot is taken.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::client::{Snapshot, Status, SysStatus};

type Labels = Vec<(String, String)>;
type F64 = Gauge<f64, AtomicU64>;

/// Every state a source can be in (one gauge each, 0 or 1): the engine's ids.
pub const STATES: [&str; 11] = Status::IDS;

fn state_id(s: &Status) -> &'static str {
    s.id()
}

#[derive(Default)]
struct Gauges {
    state: Family<Labels, Gauge>,
    reach: Family<Labels, Gauge>,
    heard: Family<Labels, Gauge>,
    offset: Family<Labels, F64>,
    delay: Family<Labels, F64>,
    jitter: Family<Labels, F64>,
    root_distance: Family<Labels, F64>,
    sys_synchronized: Gauge,
    sys_offset: F64,
    sys_jitter: F64,
    sys_candidates: Gauge,
    sys_truechimers: Gauge,
    cause: Family<Labels, Gauge>,
    sys_cause: Family<Labels, Gauge>,
}

/// The registry and its gauges.
pub struct Metrics {
    registry: Registry,
    g: Gauges,
    /// Each source's cause series now (one per source: a cause that no
    /// longer holds is removed, so the series stay as many as the sources).
    causes: std::collections::HashMap<(String, String), Labels>,
    sys_cause: Option<Labels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let g = Gauges::default();
        let mut r = Registry::with_prefix("ntpdiag");
        r.register(
            "source_state",
            "1 for the state the source is in",
            g.state.clone(),
        );
        r.register(
            "source_reach",
            "reach register (usable replies, as ntpd keeps it)",
            g.reach.clone(),
        );
        r.register(
            "source_heard",
            "reach register counting every reply",
            g.heard.clone(),
        );
        r.register(
            "source_offset_seconds",
            "clock filter offset",
            g.offset.clone(),
        );
        r.register(
            "source_delay_seconds",
            "clock filter delay",
            g.delay.clone(),
        );
        r.register(
            "source_jitter_seconds",
            "clock filter jitter",
            g.jitter.clone(),
        );
        r.register(
            "source_root_distance_seconds",
            "root distance",
            g.root_distance.clone(),
        );
        r.register(
            "system_synchronized",
            "1 when a system peer is chosen",
            g.sys_synchronized.clone(),
        );
        r.register(
            "system_offset_seconds",
            "combined offset",
            g.sys_offset.clone(),
        );
        r.register(
            "system_jitter_seconds",
            "system jitter",
            g.sys_jitter.clone(),
        );
        r.register(
            "system_candidates",
            "sources that passed the fit tests",
            g.sys_candidates.clone(),
        );
        r.register(
            "system_truechimers",
            "candidates in the intersection",
            g.sys_truechimers.clone(),
        );
        r.register(
            "source_cause",
            "1, with the cause id watch gives the source now (its WHY) and the cause's class; one series per source",
            g.cause.clone(),
        );
        r.register(
            "system_cause",
            "1, with the cause id watch gives the system now and its class",
            g.sys_cause.clone(),
        );
        Metrics {
            registry: r,
            g,
            causes: Default::default(),
            sys_cause: None,
        }
    }

    /// Sets every gauge from a snapshot, the causes judged under `rules`.
    pub fn update(&mut self, s: &Snapshot, rules: &crate::engine::client::Rules) {
        for src in &s.sources {
            let v = crate::diagnose::watch::source(src, rules, s);
            let ls: Labels = vec![
                ("source".into(), src.name.clone()),
                ("address".into(), src.addr.to_string()),
                ("cause".into(), v.cause.id().to_string()),
                ("class".into(), v.cause.class().id().to_string()),
            ];
            let key = (src.name.clone(), src.addr.to_string());
            if let Some(old) = self.causes.insert(key, ls.clone())
                && old != ls
            {
                self.g.cause.remove(&old);
            }
            self.g.cause.get_or_create(&ls).set(1);
        }
        let v = crate::diagnose::watch::system(s, rules);
        let ls: Labels = vec![
            ("cause".into(), v.cause.id().to_string()),
            ("class".into(), v.cause.class().id().to_string()),
        ];
        if let Some(old) = self.sys_cause.replace(ls.clone())
            && old != ls
        {
            self.g.sys_cause.remove(&old);
        }
        self.g.sys_cause.get_or_create(&ls).set(1);
        self.update_values(s);
    }

    fn update_values(&self, s: &Snapshot) {
        for src in &s.sources {
            let l: Labels = vec![
                ("source".into(), src.name.clone()),
                ("address".into(), src.addr.to_string()),
            ];
            let now = state_id(&src.status);
            for st in STATES {
                let mut ls = l.clone();
                ls.push(("state".into(), st.into()));
                self.g.state.get_or_create(&ls).set(i64::from(st == now));
            }
            self.g.reach.get_or_create(&l).set(i64::from(src.reach));
            self.g.heard.get_or_create(&l).set(i64::from(src.heard));
            self.g.offset.get_or_create(&l).set(src.offset);
            self.g.delay.get_or_create(&l).set(src.delay);
            self.g.jitter.get_or_create(&l).set(src.jitter);
            self.g
                .root_distance
                .get_or_create(&l)
                .set(src.root_distance);
        }
        self.g
            .sys_synchronized
            .set(i64::from(s.system.status == SysStatus::Synchronized));
        self.g.sys_offset.set(s.system.offset);
        self.g.sys_jitter.set(s.system.jitter);
        self.g.sys_candidates.set(s.system.candidates as i64);
        self.g.sys_truechimers.set(s.system.truechimers as i64);
    }

    /// The OpenMetrics text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

/// A running metrics endpoint.
pub struct Endpoint {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `metrics` on `addr` (port 0: any free port; see `Endpoint::addr`),
/// one connection at a time, each bounded by a 2 s read/write timeout.
pub fn serve(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>) -> std::io::Result<Endpoint> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    let bound = l.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let thread = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
                    let mut req = [0u8; 8192];
                    let n = c.read(&mut req).unwrap_or(0);
                    let get = req[..n].starts_with(b"GET ");
                    let body = if get {
                        metrics.lock().map(|m| m.text()).unwrap_or_default()
                    } else {
                        String::new()
                    };
                    let head = if get {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                    };
                    let _ = c.write_all(head.as_bytes());
                    let _ = c.write_all(body.as_bytes());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    Ok(Endpoint {
        addr: bound,
        stop,
        thread: Some(thread),
    })
}
