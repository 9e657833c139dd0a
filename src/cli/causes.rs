//! `ntpdiag causes [ID]`: every cause id from the cause table, or one
//! explained in full (like `rustc --explain`).

use clap::Args;
use colored::Colorize;

use super::exit;
use crate::diagnose::{Cause, CauseInfo};
use crate::schema as json;

const CAUSES_HELP: &str = "\
Without ID: every cause id ntpdiag can name (probe, capture, explain), with
its class and exit status. With ID: what it means, how ntpdiag tells it apart
from the causes it resembles, and the default fix. Kiss-o'-Death ids are
kod-<code> (kod-rate, kod-deny, ...); any code is accepted.";

/// Lists every cause id, or explains one.
#[derive(Args, Debug, Clone)]
#[command(
    long_about = CAUSES_HELP,
    after_help = "Exit status:\n  0  listed, or explained\n  2  usage: ID is not a cause id (the message names the nearest ones)"
)]
pub struct CausesArgs {
    /// A cause id, e.g. no-reply, kod-rate.
    #[arg(value_name = "ID")]
    pub id: Option<String>,

    /// One JSON document on stdout (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,
}

fn explain(i: &CauseInfo) -> String {
    format!(
        "{} [{}]\n  class: {} (exit status {}); rank {} ({}); named by: {}\n\n  what it means:\n    {}\n\n  how ntpdiag tells it apart:\n    {}\n\n  fix:\n    {}\n",
        i.title.bold(),
        i.id,
        i.class.id(),
        i.class.exit_code(),
        i.rank,
        if i.blocks() { "a blocker" } else { "a remark" },
        i.emitted_by.join(", "),
        i.means,
        i.tell,
        i.fix
    )
}

pub fn run(args: &CausesArgs) -> anyhow::Result<u8> {
    let table = Cause::table();
    let (rows, error, code): (Vec<CauseInfo>, Option<String>, u8) = match &args.id {
        None => (table, None, exit::OK),
        Some(id) => match Cause::from_id(id.trim()) {
            Some(c) => (vec![c.info()], None, exit::OK),
            None => {
                let near: Vec<String> = table
                    .iter()
                    .filter(|i| i.id.contains(id.trim()) || id.contains(&*i.id))
                    .map(|i| i.id.to_string())
                    .collect();
                let msg = if near.is_empty() {
                    format!("{id:?} is not a cause id; `ntpdiag causes` lists them")
                } else {
                    format!(
                        "{id:?} is not a cause id; did you mean {}?",
                        near.join(", ")
                    )
                };
                (vec![], Some(msg), exit::USAGE)
            }
        },
    };
    if args.json {
        let doc = crate::schema::CausesReport {
            schema_version: json::SCHEMA_VERSION,
            tool: "ntpdiag".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: "causes".into(),
            causes: rows.iter().map(crate::schema::CauseJson::from).collect(),
            error,
            exit_code: code,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(code);
    }
    if let Some(e) = error {
        eprintln!("ntpdiag: {e}");
        return Ok(code);
    }
    if args.id.is_some() {
        print!("{}", explain(&rows[0]));
        return Ok(code);
    }
    let w = rows.iter().map(|i| i.id.len()).max().unwrap_or(0);
    println!("{:w$}  {:<12} MEANING", "CAUSE", "CLASS(EXIT)");
    for i in &rows {
        let class = format!("{}({})", i.class.id(), i.class.exit_code());
        println!("{:w$}  {:<12} {}", i.id, class, i.means);
    }
    println!("\n`ntpdiag causes ID` explains one: how ntpdiag tells it apart, and the fix.");
    Ok(code)
}
