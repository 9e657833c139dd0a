//! IP reassembly for captures: the fragments of one datagram (same source,
//! destination, protocol and identification; RFC 791, RFC 8200 §4.5) are
//! joined when every octet from 0 to the end (given by the fragment without
//! "more fragments") is there. Bounded: at most [`MAX_FLOWS`] datagrams in
//! progress, each at most [`MAX_DATAGRAM`] octets, given up after
//! [`TIMEOUT`] of capture time (Linux's `ipfrag_time` default). Overlaps
//! keep the octets that came first.

use std::net::IpAddr;

use super::decode::Frag;

pub const MAX_FLOWS: usize = 64;
pub const MAX_DATAGRAM: usize = 65_535;
pub const TIMEOUT: f64 = 30.0;

type FlowKey = (IpAddr, IpAddr, u8, u32);

#[derive(Debug)]
struct Flow {
    key: FlowKey,
    first: f64,
    /// (offset, octets), in arrival order.
    parts: Vec<(usize, Vec<u8>)>,
    /// The datagram's length, once the last fragment came.
    end: Option<usize>,
    bytes: usize,
}

/// What one fragment did.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// Waiting for more.
    Incomplete,
    /// The datagram is whole: its transport header and payload.
    Whole(Vec<u8>),
    /// Not kept: why.
    Dropped(&'static str),
}

#[derive(Debug, Default)]
pub struct Reassembler {
    flows: Vec<Flow>,
    /// Datagrams given up (timed out, pushed out, too large) so far.
    pub abandoned: u64,
}

impl Reassembler {
    pub fn push(&mut self, now: f64, f: &Frag) -> Push {
        // Give up on old datagrams.
        let before = self.flows.len();
        self.flows.retain(|x| now - x.first <= TIMEOUT);
        self.abandoned += (before - self.flows.len()) as u64;
        let Some(end_here) = f.offset.checked_add(f.payload.len()) else {
            return Push::Dropped("fragment offset unreadable");
        };
        if end_here > MAX_DATAGRAM {
            return Push::Dropped("fragment past 65535 octets");
        }
        let key = (f.src, f.dst, f.proto, f.id);
        let i = match self.flows.iter().position(|x| x.key == key) {
            Some(i) => i,
            None => {
                if self.flows.len() >= MAX_FLOWS {
                    // The oldest is given up.
                    self.flows.remove(0);
                    self.abandoned += 1;
                }
                self.flows.push(Flow {
                    key,
                    first: now,
                    parts: Vec::new(),
                    end: None,
                    bytes: 0,
                });
                self.flows.len() - 1
            }
        };
        let flow = &mut self.flows[i];
        if !f.more {
            flow.end = Some(end_here);
        }
        flow.bytes += f.payload.len();
        if flow.bytes > 2 * MAX_DATAGRAM {
            self.flows.remove(i);
            self.abandoned += 1;
            return Push::Dropped("fragments of one datagram past twice its largest size");
        }
        flow.parts.push((f.offset, f.payload.to_vec()));
        let Some(end) = flow.end else {
            return Push::Incomplete;
        };
        // Covered from 0 to end?
        let mut spans: Vec<(usize, usize)> =
            flow.parts.iter().map(|(o, p)| (*o, o + p.len())).collect();
        spans.sort_unstable();
        let mut reach = 0;
        for (a, b) in spans {
            if a > reach {
                break;
            }
            reach = reach.max(b);
        }
        if reach < end {
            return Push::Incomplete;
        }
        let flow = self.flows.remove(i);
        let mut out = vec![0u8; end];
        let mut have = vec![false; end];
        for (o, p) in &flow.parts {
            for (k, b) in p.iter().enumerate() {
                let at = o + k;
                if at < end && !have[at] {
                    out[at] = *b;
                    have[at] = true;
                }
            }
        }
        Push::Whole(out)
    }

    /// Datagrams still waiting for a fragment.
    pub fn waiting(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(id: u32, offset: usize, more: bool, payload: &[u8]) -> Frag<'_> {
        Frag {
            src: "198.51.100.1".parse().unwrap(),
            dst: "198.51.100.2".parse().unwrap(),
            proto: 17,
            id,
            offset,
            more,
            payload,
        }
    }

    #[test]
    fn in_any_order_and_with_overlaps() {
        let data: Vec<u8> = (0..40u8).collect();
        let mut r = Reassembler::default();
        assert_eq!(
            r.push(0.0, &frag(7, 24, false, &data[24..])),
            Push::Incomplete
        );
        assert_eq!(
            r.push(0.0, &frag(7, 0, true, &data[..16])),
            Push::Incomplete
        );
        assert_eq!(
            r.push(0.1, &frag(7, 8, true, &data[8..32])),
            Push::Whole(data.clone())
        );
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn bounded_in_flows_time_and_size() {
        let mut r = Reassembler::default();
        for id in 0..(MAX_FLOWS as u32 + 10) {
            r.push(0.0, &frag(id, 0, true, &[0; 8]));
        }
        assert_eq!(r.waiting(), MAX_FLOWS);
        assert_eq!(r.abandoned, 10);
        r.push(TIMEOUT + 1.0, &frag(999, 0, true, &[0; 8]));
        assert_eq!(r.waiting(), 1);
        assert_eq!(
            r.push(0.0, &frag(5, 65_530, false, &[0; 8])),
            Push::Dropped("fragment past 65535 octets")
        );
    }
}
