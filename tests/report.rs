//! `ntpdiag report` opened in a real browser (Debian's headless Chromium):
//! from a real `watch --json` of loopback servers (one healthy, one 300 ms
//! off, one unsynchronized) and an `explain --json` document, the page
//! loads without a console message, its DOM holds every series and every
//! event and verdict, the selection's bars are the snapshot's own
//! intervals, and its screenshot is the size asked and not blank.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Every value of `attr` in `text`, in order.
fn attrs<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!("{attr}=\"");
    text.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &text[i + pat.len()..];
            rest.find('"').map(|j| &rest[..j])
        })
        .collect()
}

/// Headless Chromium on `args`, inside a network namespace of its own (no
/// route anywhere: whatever the browser would fetch by itself goes nowhere).
fn chromium(args: &[&str]) -> std::process::Output {
    let ns = Netns::new();
    let mut c = ns.cmd(&[
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    c.args(args);
    run_bounded(&mut c, Duration::from_secs(90))
}

#[test]
fn the_report_in_a_real_browser() {
    if !require("report in a browser", &["ip", "chromium"]) {
        return;
    }
    let d = TempDir::new();
    let servers = [
        serve_loopback(&[]),
        serve_loopback(&["--offset", "300ms"]),
        serve_loopback(&["--unsynchronized"]),
    ];
    let addrs: Vec<&str> = servers.iter().map(|s| s.1.as_str()).collect();
    let mut watch = vec!["watch", "--json", "--minpoll", "3", "--count", "4"];
    watch.extend(&addrs);
    let o = run_bounded(
        Command::new(ntpdiag()).args(&watch),
        Duration::from_secs(120),
    );
    drop(servers);
    let lines = String::from_utf8_lossy(&o.stdout).to_string();
    let w = d.file("watch.jsonl", &lines);
    let e = run_bounded(
        Command::new(ntpdiag()).args(["explain", "--json"]).arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/outputs/seed-compute-all.txt"),
        ),
        Duration::from_secs(30),
    );
    let x = d.file("explain.json", &String::from_utf8_lossy(&e.stdout));
    let html = d.path().join("report.html");
    let r = run_bounded(
        Command::new(ntpdiag())
            .arg("report")
            .arg(&w)
            .arg(&x)
            .arg("-o")
            .arg(&html),
        Duration::from_secs(60),
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let url = format!("file://{}", html.display());
    let dom = chromium(&["--dump-dom", &url]);
    let page = String::from_utf8_lossy(&dom.stdout).to_string();
    let log = String::from_utf8_lossy(&dom.stderr).to_string();
    assert!(page.contains("ntpdiag report"), "{page}");
    assert!(!log.contains(":CONSOLE"), "console messages: {log}");
    // Nothing fetched: no URL in the page but the document's own.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );

    let docs: Vec<serde_json::Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let snaps: Vec<&serde_json::Value> = docs.iter().filter(|v| v["type"] == "snapshot").collect();
    let last = snaps.last().expect("snapshots");
    // Every source's series, in every chart.
    let series = attrs(&page, "data-series");
    for s in last["sources"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        for chart in ["offset", "delay", "jitter", "poll"] {
            assert!(
                series.contains(&format!("{chart}:{name}").as_str()),
                "{chart}:{name} in {series:?}"
            );
        }
    }
    // Every event, and the explain verdict, as an annotation.
    let events = docs.iter().filter(|v| v["type"] == "event").count();
    let annotated: Vec<&str> = page
        .match_indices("class=\"annotation\"")
        .map(|(i, _)| &page[i..])
        .collect();
    assert_eq!(annotated.len(), events + 1, "{events} events + 1 verdict");
    assert!(
        page.contains("data-cause=\"no-reply\""),
        "the seed's verdict"
    );
    // The newest selection picture: its bars are the newest snapshot's
    // intervals (offset ± root distance), its band the intersection.
    let fig = &page[page.rfind("<figure class=\"chart selection\"").unwrap()..];
    let fig = &fig[..fig.find("</figure>").unwrap()];
    let srcs = attrs(fig, "data-source");
    let lo: Vec<f64> = attrs(fig, "data-lo")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let hi: Vec<f64> = attrs(fig, "data-hi")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let band = last["system"]["interval"]
        .as_array()
        .map(|a| (a[0].as_f64().unwrap(), a[1].as_f64().unwrap()));
    let skip = usize::from(band.is_some());
    if let Some((a, b)) = band {
        assert!(
            (lo[0] - a).abs() < 1e-12 && (hi[0] - b).abs() < 1e-12,
            "{fig}"
        );
    }
    assert!(!srcs.is_empty(), "{fig}");
    for (k, name) in srcs.iter().enumerate() {
        let s = last["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == *name)
            .unwrap();
        let (o, rd) = (
            s["offset_s"].as_f64().unwrap(),
            s["root_distance_s"].as_f64().unwrap(),
        );
        assert!((lo[k + skip] - (o - rd)).abs() < 1e-12, "{name}: {fig}");
        assert!((hi[k + skip] - (o + rd)).abs() < 1e-12, "{name}: {fig}");
    }
    // A screenshot of the size asked, not blank.
    let png = d.path().join("report.png");
    let shot = chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1000,1600",
        &url,
    ]);
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1000, 1600));
    let px = &buf[..info.buffer_size()];
    let distinct: std::collections::BTreeSet<&[u8]> = px.chunks(3).take(1000 * 1600).collect();
    assert!(
        distinct.len() > 20,
        "a blank page: {} colors",
        distinct.len()
    );
    // The README's picture is this one (NTPDIAG_UPDATE_FIXTURES=1).
    if std::env::var("NTPDIAG_UPDATE_FIXTURES").as_deref() == Ok("1") {
        let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("doc/report.png");
        std::fs::copy(&png, doc).unwrap();
    }
}

/// The daemons' own statistics, as real chronyd (-x: it never touches the
/// clock) and real ntpsec ntpd (`disable ntp`) write them, drawn: chrony's
/// measurements.log per source and tracking.log's offset and frequency,
/// ntpd's peerstats per source; the page loads in Chromium with every
/// series.
#[test]
fn daemon_statistics_in_the_report() {
    if !require(
        "daemon statistics report",
        &["ip", "ss", "ntpd", "chromium", &chronyd_path()],
    ) {
        return;
    }
    // chronyd, polling a loopback server every second.
    let d = TempDir::new();
    let (srv, addr) = serve_loopback(&[]);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let dir = d.path().display().to_string();
    let conf = d.file(
        "chrony.conf",
        &format!(
            "server {host} port {port} iburst minpoll 0 maxpoll 0\nlogdir {dir}\nlog measurements tracking\ndriftfile {dir}/drift\npidfile {dir}/pid\ncmdport 0\nport 0\n"
        ),
    );
    let chronyd = spawn_local(
        &[
            &chronyd_path(),
            "-f",
            conf.to_str().unwrap(),
            "-d",
            "-x",
            "-u",
            "root",
        ],
        &d.path().join("chronyd.log"),
    );
    // ntpd in namespaces, client of another ntpd, with peerstats.
    let p = Pair::new();
    let _srv_ntpd = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    let nd = TempDir::new();
    let _cl = ntpd(
        &p.client,
        &nd,
        &format!(
            "server {SERVER} iburst minpoll 3 maxpoll 3\nstatistics peerstats\nfilegen peerstats file peerstats type none enable"
        ),
    );
    std::thread::sleep(Duration::from_secs(14));
    drop(chronyd);
    drop(srv);
    let html = d.path().join("stats.html");
    let r = run_bounded(
        Command::new(ntpdiag())
            .arg("report")
            .arg(d.path().join("measurements.log"))
            .arg(d.path().join("tracking.log"))
            .arg(nd.path().join("peerstats"))
            .arg("-o")
            .arg(&html),
        Duration::from_secs(60),
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let dom = chromium(&["--dump-dom", &format!("file://{}", html.display())]);
    let page = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(!String::from_utf8_lossy(&dom.stderr).contains(":CONSOLE"));
    let series = attrs(&page, "data-series");
    for want in [
        format!("offset:{host}"),
        format!("offset:{SERVER}"),
        "frequency:frequency".to_string(),
        "system-offset:system".to_string(),
    ] {
        assert!(series.contains(&want.as_str()), "{want} in {series:?}");
    }
    // Each drawn offset series has its points (peerstats has no poll: its
    // poll series is empty).
    let points = attrs(&page, "data-points");
    for (s, n) in series.iter().zip(&points) {
        if s.starts_with("offset:") || s.starts_with("frequency:") {
            assert!(n.parse::<usize>().unwrap() > 0, "{s}: {n}");
        }
    }
}
