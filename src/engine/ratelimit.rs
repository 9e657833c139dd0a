//! Per-client rate limiting with a fixed memory bound.
//!
//! A token bucket per client address (capacity `burst`, one token back per
//! `interval`), kept in a 4-way set-associative table allocated once:
//! [`TABLE_ENTRIES`] entries of [`std::mem::size_of::<Slot>()`] octets each
//! (16384 × 32 = 512 KiB). The set is chosen by a keyed hash (SipHash-1-3
//! with a secret key the caller draws), so an attacker cannot aim many
//! addresses at one set. A new
//! client evicts the least recently seen entry of its set. A flood from
//! millions of distinct (spoofed) sources therefore churns the table without
//! growing it, and a legitimate client whose entry was evicted simply starts
//! with a full bucket again: the limiter fails open, service goes on.
//!
//! Time and the key are passed in (milliseconds on any monotonic clock):
//! the table reads no clock and no randomness.

use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Duration;

/// Entries in the table.
pub const TABLE_ENTRIES: usize = 16_384;
const WAYS: usize = 4;

#[derive(Clone, Copy, Default, Debug)]
struct Slot {
    /// Address as 128 bits (IPv4 mapped into IPv6 space); 0 = empty.
    key: u128,
    /// Milliseconds when the bucket was last refilled/used.
    last_ms: u64,
    /// Tokens × 1000 (fixed point).
    tokens_milli: u32,
    /// When the last KoD went to this client (ms + 1; 0 = never).
    last_kod_ms: u32,
}

/// What the limiter says about one request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    Allow,
    /// Over the limit; `kod_allowed` is false when a KoD already went to
    /// this client within the last interval (KoDs are limited too).
    Limited {
        kod_allowed: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RateConfig {
    /// One token comes back per interval.
    pub interval: Duration,
    /// Bucket capacity: requests allowed back to back.
    pub burst: u32,
}

pub struct RateTable {
    cfg: RateConfig,
    slots: Box<[Slot]>,
    /// The SipHash key.
    key: (u64, u64),
    /// Counters for the operator.
    pub evictions: u64,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
    // The unspecified address maps to 0 = "empty": tolerable, it cannot be a client.
}

impl RateTable {
    /// A table whose set choice is keyed by `key` (secret, random: the
    /// edge draws it).
    pub fn new(cfg: RateConfig, key: (u64, u64)) -> RateTable {
        RateTable {
            cfg,
            slots: vec![Slot::default(); TABLE_ENTRIES].into_boxed_slice(),
            key,
            evictions: 0,
        }
    }

    /// Octets the table occupies (fixed from creation on).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    pub fn check(&mut self, ip: IpAddr, now_ms: u64) -> Decision {
        let k = key(ip);
        let mut h = siphasher::sip::SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write_u128(k);
        let set = (h.finish() as usize) % (TABLE_ENTRIES / WAYS);
        let ways = &mut self.slots[set * WAYS..set * WAYS + WAYS];
        let cap = self.cfg.burst.max(1) * 1000;
        let interval_ms = (self.cfg.interval.as_millis() as u64).max(1);
        let idx = match ways.iter().position(|s| s.key == k) {
            Some(i) => i,
            None => {
                let i = ways
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| (s.key != 0, s.last_ms))
                    .map_or(0, |(i, _)| i);
                if ways[i].key != 0 {
                    self.evictions += 1;
                }
                ways[i] = Slot {
                    key: k,
                    last_ms: now_ms,
                    tokens_milli: cap,
                    last_kod_ms: 0,
                };
                i
            }
        };
        let s = &mut ways[idx];
        let elapsed = now_ms.saturating_sub(s.last_ms);
        let refill = (elapsed.saturating_mul(1000) / interval_ms).min(cap as u64) as u32;
        s.tokens_milli = (s.tokens_milli + refill).min(cap);
        s.last_ms = now_ms;
        if s.tokens_milli >= 1000 {
            s.tokens_milli -= 1000;
            Decision::Allow
        } else {
            let now32 = (now_ms as u32).wrapping_add(1).max(1);
            let kod_allowed =
                s.last_kod_ms == 0 || (now32.wrapping_sub(s.last_kod_ms) as u64) >= interval_ms;
            if kod_allowed {
                s.last_kod_ms = now32;
            }
            Decision::Limited { kod_allowed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(interval_ms: u64, burst: u32) -> RateTable {
        RateTable::new(
            RateConfig {
                interval: Duration::from_millis(interval_ms),
                burst,
            },
            (1, 2),
        )
    }

    #[test]
    fn burst_then_limited_then_refilled() {
        let mut t = table(2000, 3);
        let ip: IpAddr = "198.51.100.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.check(ip, 1000), Decision::Allow);
        }
        assert_eq!(t.check(ip, 1000), Decision::Limited { kod_allowed: true });
        assert_eq!(
            t.check(ip, 1100),
            Decision::Limited { kod_allowed: false },
            "one KoD per interval"
        );
        assert_eq!(
            t.check(ip, 3100),
            Decision::Allow,
            "one token back after 2 s"
        );
        assert_eq!(t.check(ip, 3100), Decision::Limited { kod_allowed: true });
        // Another client is unaffected.
        assert_eq!(
            t.check("198.51.100.3".parse().unwrap(), 3100),
            Decision::Allow
        );
    }

    #[test]
    fn memory_is_fixed_and_a_flood_does_not_starve_a_client() {
        let mut t = table(1000, 2);
        let before = t.memory_bytes();
        assert_eq!(before, TABLE_ENTRIES * 32);
        let legit: IpAddr = "198.51.100.2".parse().unwrap();
        let mut served = 0;
        // One million distinct sources, with the legitimate client polling
        // once every 16 simulated seconds in between.
        for i in 0u32..1_000_000 {
            let now = i as u64; // 1 ms apart
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(
                t.check(ip, now),
                Decision::Allow,
                "first request of a new source is served"
            );
            if i % 16_000 == 0 && t.check(legit, now) == Decision::Allow {
                served += 1;
            }
        }
        assert_eq!(t.memory_bytes(), before);
        assert_eq!(served, 1_000_000 / 16_000 + 1);
        assert!(t.evictions > 900_000);
    }

    #[test]
    fn v4_mapped_is_the_same_client() {
        let mut t = table(10_000, 1);
        assert_eq!(t.check("198.51.100.2".parse().unwrap(), 0), Decision::Allow);
        assert!(matches!(
            t.check("::ffff:198.51.100.2".parse().unwrap(), 0),
            Decision::Limited { .. }
        ));
    }
}
