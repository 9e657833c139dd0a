//! The `--json` schema, below the commands: every document's serde types,
//! versioned by `schema_version` and documented in `doc/json.md`, with the
//! adapters that fill them from domain types, the watch table, and the
//! fleet's reader of documents. cli, lab, fleet and the fuzz targets use
//! it alike; it imports no command.
//!
//! Field names and cause ids are a public interface: add fields, never
//! rename or remove them without bumping the version.

pub mod capture;
pub mod causes;
pub mod explain;
pub mod fleet;
pub mod lab;
pub mod probe;
pub mod watch;

pub use capture::*;
pub use causes::*;
pub use explain::*;
pub use fleet::{
    FleetInputJson, FleetNodeJson, FleetReport, FleetServerJson, Input, objects, report,
};
pub use lab::*;
pub use probe::*;
pub use watch::*;

/// A JSON line (watch, serve) with the schema's version in it.
pub fn line(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    v
}
