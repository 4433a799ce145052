//! The command line: `loadgen [run] [TARGET] ...`, `loadgen probe`, `loadgen limits`,
//! `loadgen report`.
//!
//! Shaped as args -> validated plan -> run, each step in its own file, so that what a
//! user may type, what is refused and why, and what is done can each be read (and
//! tested) alone:
//!
//! - `args.rs`: the clap structs, the flags and their help, nothing else;
//! - `run_plan.rs`: `run`'s flags turned into a checked `RunPlan`: every refusal
//!   (exit 2) is made there, before anything starts; with `target.rs` (where the load
//!   goes), `request_bytes.rs` (what it sends) and `outputs.rs` (the report files,
//!   staged before the run, written after it, but for the interval log, which
//!   `log_stream.rs` writes as the run goes);
//! - `run.rs`: executing a `RunPlan`: signals, the embedded server (`embedded.rs`),
//!   the preflight connect (`preflight.rs`), the engine and its progress line
//!   (`progress.rs`), the result, the reports, the exit code;
//! - `probe.rs`, `serve.rs`: the glue of `probe` and of its hidden `__serve` child;
//! - `saved_runs.rs`: `loadgen report`, saved runs read and compared (the formats are
//!   the library's `report` module).
//! - `limits.rs`: `loadgen limits`, the limits on connections here as a table or JSON.
//!
//! Only [`main`] is public: the rest is this binary's glue around the library's
//! modules, not an API.

mod args;
mod args_file;
mod command_line;
mod connect_to;
mod coordinated;
mod embedded;
mod exit;
pub mod limits;
mod live_slo;
mod log_stream;
mod merge;
mod merge_logs;
mod outputs;
mod preflight;
mod probe;
mod progress;
mod request_bytes;
mod run;
mod run_plan;
mod saved_runs;
mod search;
mod segment_args;
mod serve;
mod start_at;
mod target;
mod targets_file;
mod tls_args;
mod tls_preflight;

use crate::error::Error;
use args::{Cli, Cmd};
use clap::Parser;
use std::process::ExitCode;

/// Parse the process arguments and run; the exit code says how it went.
pub fn main() -> ExitCode {
    // `--args-file FILE` is expanded before clap sees anything (args_file.rs says why).
    let args = match args_file::expand(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => return readyloop::units::usage_exit("loadgen", e),
    };
    let result = match cli.cmd {
        Some(Cmd::Run(a)) => run::run(a),
        None => run::run(cli.run),
        Some(Cmd::Probe(p)) => probe::probe(p).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Search(a)) => search::search(a),
        Some(Cmd::Limits { json }) => limits::run(json)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| Error::io("writing the limits report", e)),
        Some(Cmd::Serve {
            listen,
            max_conns,
            admin,
            reuseport,
            http,
        }) => serve::serve(listen, max_conns, admin, (reuseport, http)).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Report(a)) => saved_runs::report(a).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Merge(a)) => merge::merge(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
