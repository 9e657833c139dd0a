//! `probe --json`: the report of each target, its probes packet by packet,
//! and the verdict; the machine (`NodeJson`) and verdict (`VerdictJson`)
//! types every document shares.

use serde::{Deserialize, Serialize};

use crate::diagnose::{SourcePort, TargetEvidence, Verdict};
use crate::engine::exchange::{Judgement, ReplyClass};
use crate::engine::probe::{EventKind, Outcome, Purpose};
use crate::wire::icmp::IcmpFamily;
use crate::wire::{NtpDate, NtpTimestamp, Repr};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProbeReport {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    /// The machine that printed it (for `ntpdiag fleet`).
    #[serde(default)]
    pub node: Option<NodeJson>,
    pub targets: Vec<TargetReport>,
    pub exit_code: u8,
}

/// The machine a document comes from: its host name and the addresses of
/// its interfaces (loopback and link-local left out).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NodeJson {
    pub hostname: String,
    pub addresses: Vec<String>,
    /// When the document was made (RFC 3339, UTC, to the second): fleet
    /// orders two documents of one node by it. Absent in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl NodeJson {
    /// This machine, now.
    pub fn here() -> NodeJson {
        let (hostname, addresses) = crate::net::node::identity();
        NodeJson {
            hostname,
            addresses,
            time: Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
        }
    }

    /// The same machine (host name and addresses), whenever.
    pub fn same_machine(&self, o: &NodeJson) -> bool {
        self.hostname == o.hostname && self.addresses == o.addresses
    }
}

/// One target: a host's address (or a host that did not resolve), the
/// probes made of it (one from a random port, and one from `--source-port`
/// if given), and the verdict over them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TargetReport {
    /// The host as given on the command line.
    pub host: String,
    /// `addr:port` probed; absent when the name did not resolve.
    pub address: Option<String>,
    pub probes: Vec<ProbeJson>,
    pub verdict: VerdictJson,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProbeJson {
    /// `"ephemeral"` or the fixed port number as a string.
    pub source_port: String,
    pub local_address: Option<String>,
    pub config: Option<ProbeConfigJson>,
    pub events: Vec<EventJson>,
    pub samples: Vec<SampleJson>,
    pub neighbour: Option<NeighbourJson>,
    /// The NTS client's run (probe --nts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nts: Option<NtsJson>,
    /// This probe's own verdict (the target's verdict may combine two probes).
    pub verdict: VerdictJson,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProbeConfigJson {
    pub samples: u32,
    pub interval_ms: f64,
    pub timeout_ms: f64,
    pub version: u8,
    pub liveness_port: Option<u16>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NeighbourJson {
    pub state: String,
    pub lladdr: Option<String>,
    pub dev: Option<String>,
}

/// One thing that happened. `kind`: `transmit`, `receive`, `icmp`,
/// `timeout`, `send-error`. `purpose`: `request` or `liveness`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct EventJson {
    pub t_ms: f64,
    pub kind: String,
    pub purpose: Option<String>,
    /// Request number (1-based) this event belongs to, when known.
    pub request: Option<u32>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub len: Option<usize>,
    /// Transmit nonce of a request, hex `seconds.fraction`.
    pub nonce: Option<String>,
    /// The decoded header of a received datagram.
    pub packet: Option<PacketJson>,
    /// Judgement of a received datagram: `valid`, `unsynchronized`, `kiss`,
    /// `bogus`, `duplicate`, `invalid`.
    pub class: Option<String>,
    pub detail: Option<String>,
    pub other_address: Option<bool>,
    pub offset_s: Option<f64>,
    pub delay_s: Option<f64>,
    pub icmp: Option<IcmpJson>,
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct IcmpJson {
    /// `icmp` or `icmpv6`.
    pub family: String,
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    pub name: String,
    pub offender: Option<String>,
    pub original_dest: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PacketJson {
    pub leap: u8,
    pub version: u8,
    pub mode: u8,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    /// As ntpq shows it (`.INIT.`, `192.0.2.1`).
    pub refid: String,
    pub refid_hex: String,
    pub reference: TimestampJson,
    pub origin: TimestampJson,
    pub receive: TimestampJson,
    pub transmit: TimestampJson,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TimestampJson {
    pub hex: String,
    /// UTC in the era nearest the local clock; absent for a zero timestamp.
    pub utc: Option<String>,
}

/// Outcome of each request: `reply`, `icmp`, `timeout`, `send-failed`, `unsent`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SampleJson {
    pub request: u32,
    pub outcome: String,
    pub offset_s: Option<f64>,
    pub delay_s: Option<f64>,
    pub dispersion_s: Option<f64>,
    pub root_distance_s: Option<f64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct VerdictJson {
    /// A stable cause id (see `doc/json.md`).
    pub cause: String,
    /// `ok`, `silence`, `refused`, `kiss`, `unusable`, `local`.
    pub class: String,
    pub exit_code: u8,
    pub summary: String,
    pub evidence: Vec<String>,
    /// `high`, `medium`, `low`.
    pub confidence: String,
    pub fix: Vec<String>,
    pub alternatives: Vec<AlternativeJson>,
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AlternativeJson {
    /// The cause id it falls under.
    pub cause: String,
    /// What it is, in words.
    #[serde(default)]
    pub what: String,
    pub tell_apart: String,
}

impl From<&Verdict> for VerdictJson {
    fn from(v: &Verdict) -> Self {
        VerdictJson {
            cause: v.cause.id(),
            class: v.cause.class().id().to_string(),
            exit_code: v.cause.class().exit_code(),
            summary: v.summary.clone(),
            evidence: v.evidence.clone(),
            confidence: v.confidence.id().to_string(),
            fix: v.fix.clone(),
            alternatives: v
                .alternatives
                .iter()
                .map(|a| AlternativeJson {
                    cause: a.cause.id(),
                    what: a.what.clone(),
                    tell_apart: a.tell_apart.clone(),
                })
                .collect(),
            notes: v.notes.clone(),
        }
    }
}

pub fn timestamp(t: NtpTimestamp, pivot: NtpDate) -> TimestampJson {
    TimestampJson {
        hex: t.hex(),
        utc: (!t.is_zero()).then(|| t.to_date_near(pivot).utc_string()),
    }
}

pub fn packet(h: &Repr, pivot: NtpDate) -> PacketJson {
    PacketJson {
        leap: h.leap.bits(),
        version: h.version,
        mode: h.mode.bits(),
        stratum: h.stratum,
        poll: h.poll,
        precision: h.precision,
        root_delay_s: h.root_delay.as_secs_f64(),
        root_dispersion_s: h.root_dispersion.as_secs_f64(),
        refid: h.reference_id.display(h.stratum),
        refid_hex: h.reference_id.to_string(),
        reference: timestamp(h.reference_ts, pivot),
        origin: timestamp(h.origin_ts, pivot),
        receive: timestamp(h.receive_ts, pivot),
        transmit: timestamp(h.transmit_ts, pivot),
    }
}

pub fn class_id(c: &ReplyClass) -> &'static str {
    match c {
        ReplyClass::Valid => "valid",
        ReplyClass::Unsynchronized(_) => "unsynchronized",
        ReplyClass::Kiss(_) => "kiss",
        ReplyClass::Bogus(_) => "bogus",
        ReplyClass::Duplicate => "duplicate",
        ReplyClass::Invalid(_) => "invalid",
    }
}

fn purpose(p: Purpose) -> (Option<String>, Option<u32>) {
    match p {
        Purpose::Sample(n) => (Some("request".into()), Some(n)),
        Purpose::Liveness => (Some("liveness".into()), None),
    }
}

fn judged(e: &mut EventJson, j: &Judgement, pivot: NtpDate) {
    e.packet = j.header.as_ref().map(|h| packet(h, pivot));
    e.class = Some(class_id(&j.class).into());
    e.detail = Some(j.class.label());
    e.offset_s = j.sample.map(|s| s.offset);
    e.delay_s = j.sample.map(|s| s.delay);
}

/// The report of one target: its probes and the combined verdict.
pub fn target(evs: &[(TargetEvidence, Verdict)], v: &Verdict, pivot: NtpDate) -> TargetReport {
    TargetReport {
        host: evs.first().map_or(String::new(), |e| e.0.host.clone()),
        address: evs.first().map(|e| e.0.address.to_string()),
        probes: evs.iter().map(|(e, pv)| probe(e, pv, pivot)).collect(),
        verdict: v.into(),
    }
}

/// One probe with its own verdict.
pub fn probe(ev: &TargetEvidence, v: &Verdict, pivot: NtpDate) -> ProbeJson {
    let mut events = Vec::new();
    let mut samples = Vec::new();
    if let Some(rec) = &ev.record {
        for e in &rec.events {
            let mut j = EventJson {
                t_ms: e.at.as_secs_f64() * 1000.0,
                ..Default::default()
            };
            match &e.kind {
                EventKind::Sent {
                    purpose: p,
                    dest,
                    nonce,
                    len,
                    ..
                } => {
                    j.kind = "transmit".into();
                    (j.purpose, j.request) = purpose(*p);
                    j.to = Some(dest.to_string());
                    j.len = Some(*len);
                    j.nonce = nonce.map(|n| n.hex());
                }
                EventKind::SocketError { error } => {
                    j.kind = "socket-error".into();
                    j.error = Some(error.to_string());
                }
                EventKind::SendFailed { purpose: p, error } => {
                    j.kind = "send-error".into();
                    (j.purpose, j.request) = purpose(*p);
                    j.error = Some(error.to_string());
                }
                EventKind::Received {
                    from,
                    bytes,
                    matched,
                    other_address,
                    judgement,
                    ..
                } => {
                    j.kind = "receive".into();
                    if let Some(p) = matched {
                        (j.purpose, j.request) = purpose(*p);
                    }
                    j.from = Some(from.to_string());
                    j.len = Some(bytes.len());
                    j.other_address = Some(*other_address);
                    if let Some(jd) = judgement {
                        judged(&mut j, jd, pivot);
                    }
                }
                EventKind::Icmp { report, matched } => {
                    j.kind = "icmp".into();
                    if let Some(p) = matched {
                        (j.purpose, j.request) = purpose(*p);
                    }
                    j.from = report.offender.map(|o| o.to_string());
                    j.icmp = Some(IcmpJson {
                        family: match report.error.family {
                            IcmpFamily::V4 => "icmp".into(),
                            IcmpFamily::V6 => "icmpv6".into(),
                        },
                        icmp_type: report.error.icmp_type,
                        code: report.error.code,
                        name: report.error.name().into(),
                        offender: report.offender.map(|o| o.to_string()),
                        original_dest: report.original_dest.map(|d| d.to_string()),
                    });
                }
                EventKind::Timeout { purpose: p } => {
                    j.kind = "timeout".into();
                    (j.purpose, j.request) = purpose(*p);
                }
            }
            events.push(j);
        }
        for s in &rec.samples {
            let (outcome, sample) = match s.outcome {
                Outcome::Reply(i) => (
                    "reply",
                    match &rec.events[i].kind {
                        EventKind::Received {
                            judgement: Some(j), ..
                        } => j.sample,
                        _ => None,
                    },
                ),
                Outcome::Icmp(_) => ("icmp", None),
                Outcome::SendFailed(_) => ("send-failed", None),
                Outcome::Timeout => ("timeout", None),
                Outcome::Unsent => ("unsent", None),
            };
            samples.push(SampleJson {
                request: s.number,
                outcome: outcome.into(),
                offset_s: sample.map(|x| x.offset),
                delay_s: sample.map(|x| x.delay),
                dispersion_s: sample.map(|x| x.dispersion),
                root_distance_s: sample.map(|x| x.root_distance),
            });
        }
    }
    ProbeJson {
        source_port: match ev.source_port {
            SourcePort::Ephemeral => "ephemeral".into(),
            SourcePort::Fixed(p) => p.to_string(),
        },
        local_address: ev.local_address.map(|a| a.to_string()),
        config: ev.record.as_ref().map(|r| ProbeConfigJson {
            samples: r.config.samples,
            interval_ms: r.config.interval.as_secs_f64() * 1000.0,
            timeout_ms: r.config.timeout.as_secs_f64() * 1000.0,
            version: r.config.version,
            liveness_port: r.config.liveness_port,
        }),
        events,
        samples,
        neighbour: ev.neighbour.as_ref().map(|n| NeighbourJson {
            state: n.state.clone(),
            lladdr: n.lladdr.clone(),
            dev: n.dev.clone(),
        }),
        nts: ev.nts.as_ref().map(|n| nts(n, pivot)),
        verdict: v.into(),
    }
}

/// What `probe --nts` did with one server (doc/json.md, "nts").
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct NtsJson {
    pub ke_server: String,
    pub name: String,
    pub trust: Vec<String>,
    /// `connected`, `refused`, `no-reply` or `failed`.
    pub connect: String,
    pub connect_ms: Option<f64>,
    pub connect_error: Option<String>,
    pub icmp: Option<IcmpJson>,
    pub tls: Option<TlsJson>,
    pub certificates: Vec<CertJson>,
    pub certificate_error: Option<String>,
    pub server_clock_offset_s: Option<f64>,
    pub certificate_valid_at_server_time: Option<bool>,
    pub ke: Option<KeJson>,
    pub ntp: Option<NtsNtpJson>,
    pub log: Vec<LogJson>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct TlsJson {
    pub ok: bool,
    pub version: Option<String>,
    pub suite: Option<String>,
    pub alpn: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct CertJson {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub self_signed: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct RecordJson {
    pub critical: bool,
    #[serde(rename = "type")]
    pub kind: u16,
    pub name: String,
    pub len: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct KeJson {
    pub sent: Vec<RecordJson>,
    pub received: Vec<RecordJson>,
    pub next_protocols: Option<Vec<u16>>,
    pub aead: Option<Vec<u16>>,
    pub errors: Vec<u16>,
    pub warnings: Vec<u16>,
    pub cookies: usize,
    pub cookie_len: Option<usize>,
    pub cookie_lengths_differ: bool,
    pub server: Option<String>,
    pub port: Option<u16>,
    pub problem: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct NtsNtpJson {
    pub address: Option<String>,
    pub sent: u64,
    pub request_len: usize,
    pub authenticated: u64,
    pub ntsn: u64,
    pub unverified: u64,
    pub first_unverified: Option<String>,
    pub new_cookies: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct LogJson {
    pub t_ms: f64,
    pub text: String,
    /// A received packet's decoded header (NTS replies).
    pub packet: Option<PacketJson>,
}

fn rfc3339(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

fn nts(p: &crate::net::nts::NtsProbe, pivot: NtpDate) -> NtsJson {
    use crate::diagnose::facts::{CertProblem, KeConnect, TlsOutcome};
    let f = &p.facts;
    let records = |l: &[(bool, u16, usize)]| {
        l.iter()
            .map(|(c, k, n)| RecordJson {
                critical: *c,
                kind: *k,
                name: crate::wire::nts_ke::record_name(*k).into(),
                len: *n,
            })
            .collect()
    };
    let (connect, connect_ms, connect_error, icmp) = match &f.connect {
        KeConnect::Connected { ms } => (f.connect.id(), Some(*ms), None, None),
        KeConnect::Refused { icmp, error, .. } => (
            f.connect.id(),
            None,
            Some(error.clone()),
            icmp.as_ref().map(|i| IcmpJson {
                family: match i.error.family {
                    IcmpFamily::V4 => "icmp".into(),
                    IcmpFamily::V6 => "icmpv6".into(),
                },
                icmp_type: i.error.icmp_type,
                code: i.error.code,
                name: i.error.name().into(),
                offender: i.offender.map(|o| o.to_string()),
                original_dest: Some(f.ke_server.to_string()),
            }),
        ),
        KeConnect::NoReply { waited_s } => (f.connect.id(), Some(waited_s * 1000.0), None, None),
        KeConnect::Failed { error } => (f.connect.id(), None, Some(error.to_string()), None),
    };
    NtsJson {
        ke_server: f.ke_server.to_string(),
        name: f.name.clone(),
        trust: f.trust.clone(),
        connect: connect.into(),
        connect_ms,
        connect_error,
        icmp,
        tls: f.tls.as_ref().map(|t| match t {
            TlsOutcome::Done {
                version,
                suite,
                alpn,
            } => TlsJson {
                ok: true,
                version: Some(version.clone()),
                suite: Some(suite.clone()),
                alpn: alpn.clone(),
                error: None,
            },
            TlsOutcome::Failed { detail, .. } => TlsJson {
                ok: false,
                error: Some(detail.clone()),
                ..TlsJson::default()
            },
        }),
        certificates: f
            .chain
            .iter()
            .map(|c| CertJson {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                names: c.sans.clone(),
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                self_signed: c.self_signed,
            })
            .collect(),
        certificate_error: f.cert.as_ref().map(|c| {
            match &c.problem {
                CertProblem::Expired { .. } => "expired",
                CertProblem::NotYetValid { .. } => "not-yet-valid",
                CertProblem::Untrusted { .. } => "untrusted",
                CertProblem::NameMismatch { .. } => "name-mismatch",
            }
            .to_string()
        }),
        server_clock_offset_s: f
            .cert
            .as_ref()
            .and_then(|c| c.at_true_time.as_ref())
            .map(|t| t.offset_s),
        certificate_valid_at_server_time: f
            .cert
            .as_ref()
            .and_then(|c| c.at_true_time.as_ref())
            .map(|t| t.valid),
        ke: f.ke.as_ref().map(|k| KeJson {
            sent: records(&k.sent),
            received: records(&k.received),
            next_protocols: k.next_protocols.clone(),
            aead: k.aead.clone(),
            errors: k.errors.clone(),
            warnings: k.warnings.clone(),
            cookies: k.cookies,
            cookie_len: k.cookie_len,
            cookie_lengths_differ: k.cookie_lens_differ,
            server: k.server.clone(),
            port: k.port,
            problem: k.problem.clone(),
        }),
        ntp: f.ntp.as_ref().map(|n| NtsNtpJson {
            address: n.address.map(|a| a.to_string()),
            sent: n.sent,
            request_len: n.request_len,
            authenticated: n.authenticated,
            ntsn: n.ntsn,
            unverified: n.unverified,
            first_unverified: n.first_unverified.clone(),
            new_cookies: n.new_cookies,
        }),
        log: p
            .log
            .iter()
            .map(|l| LogJson {
                t_ms: l.at.as_secs_f64() * 1000.0,
                text: l.text.clone(),
                packet: l.packet.as_ref().map(|(h, _)| packet(h, pivot)),
            })
            .collect(),
    }
}

/// The report of a host that could not be probed at all (name unresolved).
pub fn unprobed(host: &str, v: &Verdict) -> TargetReport {
    TargetReport {
        host: host.to_string(),
        address: None,
        probes: vec![],
        verdict: v.into(),
    }
}
