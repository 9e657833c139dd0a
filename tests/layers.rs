//! The layers as drawn in doc/architecture.md: every `crate::…` path in a
//! module's code names only layers below it (capture and net side by side,
//! not each other), nothing but `cli` names `cli`, and the sans-IO cores
//! (`wire`, `engine` and the scenarios they read) read no clock, no
//! randomness, no environment and no file, and open no socket, outside
//! their tests.

use std::path::{Path, PathBuf};

/// Each top-level module and its layer (lower is further down).
/// `scenario` (server scenarios as data) sits on the engine, below diagnose.
const LAYERS: &[(&str, u8)] = &[
    ("wire", 0),
    ("engine", 2),
    ("scenario", 3),
    ("diagnose", 4),
    ("capture", 6),
    ("net", 6),
    ("explain", 8),
    ("schema", 10),
    ("lab", 12),
    ("cli", 14),
];

/// What a sans-IO core must not do, outside its tests.
const IMPURE: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "rand::random",
    "rand::rng(",
    "thread_rng",
    "OsRng",
    "getrandom",
    "env::var",
    "env::args",
    "std::fs",
    "File::open",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "std::process",
    "std::io::stdin",
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of src/ belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The file's code without comments, and without its test code: a file
/// named tests.rs or under a tests/ folder is all test code; otherwise the
/// test module begins at its `#[cfg(test)]` followed by `mod tests`.
fn code(file: &Path, text: &str) -> String {
    let is_test = file.file_name().is_some_and(|n| n == "tests.rs")
        || file.components().any(|c| c.as_os_str() == "tests");
    if is_test {
        return String::new();
    }
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim() == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            // Skip the test module: `mod tests;`, or its braces.
            i += 1;
            if lines[i].trim_end().ends_with('{') {
                let mut depth = 0i32;
                while i < lines.len() {
                    depth += lines[i].matches('{').count() as i32;
                    depth -= lines[i].matches('}').count() as i32;
                    i += 1;
                    if depth <= 0 {
                        break;
                    }
                }
            } else {
                i += 1;
            }
            continue;
        }
        if !l.trim_start().starts_with("//") {
            out.push_str(l);
            out.push('\n');
        }
        i += 1;
    }
    out
}

/// Every `crate::NAME` in the code.
fn crate_paths(code: &str) -> Vec<String> {
    let mut v = vec![];
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before_ok = i == 0 || {
            let b = rest.as_bytes()[i - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if before_ok && !name.is_empty() {
            v.push(name);
        }
        rest = after;
    }
    v
}

#[test]
fn every_module_imports_only_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut bad = vec![];
    let mut checked = 0;
    for f in &files {
        let module = module_of(&src, f);
        let Some(own) = layer_of(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for name in crate_paths(&code(f, &text)) {
            if name == module {
                continue;
            }
            checked += 1;
            let Some(other) = layer_of(&name) else {
                continue;
            };
            if other >= own {
                bad.push(format!(
                    "{}: {module} (layer {own}) names crate::{name} (layer {other})",
                    f.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 100, "the scan found the imports ({checked})");
    assert!(
        bad.is_empty(),
        "imports against the layers:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_sans_io_cores_read_no_clock_randomness_environment_or_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src.join("wire"), &mut files);
    rust_files(&src.join("engine"), &mut files);
    files.push(src.join("scenario.rs"));
    let mut bad = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, l) in code(f, &text).lines().enumerate() {
            for word in IMPURE {
                if l.contains(word) {
                    bad.push(format!(
                        "{} (code line {}): {word}: {}",
                        f.strip_prefix(&src).unwrap().display(),
                        n + 1,
                        l.trim()
                    ));
                }
            }
        }
    }
    assert!(files.len() > 20, "found the cores' files");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checker itself: a path named in code counts, one in a comment or a
/// test module does not.
#[test]
fn the_scan_sees_code_and_skips_comments_and_tests() {
    let text = "use crate::net::x;\n// crate::cli::y\n#[cfg(test)]\nmod tests {\n use crate::lab::z;\n fn f() {\n }\n}\nfn g() { crate::wire::k(); }\n";
    let c = code(Path::new("src/diagnose/a.rs"), text);
    assert_eq!(crate_paths(&c), vec!["net", "wire"]);
    assert!(code(Path::new("src/diagnose/probe/tests.rs"), text).is_empty());
    assert_eq!(
        crate_paths("let a = ntpdiag_crate::x; crate::wire::y"),
        vec!["wire"]
    );
}
