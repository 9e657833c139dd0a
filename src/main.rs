#![expect(unsafe_code, reason = "one signal() call, before any thread exists")]

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`ntpdiag demo | head`) like other Unix
    // tools, instead of panicking on the failed write.
    // SAFETY: called first thing, before any thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    ntpdiag::cli::main()
}
