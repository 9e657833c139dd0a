//! Closing: each (client host, server) group's sums, and joining the
//! shards of a capture read on several threads (their details in the
//! order of first packets, their groups merged).

use super::*;

/// A group's key: client host (0 for the other client hosts), server.
pub(super) fn group_key(g: &HostGroup) -> CKey {
    CKey(
        if g.others { 0 } else { ip128(g.client()) },
        ip128(g.server().ip()),
        g.server().port() as u32,
    )
}

/// Where a conversation's numbers are summed: its (client host, server)
/// group, always, and its own detail while fewer than `max_kept` are kept.
pub(super) struct Sums {
    pub(super) groups: Vec<HostGroup>,
    /// HostGroup numbers, found by the group's key (held by the group).
    pub(super) index: hashbrown::HashTable<u32>,
    pub(super) hasher: foldhash::fast::RandomState,
    pub(super) details: Vec<(Key, Conv)>,
    /// The packet that opened each detail's conversation (the order
    /// details are kept in, across shards too).
    pub(super) opened: Vec<u64>,
    /// Details kept by this tracker, and by all the trackers sharing a
    /// capture ([`Tracker::shard`]).
    pub(super) max_kept: usize,
    pub(super) max_kept_all: usize,
    pub(super) max_hosts: usize,
}

impl Sums {
    /// Applies `f` to the group and the detail of a conversation.
    pub(super) fn each(&mut self, group: u32, detail: u32, mut f: impl FnMut(&mut Conv)) {
        f(&mut self.groups[group as usize].conv);
        if let Some((_, c)) = self.details.get_mut(detail as usize) {
            f(c);
        }
    }

    /// A new conversation: its group (made if new), its detail (when
    /// there is room), counted in both.
    pub(super) fn begin(&mut self, key: Key, at: At, stats: &mut CaptureStats) -> (u32, u32) {
        use std::hash::BuildHasher;
        let mut gk = CKey(ip128(key.0.ip()), ip128(key.1.ip()), key.1.port() as u32);
        let groups = &self.groups;
        let found = |gk: &CKey, h: u64, index: &hashbrown::HashTable<u32>| {
            index
                .find(h, |g| group_key(&groups[*g as usize]) == *gk)
                .copied()
        };
        let mut h = self.hasher.hash_one(gk);
        let mut g = found(&gk, h, &self.index);
        let mut others = false;
        if g.is_none() && self.index.len() >= self.max_hosts {
            // Beyond the bound: the server's other client hosts, summed.
            gk.0 = 0;
            h = self.hasher.hash_one(gk);
            g = found(&gk, h, &self.index);
            others = true;
            stats.hosts_folded += 1;
        }
        let fresh = || Conv {
            client: Some(key.0),
            server: Some(key.1),
            first: Some(at),
            ..Conv::default()
        };
        let g = match g {
            Some(g) => {
                self.groups[g as usize].conversations += 1;
                g
            }
            None => {
                let g = self.groups.len() as u32;
                self.groups.push(HostGroup {
                    conv: Box::new(Conv {
                        mixed_hosts: others,
                        ..fresh()
                    }),
                    conversations: 1,
                    others,
                });
                let (groups, hasher) = (&self.groups, &self.hasher);
                self.index
                    .insert_unique(h, g, |g| hasher.hash_one(group_key(&groups[*g as usize])));
                g
            }
        };
        let d = if self.details.len() < self.max_kept {
            self.details.push((key, fresh()));
            self.opened.push(at.no);
            (self.details.len() - 1) as u32
        } else {
            stats.folded += 1;
            NO_DETAIL
        };
        (g, d)
    }
}

/// Conversations kept in detail.
pub(super) type Details = Vec<(Key, Conv)>;

/// The details of every part (the packet that opened each, and each),
/// the first `max_kept` to open kept, in the order of their first
/// packets (ties as they came); and how many were left out.
pub(super) fn join_details(parts: Vec<(Vec<u64>, Details)>, max_kept: usize) -> (Details, u64) {
    let mut order: Vec<(u64, u32, u32)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, (opened, _))| {
            opened
                .iter()
                .enumerate()
                .map(move |(i, o)| (*o, p as u32, i as u32))
        })
        .collect();
    let mut folded = 0;
    if order.len() > max_kept {
        // The first `max_kept` to open are kept, as one tracker keeps them.
        folded = (order.len() - max_kept) as u64;
        order.select_nth_unstable(max_kept);
        order.truncate(max_kept);
    }
    let mut shown: Vec<(u64, u32, u32)> = order
        .iter()
        .map(|&(_, p, i)| {
            let c = &parts[p as usize].1[i as usize].1;
            (c.first.map_or(0, |a| a.no), p, i)
        })
        .collect();
    // (Each part's details are in order already: a stable sort merges the
    // runs.)
    shown.sort();
    let mut details: Vec<Vec<Option<(Key, Conv)>>> = parts
        .into_iter()
        .map(|(_, d)| d.into_iter().map(Some).collect())
        .collect();
    let all = shown
        .iter()
        .filter_map(|&(_, p, i)| details[p as usize][i as usize].take())
        .collect();
    (all, folded)
}

/// The groups of every part (each, and its first packet): each server's
/// "other client hosts" summed into one, in the parts' order; then every
/// group in the order of its first packet (ties as they came).
pub(super) fn join_groups(parts: Vec<(Vec<HostGroup>, Vec<u64>)>) -> Vec<HostGroup> {
    let mut others: HashMap<SocketAddr, usize> = HashMap::default();
    let n: usize = parts.iter().map(|(g, _)| g.len()).sum();
    let mut joined: Vec<HostGroup> = Vec::with_capacity(n);
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n);
    for (groups, firsts) in parts {
        for (g, first) in groups.into_iter().zip(firsts) {
            if g.others {
                if let Some(&i) = others.get(&g.server()) {
                    let o: &mut HostGroup = &mut joined[i];
                    o.conv.merge(&g.conv);
                    o.conversations += g.conversations;
                    keys[i].0 = o.conv.first.map_or(0, |a| a.no);
                    continue;
                }
                others.insert(g.server(), joined.len());
            }
            keys.push((first, joined.len() as u32));
            joined.push(g);
        }
    }
    keys.sort();
    let mut slots: Vec<Option<HostGroup>> = joined.into_iter().map(Some).collect();
    keys.iter()
        .filter_map(|&(_, i)| slots[i as usize].take())
        .collect()
}

impl Tracker {
    /// Closes every open conversation; returns the conversations kept in
    /// detail, in order of first packet, and every (client host, server)
    /// group with its number of conversations.
    /// Requests sent within [`ANSWER_WINDOW`] of the capture's last frame
    /// are pending, not unanswered: their answer may simply not be in it.
    pub fn finish_all(self) -> Finished {
        Tracker::finish_shards(vec![self])
    }

    /// Joins trackers that read the same frames, each with its share of
    /// the client hosts ([`Tracker::shard`]), into what one tracker would
    /// hold: the counts of the first (each counted every frame), the
    /// bounds' counts summed, the details kept in the order their
    /// conversations opened up to `max_kept`, each server's "other client
    /// hosts" summed into one.
    pub fn finish_shards(shards: Vec<Tracker>) -> Finished {
        Tracker::join(shards.into_iter().map(Tracker::close_all).collect())
    }

    /// [`Tracker::finish_shards`] of trackers already closed (each on its
    /// own thread: closing frees every open conversation).
    pub fn join(parts: Vec<Closed>) -> Finished {
        let mut parts = parts.into_iter();
        let Some(mut first) = parts.next() else {
            return Finished {
                conversations: Vec::new(),
                groups: Vec::new(),
                nts_ke: Vec::new(),
                stats: CaptureStats::default(),
            };
        };
        let max_kept = first.max_kept;
        let mut stats = first.stats.clone();
        let nts_ke = std::mem::take(&mut first.ke);
        let parts: Vec<Closed> = std::iter::once(first).chain(parts).collect();
        for p in &parts[1..] {
            stats.evicted += p.stats.evicted;
            stats.folded += p.stats.folded;
            stats.hosts_folded += p.stats.hosts_folded;
        }
        // Details and groups are put in order by their keys alone and moved
        // once (a detail is hundreds of octets; a group's sums are a
        // pointer away), found by (part, index); the two on two threads.
        let mut details = Vec::with_capacity(parts.len());
        let mut groups = Vec::with_capacity(parts.len());
        for c in parts {
            details.push((c.opened, c.details));
            groups.push((c.groups, c.group_first));
        }
        let (all, joined) = std::thread::scope(|s| {
            let all = s.spawn(|| join_details(details, max_kept));
            let joined = join_groups(groups);
            let (all, folded) = all.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            stats.folded += folded;
            (all, joined)
        });
        Finished {
            conversations: all,
            groups: joined,
            nts_ke,
            stats,
        }
    }

    /// Closes every open conversation (requests young at the capture's
    /// end are pending): what is left to [`Tracker::join`].
    pub fn close_all(mut self) -> Closed {
        if let Some(end) = self.latest {
            let end = end.as_f64();
            for o in self.open.values() {
                let young: SmallVec<[At; 4]> = o
                    .pending
                    .iter()
                    .map(Pending::at)
                    .filter(|at| end - at.ts.as_f64() < ANSWER_WINDOW)
                    .collect();
                if let Some(first) = young.first().copied() {
                    let n = young.len() as u64;
                    self.sums.each(o.group, o.detail, |c| {
                        c.rare_mut().pending_at_end += n;
                        if c.rare_mut().first_pending.is_none_or(|f| first.ts < f.ts) {
                            c.rare_mut().first_pending = Some(first);
                        }
                    });
                }
            }
        }
        self.stats.fragments_incomplete = self.reasm.abandoned + self.reasm.waiting() as u64;
        let group_first = self
            .sums
            .groups
            .iter()
            .map(|g| g.conv.first.map_or(0, |a| a.no))
            .collect();
        Closed {
            details: self.sums.details,
            opened: self.sums.opened,
            groups: self.sums.groups,
            group_first,
            ke: self.ke,
            stats: self.stats,
            max_kept: self.sums.max_kept_all,
        }
    }

    /// [`Tracker::finish_all`], the conversations and statistics only.
    pub fn finish(self) -> (Vec<(Key, Conv)>, CaptureStats) {
        let f = self.finish_all();
        (f.conversations, f.stats)
    }
}
