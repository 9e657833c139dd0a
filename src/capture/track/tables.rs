//! The open conversations in one slab (slot numbers in a hash table, freed
//! slots reused), and the table of pending requests by their transmit
//! timestamp (a reply's origin finds its request, in any conversation of
//! the same client).

use super::*;

/// A conversation being read: only what pairing needs. Its sums live in
/// its client host's group and, when kept, in its detail; this is freed
/// when it closes.
#[derive(Debug)]
pub(super) struct Open {
    pub(super) key: CKey,
    /// Index of its (client host, server) group.
    pub(super) group: u32,
    /// Index of its detail, or [`NO_DETAIL`].
    pub(super) detail: u32,
    /// Capture time of its last packet (idle closing, eviction).
    pub(super) last: f64,
    /// Has a request of it been seen (else a reply is held, not judged)?
    pub(super) requested: bool,
    /// Unanswered requests, oldest first (at most [`PENDING_MAX`]).
    pub(super) pending: SmallVec<[Pending; 1]>,
    /// Replies seen (transmit, sightings), to count copies of the same one.
    /// An unused slot has no sightings.
    pub(super) seen_replies: [(u64, u32); SEEN_MAX],
    /// Does the client echo our last reply's transmit in its next request's
    /// origin (classic ntpd/ntpsec do)? Counted over requests that follow a reply.
    pub(super) last_reply_xmt: u64,
    /// Is `last_reply_xmt` set (an Option would take 16 octets, not 9)?
    pub(super) has_last_reply: bool,
    /// Replies seen before any request of this conversation, held until
    /// their request comes (captures out of time order; boxed: rare).
    #[expect(
        clippy::box_collection,
        reason = "one pointer in every open conversation, where a Vec is three"
    )]
    pub(super) early: Option<Box<Vec<Early>>>,
}

pub(super) const NO_DETAIL: u32 = u32::MAX;

/// The open conversations, found by their key, which each holds: a table
/// of slot numbers, not of keys and numbers (40 octets less per slot).
/// They live in one slab, not one allocation each: opening and closing
/// hundreds of thousands of conversations is no work for the allocator
/// (freed one by one, they would leave it that many chunks to sort
/// through at its next large allocation).
#[derive(Default)]
pub(super) struct OpenMap {
    pub(super) table: hashbrown::HashTable<u32>,
    pub(super) slab: Vec<Option<Open>>,
    /// Slots of the slab free for reuse.
    pub(super) free: Vec<u32>,
    pub(super) hasher: foldhash::fast::RandomState,
}

impl OpenMap {
    pub(super) fn hash(&self, k: &CKey) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(k)
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The open conversation in slot `i` (every slot the table holds is).
    pub(super) fn at(slab: &[Option<Open>], i: u32) -> &Open {
        slab[i as usize]
            .as_ref()
            .expect("a slot in the table is open")
    }

    pub(super) fn contains_key(&self, k: &CKey) -> bool {
        let slab = &self.slab;
        self.table
            .find(self.hash(k), |&i| OpenMap::at(slab, i).key == *k)
            .is_some()
    }

    pub(super) fn get_mut(&mut self, k: &CKey) -> Option<&mut Open> {
        let h = self.hash(k);
        let slab = &self.slab;
        let i = *self.table.find(h, |&i| OpenMap::at(slab, i).key == *k)?;
        self.slab[i as usize].as_mut()
    }

    pub(super) fn remove(&mut self, k: &CKey) -> Option<Open> {
        let h = self.hash(k);
        let slab = &self.slab;
        let (i, _) = self
            .table
            .find_entry(h, |&i| OpenMap::at(slab, i).key == *k)
            .ok()?
            .remove();
        self.free.push(i);
        self.slab[i as usize].take()
    }

    /// Every open conversation, in the slab's order (memory order).
    pub(super) fn values(&self) -> impl Iterator<Item = &Open> {
        self.slab.iter().flatten()
    }

    /// The conversation of `k`, made by `make` when there is none.
    pub(super) fn get_or_insert_with(&mut self, k: CKey, make: impl FnOnce() -> Open) -> &mut Open {
        let h = self.hash(&k);
        let (slab, free, hasher) = (&mut self.slab, &mut self.free, &self.hasher);
        let i = match self.table.entry(
            h,
            |&i| OpenMap::at(slab, i).key == k,
            |&i| {
                use std::hash::BuildHasher;
                hasher.hash_one(OpenMap::at(slab, i).key)
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let o = Some(make());
                let i = match free.pop() {
                    Some(i) => {
                        slab[i as usize] = o;
                        i
                    }
                    None => {
                        slab.push(o);
                        (slab.len() - 1) as u32
                    }
                };
                e.insert(i);
                i
            }
        };
        self.slab[i as usize].as_mut().expect("just found or made")
    }
}

/// Pending requests, by transmit timestamp and client address (two
/// clients may send the same transmit value: SNTP's zero, symmetric
/// peers) → their conversation. The client address is the key's own: an
/// entry is 48 octets, not 80.
#[derive(Default)]
pub(super) struct Nonces {
    pub(super) table: hashbrown::HashTable<(u64, CKey)>,
    pub(super) hasher: foldhash::fast::RandomState,
}

impl Nonces {
    pub(super) fn hash(&self, xmt: u64, client: u128) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((xmt, client))
    }

    pub(super) fn get(&self, xmt: u64, client: u128) -> Option<CKey> {
        let h = self.hash(xmt, client);
        self.table
            .find(h, |(x, k)| *x == xmt && { k.0 } == client)
            .map(|(_, k)| *k)
    }

    pub(super) fn remove(&mut self, xmt: u64, client: u128) {
        let h = self.hash(xmt, client);
        if let Ok(e) = self
            .table
            .find_entry(h, |(x, k)| *x == xmt && { k.0 } == client)
        {
            e.remove();
        }
    }

    /// `key`'s request with transmit `xmt`, in place of another
    /// conversation's with the same transmit from the same client.
    pub(super) fn insert(&mut self, xmt: u64, key: CKey) {
        let client = key.0;
        let h = self.hash(xmt, client);
        let hasher = &self.hasher;
        match self.table.entry(
            h,
            |(x, k)| *x == xmt && { k.0 } == client,
            |(x, k)| {
                use std::hash::BuildHasher;
                hasher.hash_one((*x, { k.0 }))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1 = key,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((xmt, key));
            }
        }
    }
}
