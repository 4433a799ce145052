//! `loadgen search`: the steps of a [`Search`] run one after the other, each as an
//! open-loop run of its own (its own connections, warm-up and measurement), judged, and
//! printed as it finishes; then the answer, the JSON and the plot.
//!
//! Each step opens `ceil(rate x L / pipeline)` connections, where L is the largest
//! latency limit of the SLO (100 ms when it has none): by Little's law, that many keep
//! the rate going while every request takes up to the limit, so a step fails because
//! the server got slower than the SLO, never for lack of connections.

use super::args::SearchArgs;
use super::embedded::Embedded;
use super::preflight::preflight;
use super::run::measure;
use super::run_plan::RunPlan;
use super::target::{embedded_label, Target};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::outputs::{stage, Staged};
use crate::report::fmt_secs;
use crate::search::report::{self, SearchReport, StepRow};
use crate::search::{judge, Search, Stage};
use crate::slo::Metric;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// How many times a step whose generator fell behind is run again.
const GENERATOR_RETRIES: usize = 2;

/// The warm-up of each step when `--warmup` is not given.
const STEP_WARMUP: Duration = Duration::from_secs(2);

/// Run `loadgen search`.
pub(super) fn search(a: SearchArgs) -> Result<ExitCode, Error> {
    let interrupt = Interrupt::install().map_err(|e| Error::io("handling signals", e))?;
    let slo = check(&a)?;
    let slo_text = slo
        .thresholds
        .iter()
        .map(|t| t.expr.clone())
        .collect::<Vec<_>>()
        .join(",");
    let json_to_stdout = a.run.json.as_deref() == Some("-");
    let mut json_out = match a.run.json.as_deref() {
        Some("-") | None => None,
        Some(p) => Some(stage("--json", std::path::Path::new(p))?),
    };
    let mut plot_out = match &a.run.plot {
        Some(p) if p.extension().and_then(|e| e.to_str()) != Some("svg") => {
            return Err(Error::Usage(format!(
                "--plot {}: the plot is SVG; name it .svg",
                p.display()
            )))
        }
        Some(p) => Some(stage("--plot", p)?),
        None => None,
    };

    // The target: given, or the embedded server, started once for every step.
    let mut base = a.run.clone();
    base.json = None;
    base.plot = None;
    base.slo = Some(slo.clone());
    let probe_plan = RunPlan::from_args(base.clone())?;
    let embedded = match &probe_plan.target {
        Target::Embedded { proto } => {
            let (addr, e) = Embedded::start(*proto)?;
            base.target = Some(embedded_label(&probe_plan.framing, addr));
            Some(e)
        }
        Target::Given { addr, .. } => {
            preflight(*addr, probe_plan.connect_timeout)?;
            None
        }
    };
    drop(probe_plan);

    let latency_limit_s = slo
        .thresholds
        .iter()
        .filter(|t| matches!(t.metric, Metric::Quantile { .. } | Metric::Mean { .. }))
        .map(|t| t.limit / 1e6)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        .unwrap_or(0.1);
    let mut s = Search::new(a.start, a.max_rate, a.precision, a.max_steps);
    let mut rep = SearchReport {
        target: base.target.clone().unwrap_or_default(),
        slo: slo_text,
        precision: a.precision,
        steps: Vec::new(),
        answer: None,
        confirmed: None,
        interrupted: None,
    };
    // The table goes to stdout as the steps finish, unless stdout is the JSON.
    let say = |line: &str| {
        if json_to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    say(&format!(
        "search: {} for '{}', steps of {} after {} warm-up, {} cooldown",
        rep.target,
        rep.slo,
        fmt_secs(a.step),
        fmt_secs(a.run.warmup.unwrap_or(STEP_WARMUP)),
        fmt_secs(a.cooldown)
    ));
    say(&report::header());
    // A step where the generator fell behind its own schedule says nothing about the
    // server: it is run again (at most GENERATOR_RETRIES times) instead of counting as
    // a failure that would pull the answer down; still behind, the search stops there.
    let mut behind_in_a_row = 0;
    let mut generator_limit = None;
    while let Some(rate) = s.next_rate() {
        let stage_name = match s.stage() {
            Stage::Probe => "probe",
            Stage::Bisect => "bisect",
            Stage::Confirm => "confirm",
            Stage::Done => "done",
        };
        let conns = ((rate * latency_limit_s) / a.run.pipeline.max(1) as f64)
            .ceil()
            .max(1.0) as usize;
        let mut sa = base.clone();
        sa.rate = Some(rate);
        sa.duration = Some(a.step);
        sa.warmup = Some(a.run.warmup.unwrap_or(STEP_WARMUP));
        sa.connections = conns;
        let mut plan = RunPlan::from_args(sa)?;
        let Target::Given { addr, label, .. } = &plan.target else {
            return Err(Error::Usage("search: the target did not resolve".into()));
        };
        let (addr, label) = (*addr, label.clone());
        let request = plan.take_request(addr)?;
        let r = measure(&plan, addr, label, request, &interrupt, false, None)?;
        if interrupt.signal() != 0 {
            break; // a step cut short says nothing: not counted
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
        let row = StepRow {
            n: rep.steps.len() + 1,
            stage: stage_name,
            offered: rate,
            achieved: r.throughput(),
            connections: plan.connections,
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
            verdict: verdict.clone(),
        };
        say(&report::row(&row));
        rep.steps.push(row);
        if verdict == crate::search::StepVerdict::GeneratorBehind {
            behind_in_a_row += 1;
            if behind_in_a_row > GENERATOR_RETRIES {
                generator_limit = Some(rate);
                break;
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
    rep.answer = s.answer();
    rep.confirmed = s.confirmed();
    if let Some(r) = generator_limit {
        say(&format!(
            "STOPPED: the generator fell behind its own schedule at {r:.0} req/s, {} times in a row: \
             it cannot tell what the server does there (give it more threads, -t, or cores of its own)",
            GENERATOR_RETRIES + 1
        ));
    }
    let signal = interrupt.signal();
    rep.interrupted = (signal != 0).then_some(signal);
    if let Some(e) = embedded {
        e.stop()?;
    }
    say(report::summary(&rep).trim_end());

    let doc = report::json(&rep);
    if json_to_stdout {
        println!("{doc:#}");
    }
    if let Some(out) = json_out.as_mut() {
        write_staged(out, format!("{doc:#}\n").as_bytes())?;
    }
    if let Some(out) = plot_out.as_mut() {
        write_staged(out, report::svg(&rep).as_bytes())?;
    }
    // As a run's: a signal first, then nothing measured, then no rate met the SLO (99).
    let measured = rep.steps.iter().any(|st| st.achieved > 0.0);
    Ok(super::run::exit_code(
        signal,
        u64::from(measured),
        rep.answer.is_some(),
    ))
}

/// The flags `search` cannot take, and the SLO it must have.
fn check(a: &SearchArgs) -> Result<crate::slo::Slo, Error> {
    let r = &a.run;
    let slo = r
        .slo
        .clone()
        .filter(|s| !s.thresholds.is_empty())
        .ok_or_else(|| {
            Error::Usage(
                "search needs --slo: the thresholds a rate must meet, e.g. --slo 'p99<5ms'".into(),
            )
        })?;
    let refuse = |flag: &str, why: &str| Err(Error::Usage(format!("search: {flag}: {why}")));
    if r.rate.is_some() {
        return refuse(
            "--rate",
            "the search chooses the rates (see --start and --max-rate)",
        );
    }
    if r.requests.is_some() {
        return refuse("-n", "each step runs for --step");
    }
    if r.duration.is_some() {
        return refuse("--duration", "each step runs for --step");
    }
    if r.abort_on_fail {
        return refuse("--abort-on-fail", "each step is judged at its end");
    }
    if r.hgrm.is_some() || r.log.is_some() {
        return refuse(
            "--hgrm/--log",
            "they describe one run; search writes --json and --plot",
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
    Ok(slo)
}

fn write_staged(out: &mut Staged, bytes: &[u8]) -> Result<(), Error> {
    let mut f = out.file()?;
    f.write_all(bytes).map_err(|e| out.error(e))?;
    drop(f);
    out.commit()
}
