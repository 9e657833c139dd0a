//! Command line: clap definitions (one file per subcommand), rendering,
//! exit codes and man pages. `main.rs` only calls [`main`].

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub mod capture;
pub mod causes;
pub mod demo;
pub mod exit;
pub mod explain;
pub mod fleet;
pub mod lab;
pub mod man;
pub mod probe;
pub mod render;
pub mod report;
pub mod serve;
pub mod watch;

/// Finds out why NTP does not synchronize, and says so: the cause, the
/// evidence, the fix.
#[derive(Parser, Debug)]
#[command(name = "ntpdiag", version, about, long_about = None, after_help = exit::help())]
pub struct Cli {
    /// When to color the output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Probe(probe::ProbeArgs),
    Serve(Box<serve::ServeArgs>),
    Capture(capture::CaptureArgs),
    Demo(demo::DemoArgs),
    Explain(explain::ExplainArgs),
    Fleet(fleet::FleetArgs),
    Causes(causes::CausesArgs),
    Watch(watch::WatchArgs),
    Lab(lab::LabArgs),
    Report(report::ReportArgs),
    /// Prints shell completions (bash, zsh, fish, elvish, powershell):
    /// `ntpdiag completions bash > /etc/bash_completion.d/ntpdiag`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Writes the man pages (generated from these definitions) to a folder.
    #[command(hide = true)]
    Man {
        /// Folder to write ntpdiag.1 and one page per subcommand into.
        #[arg(long, default_value = "man")]
        out: std::path::PathBuf,
    },
}

fn set_color(choice: ColorChoice, json: bool) {
    use std::io::IsTerminal;
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    colored::control::set_override(on);
}

/// Parses the arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Probe(args) => {
            set_color(cli.color, args.json);
            probe::run(&args)
        }
        Command::Serve(args) => {
            set_color(cli.color, args.json);
            serve::run(&args)
        }
        Command::Capture(args) => {
            set_color(cli.color, args.json);
            capture::run(&args)
        }
        Command::Explain(args) => {
            set_color(cli.color, args.json);
            explain::run(&args)
        }
        Command::Watch(args) => {
            set_color(cli.color, args.json);
            watch::run_watch(&args)
        }
        Command::Fleet(args) => {
            set_color(cli.color, args.json);
            fleet::run(&args)
        }
        Command::Lab(args) => {
            set_color(cli.color, args.json());
            lab::run(&args)
        }
        Command::Causes(args) => {
            set_color(cli.color, args.json);
            causes::run(&args)
        }
        Command::Demo(args) => {
            set_color(cli.color, args.json);
            demo::run(&args)
        }
        Command::Report(args) => {
            set_color(cli.color, false);
            report::run(&args)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "ntpdiag", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man { out } => man::write_all(&out).map(|files| {
            for f in files {
                println!("{}", f.display());
            }
            exit::OK
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ntpdiag: error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
