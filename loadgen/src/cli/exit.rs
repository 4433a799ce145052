//! The exit codes of `run`, `search` and `merge` (README, "Exit codes"), in one place:
//! each command's result maps to one through here.

use crate::result::RunResult;
use std::process::ExitCode;

/// Exit code of a run whose `--slo` thresholds failed (as k6).
pub(super) const EXIT_THRESHOLDS: u8 = 99;

/// Exit code of a search that stopped before its answer was settled: the generator
/// fell behind, or `--max-steps` ran out, before a second step confirmed it (its
/// answer, if any, is only the highest rate that passed once).
pub(super) const EXIT_UNCONFIRMED: u8 = 3;

/// The exit code of a run whose report was written (README, "Exit codes"): an
/// interrupt first (128 + the signal, as a shell expects), then a run that measured
/// nothing (1: no request completed after the warm-up, so every figure is empty),
/// then failed thresholds (99), else 0. Usage errors (2) never get this far. A search
/// puts its own code between nothing measured and thresholds: [`EXIT_UNCONFIRMED`].
pub(super) fn exit_code(signal: i32, measured: u64, thresholds_pass: bool) -> ExitCode {
    if signal != 0 {
        ExitCode::from((128 + signal).clamp(0, 255) as u8)
    } else if measured == 0 {
        eprintln!("loadgen: nothing was measured: no request completed after the warm-up");
        ExitCode::from(1)
    } else if !thresholds_pass {
        eprintln!("loadgen: thresholds failed (--slo): exit {EXIT_THRESHOLDS}");
        ExitCode::from(EXIT_THRESHOLDS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Exit code of a run split over segments that is not whole: a segment missed the
/// start, never joined, was lost mid-run, or its file was not given to a merge.
pub(super) const EXIT_SEGMENT_LOST: u8 = 4;

/// The exit code of a merge (the coordinator's or `loadgen merge`'s): a signal first,
/// then a segment missing (the run is not whole: what the others measured was
/// reported), then as a run's.
pub(super) fn merged(signal: i32, r: &RunResult, missing: &[usize]) -> ExitCode {
    if signal == 0 && !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|i| i.to_string()).collect();
        eprintln!(
            "loadgen: segment(s) {} of {} missing: the report covers the others only \
             (exit {EXIT_SEGMENT_LOST})",
            names.join(", "),
            r.merged.as_ref().map_or(0, |m| m.segments.len())
        );
        return ExitCode::from(EXIT_SEGMENT_LOST);
    }
    exit_code(signal, r.rec.measured, r.thresholds_pass())
}
