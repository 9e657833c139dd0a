//! NTP control messages (mode 6; RFC 9327, formerly RFC 1305 appendix B),
//! the read-only subset `ntpq -c rv`, `-c peers` and `-c assoc` need:
//! READSTAT (opcode 1) and READVAR (opcode 2). Every other opcode is
//! answered with an error ("unknown opcode"); nothing can be written.
//!
//! The header is [`ControlHeader`] (the wire type shared with the paste
//! parser). Responses longer than 468 octets of data are fragmented (M bit,
//! offsets), as ntpd does.

use std::fmt::Write as _;

use crate::wire::control::{ControlHeader, HEADER_LEN};

/// Largest data part of one response fragment (ntpd's CTL_MAX_DATA_LEN).
pub const MAX_DATA: usize = 468;

pub const OP_READSTAT: u8 = 1;
pub const OP_READVAR: u8 = 2;

/// Error codes carried in the status field of an error response.
pub const ERR_FORMAT: u16 = 2;
pub const ERR_BADOP: u16 = 3;
pub const ERR_BADASSOC: u16 = 4;

/// A parsed control request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub version: u8,
    pub opcode: u8,
    pub sequence: u16,
    pub assoc: u16,
    /// The requested variable names (READVAR), empty for "all".
    pub data: &'a [u8],
}

/// Parses a mode-6 request; `None` when it is not one (a response, wrong
/// mode, too short, or a count that runs past the end).
pub fn parse(bytes: &[u8]) -> Option<Request<'_>> {
    let h = ControlHeader::parse(bytes)?;
    if h.response {
        return None;
    }
    let data = bytes.get(HEADER_LEN..HEADER_LEN + h.count as usize)?;
    Some(Request {
        version: h.version,
        opcode: h.opcode,
        sequence: h.sequence,
        assoc: h.assoc,
        data,
    })
}

/// One association shown to ntpq: the server's own reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    pub id: u16,
    /// Peer status word (ntpq `assoc`'s `status`).
    pub status: u16,
    pub vars: Vec<(String, String)>,
}

/// What the server exposes.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// System status word.
    pub system_status: u16,
    pub system_vars: Vec<(String, String)>,
    pub associations: Vec<Association>,
}

fn requested(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split(',')
        .map(|s| s.split('=').next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn varlist(vars: &[(String, String)], wanted: &[String]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in vars
        .iter()
        .filter(|(k, _)| wanted.is_empty() || wanted.iter().any(|w| w == k))
    {
        if !s.is_empty() {
            s.push_str(", ");
        }
        let _ = write!(s, "{k}={v}");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Builds the response datagrams (one or more fragments) to `req`.
pub fn respond(req: &Request, snap: &Snapshot) -> Vec<Vec<u8>> {
    let (status, data, error) = match req.opcode {
        OP_READSTAT if req.assoc == 0 => {
            let mut d = Vec::new();
            for a in &snap.associations {
                d.extend_from_slice(&a.id.to_be_bytes());
                d.extend_from_slice(&a.status.to_be_bytes());
            }
            (snap.system_status, d, None)
        }
        OP_READSTAT | OP_READVAR => {
            let wanted = requested(req.data);
            if req.assoc == 0 {
                (
                    snap.system_status,
                    varlist(&snap.system_vars, &wanted),
                    None,
                )
            } else if let Some(a) = snap.associations.iter().find(|a| a.id == req.assoc) {
                (a.status, varlist(&a.vars, &wanted), None)
            } else {
                (0, Vec::new(), Some(ERR_BADASSOC))
            }
        }
        _ => (0, Vec::new(), Some(ERR_BADOP)),
    };
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(MAX_DATA).collect()
    };
    let n = chunks.len();
    let mut offset = 0usize;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let more = i + 1 < n;
        let mut p = Vec::with_capacity(HEADER_LEN + chunk.len() + 3);
        let header = ControlHeader {
            version: req.version.clamp(1, 4),
            response: true,
            error: error.is_some(),
            more,
            opcode: req.opcode,
            sequence: req.sequence,
            status: error.map_or(status, |e| e << 8),
            assoc: req.assoc,
            offset: offset as u16,
            count: chunk.len() as u16,
        };
        p.extend_from_slice(&header.emit());
        p.extend_from_slice(chunk);
        while p.len() % 4 != 0 {
            p.push(0);
        }
        offset += chunk.len();
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: u8, assoc: u16, data: &[u8]) -> Vec<u8> {
        let mut p = vec![(2 << 3) | 6, op, 0, 7, 0, 0];
        p.extend_from_slice(&assoc.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&(data.len() as u16).to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    fn snap() -> Snapshot {
        Snapshot {
            system_status: 0x0515,
            system_vars: vec![
                ("leap".into(), "0".into()),
                ("stratum".into(), "2".into()),
                ("refid".into(), "LOCL".into()),
            ],
            associations: vec![Association {
                id: 1,
                status: 0x961a,
                vars: vec![("srcadr".into(), "127.127.1.0".into())],
            }],
        }
    }

    #[test]
    fn readvar_system() {
        let r = req(2, 0, b"");
        let p = parse(&r).unwrap();
        let out = respond(&p, &snap());
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f[1], 0x82);
        assert_eq!(&f[2..4], &[0, 7]);
        assert_eq!(&f[4..6], &[0x05, 0x15]);
        let count = u16::from_be_bytes([f[10], f[11]]) as usize;
        assert_eq!(&f[12..12 + count], b"leap=0, stratum=2, refid=LOCL\r\n");
        assert_eq!(f.len() % 4, 0);
        // A list of names selects.
        let r = req(2, 0, b"stratum");
        let out = respond(&parse(&r).unwrap(), &snap());
        assert!(String::from_utf8_lossy(&out[0][12..]).starts_with("stratum=2\r\n"));
    }

    #[test]
    fn readstat_and_errors() {
        let out = respond(&parse(&req(1, 0, b"")).unwrap(), &snap());
        assert_eq!(&out[0][12..16], &[0, 1, 0x96, 0x1a]);
        let out = respond(&parse(&req(2, 9, b"")).unwrap(), &snap());
        assert_eq!(out[0][1] & 0x40, 0x40);
        assert_eq!(out[0][4], ERR_BADASSOC as u8);
        let out = respond(&parse(&req(8, 0, b"x=1")).unwrap(), &snap());
        assert_eq!(out[0][4], ERR_BADOP as u8, "configure is refused");
    }

    #[test]
    fn fragments() {
        let mut s = snap();
        for i in 0..100 {
            s.system_vars.push((format!("var{i}"), "x".repeat(10)));
        }
        let out = respond(&parse(&req(2, 0, b"")).unwrap(), &s);
        assert!(out.len() > 1);
        let mut joined = Vec::new();
        for (i, f) in out.iter().enumerate() {
            let more = f[1] & 0x20 != 0;
            assert_eq!(more, i + 1 < out.len());
            let off = u16::from_be_bytes([f[8], f[9]]) as usize;
            assert_eq!(off, joined.len());
            let count = u16::from_be_bytes([f[10], f[11]]) as usize;
            assert!(count <= MAX_DATA);
            joined.extend_from_slice(&f[12..12 + count]);
        }
        assert!(String::from_utf8_lossy(&joined).ends_with("var99=xxxxxxxxxx\r\n"));
    }

    #[test]
    fn not_requests() {
        assert!(parse(&[0u8; 11]).is_none());
        let mut r = req(2, 0, b"");
        r[1] |= 0x80; // a response
        assert!(parse(&r).is_none());
        let mut r = req(2, 0, b"abc");
        r[11] = 200; // count past the end
        assert!(parse(&r).is_none());
    }
}
