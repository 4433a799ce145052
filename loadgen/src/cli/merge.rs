//! `loadgen merge FILES...`: segments' results, collected any way (N shells, N hosts
//! with `--start-at`, a CI matrix), merged as the coordinator merges them, with the
//! same report files and `--slo` judged once on the merge.

use super::args::MergeArgs;
use super::outputs::Outputs;
use crate::error::Error;
use crate::result::RunResult;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// Read, merge, judge, report.
pub(super) fn merge(a: MergeArgs) -> Result<ExitCode, Error> {
    if let Some(units) = a.units {
        return super::merge_logs::merge_logs(&a, units);
    }
    let mut outputs = Outputs::stage(&a.out)?;
    let results = a
        .files
        .iter()
        .map(|f| read(f))
        .collect::<Result<Vec<_>, _>>()?;
    let m = crate::merge::merge(results, &[]).map_err(Error::Usage)?;
    let mut result = m.result;
    for w in &m.warnings {
        eprintln!("loadgen: warning: {w}");
    }
    if let Some(slo) = &a.slo {
        result.thresholds = slo.check(&result.figures());
    }
    outputs.write(&result, None)?;
    Ok(super::exit::merged(0, &result, &m.missing))
}

/// One segment's result file, bounded in size; an unreadable or foreign file is a
/// usage error naming it.
fn read(path: &Path) -> Result<RunResult, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut bytes = Vec::new();
    f.take(crate::result_file::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    crate::result_file::read(&bytes).map_err(|e| {
        if crate::report::read_interval_log(&bytes).is_ok_and(|l| !l.is_empty()) {
            bad(
                "an HdrHistogram interval log, not a result: give --units ns|us|ms|s to \
                 merge interval logs"
                    .into(),
            )
        } else {
            bad(e)
        }
    })
}
