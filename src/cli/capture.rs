//! `ntpdiag capture`: live or offline analysis of NTP conversations.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Args;
use colored::Colorize;
use serde::Serialize;

use super::exit;
use crate::capture::judge::judge;
use crate::capture::source::{self, Input, Options};
use crate::capture::track::{Conv, HostGroup, Key};
use crate::capture::view::{headline_host, host_name, judge_host};
use crate::diagnose::Class;

const CAPTURE_HELP: &str = "\
Reads NTP traffic live from an interface (libpcap; default filter \"udp port
123 or icmp or icmp6\") or from a pcap/pcapng file (-r FILE, - for stdin),
pairs requests with replies by their timestamps and the client's address (a
reply's origin is the request's transmit; SNTP's zero transmit is answered by
a zero origin; a reply stored before its request still pairs) and with the
ICMP errors that quote them, and judges with the probe's cause ids.

The first screen is the server view: one verdict per server (every client
host's conversations with it, judged as one) and one per client host across
all its source ports (chrony and ntpdig send each request from a new port).
-v adds each conversation (client address:port <-> server address:123).
NTS-KE (TCP 4460) is followed per server: connections answered, refused by
an RST or an ICMP error (and who sent it), or never answered.
Besides the probe's causes, what only a capture shows: client-polls-too-fast
(intervals under 2 s, or an average under 8 s, across ports),
asymmetric-path (a capture holding both sides sees each request twice and
each reply once), reply-ignored (replies arrive but the client's next
requests, from ntpd/ntpsec which echo them, show it never got them), and
pending: requests within 4 s of the capture's end (a file's last frame, or
when a live capture stopped) may still be answered, so they are not called
unanswered. Link types: Ethernet with VLAN tags, Linux cooked v1/v2 (-i any),
raw IP, null/loopback, NFLOG. Files are read by ntpdiag's own readers: pcapng
interface by interface, each with its own link type (mergecap of an Ethernet
capture and an `-i any` one, which libpcap refuses), and pcap in large blocks,
each packet as libpcap would hand it out; with --filter or --write, from stdin,
or a pcap variant libpcap reads differently (versions before 2.4, modified
records), libpcap reads it. IP
fragments are reassembled (64 datagrams at a time, 30 s of capture time
each); a datagram whose fragments never all came is counted and said.

Memory is bounded, not by the file size: by the open conversations (at most
--max-open, about 250 octets each; one idle for --idle of capture time is
closed), the conversations kept in detail (--max-kept) and the (client host,
server) sums (--max-hosts, about 450 octets each; beyond, new client hosts
are summed per server as \"other client hosts\"). Verdicts are made as
they are printed or written, never all held at once. A large file is read
on several threads (--threads), each following its share of the client
hosts (a host's conversations with every server stay on one); they share
--max-open and --max-hosts and each keeps at most twice its share of
--max-kept. A file
that ends early or holds garbage gives the conversations read so far and says
where it stopped. Ctrl-C on a live capture prints the summary so far.";

/// Analyses NTP traffic live or from a capture file: each conversation, its cause and evidence.
#[derive(Args, Debug, Clone)]
#[command(long_about = CAPTURE_HELP, after_help = exit::help())]
pub struct CaptureArgs {
    /// Interface to capture on (live; needs root or CAP_NET_RAW).
    #[arg(
        value_name = "IFACE",
        required_unless_present = "read",
        conflicts_with = "read"
    )]
    pub iface: Option<String>,

    /// Read a pcap or pcapng file ("-" for stdin).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Save what was captured to this pcap file while analysing it.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// libpcap filter expression (live default: "udp port 123 or icmp or icmp6").
    #[arg(long)]
    pub filter: Option<String>,

    /// Stop a live capture after this long (e.g. 30s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many packets.
    #[arg(long)]
    pub count: Option<u64>,

    /// Close and judge a conversation idle this long (capture time).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub idle: Duration,

    /// Most conversations open at once (the least recently active is closed
    /// early beyond it). An open conversation holds about 250 octets.
    #[arg(long, default_value_t = 262_144)]
    pub max_open: usize,

    /// Most conversations kept in detail (JSON `conversations`, the -v
    /// table); beyond, each is only in its client host's and server's
    /// totals, and the output says how many were folded.
    #[arg(long, default_value_t = crate::capture::track::DEFAULT_MAX_KEPT)]
    pub max_kept: usize,

    /// Most (client host, server) sums, about 450 octets each; beyond, a
    /// new client host is summed into its server's "other client hosts"
    /// (JSON client "others"), and the output says how many conversations.
    #[arg(long, default_value_t = crate::capture::track::DEFAULT_MAX_HOSTS)]
    pub max_hosts: usize,

    /// Threads (0: one per CPU, at most 8). A file of 8 MB or more (or any
    /// file, with a number given) is read by each of them, each following
    /// its share of the client hosts; client hosts are judged on them. The
    /// report is the same with any number unless a bound is reached:
    /// --max-open and --max-hosts are shared among the threads. Live
    /// captures, stdin and --write read on one. At most 64.
    #[arg(long, default_value_t = 0,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=64))]
    pub threads: usize,

    /// Details for every conversation, not just the table.
    #[arg(short, long)]
    pub verbose: bool,

    /// One JSON document (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

/// The first client host that is not ok gives the exit status (the first
/// screen's); noted as hosts are judged one at a time.
#[derive(Default)]
struct FirstBad(
    std::cell::Cell<crate::diagnose::verdict::Lead>,
    std::cell::Cell<crate::diagnose::verdict::Lead>,
);

impl FirstBad {
    fn note(&self, (cause, confidence): (crate::diagnose::Cause, crate::diagnose::Confidence)) {
        let mut l = self.0.get();
        l.note_cause(cause, confidence);
        self.0.set(l);
    }

    /// A verdict that counts only when no client host's did.
    fn note_later(&self, v: &crate::diagnose::Verdict) {
        let mut l = self.1.get();
        l.note(v);
        self.1.set(l);
    }

    fn code(&self) -> u8 {
        match self.0.get().exit_code() {
            0 => self.1.get().exit_code(),
            c => c,
        }
    }
}

/// The NTS-KE servers' verdicts, one line each; they count for the exit
/// status after the client hosts.
fn nts_ke_lines(
    w: &mut impl Write,
    ke: &[crate::capture::track::KeSeen],
    bad: &FirstBad,
) -> std::io::Result<()> {
    for k in ke {
        let v = crate::capture::judge::judge_ke(k);
        bad.note_later(&v);
        writeln!(
            w,
            "NTS-KE {:<39} {:<26} {}",
            k.server.map_or("?".into(), |s| s.to_string()),
            v.cause.id(),
            v.evidence.first().map_or("", |s| s.as_str())
        )?;
    }
    Ok(())
}

/// `clients`, written as each client host is judged: a capture of many
/// clients never holds every verdict at once.
struct HostsOut<'a> {
    hosts: &'a [HostGroup],
    bad: &'a FirstBad,
    threads: usize,
}

impl Serialize for HostsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.hosts.len()))?;
        crate::capture::par::in_rounds(
            self.hosts,
            self.threads,
            |chunk| {
                chunk
                    .iter()
                    .map(|g| {
                        let v = judge_host(g);
                        let j = crate::schema::GroupJson {
                            client: Some(if g.others {
                                "others".into()
                            } else {
                                g.client().to_string()
                            }),
                            server: g.server().to_string(),
                            clients: 1,
                            conversations: g.conversations,
                            counts: (&*g.conv).into(),
                            verdict: (&v).into(),
                        };
                        ((v.cause, v.confidence), j)
                    })
                    .collect::<Vec<_>>()
            },
            |judged| {
                for (lead, j) in judged {
                    self.bad.note(lead);
                    seq.serialize_element(&j)?;
                }
                Ok(())
            },
        )?;
        seq.end()
    }
}

/// Appends `ip` as its `Display` writes it; an IPv4 address without the
/// formatter (a table of many client hosts writes one per row).
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(a) => {
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if o >= 100 {
                    out.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    out.push(char::from(b'0' + o / 10 % 10));
                }
                out.push(char::from(b'0' + o % 10));
            }
        }
        std::net::IpAddr::V6(a) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

/// The spaces that pad `n` characters to `width`, as `{:<width}` and
/// `{:>width}` write them.
fn pad(out: &mut String, n: usize, width: usize) {
    for _ in n..width {
        out.push(' ');
    }
}

/// `--threads`: 0 is one per CPU, at most 8.
fn threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        crate::capture::par::per_cpu()
    }
}

/// `conversations`, written as each is judged.
struct ConversationsOut<'a>(&'a [(Key, Conv)]);

impl Serialize for ConversationsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (key, conv) in self.0 {
            seq.serialize_element(&crate::schema::ConversationJson {
                client: key.0.to_string(),
                server: key.1.to_string(),
                counts: conv.into(),
                verdict: (&judge(conv)).into(),
            })?;
        }
        seq.end()
    }
}

/// `exit_code`: written after `clients`, whose judging found it.
struct CodeOut<'a>(&'a FirstBad);

impl Serialize for CodeOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0.code())
    }
}

/// [`crate::schema::CaptureReport`] as it is written, field for field: the client hosts'
/// and conversations' verdicts are made while they are written.
#[derive(Serialize)]
struct ReportOut<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    link: &'a str,
    stats: crate::schema::StatsJson,
    stopped_early: &'a Option<String>,
    interrupted: bool,
    servers: Vec<crate::schema::GroupJson>,
    clients: HostsOut<'a>,
    conversations: ConversationsOut<'a>,
    nts_ke: Vec<crate::schema::NtsKeJson>,
    exit_code: CodeOut<'a>,
}

pub fn run(args: &CaptureArgs) -> anyhow::Result<u8> {
    let stop = Arc::new(AtomicBool::new(false));
    let input = match (&args.read, &args.iface) {
        (Some(f), _) => Input::File(f.clone()),
        (None, Some(i)) => {
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())?;
            }
            Input::Live {
                iface: i.clone(),
                duration: args.duration,
                count: args.count,
            }
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let opts = Options {
        filter: args.filter.clone(),
        write: args.write.clone(),
        idle: args.idle,
        max_open: args.max_open,
        max_kept: args.max_kept,
        max_hosts: args.max_hosts,
        threads: args.threads,
        progress: !args.json,
        stop,
    };
    let out = match source::run(input, &opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ntpdiag: {e}");
            return Ok(exit::ERROR);
        }
    };
    let hosts = &out.hosts;
    let servers = &out.servers;
    let threads = threads(args.threads);
    // The exit status is the first screen's: the client hosts' verdicts.
    let bad = FirstBad::default();
    if args.json {
        let s = &out.stats;
        let doc = ReportOut {
            schema_version: crate::schema::SCHEMA_VERSION,
            tool: "ntpdiag",
            version: env!("CARGO_PKG_VERSION"),
            command: "capture",
            link: &out.link,
            stats: crate::schema::StatsJson {
                frames: s.frames,
                ntp: s.ntp,
                icmp: s.icmp,
                fragments: s.fragments,
                reassembled: s.reassembled,
                fragments_incomplete: s.fragments_incomplete,
                undecodable: s.undecodable,
                truncated: s.truncated,
                control: s.control,
                evicted: s.evicted,
                folded: s.folded,
                hosts_folded: s.hosts_folded,
                control_queries: s.control_queries,
                control_answers: s.control_answers,
                private: s.private,
                monlist: s.monlist,
                symmetric: s.symmetric,
                broadcast: s.broadcast,
                versions: s.versions.to_vec(),
                nts: s.nts,
                mac: s.mac,
                crypto_nak: s.crypto_nak,
                nts_ke: s.nts_ke,
            },
            stopped_early: &out.stopped_early,
            interrupted: out.interrupted,
            servers: servers.iter().map(crate::schema::group_json).collect(),
            clients: HostsOut {
                hosts,
                bad: &bad,
                threads,
            },
            conversations: ConversationsOut(&out.conversations),
            nts_ke: out
                .nts_ke
                .iter()
                .map(|k| {
                    let v = crate::capture::judge::judge_ke(k);
                    bad.note_later(&v);
                    crate::schema::NtsKeJson::new(k, &v)
                })
                .collect(),
            exit_code: CodeOut(&bad),
        };
        super::render::print_pretty(&doc)?;
        drop(doc);
        #[expect(
            clippy::mem_forget,
            reason = "what was read is freed by the exit, not piece by piece"
        )]
        std::mem::forget(out);
        return Ok(bad.code());
    }
    // One buffered writer: a table of many client hosts is one write per
    // buffer, not one per line.
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    let s = &out.stats;
    writeln!(
        w,
        "{} frames ({}), {} NTP, {} ICMP errors about NTP, {} conversations from {}{} client host(s) to {} server(s){}{}",
        s.frames,
        out.link,
        s.ntp,
        s.icmp,
        out.conversations.len() as u64 + s.folded,
        if s.hosts_folded > 0 { "more than " } else { "" },
        {
            let mut ips: Vec<_> = hosts
                .iter()
                .filter(|g| !g.others)
                .map(|g| g.client())
                .collect();
            ips.sort_unstable();
            ips.dedup();
            ips.len()
        },
        servers.len(),
        if s.fragments > 0 {
            format!(
                ", {} IP fragments ({} datagrams reassembled{})",
                s.fragments,
                s.reassembled,
                if s.fragments_incomplete > 0 {
                    format!(
                        ", {} missing a fragment: dropped on the way (a firewall or a path that drops fragments) or outside the capture",
                        s.fragments_incomplete
                    )
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        },
        if s.truncated > 0 {
            format!(", {} NTP datagrams cut by the snap length", s.truncated)
        } else {
            String::new()
        },
    )?;
    if s.evicted > 0 {
        writeln!(
            w,
            "{} {} conversations were closed early: more than --max-open ({}) were open at once; a client's later packets start a new one",
            "bound:".yellow().bold(),
            s.evicted,
            args.max_open
        )?;
    }
    if s.folded > 0 {
        writeln!(
            w,
            "{} {} conversations beyond the {} kept in detail (--max-kept {}) are counted in their client hosts' and servers' verdicts, not listed (-v, JSON)",
            "bound:".yellow().bold(),
            s.folded,
            out.conversations.len(),
            args.max_kept
        )?;
    }
    if s.hosts_folded > 0 {
        writeln!(
            w,
            "{} {} conversations of client hosts beyond --max-hosts ({}) are summed in their server's \"other client hosts\"",
            "bound:".yellow().bold(),
            s.hosts_folded,
            args.max_hosts
        )?;
    }
    if let Some(why) = &out.stopped_early {
        writeln!(w, "{} {why}", "partial:".yellow().bold())?;
    }
    if out.interrupted {
        writeln!(
            w,
            "{}",
            "interrupted: the summary of what was seen so far".yellow()
        )?;
    }
    let also = crate::diagnose::traffic::remarks(&s.other_traffic());
    if out.conversations.is_empty() && hosts.is_empty() {
        match also {
            Some(a) => writeln!(w, "no client/server NTP conversations; {a}")?,
            None if out.nts_ke.is_empty() => writeln!(w, "no NTP conversations")?,
            None => writeln!(w, "no client/server NTP conversations")?,
        }
        nts_ke_lines(&mut w, &out.nts_ke, &bad)?;
        w.flush()?;
        return Ok(bad.code());
    }
    if let Some(a) = also {
        writeln!(w, "also: {a}")?;
    }
    nts_ke_lines(&mut w, &out.nts_ke, &bad)?;
    let colour = |v: &crate::diagnose::Verdict| {
        let id = v.cause.id();
        match v.cause.class() {
            Class::Ok => id.green(),
            Class::Kiss | Class::Unusable => id.yellow(),
            _ => id.red(),
        }
    };
    writeln!(w)?;
    writeln!(
        w,
        "{:<46} {:>7} {:>9}  {:<26} {}",
        format!("servers ({})", servers.len()).bold(),
        "clients".bold(),
        "out/in".bold(),
        "verdict".bold(),
        "evidence".bold()
    )?;
    for g in servers {
        let io = format!(
            "{}/{}",
            g.conv.requests,
            g.conv.replies + g.conv.rare().icmp_n
        );
        writeln!(
            w,
            "{:<46} {:>7} {io:>9}  {:<26} {}",
            g.server.to_string(),
            g.clients,
            colour(&g.verdict),
            g.verdict.evidence.first().map_or("", |s| s.as_str())
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<46} {:>7} {:>9}  {:<26} {}",
        format!("client hosts ({})", hosts.len()).bold(),
        "ports".bold(),
        "out/in".bold(),
        "verdict".bold(),
        "evidence".bold()
    )?;
    crate::capture::par::in_rounds(
        hosts,
        threads,
        |run| {
            let mut text = String::with_capacity(run.len() * 160);
            let mut classes = Vec::with_capacity(run.len());
            let (mut host, mut io) = (String::new(), String::new());
            // Written once per run: each server's name, each cause's
            // column (hosts are many, servers and causes few).
            let mut servers: Vec<(std::net::SocketAddr, String)> = Vec::new();
            let mut causes: Vec<(crate::diagnose::Cause, String)> = Vec::new();
            for g in run {
                host.clear();
                if g.others {
                    host.push_str(crate::capture::view::OTHER_HOSTS);
                } else {
                    push_ip(&mut host, g.client());
                }
                let server = match servers.iter().position(|(s, _)| *s == g.server()) {
                    Some(i) => &servers[i].1,
                    None => {
                        servers.push((g.server(), g.server().to_string()));
                        &servers[servers.len() - 1].1
                    }
                };
                let v = headline_host(g, &host, server);
                classes.push((v.cause, v.confidence));
                io.clear();
                io.push_str(itoa::Buffer::new().format(g.conv.requests));
                io.push('/');
                io.push_str(itoa::Buffer::new().format(g.conv.replies + g.conv.rare().icmp_n));
                let cause = match causes.iter().position(|(c, _)| *c == v.cause) {
                    Some(i) => &causes[i].1,
                    None => {
                        causes.push((v.cause, format!("{:<26}", colour(&v))));
                        &causes[causes.len() - 1].1
                    }
                };
                // "{host → server:<46} {conversations:>7} {io:>9}  {cause} {evidence}"
                // (addresses are ASCII: "→" is the one wider character).
                text.push_str(&host);
                text.push_str(" → ");
                text.push_str(server);
                pad(&mut text, host.len() + 3 + server.len(), 46);
                text.push(' ');
                let n = itoa::Buffer::new().format(g.conversations).len();
                pad(&mut text, n, 7);
                text.push_str(itoa::Buffer::new().format(g.conversations));
                text.push(' ');
                pad(&mut text, io.len(), 9);
                text.push_str(&io);
                text.push_str("  ");
                text.push_str(cause);
                text.push(' ');
                text.push_str(v.evidence.first().map_or("", |s| s.as_str()));
                text.push('\n');
            }
            (classes, text)
        },
        |(classes, text)| {
            for c in classes {
                bad.note(c);
            }
            w.write_all(text.as_bytes())
        },
    )?;
    if args.verbose {
        writeln!(w)?;
        writeln!(
            w,
            "{:<46} {:>9}  {:<26} {}",
            "conversation".bold(),
            "out/in".bold(),
            "verdict".bold(),
            "evidence".bold()
        )?;
        for (key, conv) in &out.conversations {
            let v = judge(conv);
            let who = format!("{} → {}", key.0, key.1);
            let io = format!("{}/{}", conv.requests, conv.replies + conv.rare().icmp_n);
            writeln!(
                w,
                "{who:<46} {io:>9}  {:<26} {}",
                colour(&v),
                v.evidence.first().map_or("", |s| s.as_str())
            )?;
        }
        for g in hosts {
            writeln!(w)?;
            write!(
                w,
                "{}",
                super::render::verdict(
                    &format!("{} → {}", host_name(g), g.server()),
                    &judge_host(g)
                )
            )?;
        }
    }
    w.flush()?;
    #[expect(
        clippy::mem_forget,
        reason = "what was read is freed by the exit, not piece by piece (hundreds of thousands of allocations on a busy server's capture)"
    )]
    std::mem::forget(out);
    Ok(bad.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_padding_as_std_writes_them() {
        for o in 0..=255u8 {
            for ip in [
                std::net::IpAddr::from([o, 0, 9, o]),
                std::net::IpAddr::from([198, o, 100, 10]),
                std::net::IpAddr::from([0, 10, o, 255]),
            ] {
                let mut s = String::from("x");
                push_ip(&mut s, ip);
                assert_eq!(s, format!("x{ip}"));
            }
        }
        for ip in ["2001:db8::1", "::ffff:198.51.100.1", "::"] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
        for who in ["", "198.51.100.7 → 203.0.113.1:123", &"→".repeat(50)] {
            let mut s = String::from("ab");
            s.push_str(who);
            pad(&mut s, who.chars().count(), 46);
            assert_eq!(s, format!("ab{who:<46}"));
            let mut s = String::from("ab");
            pad(&mut s, who.chars().count(), 46);
            s.push_str(who);
            assert_eq!(s, format!("ab{who:>46}"));
        }
    }
}
