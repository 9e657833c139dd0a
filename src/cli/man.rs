//! Man pages generated from the clap definitions (clap_mangen): one for
//! `ntpdiag`, one per visible subcommand (and per sub-subcommand: `lab run`). `ntpdiag man --out man/` writes
//! them; a test regenerates and compares them with the committed ones.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::Cli;

/// Renders every page: (file name, contents).
pub fn render_all() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    pages.push(("ntpdiag.1".to_string(), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_sub(sub, "ntpdiag", &mut pages)?;
    }
    Ok(pages)
}

/// The page of `sub` (named `PARENT-SUB`), and of its own visible
/// subcommands (`ntpdiag-lab-run`), which its page refers to.
fn render_sub(
    sub: &clap::Command,
    parent: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let name = format!("{parent}-{}", sub.get_name());
    let page = sub.clone().name(name.clone()).bin_name(name.clone());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .title(name.to_uppercase())
        .render(&mut buf)?;
    pages.push((format!("{name}.1"), buf));
    for s in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_sub(s, &name, pages)?;
    }
    Ok(())
}

pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, bytes) in render_all()? {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        out.push(p);
    }
    Ok(out)
}
