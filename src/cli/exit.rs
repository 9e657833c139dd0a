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

/// Shown in `--help` and in the man pages.
pub const EXIT_HELP: &str = "\
Exit status:
  0  ok: every target gave usable time
  1  error: ntpdiag itself failed
  2  usage: bad command line
  3  silence: no reply (no-reply, source-port-filtered)
  4  refused: an ICMP error came back (port-unreachable, admin-prohibited,
     host-unreachable, net-unreachable)
  5  kiss: the server sent a Kiss-o'-Death (kod-rate, kod-deny, kod-rstr, ...)
  6  unusable: the server answered but its time cannot be used
     (upstream-unsynchronized, bogus-reply, reply-from-other-address,
     offset-over-panic, malformed-reply)
  7  local: the problem is on this machine (name-unresolved, local-port-in-use,
     local-firewall-blocks-ntp, local-permission-denied, local-error)
With several targets, the status is that of the first target (in command-line
order) whose verdict is not ok.";

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
                EXIT_HELP.contains(&format!("  {}  {}", c.exit_code(), c.id())),
                "{c:?}"
            );
        }
        assert_eq!(for_classes([Class::Ok, Class::Kiss, Class::Silence]), 5);
        assert_eq!(for_classes([Class::Ok, Class::Ok]), 0);
        assert_eq!(for_classes([]), 0);
    }
}
