//! The report of one `run` and its files: staged before the run, written after it.
//!
//! The text report (or `--json -`) goes to stdout; `--json FILE`, `--hgrm`, `--log`,
//! `--plot`, `--csv` and `--html` are files, each staged by [`crate::staged`] when the
//! plan is made, so that a path that cannot be written is refused before minutes of
//! load, not after. The interval log (`--log`) is the one written as the run goes
//! ([`super::log_stream`]): [`Outputs::log_stream`] hands its staged file over.

use super::args::OutputArgs;
use super::log_stream::LogStream;
use crate::error::Error;
use crate::phases::Phase;
use crate::report;
use crate::result::{RunResult, StageTargets};
use crate::staged::{self, Staged};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `--hgrm FILE`: where phase `p`'s distribution goes, beside FILE: `lat.hgrm` gives
/// `lat.ttfb.hgrm` (`FILE.ttfb.hgrm` when FILE does not end in `.hgrm`).
pub(super) fn phase_hgrm(file: &Path, p: Phase) -> PathBuf {
    let hgrm = file.extension().is_some_and(|e| e == "hgrm");
    let base = if hgrm {
        file.with_extension("")
    } else {
        file.to_path_buf()
    };
    let mut name = base.into_os_string();
    name.push(format!(".{}.hgrm", p.key()));
    PathBuf::from(name)
}

/// Stage `--plot FILE.svg`. The plot is SVG: a .png name would hold SVG under a lie.
pub(super) fn stage_svg(p: &Path) -> Result<Staged, Error> {
    let svg = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !svg {
        return Err(Error::Usage(format!(
            "--plot {}: the plot is SVG; give a file name ending in .svg",
            p.display()
        )));
    }
    staged::stage("--plot", p)
}

/// The outputs of one `run`: where the JSON goes, and the files staged for it.
#[derive(Debug)]
pub(super) struct Outputs {
    /// `--json -`: the JSON report replaces the text one on stdout.
    pub(super) json_to_stdout: bool,
    /// `--json FILE`.
    pub(super) json: Option<Staged>,
    /// `--hgrm FILE`.
    pub(super) hgrm: Option<Staged>,
    /// `--hgrm FILE`: a distribution per phase beside it ([`phase_hgrm`]).
    pub(super) hgrm_phases: Vec<(Phase, Option<Staged>)>,
    /// `--log FILE`, until [`Outputs::log_stream`] takes it.
    pub(super) log: Option<Staged>,
    /// `--plot FILE.svg`.
    pub(super) plot: Option<Staged>,
    /// `--plot-log`: the plot's latency axis.
    pub(super) plot_axis: report::LatencyAxis,
    /// `--csv FILE`.
    pub(super) csv: Option<Staged>,
    /// `--html FILE`.
    pub(super) html: Option<Staged>,
    /// This process's command line, for the HTML report.
    pub(super) command_line: String,
    /// `--result -`: the mergeable result replaces the text report on stdout.
    pub(super) result_to_stdout: bool,
    /// `--result FILE`.
    pub(super) result: Option<Staged>,
}

impl Outputs {
    /// Stage every output file `a` names (its temporary created now); a path that
    /// cannot be written is a usage error.
    pub(super) fn stage(a: &OutputArgs) -> Result<Outputs, Error> {
        let json = match a.json.as_deref() {
            Some("-") | None => None,
            Some(p) => Some(staged::stage("--json", Path::new(p))?),
        };
        Ok(Outputs {
            json_to_stdout: a.json.as_deref() == Some("-"),
            json,
            hgrm: a
                .hgrm
                .as_deref()
                .map(|p| staged::stage("--hgrm", p))
                .transpose()?,
            hgrm_phases: match a.hgrm.as_deref() {
                Some(p) => Phase::ALL
                    .into_iter()
                    .map(|ph| Ok((ph, Some(staged::stage("--hgrm", &phase_hgrm(p, ph))?))))
                    .collect::<Result<_, Error>>()?,
                None => Vec::new(),
            },
            log: a
                .log
                .as_deref()
                .map(|p| staged::stage("--log", p))
                .transpose()?,
            plot: a.plot.as_deref().map(stage_svg).transpose()?,
            plot_axis: if a.plot_log {
                report::LatencyAxis::Log
            } else {
                report::LatencyAxis::Linear
            },
            csv: a
                .csv
                .as_deref()
                .map(|p| staged::stage("--csv", p))
                .transpose()?,
            html: a
                .html
                .as_deref()
                .map(|p| staged::stage("--html", p))
                .transpose()?,
            command_line: super::command_line::shell_line(std::env::args_os()),
            result_to_stdout: false,
            result: None,
        })
    }

    /// `--result`: write `r` (a coordinator's own segment) now, apart from the report
    /// of the merge that [`Outputs::write`] writes after it.
    pub(super) fn write_own_result(&mut self, r: &RunResult) -> Result<(), Error> {
        if std::mem::take(&mut self.result_to_stdout) {
            crate::result_file::write(r, &mut std::io::stdout().lock())
                .map_err(|e| Error::io("writing the result", e))?;
        }
        let Some(mut st) = self.result.take() else {
            return Ok(());
        };
        let mut w = std::io::BufWriter::new(st.file()?);
        crate::result_file::write(r, &mut w)
            .and_then(|()| w.flush())
            .map_err(|e| st.error(e))?;
        drop(w);
        st.commit()
    }

    /// `--result FILE` (or `-`): stage it too. Refused beside `--json -`: one
    /// document on stdout.
    pub(super) fn stage_result(&mut self, to: Option<&str>) -> Result<(), Error> {
        match to {
            None => {}
            Some("-") if self.json_to_stdout => {
                return Err(Error::Usage(
                    "--result - and --json -: only one of them can have stdout".into(),
                ))
            }
            Some("-") => self.result_to_stdout = true,
            Some(p) => self.result = Some(staged::stage("--result", Path::new(p))?),
        }
        Ok(())
    }

    /// `--log FILE`: the stream that writes it during the run of `target` over `proto`
    /// by `workers` workers, measuring `planned` (`None` without `--log`). Hand it back
    /// to [`Outputs::write`].
    pub(super) fn log_stream(
        &mut self,
        target: &str,
        proto: &str,
        workers: usize,
        targets: Option<StageTargets>,
        (planned, run): (std::time::Duration, Option<String>),
    ) -> Result<Option<LogStream>, Error> {
        self.log
            .take()
            .map(|st| LogStream::new(st, target, proto, workers, targets, (planned, run)))
            .transpose()
    }

    /// The report of `r` on stdout: the text, or the JSON (`--json -`), or the result
    /// (`--result -`).
    fn print(&self, r: &RunResult) -> Result<(), Error> {
        let mut out = std::io::stdout().lock();
        if self.json_to_stdout {
            report::write_json(r, &mut out).map_err(|e| Error::io("writing JSON", e))
        } else if self.result_to_stdout {
            crate::result_file::write(r, &mut out).map_err(|e| Error::io("writing the result", e))
        } else {
            out.write_all(report::text(r).as_bytes())
                .map_err(|e| Error::io("writing the report", e))
        }
    }

    /// Print the report of `r` and write every staged file, `log` finished (the
    /// interval log streamed during the run); the first error, if any, once all were
    /// tried.
    pub(super) fn write(&mut self, r: &RunResult, log: Option<LogStream>) -> Result<(), Error> {
        self.print(r)?;
        // The interval log's start: read when measurement began; a run that never got
        // there falls back to now - duration.
        let start = r.started_unix_s.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
                - r.duration.as_secs_f64()
        });
        // The streamed log, finished in place (see `log_stream.rs`). Each other file is
        // written into its temporary, then renamed into place; one that fails does not
        // stop the others, and its temporary is removed.
        let mut first_err = log.and_then(|l| l.finish(r, start).err());
        let mut write = |s: &mut Option<Staged>, f: &dyn Fn(&Staged) -> Result<(), Error>| {
            if let Some(st) = s.as_mut() {
                if let Err(e) = f(st).and_then(|()| st.commit()) {
                    first_err.get_or_insert(e);
                }
            }
        };
        write(&mut self.json, &|st| {
            report::write_json(r, &mut st.file()?).map_err(|e| st.error(e))
        });
        write(&mut self.result, &|st| {
            let mut w = std::io::BufWriter::new(st.file()?);
            crate::result_file::write(r, &mut w)
                .and_then(|()| w.flush())
                .map_err(|e| st.error(e))
        });
        write(&mut self.hgrm, &|st| {
            report::write_hgrm(&r.rec.corrected, &mut st.file()?, 1000.0).map_err(|e| st.error(e))
        });
        for (phase, st) in &mut self.hgrm_phases {
            if !r.rec.phases.present(*phase) {
                // Not timed (TLS on plain connections): no file, rather than an empty
                // distribution passing for one; its temporary goes when dropped.
                continue;
            }
            let h = r.rec.phases.get(*phase);
            write(st, &|st| {
                report::write_hgrm(h, &mut st.file()?, 1000.0).map_err(|e| st.error(e))
            });
        }
        write(&mut self.log, &|st| {
            report::write_interval_log(r, &mut st.file()?, start).map_err(|e| st.error(e))
        });
        write(&mut self.plot, &|st| {
            report::write_svg(r, st.path(), self.plot_axis).map_err(|e| st.error(e))
        });
        write(&mut self.csv, &|st| {
            let mut w = std::io::BufWriter::new(st.file()?);
            report::write_csv(r, &mut w)
                .and_then(|()| w.flush())
                .map_err(|e| st.error(e))
        });
        write(&mut self.html, &|st| {
            // Read now, after the run: the descriptor limit shown is the one it ran with.
            let ctx = report::HtmlContext {
                command_line: self.command_line.clone(),
                machine: report::Machine::read(),
                thresholds: r
                    .thresholds
                    .iter()
                    .map(|v| report::ThresholdRow {
                        expr: v.threshold.expr.clone(),
                        measured: v.measured_text(),
                        pass: v.pass,
                    })
                    .collect(),
            };
            report::write_html(r, &ctx, &mut st.file()?).map_err(|e| st.error(e))
        });
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_phase_hgrm_files_sit_beside_the_hgrm() {
        let p = Path::new("/tmp/run/lat.hgrm");
        assert_eq!(
            phase_hgrm(p, Phase::Ttfb),
            Path::new("/tmp/run/lat.ttfb.hgrm")
        );
        assert_eq!(
            phase_hgrm(Path::new("lat"), Phase::TlsHandshake),
            Path::new("lat.tls_handshake.hgrm")
        );
        assert_eq!(
            phase_hgrm(Path::new("a.b.txt"), Phase::Connect),
            Path::new("a.b.txt.connect.hgrm")
        );
    }
}
