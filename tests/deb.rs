//! The Debian package: `scripts/deb dev` builds it with cargo-deb, and it
//! installs with dpkg into a clean Debian 12 root (made by mmdebstrap in
//! scripts/lib.sh, holding only what the package's Depends name), where the
//! installed ntpdiag runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const ROOT: &str = "/opt/deb-root";

fn ok(c: &mut Command, what: &str) -> String {
    let o = run_bounded(c, Duration::from_secs(300));
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what}: {out}");
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn the_deb_installs_and_runs_on_a_clean_debian_12() {
    if !require(
        "the Debian package",
        &[
            "bash",
            "dpkg-deb",
            "chroot",
            "/opt/cargo-deb/bin/cargo-deb",
            "/opt/deb-root/usr/bin/dpkg",
        ],
    ) {
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    ok(
        Command::new("bash")
            .arg("scripts/deb")
            .arg("dev")
            .current_dir(manifest),
        "scripts/deb dev",
    );
    let deb = manifest.join(format!(
        "target/debian/ntpdiag_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let info = ok(Command::new("dpkg-deb").arg("-I").arg(&deb), "dpkg-deb -I");
    assert!(
        info.contains("Depends: libc6") && info.contains("libpcap0.8"),
        "{info}"
    );
    let files = ok(Command::new("dpkg-deb").arg("-c").arg(&deb), "dpkg-deb -c");
    for f in [
        "./usr/bin/ntpdiag",
        "./usr/share/man/man1/ntpdiag.1.gz",
        "./usr/share/man/man1/ntpdiag-explain.1.gz",
        "./usr/share/bash-completion/completions/ntpdiag",
        "./usr/share/zsh/vendor-completions/_ntpdiag",
        "./usr/share/fish/vendor_completions.d/ntpdiag.fish",
        "./lib/systemd/system/ntpdiag-watch.service",
        "./usr/share/ntpdiag/prometheus/ntpdiag-rules.yml",
        "./usr/share/ntpdiag/grafana/ntpdiag-dashboard.json",
    ] {
        assert!(
            files.lines().any(|l| l.ends_with(f)),
            "{f} missing:\n{files}"
        );
    }
    // A copy of the clean root, the package installed into it by dpkg
    // (which refuses a package whose Depends the root does not meet).
    let d = TempDir::new();
    let root = d.path().join("root");
    ok(Command::new("cp").args(["-a", ROOT]).arg(&root), "cp -a");
    std::fs::copy(&deb, root.join("tmp/ntpdiag.deb")).unwrap();
    let chroot = |args: &[&str]| {
        let mut c = Command::new("chroot");
        c.arg(&root)
            .args(args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        c
    };
    ok(&mut chroot(&["dpkg", "-i", "/tmp/ntpdiag.deb"]), "dpkg -i");
    let v = ok(&mut chroot(&["ntpdiag", "--version"]), "ntpdiag --version");
    assert_eq!(v.trim(), format!("ntpdiag {}", env!("CARGO_PKG_VERSION")));
    let causes = ok(&mut chroot(&["ntpdiag", "causes"]), "ntpdiag causes");
    assert!(
        causes.contains("clock-not-settable") && causes.contains("no-reply"),
        "{causes}"
    );
    let help = ok(
        &mut chroot(&["ntpdiag", "demo", "--help"]),
        "ntpdiag demo --help",
    );
    assert!(help.contains("Usage: ntpdiag demo"), "{help}");
    let listed = ok(&mut chroot(&["dpkg", "-L", "ntpdiag"]), "dpkg -L");
    assert!(
        listed.contains("/usr/share/man/man1/ntpdiag-watch.1.gz"),
        "{listed}"
    );
    ok(&mut chroot(&["dpkg", "-r", "ntpdiag"]), "dpkg -r");
    assert!(!root.join("usr/bin/ntpdiag").exists());
}
