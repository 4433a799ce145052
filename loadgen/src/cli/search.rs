//! `loadgen search`: the steps of a [`Search`] run one after the other, each as an
//! open-loop run of its own (its own connections, warm-up and measurement), judged, and
//! printed as it finishes; then the answer, the JSON and the plot.
//!
//! Each step opens `ceil(rate x L / pipeline)` connections, where L is the largest
//! latency limit of the SLO (100 ms when it has none): by Little's law, that many keep
//! the rate going while every request takes up to the limit, so a step fails because
//! the server got slower than the SLO, never for lack of connections.
//!
//! Search takes only the flags it uses (`SearchArgs`): one `RunPlan` is built from
//! them ([`step_args`] makes the first step's flags, its duration and warm-up the
//! search's), and each step sets its own rate and connections on it
//! (`RunPlan::set_step`).

use super::args::{RequestArgs, RunArgs, SearchArgs};
use super::embedded::Embedded;
use super::exit::EXIT_UNCONFIRMED;
use super::preflight::preflight;
use super::run::measure;
use super::run_plan::RunPlan;
use super::target::{embedded_label, Target};
use super::tls_preflight::tls_preflight;
use crate::error::Error;
use crate::fmt::fmt_secs;
use crate::interrupt::Interrupt;
use crate::load::Aim;
use crate::search::outcome::{self, Ended, SearchReport, StepRow};
use crate::search::{judge, Search, Stage, StepVerdict};
use crate::slo::{Metric, Slo};
use crate::staged::{stage, Staged};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How many times a step whose generator fell behind is run again.
const GENERATOR_RETRIES: usize = 2;

/// `--abort-delay`'s default: never used by a step (no `--abort-on-fail`), but a
/// `RunArgs` has one.
const UNUSED_ABORT_DELAY: Duration = Duration::from_secs(10);

/// Run `loadgen search`.
pub(super) fn search(a: SearchArgs) -> Result<ExitCode, Error> {
    let interrupt = Interrupt::install().map_err(|e| Error::io("handling signals", e))?;
    check(&a)?;
    let mut outs = Outputs::stage(&a)?;
    // The target: given, or the embedded server, started once for every step.
    let (req, embedded) = target(&a)?;
    let mut rep = SearchReport {
        target: req.target.clone().unwrap_or_default(),
        slo: slo_text(&a.slo),
        precision: a.precision,
        steps: Vec::new(),
        answer: None,
        confirmed: None,
        interrupted: None,
        ended: Ended::Finished,
    };
    let say = Say(outs.json_to_stdout);
    say.line(&format!(
        "search: {} for '{}', steps of {} after {} warm-up, {} cooldown",
        rep.target,
        rep.slo,
        fmt_secs(a.step),
        fmt_secs(a.warmup),
        fmt_secs(a.cooldown)
    ));
    say.line(&outcome::header());
    // One plan for every step, each at its own rate and connections (`set_step`).
    let mut plan = RunPlan::from_args(step_args(&a, req, a.start, 1))?;
    let Target::Given { addrs, label, .. } = &plan.target else {
        return Err(Error::Usage("search: the target did not resolve".into()));
    };
    let (aim, label) = (plan.aim(addrs.clone())?, label.clone());
    let mut s = Search::new(a.start, a.max_rate, a.precision, a.max_steps);
    let mut steps = Steps {
        plan: &mut plan,
        aim: &aim,
        label: &label,
        interrupt: &interrupt,
    };
    rep.ended = steps.run(&a, &mut s, &mut rep, &say)?;
    rep.answer = s.answer();
    rep.confirmed = s.confirmed();
    let signal = interrupt.signal();
    rep.interrupted = (signal != 0).then_some(signal);
    if let Some(e) = embedded {
        e.stop()?;
    }
    say.line(outcome::summary(&rep).trim_end());
    outs.write(&rep)?;
    let measured = rep.steps.iter().any(|st| st.achieved > 0.0);
    Ok(exit_code(signal, measured, &rep))
}

/// Where the table and the summary go: stdout, or stderr when stdout is the JSON.
struct Say(bool);

impl Say {
    fn line(&self, line: &str) {
        if self.0 {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// The SLO as the user wrote it, one string.
fn slo_text(slo: &Slo) -> String {
    slo.thresholds
        .iter()
        .map(|t| t.expr.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// What every step shares: the plan (its load set for each step), what to send and
/// where, and the signals.
struct Steps<'a> {
    plan: &'a mut RunPlan,
    aim: &'a Aim,
    label: &'a str,
    interrupt: &'a Arc<Interrupt>,
}

impl Steps<'_> {
    /// Run steps until the search has its answer, or stops short; returns why it ended.
    /// A step where the generator fell behind its own schedule says nothing about the
    /// server: it is run again (at most [`GENERATOR_RETRIES`] times) instead of counting
    /// as a failure that would pull the answer down; still behind, the search stops there.
    fn run(
        &mut self,
        a: &SearchArgs,
        s: &mut Search,
        rep: &mut SearchReport,
        say: &Say,
    ) -> Result<Ended, Error> {
        let latency_limit_s = latency_limit_s(&a.slo);
        let mut behind_in_a_row = 0;
        while let Some(rate) = s.next_rate() {
            let conns = ((rate * latency_limit_s) / self.plan.load.pipeline.max(1) as f64)
                .ceil()
                .max(1.0) as usize;
            self.plan.set_step(rate, conns)?;
            let Some(mut row) = run_step(self, rate)? else {
                return Ok(Ended::Interrupted); // a step cut short says nothing: not counted
            };
            row.n = rep.steps.len() + 1;
            row.stage = stage_name(s.stage());
            say.line(&outcome::row(&row));
            let verdict = row.verdict.clone();
            rep.steps.push(row);
            if verdict == StepVerdict::GeneratorBehind {
                behind_in_a_row += 1;
                if behind_in_a_row > GENERATOR_RETRIES {
                    return Ok(Ended::GeneratorBehind {
                        rate,
                        times: behind_in_a_row,
                        threads: self.plan.load.threads(),
                    });
                }
            } else {
                behind_in_a_row = 0;
                s.record(rate, verdict.passed());
            }
            if rep.steps.len() >= a.max_steps {
                break;
            }
            if s.next_rate().is_some() && !a.cooldown.is_zero() {
                std::thread::sleep(a.cooldown);
            }
        }
        // Out of steps: the search's own count (steps it recorded), or the table's (the
        // generator's repeated steps too).
        if s.ran_out_of_steps() || s.next_rate().is_some() {
            Ok(Ended::OutOfSteps {
                max_steps: a.max_steps,
            })
        } else {
            Ok(Ended::Finished)
        }
    }
}

/// The search's stage, as the table names it.
fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Probe => "probe",
        Stage::Bisect => "bisect",
        Stage::Confirm => "confirm",
        Stage::Done => "done",
    }
}

/// The largest latency limit of the SLO, seconds (100 ms when it has none): what each
/// step's connections must cover at its rate.
fn latency_limit_s(slo: &Slo) -> f64 {
    slo.thresholds
        .iter()
        .filter(|t| matches!(t.metric, Metric::Quantile { .. } | Metric::Mean { .. }))
        .map(|t| t.limit / 1e6)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        .unwrap_or(0.1)
}

/// One step at `rate` as a run's flags: open loop for `--step` after `--warmup`,
/// `conns` connections, judged on the SLO; no report files (the search writes its own).
fn step_args(a: &SearchArgs, req: RequestArgs, rate: f64, conns: usize) -> RunArgs {
    RunArgs {
        connections: conns,
        duration: Some(a.step),
        requests: None,
        stages: None,
        closed: false,
        slo: Some(a.slo.clone()),
        abort_on_fail: false,
        abort_delay: UNUSED_ABORT_DELAY,
        max_connections: None,
        warmup: Some(a.warmup),
        rate: Some(rate),
        req,
        out: Default::default(),
        dist: Default::default(),
    }
}

/// Run one step of `st`'s plan at `rate` and judge it (its `n` and `stage` are the
/// caller's); `None` when a signal cut it short.
fn run_step(st: &Steps<'_>, rate: f64) -> Result<Option<StepRow>, Error> {
    let plan = &*st.plan;
    let r = measure(
        plan,
        st.aim,
        st.label.to_string(),
        super::run::Control {
            interrupt: st.interrupt,
            gate: Box::new(|| Ok(None)),
            stop: None,
        },
        false,
        None,
    )?;
    if st.interrupt.signal() != 0 {
        return Ok(None);
    }
    let failed: Vec<String> = r
        .thresholds
        .iter()
        .filter(|v| !v.pass)
        .map(|v| v.threshold.expr.clone())
        .collect();
    let verdict = judge(
        &failed,
        rate,
        r.throughput(),
        r.behind_schedule() == Some(true),
    );
    Ok(Some(StepRow {
        n: 0,
        stage: "",
        offered: rate,
        achieved: r.throughput(),
        connections: plan.load.connections,
        thresholds: r
            .thresholds
            .iter()
            .map(|v| {
                (
                    v.threshold.expr.clone(),
                    v.measured_text(),
                    v.measured,
                    v.pass,
                )
            })
            .collect(),
        p99_us: (!r.rec.corrected.is_empty()).then(|| r.rec.corrected.value_at_quantile(0.99)),
        unsent: r.rec.censored.unsent,
        send_lag_p99_us: (!r.rec.send_lag.is_empty())
            .then(|| r.rec.send_lag.value_at_quantile(0.99)),
        verdict,
    }))
}

/// The target every step uses: the one given (checked by one connect), or the embedded
/// server, started here for the whole search (returned, to stop at the end).
fn target(a: &SearchArgs) -> Result<(RequestArgs, Option<Embedded>), Error> {
    let mut req = a.req.clone();
    // The first step's plan, built to check every flag before anything starts.
    let plan = RunPlan::from_args(step_args(a, req.clone(), a.start, 1))?;
    let embedded = match &plan.target {
        Target::Embedded { proto } => {
            let (addr, e) = Embedded::start(*proto)?;
            req.target = Some(embedded_label(&plan.load.framing, addr));
            Some(e)
        }
        Target::Given { addrs, .. } => {
            // Over TLS a handshake, not a bare connect (see run.rs).
            match &plan.tls {
                Some(t) => drop(tls_preflight(
                    addrs.as_slice(),
                    t,
                    plan.load.connect_timeout,
                )?),
                None => preflight(addrs.as_slice(), plan.load.connect_timeout)?,
            }
            None
        }
    };
    Ok((req, embedded))
}

/// The values clap takes but a search cannot.
fn check(a: &SearchArgs) -> Result<(), Error> {
    let refuse = |flag: &str, why: &str| Err(Error::Usage(format!("search: {flag}: {why}")));
    if a.segment.is_some() {
        return refuse(
            "--segment",
            "a search cannot be split: each step's rate follows from the step before, \
             which one process must judge; split a `loadgen run` at the rate found",
        );
    }
    if a.slo.thresholds.is_empty() {
        return refuse(
            "--slo",
            "the thresholds a rate must meet, e.g. --slo 'p99<5ms'",
        );
    }
    if a.step.is_zero() {
        return refuse("--step", "must be more than 0");
    }
    if !(a.start > 0.0 && a.start.is_finite() && a.start <= a.max_rate) {
        return refuse("--start", "must be a positive rate, at most --max-rate");
    }
    if a.max_steps == 0 {
        return refuse("--max-steps", "must be at least 1");
    }
    Ok(())
}

/// The exit code of a search (README, "Exit codes"): as a run's for a signal and for
/// nothing measured; then 3 when it stopped short of a settled answer (not confirmed,
/// or none yet), 99 when it ran its course and no rate met the SLO, else 0.
fn exit_code(signal: i32, measured: bool, rep: &SearchReport) -> ExitCode {
    if signal != 0 || !measured {
        return super::exit::exit_code(signal, u64::from(measured), true);
    }
    if !rep.settled() {
        eprintln!(
            "loadgen: the search stopped before its answer was settled ({}): exit {EXIT_UNCONFIRMED}",
            rep.ended.kind().replace('_', " ")
        );
        return ExitCode::from(EXIT_UNCONFIRMED);
    }
    super::exit::exit_code(0, 1, rep.answer.is_some())
}

/// `--json` and `--plot`: staged before the search (a bad path fails before any step),
/// written after it.
struct Outputs {
    json_to_stdout: bool,
    json: Option<Staged>,
    plot: Option<Staged>,
}

impl Outputs {
    fn stage(a: &SearchArgs) -> Result<Outputs, Error> {
        let json = match a.json.as_deref() {
            Some("-") | None => None,
            Some(p) => Some(stage("--json", std::path::Path::new(p))?),
        };
        let plot = match &a.plot {
            Some(p) if p.extension().and_then(|e| e.to_str()) != Some("svg") => {
                return Err(Error::Usage(format!(
                    "--plot {}: the plot is SVG; name it .svg",
                    p.display()
                )))
            }
            Some(p) => Some(stage("--plot", p)?),
            None => None,
        };
        Ok(Outputs {
            json_to_stdout: a.json.as_deref() == Some("-"),
            json,
            plot,
        })
    }

    fn write(&mut self, rep: &SearchReport) -> Result<(), Error> {
        let doc = outcome::json(rep);
        if self.json_to_stdout {
            println!("{doc:#}");
        }
        if let Some(out) = self.json.as_mut() {
            write_staged(out, format!("{doc:#}\n").as_bytes())?;
        }
        if let Some(out) = self.plot.as_mut() {
            let plot = outcome::svg(rep).map_err(|e| out.error(e))?;
            write_staged(out, plot.as_bytes())?;
        }
        Ok(())
    }
}

fn write_staged(out: &mut Staged, bytes: &[u8]) -> Result<(), Error> {
    let mut f = out.file()?;
    f.write_all(bytes).map_err(|e| out.error(e))?;
    drop(f);
    out.commit()
}
