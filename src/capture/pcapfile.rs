//! A reader for classic pcap files (libpcap's savefile format), for speed:
//! it reads the file in large blocks and hands out each packet as a slice
//! of its buffer, where libpcap copies every packet with its own `fread`.
//! It reads only what it reads exactly as libpcap does (`sf-pcap.c`,
//! libpcap 1.10): version 2.4 files with the microsecond (0xA1B2C3D4) or
//! nanosecond (0xA1B23C4D) magic in either byte order. [`Header::parse`]
//! says None for the rest (older versions, whose length fields may be
//! swapped; Kuznetzov's modified records; byte-swapped NFLOG, whose TLV
//! headers libpcap swaps), which libpcap reads instead. libpcap's other
//! swaps in a byte-swapped file (swap_pseudo_headers: SocketCAN frames in
//! Linux cooked captures, USB, pflog) touch nothing ntpdiag decodes.
//!
//! File header (24 octets): magic, version major and minor (u16 each),
//! thiszone, sigfigs, snaplen, link type (u32 each; the link type in the
//! low 26 bits). Record header (16 octets): seconds, micro- or nanoseconds,
//! captured length, original length; then the captured octets. As in
//! libpcap: a captured length above 262144 (the most any supported link
//! type may have) is an error; one above the file's snap length but not
//! above 262144 is cut to the snap length; a snap length of 0 or above
//! 262144 counts as 262144. Timestamps keep the file's precision.

use std::io::Read;

use super::pcapng::Frame;

const MAGIC_USEC: u32 = 0xA1B2_C3D4;
const MAGIC_NSEC: u32 = 0xA1B2_3C4D;
/// libpcap's MAXIMUM_SNAPLEN: max_snaplen_for_dlt() of every link type read here.
const MAX_SNAPLEN: u32 = 262_144;
/// LINKTYPE_NFLOG: its TLV headers are in the writer's byte order, which
/// libpcap swaps in a byte-swapped file (swap_nflog_header).
const LINKTYPE_NFLOG: u16 = 239;
const BUF: usize = 1 << 20;

/// A pcap file header this reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// LINKTYPE_ value.
    pub link: u16,
    /// The snap length libpcap uses (0 or above 262144: 262144).
    pub snaplen: u32,
    nanos: bool,
    swapped: bool,
}

impl Header {
    /// The header of a file this reader reads, or None (libpcap's turn).
    pub fn parse(h: &[u8]) -> Option<Header> {
        let h: &[u8; 24] = h.get(..24)?.try_into().ok()?;
        let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (nanos, swapped) = match le {
            MAGIC_USEC => (false, false),
            MAGIC_NSEC => (true, false),
            x if x.swap_bytes() == MAGIC_USEC => (false, true),
            x if x.swap_bytes() == MAGIC_NSEC => (true, true),
            _ => return None,
        };
        let u16_at = |at: usize| {
            let x = u16::from_le_bytes([h[at], h[at + 1]]);
            if swapped { x.swap_bytes() } else { x }
        };
        let u32_at = |at: usize| {
            let x = u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
            if swapped { x.swap_bytes() } else { x }
        };
        if (u16_at(4), u16_at(6)) != (2, 4) {
            return None;
        }
        let link = u32_at(20) & 0x03FF_FFFF;
        let link = u16::try_from(link).ok()?;
        if swapped && link == LINKTYPE_NFLOG {
            return None;
        }
        let snaplen = match u32_at(16) {
            0 => MAX_SNAPLEN,
            s => s.min(MAX_SNAPLEN),
        };
        Some(Header {
            link,
            snaplen,
            nanos,
            swapped,
        })
    }
}

/// The 24-octet header of a version 2.4 pcap file with microsecond
/// stamps, little-endian (as tcpdump writes it on x86): for the tools that
/// write synthetic captures (the benchmark's generator, tests).
pub fn file_header(snaplen: u32, link: u16) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&u32::from(link).to_le_bytes());
    h
}

/// The 16-octet header of a record of [`file_header`]'s file: `caplen`
/// octets follow, of a packet of `len`.
pub fn record_header(secs: u32, usecs: u32, caplen: u32, len: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    for (i, x) in [secs, usecs, caplen, len].into_iter().enumerate() {
        h[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    h
}

/// Why a read stopped: libpcap's words for the same cases.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PcapError {
    #[error("not a pcap file this reader reads")]
    NotOurs,
    #[error("truncated dump file; tried to read 16 header bytes, only got {0}")]
    TruncatedHeader(usize),
    #[error("truncated dump file; tried to read {want} captured bytes, only got {got}")]
    TruncatedData { want: u32, got: usize },
    #[error("invalid packet capture length {caplen}, bigger than snaplen of {snaplen}")]
    OverSnaplen { caplen: u32, snaplen: u32 },
    #[error("invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}")]
    OverMaximum { caplen: u32 },
    #[error("error reading dump file: {0}")]
    Io(String),
}

pub struct Reader<R> {
    r: R,
    pub header: Header,
    buf: Box<[u8]>,
    /// The unread octets are buf[pos..end].
    pos: usize,
    end: usize,
    eof: bool,
    /// Octets of the file handed out or skipped (for progress).
    pub offset: u64,
}

impl<R: Read> Reader<R> {
    /// Reads the file header: NotOurs when libpcap should read the file.
    pub fn new(mut r: R) -> Result<Reader<R>, PcapError> {
        let mut h = [0u8; 24];
        let mut got = 0;
        while got < h.len() {
            match r.read(&mut h[got..]) {
                Ok(0) => return Err(PcapError::NotOurs),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PcapError::Io(e.to_string())),
            }
        }
        let header = Header::parse(&h).ok_or(PcapError::NotOurs)?;
        Ok(Reader {
            r,
            header,
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            offset: 24,
        })
    }

    /// At least `n` (at most the buffer's size) unread octets, unless the
    /// file ends first: how many there are.
    #[inline]
    fn fill(&mut self, n: usize) -> Result<usize, PcapError> {
        if self.end - self.pos >= n || self.eof {
            return Ok(self.end - self.pos);
        }
        self.refill(n)
    }

    /// [`Self::fill`] when the buffer holds less than `n`: once per block.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> Result<usize, PcapError> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PcapError::Io(e.to_string())),
            }
        }
        Ok(self.end)
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.buf[at..at + 4];
        let x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if self.header.swapped {
            x.swap_bytes()
        } else {
            x
        }
    }

    /// The next packet, or None at the end of the file.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, PcapError> {
        let have = self.fill(16)?;
        if have < 16 {
            return if have == 0 {
                Ok(None)
            } else {
                Err(PcapError::TruncatedHeader(have))
            };
        }
        let p = self.pos;
        let secs = self.u32_at(p) as i32 as i64;
        let frac = self.u32_at(p + 4);
        let caplen = self.u32_at(p + 8);
        let snaplen = self.header.snaplen;
        if caplen > MAX_SNAPLEN {
            return Err(if caplen > snaplen {
                PcapError::OverSnaplen { caplen, snaplen }
            } else {
                PcapError::OverMaximum { caplen }
            });
        }
        let want = 16 + caplen as usize;
        let have = self.fill(want)?;
        if have < want {
            let got = have - 16;
            return Err(PcapError::TruncatedData {
                want: if got < snaplen as usize {
                    caplen.min(snaplen)
                } else {
                    caplen
                },
                got,
            });
        }
        let p = self.pos;
        self.pos += want;
        self.offset += want as u64;
        let kept = caplen.min(snaplen) as usize;
        // tv_usec is signed in libpcap's record header; a value past a
        // second is the file's, kept as ntpdiag's other readers keep it:
        // at most 999999999 ns.
        let nanos = if self.header.nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        }
        .min(999_999_999);
        Ok(Some(Frame {
            interface: 0,
            link: self.header.link,
            secs,
            nanos,
            data: &self.buf[p + 16..p + 16 + kept],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(magic: u32, be: bool, version: (u16, u16), snaplen: u32, link: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        w32(&mut v, magic);
        for x in [version.0, version.1] {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
        }
        for x in [0, 0, snaplen, link] {
            w32(&mut v, x);
        }
        v
    }

    fn record(v: &mut Vec<u8>, be: bool, secs: u32, frac: u32, data: &[u8], caplen: u32) {
        for x in [secs, frac, caplen, data.len() as u32] {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
        }
        v.extend_from_slice(data);
    }

    /// Seconds, nanoseconds and octets of each packet.
    type Frames = Vec<(i64, u32, Vec<u8>)>;

    fn all(bytes: &[u8]) -> (Frames, Option<PcapError>) {
        let mut r = Reader::new(bytes).expect("ours");
        let mut out = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => out.push((f.secs, f.nanos, f.data.to_vec())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn both_byte_orders_and_precisions() {
        for be in [false, true] {
            for (magic, frac, nanos) in [(MAGIC_USEC, 250_000, 250_000_000), (MAGIC_NSEC, 7, 7)] {
                let mut f = file(magic, be, (2, 4), 65535, 1);
                record(&mut f, be, 1_700_000_000, frac, &[1, 2, 3], 3);
                record(&mut f, be, 1_700_000_001, 0, &[], 0);
                let (got, err) = all(&f);
                assert_eq!(err, None);
                assert_eq!(
                    got,
                    vec![
                        (1_700_000_000, nanos, vec![1, 2, 3]),
                        (1_700_000_001, 0, vec![])
                    ]
                );
            }
        }
    }

    #[test]
    fn what_libpcap_reads_differently_is_left_to_it() {
        assert_eq!(
            Header::parse(&file(MAGIC_USEC, false, (2, 3), 65535, 1)),
            None
        );
        assert_eq!(
            Header::parse(&file(0xA1B2_CD34, false, (2, 4), 65535, 1)),
            None
        );
        assert_eq!(
            Header::parse(&file(MAGIC_USEC, true, (2, 4), 65535, 239)),
            None
        );
        assert!(Header::parse(&file(MAGIC_USEC, false, (2, 4), 65535, 239)).is_some());
        assert_eq!(Header::parse(&[0xd4, 0xc3, 0xb2, 0xa1]), None);
        assert!(matches!(
            Reader::new(&[0xd4u8, 0xc3, 0xb2][..]),
            Err(PcapError::NotOurs)
        ));
    }

    #[test]
    fn snap_lengths_as_libpcap_has_them() {
        let h = Header::parse(&file(MAGIC_USEC, false, (2, 4), 0, 1 | 1 << 28)).unwrap();
        assert_eq!((h.snaplen, h.link), (MAX_SNAPLEN, 1));
        // Longer than the snap length: cut to it.
        let mut f = file(MAGIC_USEC, false, (2, 4), 4, 1);
        record(&mut f, false, 1, 0, &[1, 2, 3, 4, 5, 6], 6);
        record(&mut f, false, 2, 0, &[9], 1);
        let (got, err) = all(&f);
        assert_eq!(err, None);
        assert_eq!(got, vec![(1, 0, vec![1, 2, 3, 4]), (2, 0, vec![9])]);
        // Beyond any sane length: an error, after what came before.
        let mut f = file(MAGIC_USEC, false, (2, 4), 65535, 1);
        record(&mut f, false, 1, 0, &[1], 1);
        f.extend_from_slice(&[0xff; 40]);
        let (got, err) = all(&f);
        assert_eq!(got.len(), 1);
        assert_eq!(
            err,
            Some(PcapError::OverSnaplen {
                caplen: u32::MAX,
                snaplen: 65535
            })
        );
    }

    #[test]
    fn a_file_cut_anywhere_is_an_error_never_a_panic() {
        let mut f = file(MAGIC_USEC, false, (2, 4), 65535, 1);
        record(&mut f, false, 1, 0, &[1; 100], 100);
        record(&mut f, false, 2, 0, &[2; 100], 100);
        for cut in 24..f.len() {
            let (got, err) = all(&f[..cut]);
            match cut - 24 {
                0 | 116 => assert_eq!(err, None, "cut at {cut}"),
                n if n < 16 => assert_eq!(err, Some(PcapError::TruncatedHeader(n))),
                n if n < 116 => assert_eq!(
                    err,
                    Some(PcapError::TruncatedData {
                        want: 100,
                        got: n - 16
                    })
                ),
                n if n < 132 => assert_eq!(err, Some(PcapError::TruncatedHeader(n - 116))),
                n => assert_eq!(
                    err,
                    Some(PcapError::TruncatedData {
                        want: 100,
                        got: n - 132
                    })
                ),
            }
            assert_eq!(got.len(), (cut - 24) / 116, "cut at {cut}");
        }
    }

    /// The fixture files (recorded with tcpdump) and variants of them,
    /// read by libpcap (the oracle) and by this reader: the same packets,
    /// timestamps to the nanosecond, and the same error where libpcap stops.
    #[test]
    fn reads_what_libpcap_reads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
        let tmp = std::env::temp_dir().join(format!("ntpdiag-pcapfile-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "pcap") {
                continue;
            }
            let orig = std::fs::read(&path).unwrap();
            let mut variants = vec![("as recorded", orig.clone())];
            variants.push(("nanosecond magic", rewrite(&orig, false, true, None)));
            variants.push(("byte-swapped", rewrite(&orig, true, false, None)));
            variants.push(("snap length 70", rewrite(&orig, false, false, Some(70))));
            for cut in [orig.len() - 1, orig.len() - 20, 24 + 7, orig.len() / 2] {
                variants.push(("cut", orig[..cut].to_vec()));
            }
            // Written by libpcap itself: tcpdump's copy with nanosecond stamps.
            if let Some(ns) = tcpdump_nanos(&path, &tmp) {
                variants.push(("tcpdump --time-stamp-precision=nano", ns));
            }
            let mut garbled = orig.clone();
            let at = 24 + 16 + u32::from_le_bytes(orig[32..36].try_into().unwrap()) as usize;
            garbled[at + 8..at + 12].copy_from_slice(&300_000u32.to_le_bytes());
            variants.push(("a huge length", garbled));
            for (what, bytes) in variants {
                let f = tmp.join("v.pcap");
                std::fs::write(&f, &bytes).unwrap();
                let theirs = libpcap_frames(&f);
                let ours = {
                    let Ok(mut r) = Reader::new(&bytes[..]) else {
                        // Left to libpcap: only NFLOG in the other byte order.
                        assert_eq!((what, le32(&orig, 20)), ("byte-swapped", 239));
                        continue;
                    };
                    let mut out = Vec::new();
                    loop {
                        match r.next_frame() {
                            Ok(Some(f)) => out.push((f.secs, f.nanos, f.data.to_vec())),
                            Ok(None) => break (out, None),
                            Err(e) => break (out, Some(e.to_string())),
                        }
                    }
                };
                assert_eq!(ours, theirs, "{}: {what}", path.display());
                files += 1;
            }
        }
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(files >= 100, "{files}");
    }

    /// `tcpdump -r FILE --time-stamp-precision=nano -w COPY`: the file as
    /// libpcap writes it with nanosecond stamps. None (said) when tcpdump
    /// is not installed, outside CI.
    fn tcpdump_nanos(f: &std::path::Path, tmp: &std::path::Path) -> Option<Vec<u8>> {
        let Some(tcpdump) = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            assert!(std::env::var_os("CI").is_none(), "tcpdump is needed in CI");
            eprintln!("SKIPPED the tcpdump-written variant: tcpdump not installed");
            return None;
        };
        let out = tmp.join("ns.pcap");
        let st = std::process::Command::new(tcpdump)
            .arg("-r")
            .arg(f)
            .args(["--time-stamp-precision=nano", "-w"])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "tcpdump -r {}", f.display());
        let b = std::fs::read(&out).unwrap();
        assert_eq!(le32(&b, 0), MAGIC_NSEC);
        Some(b)
    }

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// libpcap's reading of a file, with nanosecond timestamps.
    fn libpcap_frames(f: &std::path::Path) -> (Frames, Option<String>) {
        let mut cap =
            pcap::Capture::from_file_with_precision(f, pcap::Precision::Nano).expect("libpcap");
        let mut out = Vec::new();
        loop {
            match cap.next_packet() {
                Ok(p) => out.push((
                    p.header.ts.tv_sec,
                    p.header.ts.tv_usec as u32,
                    p.data.to_vec(),
                )),
                Err(pcap::Error::NoMorePackets) => return (out, None),
                Err(pcap::Error::PcapError(m)) => return (out, Some(m)),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    /// A little-endian microsecond pcap file rewritten: byte-swapped, with
    /// nanosecond timestamps, or with another snap length.
    fn rewrite(b: &[u8], swap: bool, nanos: bool, snaplen: Option<u32>) -> Vec<u8> {
        let le = |at: usize| le32(b, at);
        let w = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if swap {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let mut v = Vec::new();
        w(&mut v, if nanos { MAGIC_NSEC } else { MAGIC_USEC });
        for x in [2u16, 4] {
            v.extend_from_slice(&if swap {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        for at in [8, 12] {
            w(&mut v, le(at));
        }
        w(&mut v, snaplen.unwrap_or(le(16)));
        w(&mut v, le(20));
        let mut at = 24;
        while at + 16 <= b.len() {
            let caplen = le(at + 8) as usize;
            w(&mut v, le(at));
            w(
                &mut v,
                if nanos {
                    le(at + 4) * 1000 + 999
                } else {
                    le(at + 4)
                },
            );
            w(&mut v, caplen as u32);
            w(&mut v, le(at + 12));
            v.extend_from_slice(&b[at + 16..(at + 16 + caplen).min(b.len())]);
            at += 16 + caplen;
        }
        v
    }

    #[test]
    fn the_writers_headers_are_what_the_readers_read() {
        let mut f = file_header(65535, 1).to_vec();
        f.extend_from_slice(&record_header(7, 8, 2, 60));
        f.extend_from_slice(&[1, 2]);
        assert_eq!(
            Header::parse(&f),
            Some(Header {
                link: 1,
                snaplen: 65535,
                nanos: false,
                swapped: false
            })
        );
        assert_eq!(all(&f), (vec![(7, 8000, vec![1, 2])], None));
        // libpcap reads it the same.
        let tmp = std::env::temp_dir().join(format!("ntpdiag-pcapw-{}.pcap", std::process::id()));
        std::fs::write(&tmp, &f).unwrap();
        let theirs = libpcap_frames(&tmp);
        std::fs::remove_file(&tmp).unwrap();
        assert_eq!(theirs, (vec![(7, 8000, vec![1, 2])], None));
    }

    #[test]
    fn records_across_buffer_refills() {
        let mut f = file(MAGIC_NSEC, true, (2, 4), 65535, 1);
        let n = 3 * BUF / 1000;
        for i in 0..n {
            let d = vec![(i % 251) as u8; 984 + i % 17];
            record(&mut f, true, i as u32, i as u32, &d, d.len() as u32);
        }
        let (got, err) = all(&f);
        assert_eq!(err, None);
        assert_eq!(got.len(), n);
        for (i, (s, ns, d)) in got.iter().enumerate() {
            assert_eq!(
                (*s, *ns, d.len(), d[0]),
                (i as i64, i as u32, 984 + i % 17, (i % 251) as u8)
            );
        }
    }
}
