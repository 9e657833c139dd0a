//! NTS-protected NTP packets (RFC 8915 §5): the extension fields, the
//! authenticator (AEAD_AES_SIV_CMAC_256, RFC 5297 with the nonce as the last
//! associated-data component), and the server's cookies.
//!
//! Sans-IO: bytes, keys and random octets in; bytes or a reason out. The
//! extension-field layout is RFC 7822's (type, length, body padded to four
//! octets); the NTS ones are RFC 8915 §5.3–§5.6:
//!
//! | type   | field |
//! |--------|-------|
//! | 0x0104 | Unique Identifier (≥ 32 random octets, echoed by the server) |
//! | 0x0204 | NTS Cookie |
//! | 0x0304 | NTS Cookie Placeholder (asks for one more cookie, same length) |
//! | 0x0404 | NTS Authenticator and Encrypted Extension Fields |

use aes_siv::KeyInit;
use aes_siv::siv::Aes128Siv;
use thiserror::Error;

pub const EF_UNIQUE_ID: u16 = 0x0104;
pub const EF_COOKIE: u16 = 0x0204;
pub const EF_PLACEHOLDER: u16 = 0x0304;
pub const EF_AUTHENTICATOR: u16 = 0x0404;

/// The NTP header's length: extension fields follow it.
const HEADER: usize = 48;
/// Octets of the AES-SIV tag (the whole ciphertext when nothing is encrypted).
pub const TAG: usize = 16;
/// Key length of AEAD_AES_SIV_CMAC_256 (two AES-128 keys).
pub const KEY_LEN: usize = 32;
/// The nonce ntpdiag sends (RFC 8915 §5.6 asks for at least 16 octets).
pub const NONCE_LEN: usize = 16;

/// The two keys exported from the TLS session (RFC 8915 §5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub c2s: [u8; KEY_LEN],
    pub s2c: [u8; KEY_LEN],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// The exporter context of one key (RFC 8915 §5.1): protocol id, AEAD id,
/// 0 for client-to-server, 1 for server-to-client.
pub fn exporter_context(aead: u16, s2c: bool) -> [u8; 5] {
    let a = aead.to_be_bytes();
    [0, 0, a[0], a[1], u8::from(s2c)]
}

/// The label of the TLS exporter (RFC 8915 §5.1).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NtsError {
    #[error("extension field at octet {at} runs past the packet's end")]
    Truncated { at: usize },
    #[error("extension field at octet {at} has length {len}, not a multiple of 4 of at least 4")]
    BadLength { at: usize, len: usize },
    #[error("no Unique Identifier extension field")]
    NoUniqueId,
    #[error("the Unique Identifier is not the one sent")]
    UniqueIdMismatch,
    #[error("no NTS Authenticator extension field")]
    NoAuthenticator,
    #[error("the NTS Authenticator is malformed: {0}")]
    BadAuthenticator(&'static str),
    #[error("the authenticator does not verify with the key from NTS-KE")]
    AuthenticationFailed,
    #[error("no NTS cookie in the request")]
    NoCookie,
    #[error("the cookie cannot be decrypted (not made with this server's current key)")]
    UnknownCookie,
    #[error("extension fields after the authenticator")]
    AfterAuthenticator,
}

/// One extension field: type, its whole span in the packet, its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub kind: u16,
    pub start: usize,
    pub body: &'a [u8],
}

/// The extension fields of `bytes` after `from` (RFC 7822 layout).
pub fn fields(bytes: &[u8], from: usize) -> Result<Vec<Field<'_>>, NtsError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < bytes.len() {
        if bytes.len() - at < 4 {
            return Err(NtsError::Truncated { at });
        }
        let kind = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        if len < 4 || !len.is_multiple_of(4) {
            return Err(NtsError::BadLength { at, len });
        }
        if at + len > bytes.len() {
            return Err(NtsError::Truncated { at });
        }
        out.push(Field {
            kind,
            start: at,
            body: &bytes[at + 4..at + len],
        });
        at += len;
    }
    Ok(out)
}

/// Appends one extension field, its body padded with zeros to a multiple of
/// four and to at least 16 octets in all (RFC 7822 §3).
pub fn push_field(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    let len = (4 + body.len()).next_multiple_of(4).max(16);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + len - 4 - body.len(), 0);
}

fn siv(key: &[u8; KEY_LEN]) -> Aes128Siv {
    Aes128Siv::new_from_slice(key).expect("32-octet key")
}

/// AEAD_AES_SIV_CMAC_256 sealing (RFC 5297 §3: associated data, then the nonce).
pub fn seal(key: &[u8; KEY_LEN], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    siv(key)
        .encrypt([aad, nonce], plaintext)
        .expect("AES-SIV encryption does not fail for in-memory buffers")
}

/// The inverse of [`seal`]; `None` when the tag does not verify.
pub fn open(key: &[u8; KEY_LEN], nonce: &[u8], aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    if ciphertext.len() < TAG {
        return None;
    }
    siv(key).decrypt([aad, nonce], ciphertext).ok()
}

/// Appends the authenticator over everything already in `out`.
fn push_authenticator(out: &mut Vec<u8>, key: &[u8; KEY_LEN], nonce: &[u8], plaintext: &[u8]) {
    let ct = seal(key, nonce, out, plaintext);
    let mut body = Vec::with_capacity(4 + nonce.len() + ct.len() + 8);
    body.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
    body.extend_from_slice(&(ct.len() as u16).to_be_bytes());
    body.extend_from_slice(nonce);
    body.resize(4 + nonce.len().next_multiple_of(4), 0);
    body.extend_from_slice(&ct);
    body.resize(body.len().next_multiple_of(4), 0);
    push_field(out, EF_AUTHENTICATOR, &body);
}

/// The nonce and ciphertext of an authenticator's body.
fn authenticator(body: &[u8]) -> Result<(&[u8], &[u8]), NtsError> {
    if body.len() < 4 {
        return Err(NtsError::BadAuthenticator("shorter than its two lengths"));
    }
    let nl = u16::from_be_bytes([body[0], body[1]]) as usize;
    let cl = u16::from_be_bytes([body[2], body[3]]) as usize;
    let c_at = 4 + nl.next_multiple_of(4);
    if body.len() < c_at + cl {
        return Err(NtsError::BadAuthenticator(
            "nonce and ciphertext longer than the field",
        ));
    }
    if cl < TAG {
        return Err(NtsError::BadAuthenticator(
            "ciphertext shorter than the tag",
        ));
    }
    Ok((&body[4..4 + nl], &body[c_at..c_at + cl]))
}

/// The Unique Identifier and the authenticator, which must be the last
/// field (RFC 8915 §5.6: nothing after it is authenticated).
fn uid_and_authenticator<'a, 'b>(
    fs: &'b [Field<'a>],
) -> Result<(&'b Field<'a>, &'b Field<'a>), NtsError> {
    let uid = fs
        .iter()
        .find(|f| f.kind == EF_UNIQUE_ID)
        .ok_or(NtsError::NoUniqueId)?;
    let (i, auth) = fs
        .iter()
        .enumerate()
        .find(|(_, f)| f.kind == EF_AUTHENTICATOR)
        .ok_or(NtsError::NoAuthenticator)?;
    if i + 1 != fs.len() {
        return Err(NtsError::AfterAuthenticator);
    }
    Ok((uid, auth))
}

/// What a client needs to send one NTS request.
pub struct ClientRequest<'a> {
    /// The 48-octet NTP header (mode 3, transmit nonce set).
    pub header: &'a [u8; 48],
    pub unique_id: &'a [u8; 32],
    pub cookie: &'a [u8],
    /// Placeholders: how many more cookies to ask for.
    pub placeholders: usize,
    pub c2s: &'a [u8; KEY_LEN],
    pub nonce: &'a [u8; NONCE_LEN],
}

/// Builds an NTS-protected client request.
pub fn client_request(r: &ClientRequest) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER + 36 + (r.cookie.len() + 4) * (1 + r.placeholders) + 40);
    out.extend_from_slice(r.header);
    push_field(&mut out, EF_UNIQUE_ID, r.unique_id);
    push_field(&mut out, EF_COOKIE, r.cookie);
    let zeros = vec![0u8; r.cookie.len()];
    for _ in 0..r.placeholders {
        push_field(&mut out, EF_PLACEHOLDER, &zeros);
    }
    push_authenticator(&mut out, r.c2s, r.nonce, &[]);
    out
}

/// What a client learns from a verified reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReply {
    /// New cookies from the encrypted extension fields.
    pub cookies: Vec<Vec<u8>>,
}

/// The NTS facts of a reply to a request with `unique_id`: whether it is
/// authenticated with `s2c`, and the cookies it brings.
pub fn verify_reply(
    bytes: &[u8],
    unique_id: &[u8; 32],
    s2c: &[u8; KEY_LEN],
) -> Result<VerifiedReply, NtsError> {
    let fs = fields(bytes, HEADER.min(bytes.len()))?;
    let (uid, auth) = uid_and_authenticator(&fs)?;
    if uid.body.get(..32) != Some(&unique_id[..]) {
        return Err(NtsError::UniqueIdMismatch);
    }
    let (nonce, ct) = authenticator(auth.body)?;
    let plain = open(s2c, nonce, &bytes[..auth.start], ct).ok_or(NtsError::AuthenticationFailed)?;
    let inner = fields(&plain, 0)?;
    Ok(VerifiedReply {
        cookies: inner
            .iter()
            .filter(|f| f.kind == EF_COOKIE)
            .map(|f| f.body.to_vec())
            .collect(),
    })
}

/// The NTS parts of a request, as a server reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFields<'a> {
    pub unique_id: &'a [u8],
    pub cookie: &'a [u8],
    pub placeholders: usize,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    aad_end: usize,
}

/// Whether a request carries NTS fields at all (a Unique Identifier or a
/// cookie): then it is answered with NTS or not at all.
pub fn is_nts_request(bytes: &[u8]) -> bool {
    fields(bytes, HEADER.min(bytes.len())).is_ok_and(|fs| {
        fs.iter()
            .any(|f| f.kind == EF_UNIQUE_ID || f.kind == EF_COOKIE)
    })
}

/// Reads the NTS fields of a request (without verifying).
pub fn read_request(bytes: &[u8]) -> Result<RequestFields<'_>, NtsError> {
    let fs = fields(bytes, HEADER.min(bytes.len()))?;
    let (uid, auth) = uid_and_authenticator(&fs)?;
    let cookie = fs
        .iter()
        .find(|f| f.kind == EF_COOKIE)
        .ok_or(NtsError::NoCookie)?;
    let (nonce, ciphertext) = authenticator(auth.body)?;
    Ok(RequestFields {
        unique_id: uid.body,
        cookie: cookie.body,
        placeholders: fs.iter().filter(|f| f.kind == EF_PLACEHOLDER).count(),
        nonce,
        ciphertext,
        aad_end: auth.start,
    })
}

impl RequestFields<'_> {
    /// Verifies the request's authenticator with the client's key.
    pub fn verify(&self, bytes: &[u8], c2s: &[u8; KEY_LEN]) -> Result<(), NtsError> {
        open(c2s, self.nonce, &bytes[..self.aad_end], self.ciphertext)
            .map(|_| ())
            .ok_or(NtsError::AuthenticationFailed)
    }
}

/// The server's cookie key: cookies are `key id ‖ nonce ‖ AES-SIV(c2s ‖ s2c)`
/// with the key id as associated data. The format is the server's own
/// (RFC 8915 §6 suggests this one).
#[derive(Clone, PartialEq, Eq)]
pub struct CookieKey {
    pub id: u32,
    pub key: [u8; KEY_LEN],
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CookieKey({})", self.id)
    }
}

/// Length of a cookie made by [`CookieKey::make`].
pub const COOKIE_LEN: usize = 4 + NONCE_LEN + 2 * KEY_LEN + TAG;

impl CookieKey {
    /// A cookie holding `keys`, sealed with `nonce`.
    pub fn make(&self, keys: &Keys, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let id = self.id.to_be_bytes();
        let mut plain = [0u8; 2 * KEY_LEN];
        plain[..KEY_LEN].copy_from_slice(&keys.c2s);
        plain[KEY_LEN..].copy_from_slice(&keys.s2c);
        let mut out = Vec::with_capacity(COOKIE_LEN);
        out.extend_from_slice(&id);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&seal(&self.key, nonce, &id, &plain));
        out
    }

    /// The keys in a cookie made with this key.
    pub fn open(&self, cookie: &[u8]) -> Result<Keys, NtsError> {
        if cookie.len() != COOKIE_LEN || cookie[..4] != self.id.to_be_bytes() {
            return Err(NtsError::UnknownCookie);
        }
        let plain = open(
            &self.key,
            &cookie[4..4 + NONCE_LEN],
            &cookie[..4],
            &cookie[4 + NONCE_LEN..],
        )
        .ok_or(NtsError::UnknownCookie)?;
        let mut k = Keys {
            c2s: [0; KEY_LEN],
            s2c: [0; KEY_LEN],
        };
        k.c2s.copy_from_slice(&plain[..KEY_LEN]);
        k.s2c.copy_from_slice(&plain[KEY_LEN..]);
        Ok(k)
    }
}

/// Builds the server's NTS reply: `header` (48 octets, already the reply),
/// the client's Unique Identifier echoed, and an authenticator whose
/// encrypted part holds `cookies` (RFC 8915 §5.7).
pub fn server_reply(
    header: &[u8],
    unique_id: &[u8],
    s2c: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    cookies: &[Vec<u8>],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER + 40 + cookies.iter().map(|c| c.len() + 8).sum::<usize>() + 40);
    out.extend_from_slice(&header[..HEADER]);
    push_field(&mut out, EF_UNIQUE_ID, unique_id);
    let mut plain = Vec::new();
    for c in cookies {
        push_field(&mut plain, EF_COOKIE, c);
    }
    push_authenticator(&mut out, s2c, nonce, &plain);
    out
}

/// An NTSN kiss (RFC 8915 §5.7): the 48-octet kiss header and the Unique
/// Identifier, no authenticator.
pub fn ntsn_reply(header: &[u8], unique_id: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 40);
    out.extend_from_slice(&header[..HEADER]);
    push_field(&mut out, EF_UNIQUE_ID, unique_id);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 5297 Appendix A.2 (nonce-based, AES-SIV-CMAC-256): the vector
    // fixes that the nonce is the last associated-data component.
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc5297_a2_vector() {
        let key = hex("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
        let ad1 = hex(
            "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100",
        );
        let ad2 = hex("10203040 50607080 90a0");
        let nonce = hex("09f91102 9d74e35b d84156c5 635688c0");
        let pt = hex(
            "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553",
        );
        let want = hex(
            "7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d",
        );
        let mut c = siv(&key.clone().try_into().unwrap());
        let got = c.encrypt([&ad1[..], &ad2[..], &nonce[..]], &pt).unwrap();
        assert_eq!(got, want);
    }

    fn keys() -> Keys {
        Keys {
            c2s: [1; KEY_LEN],
            s2c: [2; KEY_LEN],
        }
    }

    #[test]
    fn request_reply_round_trip_through_a_cookie() {
        let server = CookieKey {
            id: 7,
            key: [9; KEY_LEN],
        };
        let cookie = server.make(&keys(), &[3; NONCE_LEN]);
        assert_eq!(cookie.len(), COOKIE_LEN);
        let mut header = [0u8; 48];
        header[0] = 0x23;
        let uid = [5u8; 32];
        let req = client_request(&ClientRequest {
            header: &header,
            unique_id: &uid,
            cookie: &cookie,
            placeholders: 2,
            c2s: &keys().c2s,
            nonce: &[4; NONCE_LEN],
        });
        assert!(is_nts_request(&req));
        let r = read_request(&req).unwrap();
        assert_eq!(r.placeholders, 2);
        let k = server.open(r.cookie).unwrap();
        assert_eq!(k, keys());
        r.verify(&req, &k.c2s).unwrap();
        // Any change to the authenticated part fails.
        let mut bad = req.clone();
        bad[40] ^= 1;
        assert_eq!(
            read_request(&bad).unwrap().verify(&bad, &k.c2s),
            Err(NtsError::AuthenticationFailed)
        );
        let fresh: Vec<_> = (0..3).map(|i| server.make(&k, &[i; NONCE_LEN])).collect();
        let mut rh = [0u8; 48];
        rh[0] = 0x24;
        let reply = server_reply(&rh, r.unique_id, &k.s2c, &[6; NONCE_LEN], &fresh);
        assert_eq!(
            verify_reply(&reply, &uid, &keys().s2c).unwrap().cookies,
            fresh
        );
        assert_eq!(
            verify_reply(&reply, &[0; 32], &keys().s2c),
            Err(NtsError::UniqueIdMismatch)
        );
        assert_eq!(
            verify_reply(&reply, &uid, &keys().c2s),
            Err(NtsError::AuthenticationFailed)
        );
        let other = CookieKey {
            id: 8,
            key: [9; KEY_LEN],
        };
        assert_eq!(other.open(&cookie), Err(NtsError::UnknownCookie));
        let kiss = ntsn_reply(&rh, &uid);
        assert_eq!(
            verify_reply(&kiss, &uid, &keys().s2c),
            Err(NtsError::NoAuthenticator)
        );
    }

    #[test]
    fn truncations_are_errors_never_panics() {
        let server = CookieKey {
            id: 1,
            key: [9; KEY_LEN],
        };
        let cookie = server.make(&keys(), &[3; NONCE_LEN]);
        let req = client_request(&ClientRequest {
            header: &[0u8; 48],
            unique_id: &[5; 32],
            cookie: &cookie,
            placeholders: 1,
            c2s: &keys().c2s,
            nonce: &[4; NONCE_LEN],
        });
        for n in 0..req.len() {
            let _ = read_request(&req[..n]);
            let _ = verify_reply(&req[..n], &[5; 32], &keys().s2c);
        }
    }
}
