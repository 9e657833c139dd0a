//! Exit codes, named once. Verdict classes map to codes in
//! [`crate::diagnose::Class::exit_code`]; this module adds the codes for
//! ntpdiag's own failures and the help text that documents them all.

use crate::diagnose::Class;

/// Every target gave usable time.
pub const OK: u8 = 0;
/// ntpdiag itself failed (I/O error, cannot start the server, …).
pub const ERROR: u8 = 1;
/// Bad command line (clap's code).
pub const USAGE: u8 = 2;

/// Shown in `--help` and in the man pages: generated from the cause table.
pub fn help() -> String {
    crate::diagnose::cause::exit_help()
}

/// The exit code for a set of verdict classes, in target order.
pub fn for_classes(classes: impl IntoIterator<Item = Class>) -> u8 {
    classes
        .into_iter()
        .find(|c| *c != Class::Ok)
        .map_or(OK, Class::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_class_code() {
        for c in Class::ALL {
            assert!(
                help().contains(&format!("  {}  {}:", c.exit_code(), c.id())),
                "{c:?}"
            );
        }
        assert_eq!(for_classes([Class::Ok, Class::Kiss, Class::Silence]), 5);
        assert_eq!(for_classes([Class::Ok, Class::Ok]), 0);
        assert_eq!(for_classes([]), 0);
    }
}
