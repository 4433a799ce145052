//! `loadgen run` (the default command): a checked [`RunPlan`] executed.
//!
//! In this order, each step for a reason: signals are taken over before any thread
//! starts (every thread inherits the blocked set, so only the waiting thread sees
//! them); the embedded server, if wanted, starts next, its address completing the plan;
//! one preflight connect fails fast when nothing answers; then the engine runs, with a
//! progress line on a terminal; the workers' results merge into a [`RunResult`], the
//! embedded server's counters join it, and the reports are written. An interrupted run
//! still reports and exits 128 + the signal.

use super::args::RunArgs;
use super::coordinated::Role;
use super::embedded::Embedded;
use super::exit::exit_code;
use super::live_slo::LiveSlo;
use super::log_stream::LogStream;
use super::preflight::preflight;
use super::progress::Progress;
use super::run_plan::RunPlan;
use super::target::{embedded_label, Target};
use super::tls_preflight::tls_preflight;
use crate::addrs::Spread;
use crate::engine::{self, Gate, TickAction, WorkerResult};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::load::Aim;
use crate::record::Recorder;
use crate::result::{CpuTime, Interrupted, RunResult, StageTargets};
use crate::split::NotWhole;
use crate::tls_peer::TlsRun;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Check `a` into a plan and run it; the exit code is 0, or 128 + the signal that
/// interrupted the run (its report written all the same).
pub(super) fn run(a: RunArgs) -> Result<ExitCode, Error> {
    // Before the plan, as before the checks that can take a while (resolving a TARGET
    // host name, reading --request-file): a signal then is held for the run, which
    // stops at once and reports, instead of killing the process half-way. And before
    // any thread starts, so that every thread inherits the blocked signals.
    let interrupt = Interrupt::install().map_err(|e| Error::io("handling signals", e))?;
    let plan = RunPlan::from_args(a)?;
    execute(plan, &interrupt)
}

/// Run `plan`: the embedded server, the preflight, the coordination, the load, the
/// reports.
fn execute(mut plan: RunPlan, interrupt: &Arc<Interrupt>) -> Result<ExitCode, Error> {
    let (addrs, target_label, embedded) = match &plan.target {
        Target::Given { addrs, label, .. } => (addrs.clone(), label.clone(), None),
        Target::Embedded { proto } => {
            let (addr, e) = Embedded::start(*proto)?;
            (
                addr.into(),
                embedded_label(&plan.load.framing, addr),
                Some(e),
            )
        }
    };
    let aim = plan.aim(addrs)?;
    let peer = preflight_target(&plan, &aim, embedded.is_some())?;
    // A segment joins its run before it loads the target: refused, it loads nothing.
    let mut role = Role::take_up(&plan, plan.hash(&aim))?;
    let nonce = role
        .nonce()
        .or_else(|| plan.start_at.map(super::start_at::nonce));
    plan.part = plan.part(&aim, nonce);
    let mut log = open_log(&mut plan, &target_label)?;
    let stop = role.stop_flag();
    let gate = role
        .gate(plan.load.warmup)
        .unwrap_or_else(|| super::start_at::gate(plan.start_at));
    let control = Control {
        interrupt,
        gate,
        stop,
    };
    let measured = measure(&plan, &aim, target_label, control, true, log.as_mut());
    if let Some(line) = role.refused_line() {
        eprintln!("loadgen: {line}");
    }
    let mut result = measured?;
    if let (Some(peer), Some(tls)) = (peer, result.tls.as_mut()) {
        tls.peer = peer;
    }
    if let Some(p) = result.part.as_mut() {
        p.skew = role.skew();
    }
    result.server_stats = embedded.map(Embedded::stop).transpose()?;
    report(role, &mut plan, (result, log), interrupt.signal())
}

/// Fail fast, with one clear line, when nothing answers. Not against the embedded
/// server, which is listening by now: its counts would show one connection more than
/// the run made. Over TLS the preflight is a handshake: a certificate that does not
/// verify is one line (exit 1), and what was negotiated (returned) goes in the report.
/// Not a bare connect before it: to a TLS server that is a handshake cut short,
/// counted as failed.
fn preflight_target(
    plan: &RunPlan,
    aim: &Aim,
    embedded: bool,
) -> Result<Option<crate::tls_peer::TlsPeer>, Error> {
    let timeout = plan.load.connect_timeout;
    match &aim.tls {
        Some(t) => Ok(Some(tls_preflight(aim.addrs.as_slice(), t, timeout)?)),
        None => {
            if !embedded {
                preflight(aim.addrs.as_slice(), timeout)?;
            }
            Ok(None)
        }
    }
}

/// `--log`: the interval log, written as the run goes (its stream sees every report).
/// Its targets are this process's (a segment's share).
fn open_log(plan: &mut RunPlan, target_label: &str) -> Result<Option<LogStream>, Error> {
    let own = plan.load.own_part();
    let targets = own.stages.clone().map(|profile| StageTargets {
        profile,
        warmup: own.warmup,
        closed: own.stages_closed,
    });
    let run = plan.part.as_ref().map(crate::split::Part::describe);
    plan.outputs.log_stream(
        target_label,
        &own.framing.name(),
        plan.load.threads(),
        targets,
        (own.duration, run),
    )
}

/// The reports and the exit code: a run's own; a member's, its result sent to the
/// coordinator; the coordinator's, the merge of every segment's, judged once.
fn report(
    role: Role,
    plan: &mut RunPlan,
    (result, log): (RunResult, Option<LogStream>),
    signal: i32,
) -> Result<ExitCode, Error> {
    match role {
        Role::Alone => {
            plan.outputs.write(&result, log)?;
            Ok(exit_code(
                signal,
                result.rec.measured,
                result.thresholds_pass(),
            ))
        }
        Role::Member(mut member, _) => {
            plan.outputs.write(&result, log)?;
            super::coordinated::send(&mut member, &result)?;
            Ok(exit_code(signal, result.rec.measured, true))
        }
        Role::Coordinator(c, info) => {
            plan.outputs.write_own_result(&result)?;
            let wait = plan.load.warmup + plan.load.duration + Duration::from_secs(60);
            let m = super::coordinated::merge_run(&c, info.as_ref(), result, (signal != 0, wait))?;
            let mut merged = m.result;
            for w in &m.warnings {
                eprintln!("loadgen: warning: {w}");
            }
            merged.thresholds = plan.slo.check(&merged.figures());
            println!("{}", super::coordinated::BEGIN);
            plan.outputs.write(&merged, log)?;
            println!("{}", super::coordinated::END);
            Ok(super::exit::merged(signal, &merged, &m.missing))
        }
    }
}

/// What steers a run besides its plan: signals, the start's gate, and a coordinator's
/// STOP (raised: end the run now, as at a signal).
pub(super) struct Control<'a> {
    /// SIGINT and SIGTERM.
    pub(super) interrupt: &'a Arc<Interrupt>,
    /// When measurement begins.
    pub(super) gate: Gate<'a>,
    /// A coordinator's STOP.
    pub(super) stop: Option<Arc<AtomicBool>>,
}

/// Put `plan`'s load on `aim` (the target is up) and return what was measured, its
/// thresholds judged; `progress`: the live line on a terminal; `log`: the interval
/// log, streamed. Writes nothing else: the caller reports (a run) or judges the step
/// (a search).
pub(super) fn measure(
    plan: &RunPlan,
    aim: &Aim,
    target_label: String,
    control: Control<'_>,
    progress: bool,
    mut log: Option<&mut LogStream>,
) -> Result<RunResult, Error> {
    let load = &plan.load;
    // The line shows this process's share of the stages' targets.
    let own = load.own_part();
    let mut line = Progress::new(load.threads(), load.duration, progress).with_stages(
        own.stages.clone(),
        own.warmup,
        own.stages_closed,
    );
    let mut live = plan
        .abort_after
        .map(|delay| LiveSlo::new(plan.slo.clone(), delay, load.threads()));
    let Control {
        interrupt,
        gate,
        stop,
    } = control;
    let (workers, intervals) = engine::run(load, aim, (Some(interrupt), gate), |t| {
        line.tick(t);
        if let Some(l) = log.as_deref_mut() {
            l.tick(t);
        }
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            return TickAction::Stop;
        }
        live.as_mut().map_or(TickAction::Continue, |l| l.tick(t))
    })
    .map_err(
        |e| match e.get_ref().and_then(|x| x.downcast_ref::<NotWhole>()) {
            Some(w) => Error::NotWhole(w.0.clone()),
            None => Error::io("running the load", e),
        },
    )?;
    line.finish();
    let ran = Ran {
        workers,
        intervals,
        aborted: live.and_then(LiveSlo::aborted),
        signal: interrupt.signal(),
        stopped: stop.is_some_and(|s| s.load(Ordering::Relaxed)),
    };
    if ran.stopped {
        eprintln!("loadgen: the coordinator stopped this segment's run early");
    }
    let mut result = ran.result(plan, aim, target_label);
    // Judged on the whole run, the censored requests included; a segment's share is
    // not the run: the merge judges it, once.
    if plan.load.segment.is_none() {
        result.thresholds = plan.slo.check(&result.figures());
    }
    Ok(result)
}

/// What the engine gave back, and how the run ended.
struct Ran {
    workers: Vec<WorkerResult>,
    intervals: Vec<crate::result::Interval>,
    aborted: Option<crate::result::Aborted>,
    /// A coordinator's STOP ended it early.
    stopped: bool,
    signal: i32,
}

impl Ran {
    /// The run's result: the workers' numbers merged, beside the plan's figures.
    fn result(self, plan: &RunPlan, aim: &Aim, target: String) -> RunResult {
        let load = &plan.load;
        let w = &self.workers;
        let measured = w.iter().map(|w| w.measured).max().unwrap_or(load.duration);
        let mut rec = Recorder::default();
        let mut cpu = CpuTime::default();
        for w in w {
            rec.merge(&w.rec);
            cpu.user_s += w.cpu.user_s;
            cpu.sys_s += w.cpu.sys_s;
        }
        let cut_short =
            self.signal != 0 || self.aborted.is_some() || self.stopped || load.requests.is_some();
        // A segment reports its share; the whole run's load goes with its part.
        let part = plan.part.clone();
        let load = &load.own_part();
        RunResult {
            target,
            load: load.clone(),
            connections_peak: w
                .iter()
                .map(|w| w.peak_open)
                .sum::<usize>()
                .max(load.connections),
            // Interrupted or aborted, or a -n run that ended by its count: the time it took.
            duration: if cut_short { measured } else { load.duration },
            interrupted: (self.signal != 0).then(|| Interrupted {
                signal: self.signal,
                planned: load.duration,
                warmup_ran: w.iter().map(|w| w.warmup_ran).max().unwrap_or_default(),
            }),
            rec,
            intervals: self.intervals,
            cpu,
            server_stats: None,
            ports: plan.ports,
            connect_phase: w.iter().filter_map(|w| w.connect_phase).max(),
            started_unix_s: w
                .iter()
                .filter_map(|w| w.measure_start_unix_s)
                .reduce(f64::min),
            thresholds: Vec::new(),
            aborted: self.aborted,
            mix: aim
                .mix
                .as_ref()
                .map(|m| m.describe(plan.mix_file.as_deref().unwrap_or(""))),
            spread: spread(plan, aim, w),
            tls: aim.tls.as_ref().map(|t| {
                let mut sum = readyloop::tls::TlsStats::default();
                w.iter().for_each(|w| sum.add(&w.tls));
                // The peer comes from the preflight handshake (the caller's).
                TlsRun::new(Default::default(), t.resume, &sum)
            }),
            part,
            merged: None,
        }
    }
}

/// Where the workers' connections went: the aim's addresses, and the rule that chose
/// them.
fn spread(plan: &RunPlan, aim: &Aim, workers: &[WorkerResult]) -> Spread {
    let mut s = Spread::of(&aim.addrs, workers.iter().map(|w| &w.connects_by_addr[..]));
    if let Target::Given { via, .. } = &plan.target {
        s.via = via.clone();
    }
    s
}
