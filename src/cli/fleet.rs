//! `ntpdiag fleet FILE…|-`: one verdict for many nodes, from the JSON that
//! `explain --json`, `probe --json` and `watch --json` printed on each.

use std::path::PathBuf;

use clap::Args;
use colored::Colorize;

use super::{exit, render};
use crate::diagnose::fleet::{self};
use crate::schema::{FleetReport, Input, report};

const FLEET_HELP: &str = "\
Reads the JSON documents that `ntpdiag explain --json`, `probe --json` and
`watch --json` printed on many nodes — gathered with ssh, Ansible or Salt, as
whole documents or JSON lines, with or without the gatherer's own lines
around them — and gives one verdict for the fleet. Each document names its
node (host name and addresses). For each server the nodes name:

  every node that asks U hears U is unsynchronized  → U has no upstream
  U answers none of its nodes, each reaches another  → U, or the path next to U
  only some nodes get no answer from U               → their network or host
                                                       firewall
  U answers no node and they reach nothing else      → their side as much as U

with the node counts and every node's evidence. Findings about a node itself
(no daemon, a local firewall) are listed per node. Text that holds no
document is said, never skipped.";

/// One verdict for many nodes, from their explain/probe/watch JSON.
#[derive(Args, Debug, Clone)]
#[command(long_about = FLEET_HELP, after_help = exit::help())]
pub struct FleetArgs {
    /// Files of JSON documents ("-" for stdin).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// One JSON document on stdout (schema in doc/json.md).
    #[arg(long)]
    pub json: bool,

    /// Every node's evidence in full.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: &FleetArgs) -> anyhow::Result<u8> {
    let mut given = vec![];
    for f in &args.files {
        given.push(if f.as_os_str() == "-" {
            let mut b = vec![];
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
            Input {
                name: "-".into(),
                bytes: Ok(b),
            }
        } else {
            Input {
                name: f.display().to_string(),
                bytes: std::fs::read(f).map_err(|e| format!("cannot read: {e}")),
            }
        });
    }
    let (r, j) = report(given);
    let code = r.exit_code;
    if args.json {
        super::render::print_pretty(&r)?;
        return Ok(code);
    }
    text(&r, &j, args.verbose);
    Ok(code)
}

fn text(r: &FleetReport, j: &fleet::FleetJudgement, verbose: bool) {
    print!(
        "{}",
        render::verdict(&format!("fleet of {} node(s)", r.nodes.len()), &j.verdict)
    );
    println!();
    println!("{}", "servers:".bold());
    for s in &j.servers {
        let asking = s.failing.len() + s.ok.len() + s.unsynchronized.len() + s.other.len();
        println!(
            "  {} [{}] {} failing, {} ok, {} unsynchronized, {} other of {asking}: {}",
            s.server,
            s.verdict.cause.id(),
            s.failing.len(),
            s.ok.len(),
            s.unsynchronized.len(),
            s.other.len(),
            s.verdict.summary
        );
        if verbose {
            for e in &s.verdict.evidence {
                println!("      {e}");
            }
        }
    }
    println!();
    println!("{}", "nodes:".bold());
    for n in &r.nodes {
        let said: Vec<String> = n
            .servers
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .chain(n.findings.iter().cloned())
            .collect();
        println!(
            "  {} ({}): {}",
            n.name,
            n.documents.join(", "),
            said.join("; ")
        );
    }
    if !r.unreachable.is_empty() {
        println!();
        println!("{}", "not reached by the gatherer (not judged):".bold());
        for u in &r.unreachable {
            println!("  {} ({}): {}", u.host, u.file, u.said);
        }
    }
    for i in &r.inputs {
        for e in &i.errors {
            eprintln!("ntpdiag: {}: {e}", i.file);
        }
        if i.documents == 0 && !r.unreachable.iter().any(|u| u.file == i.file) {
            eprintln!(
                "ntpdiag: {}: no ntpdiag document (explain/probe/watch --json) in it",
                i.file
            );
        }
    }
}
