//! A pcapng reader for files whose interfaces have different link types
//! (libpcap refuses them: "an interface has a type … different from the type
//! of the first interface"), e.g. `mergecap` of a capture on an Ethernet
//! interface and one on `-i any`, or `dumpcap -i eth0 -i nflog:5`.
//!
//! Block layout from the pcapng specification (draft-ietf-opsawg-pcapng):
//! every block is type (u32), total length (u32), body, total length again;
//! lengths are multiples of 4. The Section Header Block (0x0A0D0D0A) carries
//! the byte-order magic 0x1A2B3C4D and starts a new list of interfaces; an
//! Interface Description Block (1) gives a link type, a snap length and
//! options, among which if_tsresol (9: 10^-n or, with the top bit, 2^-n
//! seconds per unit; default 10^-6) and if_tsoffset (14: seconds added);
//! an Enhanced Packet Block (6) gives interface id, a 64-bit timestamp in
//! two halves, captured and original lengths, then the data; a Simple Packet
//! Block (3) has no interface id (the first) and no timestamp; the obsolete
//! Packet Block (2) has a 16-bit interface id. Other blocks are skipped.
//!
//! Sans-IO in the sense that matters here: it reads from any `Read`, never
//! panics on what it reads, and says where and why it stopped.

use std::io::Read;

/// Blocks larger than this are refused (a corrupt length, not a packet).
const MAX_BLOCK: usize = 16 << 20;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// An interface of the current section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// LINKTYPE_ value (the same numbers as libpcap's DLT_ for those read here).
    pub link: u16,
    pub snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset: i64,
}

/// One packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub interface: usize,
    pub link: u16,
    /// Unix seconds and nanoseconds.
    pub secs: i64,
    pub nanos: u32,
    pub data: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PcapngError {
    #[error("not a pcapng file (no section header block)")]
    NotPcapng,
    #[error("block at offset {offset}: {what}")]
    Bad { offset: u64, what: String },
    #[error("the file ends inside a block at offset {offset}")]
    Truncated { offset: u64 },
    #[error("read error at offset {offset}: {msg}")]
    Io { offset: u64, msg: String },
}

pub struct Reader<R> {
    r: R,
    big_endian: bool,
    interfaces: Vec<Interface>,
    block: Vec<u8>,
    offset: u64,
    started: bool,
    last_ts: (i64, u32),
}

/// Is this the start of a pcapng file?
pub fn is_pcapng(head: &[u8]) -> bool {
    head.len() >= 4 && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) == SHB
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Reader<R> {
        Reader {
            r,
            big_endian: false,
            interfaces: Vec::new(),
            block: Vec::new(),
            offset: 0,
            started: false,
            last_ts: (0, 0),
        }
    }

    /// Octets of the file read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }

    /// Fills `buf` completely; Ok(false) on a clean end before any byte.
    fn read_exact_or_end(&mut self, buf: &mut [u8]) -> Result<bool, PcapngError> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => {
                    return Err(PcapngError::Truncated {
                        offset: self.offset,
                    });
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(PcapngError::Io {
                        offset: self.offset,
                        msg: e.to_string(),
                    });
                }
            }
        }
        Ok(true)
    }

    fn bad(&self, what: impl Into<String>) -> PcapngError {
        PcapngError::Bad {
            offset: self.offset,
            what: what.into(),
        }
    }

    /// The next packet, or None at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, PcapngError> {
        loop {
            let mut head = [0u8; 8];
            if !self.read_exact_or_end(&mut head)? {
                return if self.started {
                    Ok(None)
                } else {
                    Err(PcapngError::NotPcapng)
                };
            }
            let ty_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            if ty_le == SHB {
                // The byte order comes from the magic that follows.
                let mut bom = [0u8; 4];
                if !self.read_exact_or_end(&mut bom)? {
                    return Err(PcapngError::Truncated {
                        offset: self.offset,
                    });
                }
                self.big_endian = match u32::from_le_bytes(bom) {
                    BYTE_ORDER_MAGIC => false,
                    x if x.swap_bytes() == BYTE_ORDER_MAGIC => true,
                    _ => return Err(self.bad("section header with no byte-order magic")),
                };
                self.interfaces.clear();
                self.started = true;
                let len = self.u32_at(&head, 4) as usize;
                self.skip_body(len, 12)?;
                continue;
            }
            if !self.started {
                return Err(PcapngError::NotPcapng);
            }
            let ty = self.u32_at(&head, 0);
            let len = self.u32_at(&head, 4) as usize;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(self.bad(format!("block length {len}")));
            }
            if len > MAX_BLOCK {
                return Err(self.bad(format!("block of {len} octets (at most {MAX_BLOCK})")));
            }
            let mut body = std::mem::take(&mut self.block);
            body.resize(len - 8, 0);
            if !self.read_exact_or_end(&mut body)? {
                return Err(PcapngError::Truncated {
                    offset: self.offset,
                });
            }
            let at = self.offset;
            self.offset += len as u64;
            let body_len = len - 12;
            if self.u32_at(&body, body_len) as usize != len {
                self.block = body;
                return Err(PcapngError::Bad {
                    offset: at,
                    what: "trailing length differs from the leading one".into(),
                });
            }
            self.block = body;
            match ty {
                IDB => self.interface(at, body_len)?,
                EPB | PB => {
                    let (min, iface_of) = if ty == EPB { (20, 4) } else { (20, 2) };
                    if body_len < min {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: "packet block too short".into(),
                        });
                    }
                    let b = &self.block;
                    let iface = if iface_of == 4 {
                        self.u32_at(b, 0) as usize
                    } else {
                        self.u16_at(b, 0) as usize
                    };
                    let hi = self.u32_at(b, 4) as u64;
                    let lo = self.u32_at(b, 8) as u64;
                    let caplen = self.u32_at(b, 12) as usize;
                    if caplen > body_len - 20 {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: format!("captured length {caplen} past the block's end"),
                        });
                    }
                    let Some(i) = self.interfaces.get(iface) else {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: format!("packet of interface {iface}, which is not described"),
                        });
                    };
                    let (secs, nanos) = i.time(hi << 32 | lo);
                    self.last_ts = (secs, nanos);
                    return Ok(Some(Frame {
                        interface: iface,
                        link: i.link,
                        secs,
                        nanos,
                        data: &self.block[20..20 + caplen],
                    }));
                }
                SPB => {
                    let Some(i) = self.interfaces.first() else {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: "simple packet before any interface".into(),
                        });
                    };
                    if body_len < 4 {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: "simple packet block too short".into(),
                        });
                    }
                    let orig = self.u32_at(&self.block, 0) as usize;
                    let snap = if i.snaplen == 0 {
                        usize::MAX
                    } else {
                        i.snaplen as usize
                    };
                    let caplen = orig.min(snap).min(body_len - 4);
                    // No timestamp: the previous packet's.
                    let (secs, nanos) = self.last_ts;
                    return Ok(Some(Frame {
                        interface: 0,
                        link: i.link,
                        secs,
                        nanos,
                        data: &self.block[4..4 + caplen],
                    }));
                }
                _ => {}
            }
        }
    }

    fn skip_body(&mut self, len: usize, already: usize) -> Result<(), PcapngError> {
        if len < 28 || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(self.bad(format!("section header length {len}")));
        }
        let mut rest = vec![0u8; len - already];
        if !self.read_exact_or_end(&mut rest)? {
            return Err(PcapngError::Truncated {
                offset: self.offset,
            });
        }
        self.offset += len as u64;
        Ok(())
    }

    fn interface(&mut self, at: u64, body_len: usize) -> Result<(), PcapngError> {
        if body_len < 8 {
            return Err(PcapngError::Bad {
                offset: at,
                what: "interface description too short".into(),
            });
        }
        let b = &self.block;
        let link = self.u16_at(b, 0);
        let snaplen = self.u32_at(b, 4);
        let mut units = 1_000_000u64;
        let mut offset = 0i64;
        let mut o = 8;
        while o + 4 <= body_len {
            let code = self.u16_at(b, o);
            let l = self.u16_at(b, o + 2) as usize;
            let v = o + 4;
            if code == 0 || v + l > body_len {
                break;
            }
            match (code, l) {
                (9, 1) => {
                    let r = b[v];
                    let exp = (r & 0x7f) as u32;
                    units = if r & 0x80 != 0 {
                        1u64.checked_shl(exp).unwrap_or(0)
                    } else {
                        10u64.checked_pow(exp).unwrap_or(0)
                    };
                    if units == 0 {
                        return Err(PcapngError::Bad {
                            offset: at,
                            what: format!("timestamp resolution {r:#04x} out of range"),
                        });
                    }
                }
                (14, 8) => {
                    let x: [u8; 8] = b[v..v + 8].try_into().unwrap_or([0; 8]);
                    offset = if self.big_endian {
                        i64::from_be_bytes(x)
                    } else {
                        i64::from_le_bytes(x)
                    };
                }
                _ => {}
            }
            o = v + l.div_ceil(4) * 4;
        }
        self.interfaces.push(Interface {
            link,
            snaplen,
            units,
            offset,
        });
        Ok(())
    }
}

impl Interface {
    /// A timestamp in this interface's units → Unix seconds and nanoseconds.
    fn time(&self, t: u64) -> (i64, u32) {
        let secs = (t / self.units) as i64;
        let frac = t % self.units;
        let nanos = (frac as u128 * 1_000_000_000 / self.units as u128) as u32;
        (secs.saturating_add(self.offset), nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        let mut v = ty.to_le_bytes().to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(body);
        v.resize(len as usize - 4, 0);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn shb() -> Vec<u8> {
        let mut b = BYTE_ORDER_MAGIC.to_le_bytes().to_vec();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        block(SHB, &b)
    }

    fn idb(link: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = link.to_le_bytes().to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend_from_slice(&9u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0; 4]);
        }
        block(IDB, &b)
    }

    fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = iface.to_le_bytes().to_vec();
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        block(EPB, &b)
    }

    #[test]
    fn two_interfaces_with_their_own_link_types_and_resolutions() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(idb(239, Some(9)));
        f.extend(epb(0, 1_700_000_000_123_456, b"abc"));
        f.extend(epb(1, 1_700_000_001_000_000_007, b"defgh"));
        f.extend(block(5, b"stats"));
        let mut r = Reader::new(&f[..]);
        let a = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (a.interface, a.link, a.secs, a.nanos, a.data),
            (0, 1, 1_700_000_000, 123_456_000, &b"abc"[..])
        );
        let b = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (b.interface, b.link, b.secs, b.nanos, b.data),
            (1, 239, 1_700_000_001, 7, &b"defgh"[..])
        );
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(epb(0, 5, b"abcd"));
        // Cut anywhere: an error or the frames before the cut.
        for cut in 0..f.len() {
            let mut r = Reader::new(&f[..cut]);
            while let Ok(Some(_)) = r.next_frame() {}
        }
        // A packet of an interface never described.
        let mut g = shb();
        g.extend(epb(3, 5, b"abcd"));
        assert!(matches!(
            Reader::new(&g[..]).next_frame(),
            Err(PcapngError::Bad { .. })
        ));
        // Not pcapng at all.
        assert_eq!(
            Reader::new(&[0xd4, 0xc3, 0xb2, 0xa1, 0, 0, 0, 0][..]).next_frame(),
            Err(PcapngError::NotPcapng)
        );
    }
}
