//! Exit codes, named once. Verdict classes map to codes in
//! [`crate::diagnose::Class::exit_code`], and which verdict sets it in
//! [`crate::diagnose::verdict::Lead`]; this module adds the codes for
//! ntpdiag's own failures and the help text that documents them all.

#[cfg(test)]
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
    }
}
