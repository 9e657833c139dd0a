//! The built-in topologies: the seed, its fix, and a gallery with one
//! failure each. `ntpdiag lab list` lists them, `lab show NAME` prints one
//! as a file to start from, `lab run NAME` runs it.

/// (name, TOML text), in the order `lab list` shows them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("seed", include_str!("builtin/seed.toml")),
    ("seed-fixed", include_str!("builtin/seed-fixed.toml")),
    ("no-majority", include_str!("builtin/no-majority.toml")),
    ("no-upstream", include_str!("builtin/no-upstream.toml")),
    ("rate-limited", include_str!("builtin/rate-limited.toml")),
    ("asymmetric", include_str!("builtin/asymmetric.toml")),
    (
        "stateful-firewall",
        include_str!("builtin/stateful-firewall.toml"),
    ),
    (
        "source-port-123",
        include_str!("builtin/source-port-123.toml"),
    ),
    ("unresolvable", include_str!("builtin/unresolvable.toml")),
    ("vm-pause", include_str!("builtin/vm-pause.toml")),
    (
        "boot-dns-order",
        include_str!("builtin/boot-dns-order.toml"),
    ),
];

pub fn get(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_after_itself() {
        for (name, text) in BUILTIN {
            let t = crate::lab::topology::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&t.name, name);
            assert!(!t.about.is_empty() && !t.expect.is_empty(), "{name}");
        }
    }
}
