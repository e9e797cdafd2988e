//! The `threadline` command, built in this package so that cargo builds it
//! for the tests and says where: servers the tests start in process use it
//! as their plugin compile worker (the test binary itself cannot be one),
//! and the memory tests run it as a server of its own.

fn main() -> std::process::ExitCode {
    threadline::cli::main()
}
