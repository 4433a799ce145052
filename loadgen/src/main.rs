//! `loadgen`: thin: parse, run, map the result to an exit code.
fn main() -> std::process::ExitCode {
    loadgen::cli::main()
}
