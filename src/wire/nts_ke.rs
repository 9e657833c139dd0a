//! NTS Key Establishment records (RFC 8915 §4): the messages a client and a
//! server exchange over TLS on TCP 4460 before NTS-protected NTP.
//!
//! A record is one octet pair holding the critical bit (the top bit) and a
//! 15-bit record type, a 16-bit body length, then the body. A message is a
//! run of records ending with End of Message (type 0, critical, empty).
//! Types (IANA "Network Time Security Key Establishment Record Types"):
//! 0 End of Message, 1 NTS Next Protocol Negotiation (a list of 16-bit
//! protocol ids; 0 is NTPv4), 2 Error (a 16-bit code: 0 Unrecognized Critical
//! Record, 1 Bad Request, 2 Internal Server Error), 3 Warning (a 16-bit code),
//! 4 AEAD Algorithm Negotiation (a list of 16-bit AEAD ids; 15 is
//! AEAD_AES_SIV_CMAC_256), 5 New Cookie for NTPv4 (opaque), 6 NTPv4 Server
//! Negotiation (an ASCII host name or address), 7 NTPv4 Port Negotiation (a
//! 16-bit port). A record of another type with the critical bit set must be
//! refused; without it, ignored.
//!
//! Sans-IO: bytes in, records out; bounded; never panics on what it reads.

use std::fmt;

pub const END_OF_MESSAGE: u16 = 0;
pub const NEXT_PROTOCOL: u16 = 1;
pub const ERROR: u16 = 2;
pub const WARNING: u16 = 3;
pub const AEAD: u16 = 4;
pub const NEW_COOKIE: u16 = 5;
pub const SERVER: u16 = 6;
pub const PORT: u16 = 7;

/// NTS Next Protocol id of NTPv4.
pub const PROTOCOL_NTPV4: u16 = 0;
/// AEAD_AES_SIV_CMAC_256 (RFC 5297), the algorithm every implementation has.
pub const AEAD_AES_SIV_CMAC_256: u16 = 15;

/// A whole KE response larger than this is refused (a server that keeps
/// sending is not answering).
pub const MAX_MESSAGE: usize = 65_536;
/// New Cookie records kept (a server sends 8); more are counted.
pub const MAX_COOKIES: usize = 64;

/// One record, as it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub critical: bool,
    /// The 15-bit record type.
    pub kind: u16,
    pub body: &'a [u8],
}

impl Record<'_> {
    /// The record's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.body.len());
        let t = (self.kind & 0x7fff) | if self.critical { 0x8000 } else { 0 };
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&(self.body.len() as u16).to_be_bytes());
        v.extend_from_slice(self.body);
        v
    }
}

/// The name of a record type.
pub fn record_name(kind: u16) -> &'static str {
    match kind {
        END_OF_MESSAGE => "End of Message",
        NEXT_PROTOCOL => "NTS Next Protocol Negotiation",
        ERROR => "Error",
        WARNING => "Warning",
        AEAD => "AEAD Algorithm Negotiation",
        NEW_COOKIE => "New Cookie for NTPv4",
        SERVER => "NTPv4 Server Negotiation",
        PORT => "NTPv4 Port Negotiation",
        0x4000..=0x7fff => "private or experimental",
        _ => "unassigned",
    }
}

/// The meaning of an Error record's code.
pub fn error_name(code: u16) -> &'static str {
    match code {
        0 => "Unrecognized Critical Record",
        1 => "Bad Request",
        2 => "Internal Server Error",
        0x8000.. => "private or experimental",
        _ => "unassigned",
    }
}

/// The name of an AEAD algorithm id (IANA "AEAD Algorithms").
pub fn aead_name(id: u16) -> String {
    match id {
        1 => "AEAD_AES_128_GCM".into(),
        2 => "AEAD_AES_256_GCM".into(),
        15 => "AEAD_AES_SIV_CMAC_256".into(),
        16 => "AEAD_AES_SIV_CMAC_384".into(),
        17 => "AEAD_AES_SIV_CMAC_512".into(),
        30 => "AEAD_AES_128_GCM_SIV".into(),
        31 => "AEAD_AES_256_GCM_SIV".into(),
        other => format!("AEAD {other}"),
    }
}

/// Why a KE message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeError {
    #[error("record {kind} ({}) at octet {at}: {what}", record_name(*kind))]
    BadRecord { at: usize, kind: u16, what: String },
    #[error("the message is larger than {MAX_MESSAGE} octets without an End of Message")]
    TooLarge,
    #[error("record of type {kind} ({}) after End of Message", record_name(*kind))]
    AfterEnd { kind: u16 },
}

/// Splits the next record off `buf`: None when `buf` holds only part of
/// it (read more).
pub fn next_record(buf: &[u8]) -> Option<(Record<'_>, usize)> {
    if buf.len() < 4 {
        return None;
    }
    let t = u16::from_be_bytes([buf[0], buf[1]]);
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let body = buf.get(4..4 + len)?;
    Some((
        Record {
            critical: t & 0x8000 != 0,
            kind: t & 0x7fff,
            body,
        },
        4 + len,
    ))
}

fn u16_list(r: &Record, at: usize) -> Result<Vec<u16>, KeError> {
    if !r.body.len().is_multiple_of(2) {
        return Err(KeError::BadRecord {
            at,
            kind: r.kind,
            what: format!("a list of 16-bit ids in {} octets", r.body.len()),
        });
    }
    Ok(r.body
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn one_u16(r: &Record, at: usize) -> Result<u16, KeError> {
    if r.body.len() != 2 {
        return Err(KeError::BadRecord {
            at,
            kind: r.kind,
            what: format!("a 16-bit value in {} octets", r.body.len()),
        });
    }
    Ok(u16::from_be_bytes([r.body[0], r.body[1]]))
}

/// What a server's KE response said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Every record, in order: (critical, type, body length).
    pub records: Vec<(bool, u16, usize)>,
    pub next_protocols: Option<Vec<u16>>,
    pub aead: Option<Vec<u16>>,
    pub errors: Vec<u16>,
    pub warnings: Vec<u16>,
    pub cookies: Vec<Vec<u8>>,
    /// New Cookie records beyond [`MAX_COOKIES`].
    pub cookies_dropped: usize,
    pub server: Option<String>,
    pub port: Option<u16>,
    /// Critical records of types this reader does not know.
    pub unknown_critical: Vec<u16>,
}

/// What reading a message from the start of a buffer gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// A whole message (through End of Message) and the octets it took.
    Done(Response, usize),
    /// Not yet: the records so far.
    More(Response),
}

/// Reads a KE message from the start of `buf`.
pub fn read_message(buf: &[u8]) -> Result<Read, KeError> {
    let mut r = Response::default();
    let mut at = 0;
    loop {
        if at > MAX_MESSAGE {
            return Err(KeError::TooLarge);
        }
        let Some((rec, used)) = next_record(&buf[at..]) else {
            if buf.len() > MAX_MESSAGE {
                return Err(KeError::TooLarge);
            }
            return Ok(Read::More(r));
        };
        r.records.push((rec.critical, rec.kind, rec.body.len()));
        match rec.kind {
            END_OF_MESSAGE => {
                if !rec.body.is_empty() {
                    return Err(KeError::BadRecord {
                        at,
                        kind: rec.kind,
                        what: format!("End of Message with a {}-octet body", rec.body.len()),
                    });
                }
                return Ok(Read::Done(r, at + used));
            }
            NEXT_PROTOCOL => r.next_protocols = Some(u16_list(&rec, at)?),
            ERROR => r.errors.push(one_u16(&rec, at)?),
            WARNING => r.warnings.push(one_u16(&rec, at)?),
            AEAD => r.aead = Some(u16_list(&rec, at)?),
            NEW_COOKIE => {
                if r.cookies.len() < MAX_COOKIES {
                    r.cookies.push(rec.body.to_vec());
                } else {
                    r.cookies_dropped += 1;
                }
            }
            SERVER => {
                let name = std::str::from_utf8(rec.body)
                    .ok()
                    .filter(|s| s.is_ascii() && !s.is_empty())
                    .ok_or_else(|| KeError::BadRecord {
                        at,
                        kind: rec.kind,
                        what: "a server name that is not ASCII text".into(),
                    })?;
                r.server = Some(name.to_string());
            }
            PORT => r.port = Some(one_u16(&rec, at)?),
            other if rec.critical => r.unknown_critical.push(other),
            _ => {}
        }
        at += used;
    }
}

/// A client's KE request: NTPv4 as next protocol, these AEAD algorithms,
/// End of Message (RFC 8915 §4.1.2, §4.1.5).
pub fn client_request(aead: &[u16]) -> Vec<u8> {
    let mut v = Vec::new();
    let list = |ids: &[u16]| {
        ids.iter()
            .flat_map(|x| x.to_be_bytes())
            .collect::<Vec<u8>>()
    };
    let protocols = list(&[PROTOCOL_NTPV4]);
    let aeads = list(aead);
    for (critical, kind, body) in [
        (true, NEXT_PROTOCOL, &protocols[..]),
        (false, AEAD, &aeads[..]),
        (true, END_OF_MESSAGE, &[][..]),
    ] {
        put(&mut v, critical, kind, body);
    }
    v
}

/// Appends one record.
fn put(v: &mut Vec<u8>, critical: bool, kind: u16, body: &[u8]) {
    v.extend(
        Record {
            critical,
            kind,
            body,
        }
        .to_bytes(),
    );
}

/// What a server's KE response says (RFC 8915 §4.1): an Error record
/// alone, or the negotiated protocol and AEAD, the cookies, and where to send
/// NTP when it is not the KE server's address and port 123.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerAnswer {
    pub error: Option<u16>,
    /// The AEAD chosen; `None` sends an empty list (nothing in common).
    pub aead: Option<u16>,
    pub cookies: Vec<Vec<u8>>,
    pub server: Option<String>,
    pub port: Option<u16>,
}

/// Encodes a server's KE response.
pub fn server_response(a: &ServerAnswer) -> Vec<u8> {
    let mut v = Vec::new();
    let mut put = |critical: bool, kind: u16, body: &[u8]| put(&mut v, critical, kind, body);
    if let Some(code) = a.error {
        put(true, ERROR, &code.to_be_bytes());
    } else {
        put(true, NEXT_PROTOCOL, &PROTOCOL_NTPV4.to_be_bytes());
        let aead = a.aead.map(u16::to_be_bytes);
        put(false, AEAD, aead.as_ref().map_or(&[][..], |x| &x[..]));
        for c in &a.cookies {
            put(false, NEW_COOKIE, c);
        }
        if let Some(s) = &a.server {
            put(false, SERVER, s.as_bytes());
        }
        if let Some(p) = a.port {
            put(false, PORT, &p.to_be_bytes());
        }
    }
    put(true, END_OF_MESSAGE, &[]);
    v
}

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} ({}), {} octets",
            if self.critical { "critical " } else { "" },
            self.kind,
            record_name(self.kind),
            self.body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(critical: bool, kind: u16, body: &[u8]) -> Vec<u8> {
        Record {
            critical,
            kind,
            body,
        }
        .to_bytes()
    }

    /// A response laid out by hand from RFC 8915 §4: next protocol NTPv4,
    /// AEAD 15, two cookies, a server and a port, End of Message.
    #[test]
    fn a_server_response() {
        let mut m = Vec::new();
        m.extend([0x80, 0x01, 0x00, 0x02, 0x00, 0x00]);
        m.extend([0x00, 0x04, 0x00, 0x02, 0x00, 0x0f]);
        m.extend([0x00, 0x05, 0x00, 0x03, 1, 2, 3]);
        m.extend([0x00, 0x05, 0x00, 0x02, 4, 5]);
        m.extend([0x00, 0x06, 0x00, 0x08]);
        m.extend(b"ntp.test");
        m.extend([0x00, 0x07, 0x00, 0x02, 0x00, 0x7b]);
        m.extend([0x80, 0x00, 0x00, 0x00]);
        let Read::Done(r, used) = read_message(&m).unwrap() else {
            panic!("not done")
        };
        assert_eq!(used, m.len());
        assert_eq!(r.next_protocols, Some(vec![0]));
        assert_eq!(r.aead, Some(vec![AEAD_AES_SIV_CMAC_256]));
        assert_eq!(r.cookies, vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!((r.server.as_deref(), r.port), (Some("ntp.test"), Some(123)));
        // The server's encoder writes these very octets.
        let answer = ServerAnswer {
            error: None,
            aead: Some(AEAD_AES_SIV_CMAC_256),
            cookies: vec![vec![1, 2, 3], vec![4, 5]],
            server: Some("ntp.test".into()),
            port: Some(123),
        };
        assert_eq!(server_response(&answer), m);
        let e = server_response(&ServerAnswer {
            error: Some(2),
            ..ServerAnswer::default()
        });
        assert_eq!(
            e,
            [0x80, 0x02, 0x00, 0x02, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00]
        );
        // Cut short anywhere before its end: more to read, never an error.
        for cut in 0..m.len() {
            assert!(
                matches!(read_message(&m[..cut]), Ok(Read::More(_))),
                "{cut}"
            );
        }
    }

    #[test]
    fn error_records_and_unknown_critical_ones() {
        let mut m = rec(true, ERROR, &[0, 1]);
        m.extend(rec(true, 0x1234, b"x"));
        m.extend(rec(false, 0x1235, b"y"));
        m.extend(rec(true, END_OF_MESSAGE, &[]));
        let Ok(Read::Done(r, _)) = read_message(&m) else {
            panic!()
        };
        assert_eq!(r.errors, vec![1]);
        assert_eq!(error_name(r.errors[0]), "Bad Request");
        assert_eq!(r.unknown_critical, vec![0x1234]);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in [
            rec(true, NEXT_PROTOCOL, &[0]),
            rec(true, ERROR, &[0, 0, 0]),
            rec(false, PORT, &[1]),
            rec(false, SERVER, &[0xff, 0xfe]),
            rec(true, END_OF_MESSAGE, &[1]),
        ] {
            assert!(
                matches!(read_message(&bad), Err(KeError::BadRecord { .. })),
                "{bad:?}"
            );
        }
        // A server that keeps sending records never ending the message.
        let big: Vec<u8> = (0..20_000)
            .flat_map(|_| rec(false, 0x1000, &[0; 4]))
            .collect();
        assert_eq!(read_message(&big), Err(KeError::TooLarge));
    }

    #[test]
    fn client_request_layout() {
        assert_eq!(
            client_request(&[AEAD_AES_SIV_CMAC_256]),
            vec![
                0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x00, 0x0f, 0x80, 0x00,
                0x00, 0x00
            ]
        );
    }
}
