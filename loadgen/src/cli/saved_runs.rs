//! `loadgen report`: saved runs read, tabulated or compared, and written.
//!
//! Every output file is staged first and every input read before anything is written,
//! so a bad file (unreadable, not JSON, another schema, empty) is one line naming it and
//! exit 2, with no output left half-made.

use super::args::ReportArgs;
use super::outputs::stage_svg;
use crate::error::Error;
use crate::report::{self, Comparison, LatencyAxis, SavedRun};
use crate::staged::{self, Staged};
use std::io::Write;
use std::path::Path;

/// Read `path` as a saved run, labelled by its file name; any fault is a usage error
/// naming the file.
fn read(path: &Path) -> Result<SavedRun, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Usage(format!("{}: cannot read it: {e}", path.display())))?;
    let label = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    report::read_saved(&label, &bytes).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// Run `loadgen report` with `a`.
pub(super) fn report(a: ReportArgs) -> Result<(), Error> {
    let json_to_stdout = a.json.as_deref() == Some("-");
    let stage = |flag, p: &Option<std::path::PathBuf>| {
        p.as_deref().map(|p| staged::stage(flag, p)).transpose()
    };
    let mut json_file = match a.json.as_deref() {
        Some("-") | None => None,
        Some(p) => Some(staged::stage("--json", Path::new(p))?),
    };
    let mut plot = a.plot.as_deref().map(stage_svg).transpose()?;
    let mut html = stage("--html", &a.html)?;

    let c = Comparison {
        a: a.files.iter().map(|p| read(p)).collect::<Result<_, _>>()?,
        b: a.vs.iter().map(|p| read(p)).collect::<Result<_, _>>()?,
    };

    let mut out = std::io::stdout().lock();
    if json_to_stdout {
        serde_json::to_writer_pretty(&mut out, &c.json())
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| Error::io("writing JSON", e))?;
    } else {
        out.write_all(c.text().as_bytes())
            .map_err(|e| Error::io("writing the report", e))?;
    }
    let axis = if a.plot_log {
        LatencyAxis::Log
    } else {
        LatencyAxis::Linear
    };
    // As for `run`: each file written into its temporary and renamed; one that fails
    // does not stop the others.
    let mut first_err = None;
    let mut write = |s: &mut Option<Staged>, body: &dyn Fn() -> std::io::Result<Vec<u8>>| {
        if let Some(st) = s.as_mut() {
            let done = body()
                .map_err(|e| st.error(e))
                .and_then(|bytes| std::fs::write(st.path(), bytes).map_err(|e| st.error(e)))
                .and_then(|()| st.commit());
            if let Err(e) = done {
                first_err.get_or_insert(e);
            }
        }
    };
    write(&mut json_file, &|| {
        let mut v = serde_json::to_vec_pretty(&c.json())?;
        v.push(b'\n');
        Ok(v)
    });
    write(&mut plot, &|| c.svg(axis).map(String::into_bytes));
    write(&mut html, &|| c.html().map(String::into_bytes));
    first_err.map_or(Ok(()), Err)
}
