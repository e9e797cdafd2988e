fn main() -> std::process::ExitCode {
    threadline::cli::main()
}
