//! `ntpdiag report INPUT… -o OUT.html`: one self-contained HTML page of
//! pictures from what ntpdiag printed (`watch --json` lines, `explain
//! --json` documents) and the daemons' statistics files: per source its offset, delay, jitter, poll and
//! reach over time, the system offset, the selection's intervals at the
//! moments it changed, every event and verdict at its time with its cause
//! and fix, and ntpviz's percentiles. Nothing is fetched when it opens.

mod html;
mod model;

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

pub use model::{Model, ReadError};

/// Draws what ntpdiag printed as one HTML page.
#[derive(Args, Debug, Clone)]
#[command(long_about = "\
Draws one self-contained HTML page (inline SVG and CSS, nothing fetched,
no script) from what ntpdiag printed (`watch --json` lines, `explain
--json` documents) and from the daemons' statistics files (ntpd's
peerstats and loopstats, chrony's measurements.log and tracking.log),
several at once (\"-\" for stdin). Per source: offset,
delay, jitter and poll over time, with a reach strip; the system offset;
the selection at each moment it changed and at the end, each source's
interval (offset ± root distance) as a bar beside the intersection the
selection found, those outside it marked; every event and verdict at its
time with its cause id and fix; ntpviz's offset percentiles. Series longer
than 1200 points keep each bucket's minimum and maximum. Readable on a
phone-sized window and when printed.")]
pub struct ReportArgs {
    /// Inputs: watch --json lines, explain --json documents, ntpd's
    /// peerstats/loopstats, chrony's measurements/tracking logs ("-": stdin).
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(short, long, value_name = "OUT.html")]
    pub output: PathBuf,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<u8> {
    let mut m = Model::default();
    for p in &args.inputs {
        let mut bytes = Vec::new();
        if p.as_os_str() == "-" {
            std::io::stdin().read_to_end(&mut bytes)?;
        } else {
            bytes = std::fs::read(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
        }
        m.read(&p.display().to_string(), &String::from_utf8_lossy(&bytes))?;
    }
    m.place_verdicts();
    let page = html::page(&m);
    std::fs::write(&args.output, &page)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
    eprintln!(
        "ntpdiag report: {} ({} bytes): {} source(s), {} snapshot(s), {} annotation(s)",
        args.output.display(),
        page.len(),
        m.sources.len(),
        m.system.len(),
        m.notes.len()
    );
    Ok(super::exit::OK)
}
