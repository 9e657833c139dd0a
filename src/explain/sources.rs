//! A configuration's time sources as the client engine polls them (watch
//! --config, lab nodes): each line's association spec, and the NTS run for
//! the sources configured `nts`.

use std::path::Path;
use std::sync::Arc;

use super::conf::{Config, Daemon, Source, SourceKind};
use crate::engine::client::ServerSpec;

/// A source's NTS run: whom to trust, the KE port.
pub type NtsFor = Option<Arc<crate::net::nts::NtsRun>>;

/// Why a configuration gives no sources.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("--config {file}: {error}")]
    Path { file: String, error: String },
    #[error("--config {0}: cannot read it")]
    Unreadable(String),
    #[error("no server, pool or peer line found in the configuration")]
    NoSources,
}

/// A configuration's sources (daemon, line, NTS run) and the daemon's
/// selection policy as it sets it.
pub struct Configured {
    pub sources: Vec<(String, Source, NtsFor)>,
    pub policy: crate::diagnose::node::Policy,
}

/// The servers of a configuration file (or this node's, for ""), with the
/// daemon it is for and the NTS run of each source configured `nts`, and
/// the first configuration's selection policy.
pub fn from_config(file: &str) -> Result<Configured, SourcesError> {
    let cfgs: Vec<Config> = if file.is_empty() {
        super::collect::configs(Path::new("/"), false)
    } else {
        let path = std::fs::canonicalize(file).map_err(|e| SourcesError::Path {
            file: file.to_string(),
            error: e.to_string(),
        })?;
        let shown = path.display().to_string();
        let daemon = if shown.contains("chrony") {
            Daemon::Chrony
        } else if shown.contains("timesyncd") {
            Daemon::Timesyncd
        } else {
            Daemon::Ntpd
        };
        vec![
            super::collect::load(Path::new("/"), &shown, daemon)
                .ok_or_else(|| SourcesError::Unreadable(file.to_string()))?,
        ]
    };
    let sources: Vec<_> = cfgs
        .iter()
        .flat_map(|c| {
            let n = c.nts();
            let run: NtsFor = (!n.sources.is_empty()).then(|| {
                Arc::new(crate::net::nts::NtsRun {
                    trust: crate::net::nts::tls::trust_from_config(
                        &n.trusted_certs,
                        !n.no_system_certs,
                        Path::new("/"),
                    ),
                    port: crate::net::nts::KE_PORT,
                })
            });
            c.network_sources()
                .map(|s| {
                    let r = if s.has("nts") { run.clone() } else { None };
                    (c.daemon.name().to_string(), s.clone(), r)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if sources.is_empty() {
        return Err(SourcesError::NoSources);
    }
    Ok(Configured {
        sources,
        policy: cfgs.first().map(Config::policy).unwrap_or_default(),
    })
}

fn opt_i8(s: &Source, key: &str) -> Option<i8> {
    let i = s.options.iter().position(|o| o == key)?;
    s.options.get(i + 1)?.parse().ok()
}

/// A configured source as an engine association (its address still to be
/// filled in), and how many addresses it takes (4 for a pool, as ntpd's
/// first round). `minpoll`/`maxpoll` override the line's.
pub fn source_spec(src: &Source, minpoll: Option<i8>, maxpoll: Option<i8>) -> (ServerSpec, usize) {
    let mut s = ServerSpec::new(src.host.clone(), "0.0.0.0:123".parse().expect("an address"));
    s.iburst = src.has("iburst");
    s.prefer = src.has("prefer");
    s.noselect = src.has("noselect");
    s.minpoll = minpoll.or(opt_i8(src, "minpoll"));
    s.maxpoll = maxpoll.or(opt_i8(src, "maxpoll"));
    let many = if src.kind == SourceKind::Pool { 4 } else { 1 };
    (s, many)
}
