//! `ntpdiag completions SHELL`, checked by the shell itself: bash sources
//! the script and completes subcommands and flags as a user types them.

mod common;

use std::process::Command;

use common::*;

#[test]
fn bash_completes_subcommands_and_flags() {
    if !require("bash completions", &["bash"]) {
        return;
    }
    let d = TempDir::new();
    let o = run_bounded(
        Command::new(ntpdiag()).args(["completions", "bash"]),
        std::time::Duration::from_secs(10),
    );
    assert!(o.status.success());
    let f = d.file("ntpdiag.bash", &String::from_utf8_lossy(&o.stdout));
    let complete = |words: &[&str]| -> String {
        let script = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; _ntpdiag ntpdiag {} {}; echo \"${{COMPREPLY[@]}}\"",
            f.display(),
            words.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2]
        );
        let o = run_bounded(
            Command::new("bash").args(["-c", &script]),
            std::time::Duration::from_secs(10),
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(complete(&["ntpdiag", "ex"]), "explain");
    assert_eq!(complete(&["ntpdiag", "explain", "--ro"]), "--root");
    assert!(complete(&["ntpdiag", "watch", "--met"]).contains("--metrics"));
    assert!(complete(&["ntpdiag", "completions", "z"]).contains("zsh"));
}

/// zsh and fish scripts are printed too (their shells are not installed
/// here: only that each names every subcommand).
#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = run_bounded(
            Command::new(ntpdiag()).args(["completions", shell]),
            std::time::Duration::from_secs(10),
        );
        let t = String::from_utf8_lossy(&o.stdout);
        for sub in [
            "probe", "serve", "capture", "explain", "watch", "lab", "fleet", "causes",
        ] {
            assert!(t.contains(sub), "{shell}: {sub}");
        }
    }
}
