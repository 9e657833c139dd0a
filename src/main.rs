fn main() -> std::process::ExitCode {
    ntpdiag::cli::main()
}
