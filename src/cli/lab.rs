//! `ntpdiag lab`: reproduce a whole NTP setup in network namespaces, watch
//! it fail the way production fails, and let `explain` name the cause.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use colored::Colorize;

use super::exit;
use crate::lab::report;
use crate::lab::setup::{self, State};
use crate::lab::topology::{self, Topology};
use crate::lab::{LabError, Paths, builtin};
use crate::schema::{LabJson, LabNodeJson as NodeJson};

const LAB_HELP: &str = "\
Rebuilds an NTP setup on this machine: every node a network namespace, links
between them (bridges in the lab's own switch namespace, with delay, jitter
and loss applied between the nodes' interfaces), routers, firewall rules run
inside the nodes, and on each node the built-in server (any `serve` fault),
the built-in client engine on the node's own clock (offset and frequency
error from the file, disciplined as RFC 5905 says: step past 0.128 s, panic
past 1000 s, slew otherwise; it answers ntpq and may serve that clock), or a
real ntpd or chronyd started so that it never touches the host clock.

A topology file (TOML; `ntpdiag lab show seed` prints a complete one):

  name = \"mylab\"
  [[link]]
  name = \"lan\"
  delay = \"200us\"          # also jitter = \"20us\", loss = 0.5 (%)
  [[node]]
  name = \"controller\"
  addresses = { lan = [\"198.51.100.1/24\", \"2001:db8:100::1/64\"] }
  firewall = [\"iptables -A INPUT -p udp --dport 123 -j DROP\"]
  clock = { offset = \"20ms\", freq-ppm = 3.0 }
                           # also pause-at = \"15s\", pause-for = \"63s\":
                           # the clock stands still (a paused VM);
                           # agent-every = \"12s\", agent-offset = \"2s\":
                           # another agent sets it to its own time
  # one of [node.client], [node.serve] (serve's faults), [node.ntpd],
  # [node.chronyd]; also router = true, routes, egress, hosts;
  # cap-sys-time = false (ntpd, chronyd): a container without CAP_SYS_TIME,
  # checked gone before the daemon starts (chronyd then runs without -x);
  # [node.ntpd] names-after = \"10s\": the node resolves no name until then
  [node.client]
  conf = \"server upstream iburst\"
  serve = true
  [expect]                 # the cause explain must name, per node
  compute1 = \"no-reply\"

Errors in the file give file:line, the field and what was expected.

Addresses come from the documentation ranges only (198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32) and the namespaces have no way out: traffic
stays inside the lab. Needs root.

  ntpdiag lab list                 the built-in topologies
  ntpdiag lab show seed > my.toml  one of them, as a file to start from
  ntpdiag lab run seed             up, run, timeline and verdicts, down
  ntpdiag lab up my.toml           bring it up and leave it up
  ntpdiag lab status               every node's billboard and verdict
  ntpdiag lab exec compute1 -- ntpq -p
  ntpdiag lab down";

/// Reproduces a whole NTP setup in network namespaces, and diagnoses it.
#[derive(Args, Debug, Clone)]
#[command(long_about = LAB_HELP)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum LabCommand {
    /// Lists the built-in topologies.
    List {
        /// One JSON document on stdout (schema in doc/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Prints a built-in topology as a file to start from.
    Show {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Brings a lab up from FILE or a built-in NAME, and leaves it up.
    Up {
        #[arg(value_name = "FILE|NAME")]
        topology: String,
        /// The lab's name (default: the topology's); two labs may run at once.
        #[arg(long)]
        name: Option<String>,
    },
    /// Shows every node: its clock, its sources as `watch` shows them,
    /// and for client nodes what `explain` inside it says.
    Status {
        /// Which lab (default: the only one up).
        #[arg(long)]
        lab: Option<String>,
        /// Skip running `explain` in the client nodes (faster).
        #[arg(long)]
        no_explain: bool,
        /// One JSON document on stdout (schema in doc/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Runs a command inside a node, on the node's clock, e.g.
    /// `lab exec compute1 -- ntpq -p` or `-- ntpdiag explain`.
    Exec {
        #[arg(long)]
        lab: Option<String>,
        #[arg(value_name = "NODE")]
        node: String,
        #[arg(value_name = "CMD", last = true, required = true)]
        command: Vec<String>,
    },
    /// Takes a lab down (default: the only one up), and whatever crashed
    /// labs left behind.
    Down {
        #[arg(value_name = "LAB")]
        lab: Option<String>,
        /// Every lab.
        #[arg(long)]
        all: bool,
    },
    /// Brings a lab up, lets it run, prints the timeline of state changes
    /// and each client node's `explain` verdict, and takes it down.
    Run {
        #[arg(value_name = "FILE|NAME")]
        topology: String,
        /// How long to let it run (default: the topology's, else 30s).
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// The lab's name (default: the topology's name and this process's id).
        #[arg(long)]
        name: Option<String>,
        /// One JSON document on stdout (schema in doc/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Delays, jitters and drops frames on the lab's links (started by
    /// `lab up` in the lab's hub namespace).
    #[command(hide = true)]
    Shape {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        owned: bool,
    },
    /// Runs one built-in node (started by `lab up` inside the node).
    #[command(hide = true)]
    Node {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        node: String,
        #[arg(long)]
        owned: bool,
    },
}

impl LabArgs {
    pub fn json(&self) -> bool {
        matches!(
            self.command,
            LabCommand::List { json: true }
                | LabCommand::Status { json: true, .. }
                | LabCommand::Run { json: true, .. }
        )
    }
}

/// A topology from a file, or a built-in by name.
pub fn load(arg: &str) -> Result<Topology, LabError> {
    if Path::new(arg).is_file() {
        let text =
            std::fs::read_to_string(arg).map_err(|e| LabError::Setup(format!("{arg}: {e}")))?;
        return Ok(topology::parse(arg, &text)?);
    }
    match builtin::get(arg) {
        Some(text) => Ok(topology::parse(&format!("(built-in {arg})"), text)?),
        None => Err(LabError::Setup(format!(
            "{arg}: neither a file nor a built-in topology ({})",
            builtin::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The lab named, or the only one up.
fn which(lab: Option<&str>) -> Result<Paths, LabError> {
    let labs: Vec<String> = setup::labs()
        .into_iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| !s.is_leftover()))
        .map(|(n, _)| n)
        .collect();
    match lab {
        Some(l) if labs.iter().any(|x| x == l) => Ok(Paths::new(l)),
        Some(l) => Err(LabError::NoSuchLab(l.into())),
        None => match labs.as_slice() {
            [one] => Ok(Paths::new(one)),
            [] => Err(LabError::NoSuchLab("(none)".into())),
            many => Err(LabError::WhichLab(many.join(", "))),
        },
    }
}

fn running_topology(p: &Paths) -> Result<Topology, LabError> {
    let text =
        std::fs::read_to_string(p.topology()).map_err(|_| LabError::NoSuchLab(p.lab.clone()))?;
    Ok(topology::parse(&p.topology().display().to_string(), &text)?)
}

fn node_text(n: &NodeJson) -> String {
    let mut s = format!("== {} ({})", n.name.bold(), n.role.id());
    if n.role.is_builtin() {
        s.push_str(&format!("  clock {:+.6} s", n.clock_offset_s));
    }
    match n.synchronized {
        Some(true) => s.push_str(", synchronized"),
        Some(false) => s.push_str(&format!(", {}", "not synchronized".yellow())),
        None => {}
    }
    if let Some(v) = &n.serving {
        s.push_str(&format!("  serving: {v}"));
    }
    s.push('\n');
    for l in n.view.lines() {
        s.push_str(&format!("   {l}\n"));
    }
    if let Some(v) = &n.verdict {
        let head = format!("   explain: [{}] {}", v.cause, v.summary);
        s.push_str(&format!(
            "{}\n",
            if crate::diagnose::Cause::from_id(&v.cause)
                .is_some_and(|c| c.class() == crate::diagnose::Class::Ok)
            {
                head.green()
            } else {
                head.red()
            }
        ));
        for f in v.fix.iter().take(2) {
            s.push_str(&format!("     fix: {f}\n"));
        }
    }
    s
}

fn print_report(r: &LabJson, json: bool, about: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(out, "lab {} ({}): {about}", r.lab.bold(), r.topology)?;
    if !r.timeline.is_empty() {
        writeln!(out, "\ntimeline:")?;
        for e in &r.timeline {
            writeln!(out, "  {:>+7.1}s  {:<12} {}", e.t_s, e.node, e.text)?;
        }
    }
    writeln!(out)?;
    for n in &r.nodes {
        write!(out, "{}", node_text(n))?;
    }
    if let Some(l) = &r.lead {
        writeln!(
            out,
            "\nleads: {} [{}] {} (exit status {})",
            l.node.bold(),
            l.cause,
            l.summary,
            r.exit_code
        )?;
    }
    Ok(())
}

/// Takes the lab down when dropped (normal end, error, panic).
struct Guard(Paths);

impl Drop for Guard {
    fn drop(&mut self) {
        setup::down(&self.0);
    }
}

pub fn run(args: &LabArgs) -> anyhow::Result<u8> {
    match &args.command {
        LabCommand::List { json } => {
            let rows: Vec<(String, String)> = builtin::BUILTIN
                .iter()
                .map(|(n, t)| {
                    let about = topology::parse(n, t).map(|t| t.about).unwrap_or_default();
                    (n.to_string(), about)
                })
                .collect();
            if *json {
                let v = crate::schema::LabListJson::new(
                    rows.iter()
                        .map(|(n, a)| crate::schema::TopologyJson {
                            name: n.clone(),
                            about: a.clone(),
                        })
                        .collect(),
                );
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for (n, a) in rows {
                    println!("{n:<18} {a}");
                }
            }
            Ok(exit::OK)
        }
        LabCommand::Show { name } => match builtin::get(name) {
            Some(t) => {
                print!("{t}");
                Ok(exit::OK)
            }
            None => {
                eprintln!(
                    "ntpdiag lab show: no built-in topology {name} ({})",
                    builtin::BUILTIN
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok(exit::USAGE)
            }
        },
        LabCommand::Up { topology, name } => {
            let topo = load(topology)?;
            let lab = name.clone().unwrap_or_else(|| topo.name.clone());
            let t0 = Instant::now();
            let (paths, state) = setup::up(&topo, &lab, false)?;
            println!(
                "lab {lab} is up ({} nodes, {} namespaces) in {:.2} s; `ntpdiag lab status`, `ntpdiag lab exec NODE -- CMD`, `ntpdiag lab down {lab}`",
                topo.node.len(),
                state.namespaces.len(),
                t0.elapsed().as_secs_f64()
            );
            let _ = paths;
            Ok(exit::OK)
        }
        LabCommand::Status {
            lab,
            no_explain,
            json,
        } => {
            let paths = which(lab.as_deref())?;
            let topo = running_topology(&paths)?;
            let nodes = report::status(&paths, &topo, !no_explain);
            let (lead, code) = report::lead(&nodes);
            let r = LabJson::new(
                "lab status",
                paths.lab.clone(),
                topo.name.clone(),
                nodes,
                vec![],
                lead,
                code,
            );
            print_report(&r, *json, &topo.about)?;
            Ok(r.exit_code)
        }
        LabCommand::Exec { lab, node, command } => {
            let paths = which(lab.as_deref())?;
            let topo = running_topology(&paths)?;
            if !topo.node.iter().any(|n| &n.name == node) {
                return Err(LabError::NoSuchNode {
                    lab: paths.lab.clone(),
                    node: node.clone(),
                    nodes: topo
                        .node
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
            let e = setup::exec(&paths, node, command);
            Err(anyhow::anyhow!("ip netns exec: {e}"))
        }
        LabCommand::Down { lab, all } => {
            if !nix::unistd::geteuid().is_root() {
                return Err(LabError::NotRoot.into());
            }
            let removed = setup::remove_leftovers();
            for r in &removed {
                println!("removed leftovers of {r}");
            }
            let targets: Vec<Paths> = if *all {
                setup::labs()
                    .into_iter()
                    .map(|(n, _)| Paths::new(&n))
                    .collect()
            } else {
                match which(lab.as_deref()) {
                    Ok(p) => vec![p],
                    Err(e) if removed.is_empty() => return Err(e.into()),
                    Err(_) => vec![],
                }
            };
            for p in targets {
                if let Some(State {
                    owner: Some((pid, _)),
                    ..
                }) = State::load(&p).filter(|s| !s.is_leftover())
                {
                    eprintln!(
                        "ntpdiag lab down: {} belongs to `lab run` (pid {pid}); stopping it",
                        p.lab
                    );
                }
                setup::down(&p);
                println!("lab {} is down", p.lab);
            }
            Ok(exit::OK)
        }
        LabCommand::Run {
            topology,
            duration,
            name,
            json,
        } => run_lab(topology, *duration, name.as_deref(), *json),
        LabCommand::Shape { lab, owned } => {
            if *owned && !crate::lab::node::follow_parent() {
                return Ok(exit::OK);
            }
            let paths = Paths::new(lab);
            let topo = running_topology(&paths)?;
            let ports = crate::lab::shaper::ports(&topo);
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())?;
            }
            let ready = paths.node("hub").join("shaper.ready");
            crate::lab::shaper::run(&ports, &stop, || {
                let _ = std::fs::write(&ready, "");
            })?;
            Ok(exit::OK)
        }
        LabCommand::Node { lab, node, owned } => {
            if *owned && !crate::lab::node::follow_parent() {
                return Ok(exit::OK);
            }
            let paths = Paths::new(lab);
            let topo = running_topology(&paths)?;
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())?;
            }
            crate::lab::node::run(&paths, &topo, node, &stop)?;
            Ok(exit::OK)
        }
    }
}

fn run_lab(
    arg: &str,
    duration: Option<Duration>,
    name: Option<&str>,
    json: bool,
) -> anyhow::Result<u8> {
    let topo = load(arg)?;
    let lab = name
        .map(String::from)
        .unwrap_or_else(|| format!("{}-{:x}", topo.name, std::process::id()));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let for_ = duration.unwrap_or_else(|| topo.run_for());
    let t0 = Instant::now();
    let (paths, state) = setup::up(&topo, &lab, true)?;
    let guard = Guard(paths.clone());
    if !json {
        eprintln!(
            "lab {lab} is up ({} nodes) in {:.2} s; running for {} (Ctrl-C ends it early)",
            topo.node.len(),
            t0.elapsed().as_secs_f64(),
            humantime::format_duration(for_)
        );
    }
    let end = Instant::now() + for_;
    let mut daemons = report::DaemonWatch::default();
    let mut next_poll = Instant::now();
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next_poll {
            daemons.poll(&paths, &topo);
            next_poll = Instant::now() + Duration::from_secs(2);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes = report::status(&paths, &topo, true);
    let (lead, code) = report::lead(&nodes);
    let r = LabJson::new(
        "lab run",
        lab.clone(),
        topo.name.clone(),
        nodes,
        report::timeline(&paths, &topo, &state),
        lead,
        code,
    );
    drop(guard);
    print_report(&r, json, &topo.about)?;
    Ok(r.exit_code)
}
