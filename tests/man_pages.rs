//! The committed man pages are what the CLI definitions generate now.
//! Regenerate with `cargo run -- man --out man`.

#[test]
fn man_pages_match_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = ntpdiag::cli::man::render_all().unwrap();
    assert!(pages.len() >= 3, "ntpdiag, probe, serve");
    for (name, bytes) in pages {
        let committed = std::fs::read(dir.join(&name))
            .unwrap_or_else(|_| panic!("man/{name} missing: run `cargo run -- man --out man`"));
        assert!(
            committed == bytes,
            "man/{name} is stale: run `cargo run -- man --out man`"
        );
    }
}

#[test]
fn help_documents_exit_codes() {
    use clap::CommandFactory;
    let mut cmd = ntpdiag::cli::Cli::command();
    let help = cmd.render_long_help().to_string();
    assert!(help.contains("Exit status:"));
    let probe = cmd
        .find_subcommand_mut("probe")
        .unwrap()
        .render_long_help()
        .to_string();
    for c in ntpdiag::diagnose::Class::ALL {
        assert!(
            probe.contains(&format!("  {}  {}", c.exit_code(), c.id())),
            "{c:?}"
        );
    }
    assert!(probe.contains("source-port-filtered"));
}
