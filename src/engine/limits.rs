//! Every threshold a judgement uses, defined once, with its source.
//!
//! The engine's own tests use the RFC 5905 values; the diagnosis compares
//! samples against what each daemon does (ntpsec's `ntp.conf(5)` and
//! `ntp_proto.c`, chrony's `chrony.conf(5)`).

/// Frequency tolerance PHI (s/s), RFC 5905 §7.2.
pub const PHI: f64 = 15e-6;
/// Minimum dispersion increment (s), RFC 5905 §7.2.
pub const MINDISP: f64 = 0.005;
/// Maximum dispersion (s), RFC 5905 §7.2: a root distance at or beyond this
/// is unusable (peer test 7, "root distance").
pub const MAXDISP: f64 = 16.0;
/// The highest stratum; 16 means unsynchronized (RFC 5905 §7.3).
pub const MAXSTRAT: u8 = 16;
/// Panic threshold (s), RFC 5905 §11.3 PANICT: beyond it ntpd exits rather
/// than correct the clock, unless started with `-g`.
pub const PANIC_THRESHOLD: f64 = 1000.0;
/// Step threshold (s), RFC 5905 §11.3 STEPT: offsets beyond it are stepped,
/// smaller ones slewed.
pub const STEP_THRESHOLD: f64 = 0.128;
/// Root distance beyond which ntpsec rejects a source (`tos maxdist`,
/// default 1.5 s, ntp.conf(5)).
pub const MAXDIST_NTPD: f64 = 1.5;
/// Root distance beyond which chronyd rejects a source (`maxdistance`,
/// default 3 s, chrony.conf(5)).
pub const MAXDIST_CHRONY: f64 = 3.0;
/// Shortest request interval ntpd's `limited` accepts (`discard minimum 1`,
/// i.e. 2^1 = 2 s, ntp.conf(5)).
pub const DISCARD_MIN_INTERVAL: f64 = 2.0;
/// Average request interval ntpd's `limited` enforces (`discard average 3`,
/// i.e. 2^3 = 8 s, ntp.conf(5)).
pub const DISCARD_AVG_INTERVAL: f64 = 8.0;

/// How long after a request its answer may still come (s): a reply, or an
/// ICMP host unreachable, which Linux sends only when neighbour resolution
/// gives up — `mcast_solicit` 3 probes `retrans_time_ms` 1000 ms apart, so
/// about 3 s (ip-sysctl.rst, neigh/default) — plus a round trip. A capture
/// that ends sooner after a request cannot say it went unanswered.
pub const ANSWER_WINDOW: f64 = 4.0;
