//! What a capture holds besides client/server conversations (ntpq and
//! ntpdc traffic, peers, broadcasts, old versions, NTS and MACs), in words:
//! the counts, and what they tell (a mode 6 query never answered is a
//! `noquery` or no daemon; a monlist request an amplification risk). The
//! counts are [`OtherTraffic`], filled by capture's adapter.

/// The counts the remarks read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherTraffic {
    /// ntpq (mode 6) queries and answers.
    pub control_queries: u64,
    pub control_answers: u64,
    /// ntpdc (mode 7) datagrams, and monlist requests among them.
    pub private: u64,
    pub monlist: u64,
    /// Symmetric peer datagrams (modes 1 and 2), broadcasts (mode 5).
    pub symmetric: u64,
    pub broadcast: u64,
    /// Datagrams per NTP version (index = version).
    pub versions: [u64; 8],
    /// Datagrams with NTS extension fields, with a symmetric-key MAC, and
    /// crypto-NAKs.
    pub nts: u64,
    pub mac: u64,
    pub crypto_nak: u64,
}

/// The NTP traffic that is not a client/server conversation, in words,
/// with what its counts tell.
pub fn remarks(s: &OtherTraffic) -> Option<String> {
    let mut parts = vec![];
    if s.control_queries + s.control_answers > 0 {
        parts.push(format!(
            "{} ntpq (mode 6) queries and {} answers{}",
            s.control_queries,
            s.control_answers,
            if s.control_answers == 0 && s.control_queries > 0 {
                " — queries without answers: the daemon ignores mode 6 from them (`restrict … noquery`) or is not there"
            } else {
                ""
            }
        ));
    }
    if s.private > 0 {
        parts.push(format!(
            "{} ntpdc (mode 7) datagrams{}",
            s.private,
            if s.monlist > 0 {
                format!(
                    ", {} of them monlist: an amplification risk (CVE-2013-5211) — disable it (`disable monitor`, `restrict default noquery`, or ntpd ≥ 4.2.7)",
                    s.monlist
                )
            } else {
                String::new()
            }
        ));
    }
    if s.symmetric > 0 {
        parts.push(format!(
            "{} symmetric peer datagrams (modes 1 and 2)",
            s.symmetric
        ));
    }
    if s.broadcast > 0 {
        parts.push(format!("{} broadcast datagrams (mode 5)", s.broadcast));
    }
    let old: u64 = s.versions[1..4].iter().sum();
    if old > 0 {
        parts.push(format!(
            "{old} datagrams of NTP versions 1-3 (v1 {}, v2 {}, v3 {})",
            s.versions[1], s.versions[2], s.versions[3]
        ));
    }
    if s.nts > 0 {
        parts.push(format!(
            "{} datagrams with NTS extension fields (RFC 8915): authenticated exchanges",
            s.nts
        ));
    }
    if s.mac > 0 {
        parts.push(format!("{} datagrams with a symmetric-key MAC", s.mac));
    }
    if s.crypto_nak > 0 {
        parts.push(format!(
            "{} crypto-NAKs: the server refused the request's authentication (wrong or unknown key)",
            s.crypto_nak
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
