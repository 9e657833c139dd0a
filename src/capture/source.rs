//! Where frames come from (the I/O edge of capture): libpcap, live on an
//! interface or from a pcap/pcapng file (or `-` for stdin), optionally saved
//! to a file while being analysed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::decode::{LinkType, decode};
use super::track::{CaptureStats, Conv, Key, Tracker, Ts};

/// Filter used on a live interface unless `--filter` says otherwise: NTP and
/// the ICMP errors that may quote it.
pub const DEFAULT_LIVE_FILTER: &str = "udp port 123 or tcp port 4460 or icmp or icmp6";

pub enum Input {
    File(PathBuf),
    Live {
        iface: String,
        duration: Option<Duration>,
        count: Option<u64>,
    },
}

pub struct Options {
    pub filter: Option<String>,
    pub write: Option<PathBuf>,
    /// Close a conversation after this much capture time without packets.
    pub idle: Duration,
    pub max_open: usize,
    /// Conversations kept in detail.
    pub max_kept: usize,
    pub max_hosts: usize,
    /// Threads reading a file, each tracking its share of the client
    /// hosts (0: one per CPU, at most 8, for a file of 8 MB or more).
    /// Live captures, stdin and --write use one.
    pub threads: usize,
    /// Show progress on stderr for large files.
    pub progress: bool,
    /// Set to stop a live capture (Ctrl-C).
    pub stop: Arc<AtomicBool>,
}

/// Why a capture could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: not a capture file libpcap can read ({msg}); pcap and pcapng are supported")]
    NotACapture { path: String, msg: String },
    #[error(
        "{iface}: no such interface ({msg})\n  fix: list interfaces with `ip link` (or use `any`)"
    )]
    NoSuchDevice { iface: String, msg: String },
    #[error(
        "{iface}: not allowed to capture ({msg})\n  fix: run as root, or grant the capability: setcap cap_net_raw,cap_net_admin+eip $(command -v ntpdiag)"
    )]
    Permission { iface: String, msg: String },
    #[error("{iface}: cannot capture: {msg}")]
    Live { iface: String, msg: String },
    #[error("the filter does not compile: {msg}")]
    BadFilter { msg: String },
    #[error("link type {dlt} ({name}) is not supported; supported: {supported}")]
    UnknownLinkType {
        dlt: i32,
        name: String,
        supported: &'static str,
    },
    #[error("cannot write {path}: {msg}")]
    Write { path: String, msg: String },
}

pub struct Outcome {
    /// The conversations kept in detail (at most `max_kept`), in order of
    /// first packet; judged when shown ([`super::judge::judge`]), so that
    /// a capture of many clients never holds every verdict at once.
    pub conversations: Vec<(Key, Conv)>,
    /// The server view: every client host's sums with each server
    /// (judged when shown: [`super::view::judge_host`]), and every
    /// server's verdict.
    pub hosts: Vec<super::track::HostGroup>,
    pub servers: Vec<super::view::ServerGroup>,
    /// NTS-KE (TCP 4460) per server.
    pub nts_ke: Vec<super::track::KeSeen>,
    pub stats: CaptureStats,
    pub link: String,
    /// Why reading stopped early, with what was read: a partial result.
    pub stopped_early: Option<String>,
    pub interrupted: bool,
}

fn pcap_msg(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Reads everything, tracks conversations, judges each.
pub fn run(input: Input, opts: &Options) -> Result<Outcome, CaptureError> {
    match input {
        Input::File(path) => {
            let shown = path.display().to_string();
            let open_path = if shown == "-" {
                PathBuf::from("/dev/stdin")
            } else {
                path.clone()
            };
            let size = std::fs::metadata(&open_path).map(|m| m.len()).unwrap_or(0);
            // A pcapng file is read here (its interfaces may have different
            // link types, which libpcap refuses); libpcap reads the rest,
            // and pcapng when a BPF filter or a savefile needs it.
            let threads = if shown == "-" || opts.write.is_some() {
                1
            } else {
                file_threads(opts.threads, size)
            };
            if shown != "-"
                && opts.filter.is_none()
                && opts.write.is_none()
                && let Some(kind) = own_kind(&path)
            {
                return read_own(&path, &shown, kind, opts, size, threads);
            }
            let open = || {
                pcap::Capture::from_file(&open_path).map_err(|e| CaptureError::NotACapture {
                    path: shown.clone(),
                    msg: pcap_msg(&e),
                })
            };
            if threads == 1 {
                return drive(open()?, opts, None, None, size, false);
            }
            // Each thread reads the file on its own and tracks its share of
            // the client hosts; the first shows progress.
            let mut caps = (0..threads)
                .map(|_| open())
                .collect::<Result<Vec<_>, _>>()?;
            let link = link_of(&caps[0])?;
            if let Some(f) = &opts.filter {
                for cap in &mut caps {
                    cap.filter(f, true)
                        .map_err(|e| CaptureError::BadFilter { msg: pcap_msg(&e) })?;
                }
            }
            let shards = super::par::each_on_a_thread(caps, |i, mut cap| {
                let mut tracker = new_tracker(opts).shard(i, threads);
                let how = read_loop(
                    &mut cap,
                    link,
                    &mut tracker,
                    None,
                    Limits {
                        opts,
                        duration: None,
                        count: None,
                        file_size: if i == 0 { size } else { 0 },
                    },
                );
                (tracker.close_all(), how)
            });
            let (mut stopped_early, interrupted) = shards[0].1.clone();
            // Every thread read the same file; one that stopped where the
            // first did not says so too.
            if stopped_early.is_none() {
                stopped_early = shards.iter().find_map(|(_, (s, _))| s.clone());
            }
            let trackers = shards.into_iter().map(|(t, _)| t).collect();
            Ok(outcome(
                Tracker::join(trackers),
                format!("{link:?}"),
                stopped_early,
                interrupted,
            ))
        }
        Input::Live {
            iface,
            duration,
            count,
        } => {
            let inactive = pcap::Capture::from_device(iface.as_str()).map_err(|e| {
                CaptureError::NoSuchDevice {
                    iface: iface.clone(),
                    msg: pcap_msg(&e),
                }
            })?;
            let cap = inactive
                .immediate_mode(true)
                .snaplen(65_535)
                .timeout(100)
                .open()
                .map_err(|e| {
                    let msg = pcap_msg(&e);
                    let lower = msg.to_lowercase();
                    if lower.contains("no such device") || lower.contains("doesn't exist") {
                        CaptureError::NoSuchDevice {
                            iface: iface.clone(),
                            msg,
                        }
                    } else if lower.contains("permission") || lower.contains("not permitted") {
                        CaptureError::Permission {
                            iface: iface.clone(),
                            msg,
                        }
                    } else {
                        CaptureError::Live {
                            iface: iface.clone(),
                            msg,
                        }
                    }
                })?;
            let mut cap = cap;
            let filter = opts
                .filter
                .clone()
                .unwrap_or_else(|| DEFAULT_LIVE_FILTER.to_string());
            cap.filter(&filter, true)
                .map_err(|e| CaptureError::BadFilter { msg: pcap_msg(&e) })?;
            drive(cap, opts, duration, count, 0, true)
        }
    }
}

/// A file ntpdiag reads itself: pcapng, or a pcap file whose packets
/// libpcap would hand out unchanged ([`super::pcapfile`]) of a link type
/// ntpdiag decodes.
#[derive(Clone, Copy)]
enum OwnKind {
    /// With the link type of its header.
    Pcap(LinkType),
    Pcapng,
}

/// Only a regular file is looked at: the head of a pipe (`-r <(…)`) read
/// here would be lost to the reader that follows, so libpcap reads pipes.
fn own_kind(path: &std::path::Path) -> Option<OwnKind> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut head = [0u8; 24];
    let mut f = std::fs::File::open(path).ok()?;
    let mut got = 0;
    while got < head.len() {
        match std::io::Read::read(&mut f, &mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    if super::pcapng::is_pcapng(&head[..got]) {
        return Some(OwnKind::Pcapng);
    }
    super::pcapfile::Header::parse(&head[..got])
        .and_then(|h| LinkType::from_dlt(h.link as i32))
        .map(OwnKind::Pcap)
}

/// A reader of frames, ntpdiag's own: pcapng or pcap.
trait Frames {
    fn next(&mut self) -> Result<Option<super::pcapng::Frame<'_>>, FramesError>;
    /// Octets read so far.
    fn offset(&self) -> u64;
}

enum FramesError {
    /// Not the format at all (before any packet).
    NotIt(String),
    Stopped(String),
}

impl<R: std::io::Read> Frames for super::pcapng::Reader<R> {
    fn next(&mut self) -> Result<Option<super::pcapng::Frame<'_>>, FramesError> {
        use super::pcapng::PcapngError;
        let started = self.offset() > 0;
        self.next_frame().map_err(|e| match e {
            PcapngError::NotPcapng if !started => {
                FramesError::NotIt("no pcapng section header".into())
            }
            e => FramesError::Stopped(e.to_string()),
        })
    }
    fn offset(&self) -> u64 {
        super::pcapng::Reader::offset(self)
    }
}

impl<R: std::io::Read> Frames for super::pcapfile::Reader<R> {
    fn next(&mut self) -> Result<Option<super::pcapng::Frame<'_>>, FramesError> {
        self.next_frame()
            .map_err(|e| FramesError::Stopped(e.to_string()))
    }
    fn offset(&self) -> u64 {
        self.offset
    }
}

/// Reads a pcapng file with [`super::pcapng`] (each interface's frames
/// decoded with that interface's link type), or a pcap file with
/// [`super::pcapfile`]; on `threads` threads, each reading the whole file
/// and tracking its share of the client hosts.
fn read_own(
    path: &std::path::Path,
    shown: &str,
    kind: OwnKind,
    opts: &Options,
    file_size: u64,
    threads: usize,
) -> Result<Outcome, CaptureError> {
    let not_a_capture = |msg: String| CaptureError::NotACapture {
        path: shown.to_string(),
        msg,
    };
    let open = || std::fs::File::open(path).map_err(|e| not_a_capture(e.to_string()));
    let files = (0..threads.max(1))
        .map(|_| open())
        .collect::<Result<Vec<_>, _>>()?;
    let n = files.len();
    let mut shards = super::par::each_on_a_thread(files, |i, file| {
        let mut tracker = new_tracker(opts).shard(i, n);
        let size = if i == 0 { file_size } else { 0 };
        let read = match kind {
            OwnKind::Pcapng => {
                let r =
                    super::pcapng::Reader::new(std::io::BufReader::with_capacity(1 << 20, file));
                own_loop(r, &mut tracker, opts, size)
            }
            OwnKind::Pcap(_) => match super::pcapfile::Reader::new(file) {
                Ok(r) => own_loop(r, &mut tracker, opts, size),
                Err(e) => Err(e.to_string()),
            },
        };
        (tracker.close_all(), read)
    });
    let read = std::mem::replace(&mut shards[0].1, Ok(OwnRead::default()));
    let OwnRead {
        mut stopped_early,
        interrupted,
        links,
        unknown,
    } = read.map_err(not_a_capture)?;
    // Every thread read the same file; one that stopped where the first
    // did not (the file changed while read, a read error) says so too.
    for (_, r) in &shards[1..] {
        match r {
            Err(msg) => return Err(not_a_capture(msg.clone())),
            Ok(r) if stopped_early.is_none() => stopped_early = r.stopped_early.clone(),
            Ok(_) => {}
        }
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|l| l.to_string()).collect();
        let note = format!(
            "frames of link type {} were not read (supported: {})",
            list.join(", "),
            LinkType::SUPPORTED
        );
        stopped_early = Some(match stopped_early {
            Some(s) => format!("{s}; {note}"),
            None => note,
        });
    }
    let link = if links.is_empty() {
        match kind {
            OwnKind::Pcapng => "pcapng".into(),
            OwnKind::Pcap(link) => format!("{link:?}"),
        }
    } else {
        links.join(", ")
    };
    let trackers = shards.into_iter().map(|(t, _)| t).collect();
    Ok(outcome(
        Tracker::join(trackers),
        link,
        stopped_early,
        interrupted,
    ))
}

/// How a read with ntpdiag's own reader went.
#[derive(Default)]
struct OwnRead {
    stopped_early: Option<String>,
    interrupted: bool,
    /// Link types seen, in order, and those of frames not read.
    links: Vec<String>,
    unknown: Vec<u16>,
}

/// Feeds every frame of `r` to `tracker`; an error when the file is not
/// of the reader's format at all.
fn own_loop(
    mut r: impl Frames,
    tracker: &mut Tracker,
    opts: &Options,
    file_size: u64,
) -> Result<OwnRead, String> {
    let show_progress = opts.progress && file_size > 50_000_000 && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut no = 0u64;
    let mut read = OwnRead::default();
    // The link type of the frame before, and how it decodes.
    let mut last: Option<(u16, Option<LinkType>)> = None;
    loop {
        if opts.stop.load(Ordering::Relaxed) {
            read.interrupted = true;
            break;
        }
        match r.next() {
            Ok(Some(f)) => {
                no += 1;
                let ts = Ts {
                    secs: f.secs,
                    nanos: f.nanos,
                };
                let link = match last {
                    Some((l, link)) if l == f.link => link,
                    _ => {
                        let link = LinkType::from_dlt(f.link as i32);
                        match link {
                            Some(link) => {
                                let name = format!("{link:?}");
                                if !read.links.contains(&name) {
                                    read.links.push(name);
                                }
                            }
                            None if !read.unknown.contains(&f.link) => read.unknown.push(f.link),
                            None => {}
                        }
                        last = Some((f.link, link));
                        link
                    }
                };
                match link {
                    Some(link) => tracker.push(no, ts, &decode(link, f.data)),
                    None => tracker.push(no, ts, &super::decode::Decoded::Undecodable("link type")),
                }
                if show_progress && last_progress.elapsed() > Duration::from_millis(500) {
                    last_progress = Instant::now();
                    let bytes = r.offset();
                    eprint!(
                        "\r{no} packets, {:.0} of {:.0} MB ({:.0}%)",
                        bytes as f64 / 1e6,
                        file_size as f64 / 1e6,
                        100.0 * bytes as f64 / file_size as f64
                    );
                }
            }
            Ok(None) => break,
            Err(FramesError::NotIt(msg)) if no == 0 => return Err(msg),
            Err(FramesError::NotIt(msg) | FramesError::Stopped(msg)) => {
                read.stopped_early = Some(format!(
                    "read {no} packets, then: {msg}; the rest was skipped"
                ));
                break;
            }
        }
    }
    if show_progress {
        eprintln!();
    }
    Ok(read)
}

fn new_tracker(opts: &Options) -> Tracker {
    Tracker::new(opts.idle.as_secs_f64(), opts.max_open)
        .max_kept(opts.max_kept)
        .max_hosts(opts.max_hosts)
}

/// What the tracker holds at the end, with the server view made.
fn outcome(
    f: super::track::Finished,
    link: String,
    stopped_early: Option<String>,
    interrupted: bool,
) -> Outcome {
    let servers = super::view::by_server(&f.groups);
    Outcome {
        conversations: f.conversations,
        hosts: f.groups,
        servers,
        nts_ke: f.nts_ke,
        stats: f.stats,
        link,
        stopped_early,
        interrupted,
    }
}

/// The link type of a capture, when it is one ntpdiag reads.
fn link_of<T: pcap::Activated + ?Sized>(cap: &pcap::Capture<T>) -> Result<LinkType, CaptureError> {
    let dl = cap.get_datalink();
    LinkType::from_dlt(dl.0).ok_or_else(|| CaptureError::UnknownLinkType {
        dlt: dl.0,
        name: dl.get_name().unwrap_or_else(|_| "unknown".into()),
        supported: LinkType::SUPPORTED,
    })
}

/// When a read stops, and where progress goes.
struct Limits<'a> {
    opts: &'a Options,
    duration: Option<Duration>,
    count: Option<u64>,
    /// The file's size, for progress (0: none shown).
    file_size: u64,
}

/// Feeds every frame of `cap` to `tracker` (and to `save`) until the end,
/// a limit or a stop: why it stopped early, if it did, and whether it was
/// interrupted.
fn read_loop<T: pcap::Activated + ?Sized>(
    cap: &mut pcap::Capture<T>,
    link: LinkType,
    tracker: &mut Tracker,
    mut save: Option<&mut pcap::Savefile>,
    l: Limits,
) -> (Option<String>, bool) {
    let start = Instant::now();
    let show_progress =
        l.opts.progress && l.file_size > 50_000_000 && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut bytes = 24u64;
    let mut no = 0u64;
    let mut stopped_early = None;
    let mut interrupted = false;
    loop {
        if l.opts.stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if l.duration.is_some_and(|d| start.elapsed() >= d) || l.count.is_some_and(|c| no >= c) {
            break;
        }
        match cap.next_packet() {
            Ok(p) => {
                no += 1;
                let ts = Ts {
                    secs: p.header.ts.tv_sec,
                    nanos: (p.header.ts.tv_usec as u32)
                        .saturating_mul(1000)
                        .min(999_999_999),
                };
                bytes += 16 + p.header.caplen as u64;
                let d = decode(link, p.data);
                tracker.push(no, ts, &d);
                if let Some(s) = save.as_mut() {
                    s.write(&p);
                }
                if show_progress && last_progress.elapsed() > Duration::from_millis(500) {
                    last_progress = Instant::now();
                    eprint!(
                        "\r{} packets, {:.0} of {:.0} MB ({:.0}%)",
                        no,
                        bytes as f64 / 1e6,
                        l.file_size as f64 / 1e6,
                        100.0 * bytes as f64 / l.file_size as f64
                    );
                }
            }
            Err(pcap::Error::TimeoutExpired) => continue,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                stopped_early = Some(format!(
                    "read {no} packets, then libpcap said: {}; the rest was skipped",
                    pcap_msg(&e)
                ));
                break;
            }
        }
    }
    if show_progress {
        eprintln!();
    }
    (stopped_early, interrupted)
}

/// Threads for a file of `size` octets: `--threads`, or with 0 one per
/// CPU (at most 8) for 8 MB or more; a smaller file is read faster than
/// threads start.
fn file_threads(threads: usize, size: u64) -> usize {
    match threads {
        0 if size < 8_000_000 => 1,
        0 => super::par::per_cpu(),
        n => n,
    }
}

fn drive<T: pcap::Activated + ?Sized>(
    mut cap: pcap::Capture<T>,
    opts: &Options,
    duration: Option<Duration>,
    count: Option<u64>,
    file_size: u64,
    live: bool,
) -> Result<Outcome, CaptureError> {
    let link = link_of(&cap)?;
    if file_size > 0
        && let Some(f) = &opts.filter
    {
        cap.filter(f, true)
            .map_err(|e| CaptureError::BadFilter { msg: pcap_msg(&e) })?;
    }
    let mut save = match &opts.write {
        Some(p) => Some(cap.savefile(p).map_err(|e| CaptureError::Write {
            path: p.display().to_string(),
            msg: pcap_msg(&e),
        })?),
        None => None,
    };
    let mut tracker = new_tracker(opts);
    let (stopped_early, interrupted) = read_loop(
        &mut cap,
        link,
        &mut tracker,
        save.as_mut(),
        Limits {
            opts,
            duration,
            count,
            file_size,
        },
    );
    if let Some(mut s) = save {
        s.flush().map_err(|e| CaptureError::Write {
            path: "savefile".into(),
            msg: pcap_msg(&e),
        })?;
    }
    if live {
        // The capture ran until now: silence until then is part of it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        tracker.ended_at(Ts {
            secs: now.as_secs() as i64,
            nanos: now.subsec_nanos(),
        });
    }
    Ok(outcome(
        tracker.finish_all(),
        format!("{link:?}"),
        stopped_early,
        interrupted,
    ))
}
