//! Rule profiles: whose rules the engine applies. Every "why" the engine
//! gives names its profile, because the daemons disagree (ENGINE.md §1):
//! thresholds, the selection rule, how many survivors are kept.

use crate::engine::limits::{MAXDIST_CHRONY, MAXDIST_NTPD};

/// The intersection rule that picks truechimers (ENGINE.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// RFC 5905 §11.2.1: intervals with midpoints counted; a truechimer's
    /// *midpoint* lies in the intersection; erratum 6207 applied
    /// (`n - allow`).
    RfcMidpoint,
    /// ntpsec (`ntp_proto.c` clock_select): endpoints only; a truechimer's
    /// interval *overlaps* the intersection.
    NtpdOverlap,
    /// chrony (`sources.c` SRC_SelectSource): the deepest overlap; no
    /// majority (depth ≤ n/2) makes every source a falseticker; a source
    /// passes when its interval contains the best interval or lies inside it.
    ChronyContain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Ntpd,
    Chrony,
    Rfc,
}

impl Profile {
    pub fn id(self) -> &'static str {
        match self {
            Profile::Ntpd => "ntpd",
            Profile::Chrony => "chrony",
            Profile::Rfc => "rfc",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "ntpd" | "ntpsec" => Some(Profile::Ntpd),
            "chrony" | "chronyd" => Some(Profile::Chrony),
            "rfc" | "rfc5905" => Some(Profile::Rfc),
            _ => None,
        }
    }
}

/// The numbers and choices of one profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub profile: Profile,
    /// Select threshold: a root distance above it is "too far" (s).
    pub maxdist: f64,
    /// Add PHI·2^poll to the threshold (RFC fit()).
    pub maxdist_grows_with_poll: bool,
    /// The cluster algorithm stops at this many survivors.
    pub minclock: usize,
    /// Survivors beyond this many are backups (`#`).
    pub maxclock: usize,
    /// Fewest truechimers that make a system peer.
    pub minsane: usize,
    pub minpoll: i8,
    pub maxpoll: i8,
    /// Polls without a usable reply before the interval backs off.
    pub unreach: u32,
    /// Requests in an iburst, 2 s apart.
    pub iburst: u32,
    /// The rest of the burst is sent only once the first request was
    /// answered (ntpsec).
    pub burst_after_reply: bool,
    /// iburst on every poll while unreachable (ntpd, RFC), or only on the
    /// first (chrony).
    pub burst_while_unreachable: bool,
    /// Push a dummy sample into the filter on a poll when: ntpsec, once the
    /// reach register is 0; RFC, when the last three polls got nothing.
    pub dummy_mask: u8,
    pub selection: Selection,
    /// The clock filter orders its stages by delay. ntpsec does so only once
    /// its clock loop has a frequency (`freq_cnt == 0` in clock_filter);
    /// before that (no drift file, or `disable ntp`) the newest sample is
    /// used.
    pub filter_sorts: bool,
    /// The floor of root delay + delay in the root distance (RFC MINDISP
    /// 0.005 s; ntpsec `tos mindist` 0.001 s).
    pub mindist: f64,
    /// chrony's `combinelimit` (3): a selectable source is combined only
    /// when its distance is below this times the selected source's.
    pub combine_limit: Option<f64>,
    /// The cluster algorithm weights selection jitter by root distance
    /// (ntpsec) or not (RFC 5905 §11.2.2).
    pub cluster_weighted: bool,
    /// Run the cluster algorithm (ntpd, RFC); chrony combines every
    /// selectable source instead.
    pub cluster: bool,
    /// Keep the system peer against a better survivor whose offset is
    /// within `mindist` of it, for a hysteresis halved each round
    /// (ntp_proto.c clock_select's clock-hop dance; ntpd only).
    pub clockhop: bool,
    /// Clock update: step beyond this (s); `None`: never (chrony without
    /// `makestep`).
    pub step: Option<f64>,
    /// Clock update: give up beyond this (s).
    pub panic: Option<f64>,
}

impl Rules {
    pub fn of(p: Profile) -> Rules {
        use crate::engine::limits::{PANIC_THRESHOLD, STEP_THRESHOLD};
        match p {
            // ntpsec defaults (ntp.conf(5), ntp_proto.c): tos maxdist 1.5,
            // minclock 3, maxclock 10, minsane 1; minpoll 6, maxpoll 10;
            // unreach 10; iburst 6 after the first reply.
            Profile::Ntpd => Rules {
                profile: p,
                maxdist: MAXDIST_NTPD,
                maxdist_grows_with_poll: false,
                minclock: 3,
                maxclock: 10,
                minsane: 1,
                minpoll: 6,
                maxpoll: 10,
                unreach: 10,
                iburst: 6,
                burst_after_reply: true,
                burst_while_unreachable: true,
                dummy_mask: 0xff,
                selection: Selection::NtpdOverlap,
                filter_sorts: true,
                mindist: 0.001,
                combine_limit: None,
                cluster_weighted: true,
                cluster: true,
                clockhop: true,
                step: Some(STEP_THRESHOLD),
                panic: Some(PANIC_THRESHOLD),
            },
            // chrony defaults (chrony.conf(5)): maxdistance 3, minsources 1,
            // minpoll 6, maxpoll 10, iburst: the first four requests 2 s
            // apart; no step unless makestep.
            Profile::Chrony => Rules {
                profile: p,
                maxdist: MAXDIST_CHRONY,
                maxdist_grows_with_poll: false,
                minclock: usize::MAX,
                maxclock: usize::MAX,
                minsane: 1,
                minpoll: 6,
                maxpoll: 10,
                unreach: 8,
                iburst: 4,
                burst_after_reply: false,
                burst_while_unreachable: false,
                dummy_mask: 0,
                selection: Selection::ChronyContain,
                filter_sorts: true,
                mindist: 0.001,
                combine_limit: Some(3.0),
                cluster_weighted: false,
                cluster: false,
                clockhop: false,
                step: None,
                panic: None,
            },
            // RFC 5905 body: MAXDIST 1, NMIN 3, MAXCLOCK 10, CMIN 1,
            // MINPOLL 4, MAXPOLL 17, UNREACH 24, BCOUNT 8; STEPT 0.125
            // (ntpsec and the skeleton use 0.128); PANICT 1000.
            Profile::Rfc => Rules {
                profile: p,
                maxdist: 1.0,
                maxdist_grows_with_poll: true,
                minclock: 3,
                maxclock: 10,
                minsane: 1,
                minpoll: 4,
                maxpoll: 17,
                unreach: 24,
                iburst: 8,
                burst_after_reply: false,
                burst_while_unreachable: true,
                dummy_mask: 0x07,
                selection: Selection::RfcMidpoint,
                filter_sorts: true,
                mindist: crate::engine::limits::MINDISP,
                combine_limit: None,
                cluster_weighted: false,
                cluster: true,
                clockhop: false,
                step: Some(0.125),
                panic: Some(PANIC_THRESHOLD),
            },
        }
    }
}
