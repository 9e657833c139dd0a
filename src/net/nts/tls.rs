//! TLS for NTS-KE (RFC 8915 §4: TLS 1.3 only, ALPN `ntske/1`): whom a
//! client trusts, what it saw of the server's certificates, and the
//! certificates `serve --nts` makes for itself (rcgen) or is given.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::diagnose::facts::{CertInfo, CertProblem};
use crate::engine::nts::NtsFault;

/// The ALPN protocol of NTS-KE.
pub const ALPN: &[u8] = b"ntske/1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whom a client trusts: the system's certificates (unless told not to)
/// and CA files given, as chrony's `ntstrustedcerts` adds them.
#[derive(Clone, Debug)]
pub struct Trust {
    pub roots: Arc<RootCertStore>,
    /// The certificates of the CA files given: a server presenting one of
    /// them as its own is trusted as gnutls (chrony) trusts it.
    pub pinned: Vec<CertificateDer<'static>>,
    /// What was loaded, for the evidence: "system: 140 certificates", "FILE: 1".
    pub loaded: Vec<String>,
}

/// Reads the trust anchors. A CA file that cannot be read or holds no
/// certificate is an error (the user asked for it).
pub fn trust(ca_files: &[impl AsRef<Path>], system: bool) -> Result<Trust, String> {
    let mut roots = RootCertStore::empty();
    let mut loaded = Vec::new();
    let mut pinned = Vec::new();
    if system {
        let r = rustls_native_certs::load_native_certs();
        let (ok, _bad) = roots.add_parsable_certificates(r.certs);
        loaded.push(format!("system: {ok} certificate(s)"));
    }
    for f in ca_files {
        let f = f.as_ref();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", f.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", f.display()));
        }
        pinned.extend(certs.iter().cloned());
        let (ok, bad) = roots.add_parsable_certificates(certs);
        if ok == 0 {
            return Err(format!(
                "{}: {bad} certificate(s), none usable",
                f.display()
            ));
        }
        loaded.push(format!("{}: {ok} certificate(s)", f.display()));
    }
    Ok(Trust {
        roots: Arc::new(roots),
        pinned,
        loaded,
    })
}

/// Trust in the certificates of one PEM text only (the built-in server's CA).
pub fn trust_pem(pem: &str, what: &str) -> Result<Trust, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (ok, _) = roots.add_parsable_certificates(certs.iter().cloned());
    if ok == 0 {
        return Err(format!("{what}: no usable certificate"));
    }
    Ok(Trust {
        roots: Arc::new(roots),
        pinned: certs,
        loaded: vec![format!("{what}: {ok} certificate(s)")],
    })
}

/// The trust a node's configuration gives its NTS sources (chrony
/// `ntstrustedcerts FILE|DIR`, `nosystemcert`; ntpsec `nts ca`, a server's
/// `ca`), files read under `root`. Unlike [`trust`], nothing here is fatal:
/// a file that cannot be read is said in `loaded`, as the daemon would
/// start without it.
pub fn trust_from_config(paths: &[String], system: bool, root: &Path) -> Trust {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        let full = root.join(p.trim_start_matches('/'));
        match std::fs::read_dir(&full) {
            // chrony: a directory's *.crt files.
            Ok(rd) => {
                let mut found: Vec<_> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "crt" || x == "pem"))
                    .collect();
                found.sort();
                files.extend(found);
            }
            Err(_) if full.is_file() => files.push(full),
            Err(e) => problems.push(format!("{p}: cannot read: {e}")),
        }
    }
    let mut readable = Vec::new();
    for f in files {
        match trust(std::slice::from_ref(&f), false) {
            Ok(_) => readable.push(f),
            Err(e) => problems.push(e),
        }
    }
    let mut t = trust(&readable, system).unwrap_or_else(|e| Trust {
        roots: Arc::new(RootCertStore::empty()),
        pinned: Vec::new(),
        loaded: vec![e],
    });
    t.loaded.extend(problems);
    t
}

/// The chain a server presented, as the verifier saw it.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub end_entity: Option<CertificateDer<'static>>,
    pub intermediates: Vec<CertificateDer<'static>>,
}

/// rustls's WebPKI verifier, keeping what it was shown so the chain can be
/// shown and verified again at another time (the true time from NTP).
#[derive(Debug)]
pub struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    pub seen: Mutex<Seen>,
}

impl Recording {
    pub fn new(trust: &Trust) -> Result<Recording, String> {
        let inner = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider())
            .build()
            .map_err(|e| match e {
                rustls::client::VerifierBuilderError::NoRootAnchors => {
                    "no trusted certificates: the system has none and no --nts-ca was given"
                        .to_string()
                }
                e => e.to_string(),
            })?;
        Ok(Recording {
            inner,
            pinned: trust.pinned.clone(),
            seen: Mutex::new(Seen::default()),
        })
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Verifies the recorded chain for `name` at `unix_secs`.
    pub fn verify_at(
        &self,
        name: &ServerName<'_>,
        unix_secs: u64,
    ) -> Option<Result<(), rustls::Error>> {
        let s = self.seen();
        let ee = s.end_entity.as_ref()?;
        Some(self.verify(
            ee,
            &s.intermediates,
            name,
            UnixTime::since_unix_epoch(Duration::from_secs(unix_secs)),
        ))
    }

    /// WebPKI's verdict; and a certificate given as trusted (a CA file
    /// holding the server's own self-signed certificate, as chrony's
    /// `ntstrustedcerts` takes it) that WebPKI refuses only because it is a
    /// CA is checked for its name and validity here.
    fn verify(
        &self,
        ee: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        match self
            .inner
            .verify_server_cert(ee, intermediates, name, &[], now)
        {
            Ok(_) => Ok(()),
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(o)))
                if o.0.downcast_ref::<webpki::Error>()
                    == Some(&webpki::Error::CaUsedAsEndEntity)
                    && self.pinned.iter().any(|p| p.as_ref() == ee.as_ref()) =>
            {
                pinned_check(ee, name, now)
            }
            Err(e) => Err(e),
        }
    }
}

/// Name and validity of a pinned certificate.
fn pinned_check(
    ee: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(ee)?;
    rustls::client::verify_server_name(&parsed, name)?;
    let info = cert_info(ee).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))?;
    let t = now.as_secs() as i64;
    let unix = |s: i64| UnixTime::since_unix_epoch(Duration::from_secs(s.max(0) as u64));
    if t < info.not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext {
                time: now,
                not_before: unix(info.not_before),
            },
        ));
    }
    if t > info.not_after {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext {
                time: now,
                not_after: unix(info.not_after),
            },
        ));
    }
    Ok(())
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen {
            end_entity: Some(end_entity.clone().into_owned()),
            intermediates: intermediates
                .iter()
                .map(|c| c.clone().into_owned())
                .collect(),
        };
        let _ = ocsp_response;
        self.verify(end_entity, intermediates, server_name, now)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS 1.3-only client offering `ntske/1`.
pub fn client_config(verifier: Arc<Recording>) -> Result<rustls::ClientConfig, String> {
    let mut c = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    c.alpn_protocols = vec![ALPN.to_vec()];
    Ok(c)
}

/// What a certificate says, for the evidence.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    sans.push(ip.map_or_else(|| "IP:?".to_string(), |i| format!("IP:{i}")));
                }
                _ => {}
            }
        }
    }
    Some(CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        sans,
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        self_signed: c.subject() == c.issuer(),
    })
}

/// The certificate problem a TLS error names, if it is one.
pub fn cert_problem(e: &rustls::Error) -> Option<CertProblem> {
    let rustls::Error::InvalidCertificate(c) = e else {
        return None;
    };
    Some(match c {
        CertificateError::ExpiredContext { time, not_after } => CertProblem::Expired {
            now: time.as_secs() as i64,
            not_after: Some(not_after.as_secs() as i64),
        },
        CertificateError::Expired => CertProblem::Expired {
            now: UnixTime::now().as_secs() as i64,
            not_after: None,
        },
        CertificateError::NotValidYetContext { time, not_before } => CertProblem::NotYetValid {
            now: time.as_secs() as i64,
            not_before: Some(not_before.as_secs() as i64),
        },
        CertificateError::NotValidYet => CertProblem::NotYetValid {
            now: UnixTime::now().as_secs() as i64,
            not_before: None,
        },
        CertificateError::UnknownIssuer => CertProblem::Untrusted {
            detail: "issued by no certificate this host trusts (unknown issuer)".into(),
        },
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => CertProblem::NameMismatch {
            expected: expected.to_str().into_owned(),
            presented: presented.clone(),
        },
        CertificateError::NotValidForName => CertProblem::NameMismatch {
            expected: String::new(),
            presented: Vec::new(),
        },
        CertificateError::Other(o)
            if o.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity) =>
        {
            CertProblem::Untrusted {
                detail: "the server presents a CA certificate as its own (self-signed with CA:TRUE) and it is not among the trusted ones".into(),
            }
        }
        other => CertProblem::Untrusted {
            detail: other.to_string(),
        },
    })
}

/// The key and certificate chain `serve --nts` presents, and the CA that
/// issued it (for clients to trust), when generated.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// PEM of the issuing CA (generated certificates only).
    pub ca_pem: Option<String>,
}

const DAY: i64 = 86_400;

/// Makes a CA and a certificate for `name` (a DNS name or an IP address)
/// issued by it, valid around `now` (the served clock, unix seconds) or
/// broken as `faults` say.
pub fn generate(name: &str, now: i64, faults: &[NtsFault]) -> Result<Identity, String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let e = |e: rcgen::Error| e.to_string();
    let t = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).map_err(|e| e.to_string());
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ntpdiag serve --nts test CA");
    ca.not_before = t(now - 30 * DAY)?;
    ca.not_after = t(now + 3650 * DAY)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let key = KeyPair::generate().map_err(e)?;
    let mut p = CertificateParams::new(vec![name.to_string()]).map_err(e)?;
    p.distinguished_name.push(DnType::CommonName, name);
    let (from, to) = if faults.contains(&NtsFault::ExpiredCert) {
        (now - 30 * DAY, now - DAY)
    } else if faults.contains(&NtsFault::NotYetValidCert) {
        (now + DAY, now + 30 * DAY)
    } else {
        (now - DAY, now + 365 * DAY)
    };
    p.not_before = t(from)?;
    p.not_after = t(to)?;
    let cert = if faults.contains(&NtsFault::SelfSignedCert) {
        p.self_signed(&key).map_err(e)?
    } else {
        p.signed_by(&key, &Issuer::new(ca, ca_key)).map_err(e)?
    };
    Ok(Identity {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| e.to_string())?,
        ca_pem: Some(ca_cert.pem()),
    })
}

/// Reads a PEM certificate chain and key (as chrony's `ntsservercert` and
/// `ntsserverkey` take them).
pub fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(Identity {
        chain,
        key,
        ca_pem: None,
    })
}

/// The KE server's TLS configuration: TLS 1.3 with ALPN `ntske/1`, or
/// broken as `faults` say (TLS 1.2 only, no ALPN).
pub fn server_config(id: &Identity, faults: &[NtsFault]) -> Result<rustls::ServerConfig, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = if faults.contains(&NtsFault::Tls12) {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(|e| e.to_string())?;
    if !faults.contains(&NtsFault::NoAlpn) {
        c.alpn_protocols = vec![ALPN.to_vec()];
    }
    Ok(c)
}
