//! `run`'s flags turned into a validated plan: every check made before anything starts.
//!
//! [`RunPlan::from_args`] is the one place that decides whether a run can go ahead: the
//! numbers (connections, duration, rates, `--per-conn`, threads), the descriptor room
//! for the connections, the framing, the target, the request and the output files. A
//! run that cannot have what it asks for is refused here (exit 2), with nothing
//! started: no thread, no server, no connection. What comes out is plain data, which
//! `run.rs` executes and a test can build and inspect.
//!
//! The checks run in a fixed order, the one the messages have always come in: when a
//! command has several faults, the first of them is the one reported.

use super::args::RunArgs;
use super::connect_to::ConnectTo;
use super::outputs::Outputs;
use super::request_bytes::Request;
use super::target::Target;
use crate::addrs::Addrs;
use crate::error::Error;
use crate::fd_room;
use crate::framing::Framing;
use crate::load::{Aim, Load};
use readyloop::units::nonzero;
use std::time::Duration;

/// A run, checked: everything [`super::run`] needs to execute it. Its [`Load`] is what
/// the engine reads, as it is.
#[derive(Debug)]
pub(super) struct RunPlan {
    /// Where the load goes.
    pub(super) target: Target,
    /// The load: connections, rate, time, framing.
    pub(super) load: Load,
    /// What each connection sends, each time.
    pub(super) request: Request,
    /// `--targets`: the file, as typed (for the report).
    pub(super) mix_file: Option<String>,
    /// `--slo`: thresholds (none: empty).
    pub(super) slo: crate::slo::Slo,
    /// `--abort-on-fail`: judge every second after this delay and stop at a failure.
    pub(super) abort_after: Option<Duration>,
    /// The port and TIME_WAIT settings, read with the descriptor limit before the run
    /// (the report explains EADDRNOTAVAIL with them).
    pub(super) ports: crate::result::PortFacts,
    /// The report's destinations, files staged.
    pub(super) outputs: Outputs,
    /// TLS to the target (`https://`, `tls://`), or none.
    pub(super) tls: Option<std::sync::Arc<crate::tls_target::TlsTarget>>,
    /// `--segment`: its share of which run, once the request is built ([`RunPlan::part`]).
    pub(super) part: Option<crate::split::Part>,
    /// `--start-at`: when measurement begins.
    pub(super) start_at: Option<std::time::SystemTime>,
    /// `--coordinator`: where the segments meet, with `--token` and `--wait-segments`.
    pub(super) coordination: Option<super::segment_args::Coordination>,
}

impl RunPlan {
    /// What to send, and where, once the target listens at `addrs` (a given target's,
    /// or the embedded server's, whose address an HTTP request to it names).
    pub(super) fn aim(&self, addrs: Addrs) -> Result<Aim, Error> {
        let framing = &self.load.framing;
        let head = self.request.is_head(framing);
        let (bytes, mix) = self
            .request
            .clone()
            .into_built(&self.target, addrs.first())?;
        let mut aim = Aim::new(addrs, framing, bytes, head, mix);
        aim.tls = self.tls.clone();
        if let Target::Given { host, .. } = &self.target {
            // The name the user gave, whatever address it resolved (or was sent) to.
            aim.server_name = host.clone();
        }
        Ok(aim)
    }

    /// A search's step: this plan's load at `rate` over `conns` connections, refused
    /// (exit 2) when they cannot all have a descriptor.
    pub(super) fn set_step(&mut self, rate: f64, conns: usize) -> Result<(), Error> {
        let load = self.load.step(rate, conns);
        let embedded = matches!(self.target, Target::Embedded { .. });
        check_fd_room(conns, load.threads(), embedded)?;
        self.load = load;
        Ok(())
    }

    /// Check `a` and derive the plan; the first fault found is the error.
    ///
    /// Not free of effects: the output files' temporaries are created, the descriptor
    /// limit is raised to its hard limit (to know the room), and a TARGET host name is
    /// resolved. But nothing is started.
    pub(super) fn from_args(a: RunArgs) -> Result<RunPlan, Error> {
        check_numbers(&a)?;
        // Every output file is checked (and its temporary created) before anything runs.
        let outputs = outputs(&a)?;
        let framing = Framing::parse(&a.req.proto).map_err(Error::Usage)?;
        if a.slo.as_ref().is_some_and(|s| s.needs_http()) && framing != Framing::Http {
            return Err(Error::Usage(format!(
                "--slo: non2xx measures HTTP statuses; --proto is {}",
                a.req.proto
            )));
        }
        // Without a TARGET, a targets file's first URL is the target.
        let mix = super::targets_file::MixParts::read(&a)?;
        if mix.is_some() && framing != Framing::Http {
            return Err(Error::Usage(format!(
                "--targets holds HTTP requests; --proto is {}",
                a.req.proto
            )));
        }
        let target_arg = a
            .req
            .target
            .clone()
            .or_else(|| mix.as_ref().and_then(|m| m.first_url()));
        let embedded = target_arg.is_none();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let connections = connections(&a);
        check_segment(&a, connections, embedded)?;
        let threads = threads(a.req.threads, embedded, cores)?;
        // Room for the most connections this process may open (a segment's share), on
        // as many workers as will run (never more than the connections: see
        // `Load::threads`).
        let own = |n: usize| a.dist.segment.map_or(n, |s| s.share(n));
        let most = own(a.max_connections.unwrap_or(connections).max(connections));
        let limits = check_fd_room(most, threads.min(own(connections)), embedded)?;
        let connect_to = ConnectTo::parse(&a.req.connect_to)?;
        let target = Target::resolve(target_arg.as_deref(), &a.req.proto, &framing, &connect_to)?;
        if let Some(m) = &mix {
            m.check_target(&target, &connect_to)?;
        }
        let tls = a.req.tls.plan(&target, &framing, most)?;
        let mix_file = mix.as_ref().map(|m| m.file.clone());
        let request = Request::from_args(&a, &framing, &target, mix)?;
        let load = load(&a, framing, connections, threads)?;
        Ok(RunPlan {
            target,
            load,
            request,
            mix_file,
            slo: a.slo.clone().unwrap_or_default(),
            abort_after: a.abort_on_fail.then_some(a.abort_delay),
            ports: crate::result::PortFacts {
                ports: limits.ports(),
                tw_reuse: limits.tcp_tw_reuse,
                tw_reuse_delay_ms: limits.tcp_tw_reuse_delay_ms,
                sources: a.req.source.as_ref().map_or(0, |s| s.0.len()),
            },
            outputs,
            tls,
            part: None,
            start_at: a.dist.start_at,
            coordination: a.dist.coordination(),
        })
    }

    /// The plan's hash (over what `aim` sends): what every segment of the run agrees on.
    pub(super) fn hash(&self, aim: &Aim) -> [u8; 32] {
        let label = match &self.target {
            Target::Given { label, .. } => label.as_str(),
            Target::Embedded { .. } => "",
        };
        let mix = aim.mix.as_ref().map(|m| format!("{m:?}"));
        crate::run_id::plan_hash(label, &self.load, &aim.request, mix.as_deref())
    }

    /// `--segment`: this process's part of the run, identified by the plan's hash
    /// (over what `aim` sends) and `nonce` (the coordinator's or `--start-at`'s).
    pub(super) fn part(&self, aim: &Aim, nonce: Option<String>) -> Option<crate::split::Part> {
        let segment = self.load.segment?;
        let hash = self.hash(aim);
        Some(crate::split::Part {
            segment,
            run: crate::run_id::RunId::new(hash, nonce),
            whole: Load {
                segment: None,
                ..self.load.clone()
            },
            skew: None,
        })
    }
}

/// Every output file staged, `--result` with the report's.
fn outputs(a: &RunArgs) -> Result<Outputs, Error> {
    let mut outputs = Outputs::stage(&a.out)?;
    outputs.stage_result(a.dist.result.as_deref())?;
    Ok(outputs)
}

/// `--segment I/N`: every segment must have a connection (and with `-n` a request),
/// and a target that is the same for all of them (N embedded servers would be N runs).
fn check_segment(a: &RunArgs, connections: usize, embedded: bool) -> Result<(), Error> {
    let Some(seg) = a.dist.segment else {
        return Ok(());
    };
    if embedded {
        return Err(Error::Usage(format!(
            "--segment {seg}: needs a TARGET (each segment would measure an embedded \
             server of its own)"
        )));
    }
    let n = seg.count;
    if a.abort_on_fail {
        return Err(Error::Usage(format!(
            "--segment {seg} with --abort-on-fail: a segment would judge its share \
             alone; the merge judges --slo once, on the whole run"
        )));
    }
    if connections < n {
        return Err(Error::Usage(format!(
            "--segment {seg}: {connections} connection(s) over {n} segments leaves a \
             segment without one; give -c {n} or more"
        )));
    }
    if a.requests.is_some_and(|r| r < n as u64) {
        return Err(Error::Usage(format!(
            "--segment {seg}: -n below {n} leaves a segment without a request"
        )));
    }
    Ok(())
}

/// `-c`; with closed-loop stages as many connections as their peak target.
fn connections(a: &RunArgs) -> usize {
    match &a.stages {
        Some(s) if a.closed => {
            s.0.iter()
                .map(|&(_, t)| t.ceil() as usize)
                .max()
                .unwrap_or(1)
                .max(1)
        }
        _ => a.connections,
    }
}

/// The load `a` asks for, over `connections` on `threads`, replies framed by `framing`.
fn load(a: &RunArgs, framing: Framing, connections: usize, threads: usize) -> Result<Load, Error> {
    let stages = a
        .stages
        .as_ref()
        .map(|s| std::sync::Arc::new(crate::schedule::Profile::new(&s.0)));
    let (rate, duration) = match &stages {
        Some(p) => stages_rate_and_duration(p, a.warmup.unwrap_or(Duration::ZERO), a.closed)?,
        None => (a.rate, duration(a)),
    };
    Ok(Load {
        connections,
        max_connections: a.max_connections,
        threads,
        connect_rate: a.req.connect_rate,
        rate,
        duration,
        warmup: a
            .warmup
            .unwrap_or(if a.requests.is_some() || stages.is_some() {
                Duration::ZERO
            } else {
                DEFAULT_WARMUP
            }),
        framing,
        per_conn: a.req.per_conn,
        requests: a.requests,
        pipeline: a.req.pipeline,
        stages,
        stages_closed: a.closed,
        timeout: nonzero(a.req.timeout),
        connect_timeout: a.req.connect_timeout,
        sources: a
            .req
            .source
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default(),
        nodelay: !a.req.no_nodelay,
        segment: a.dist.segment,
    })
}

/// With stages the warm-up is their first part, so it must leave some to measure: what
/// is measured is the rest, at the rest's mean rate (open loop; none in closed loop).
fn stages_rate_and_duration(
    p: &crate::schedule::Profile,
    warmup: Duration,
    closed: bool,
) -> Result<(Option<f64>, Duration), Error> {
    if warmup.as_secs_f64() >= p.duration() {
        return Err(Error::Usage(format!(
            "--warmup {} is as long as the stages ({}): nothing would be measured",
            crate::fmt::fmt_secs(warmup),
            crate::fmt::fmt_secs(Duration::from_secs_f64(p.duration()))
        )));
    }
    let w = warmup.as_secs_f64();
    let rate = (!closed).then(|| (p.total() - p.integral(w)) / (p.duration() - w).max(1e-9));
    let duration = Duration::from_secs_f64(p.duration()).saturating_sub(warmup);
    Ok((rate, duration))
}

/// `-d` when given; else 10 s, or with `-n` the cap of a run that ends by its count.
fn duration(a: &RunArgs) -> Duration {
    a.duration.unwrap_or(if a.requests.is_some() {
        MAX_N_DURATION
    } else {
        DEFAULT_DURATION
    })
}

/// How long a run measures without `-d` or `-n`.
pub(super) const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The warm-up without `--warmup` (none with `-n`: every request counts, as ab).
pub(super) const DEFAULT_WARMUP: Duration = Duration::from_secs(1);
/// The most a `-n` run without `-d` may take (k6's default maxDuration): a server that
/// stops answering cannot hold it for ever.
pub(super) const MAX_N_DURATION: Duration = Duration::from_secs(600);

/// The numbers clap takes as given but a run cannot: none connections, no time, a
/// rate that is not a positive number, a connection closed before its first request.
fn check_numbers(a: &RunArgs) -> Result<(), Error> {
    if a.connections == 0 {
        return Err(Error::Usage("--connections must be at least 1".into()));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(Error::Usage("--duration must be more than 0".into()));
    }
    if a.stages.is_some() {
        for (flag, given) in [
            ("--rate", a.rate.is_some()),
            ("--duration", a.duration.is_some()),
            ("--requests", a.requests.is_some()),
        ] {
            if given {
                return Err(Error::Usage(format!(
                    "{flag} with --stages: the stages set the rate and the duration"
                )));
            }
        }
    }
    if a.requests == Some(0) {
        return Err(Error::Usage("--requests must be at least 1".into()));
    }
    if !(1..=crate::schedule::MAX_DEPTH).contains(&a.req.pipeline) {
        return Err(Error::Usage(format!(
            "--pipeline must be from 1 to {}, not {}",
            crate::schedule::MAX_DEPTH,
            a.req.pipeline
        )));
    }
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--rate must be a positive number, not {r}"
            )));
        }
    }
    if let Some(r) = a.req.connect_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--connect-rate must be a positive number, not {r}"
            )));
        }
    }
    if a.req.per_conn == Some(0) {
        return Err(Error::Usage("--per-conn must be at least 1".into()));
    }
    if let Some(m) = a.max_connections {
        let open_loop = a.rate.is_some() || (a.stages.is_some() && !a.closed);
        if !open_loop {
            return Err(Error::Usage(
                "--max-connections adds connections to an open-loop run (-R or --stages); \
                 in closed loop -c is the connections (or --stages ... --closed their targets)"
                    .into(),
            ));
        }
        if m < a.connections {
            return Err(Error::Usage(format!(
                "--max-connections {m} is below -c {}: -c is the connections at the start",
                a.connections
            )));
        }
    }
    Ok(())
}

/// Worker threads: `--threads` as given (at least 1), else one per core, leaving one
/// core to the embedded server when it runs in this process.
fn threads(flag: Option<usize>, embedded: bool, cores: usize) -> Result<usize, Error> {
    let threads = flag.unwrap_or(if embedded {
        cores.saturating_sub(1).max(1)
    } else {
        cores
    });
    if threads == 0 {
        return Err(Error::Usage("--threads must be at least 1".into()));
    }
    Ok(threads)
}

/// Raise the fd limit: every connection is a descriptor. Then refuse, before anything
/// starts, connections that cannot all have one (see [`fd_room::check_fds`]).
fn check_fd_room(
    connections: usize,
    threads: usize,
    embedded: bool,
) -> Result<readyloop::limits::Report, Error> {
    let limits = readyloop::limits::Report::read();
    if let Some(free) = limits.fd_room() {
        let room = fd_room::FdRoom {
            free,
            soft: limits.nofile_soft,
            hard: limits.nofile_hard,
        };
        fd_room::check_fds(connections, threads, embedded, room).map_err(Error::Usage)?;
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::super::args::{Cli, Cmd};
    use super::super::request_bytes::HttpParts;
    use super::*;
    use clap::Parser;
    use std::net::SocketAddr;

    /// `loadgen ARGS...` as clap parses it (no process, nothing run), with or without
    /// the `run` subcommand.
    fn args(argv: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(std::iter::once("loadgen").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        match cli.cmd {
            Some(Cmd::Run(a)) => a,
            None => cli.run,
            Some(other) => panic!("{argv:?}: not run: {other:?}"),
        }
    }

    /// Review of issue 16: each search step's threads are the asked threads for that
    /// step's connections; a step of 1 connection made every later step run on 1.
    #[test]
    fn test_search_steps_keep_the_threads_asked() {
        let mut p = plan(&["127.0.0.1:1", "-t", "2", "-R", "100"]);
        p.set_step(100.0, 1).unwrap();
        assert_eq!(p.load.threads(), 1, "one connection, one worker");
        p.set_step(20_000.0, 100).unwrap();
        assert_eq!(
            p.load.threads(),
            2,
            "-t 2 again once there are connections for it"
        );
    }

    fn plan(argv: &[&str]) -> RunPlan {
        RunPlan::from_args(args(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    /// The usage error of `argv`, or a panic if it is accepted or fails otherwise.
    fn refused(argv: &[&str]) -> String {
        match RunPlan::from_args(args(argv)) {
            Err(Error::Usage(m)) => m,
            Err(e) => panic!("{argv:?}: not a usage error: {e}"),
            Ok(p) => panic!("{argv:?}: accepted: {p:?}"),
        }
    }

    #[test]
    fn test_request_that_does_not_split_into_whole_requests_refused() {
        let e = refused(&["--request", "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /"]);
        assert_eq!(e, "--request: the request ends inside an HTTP head");
        let e = refused(&[
            "127.0.0.1:6379",
            "--proto",
            "resp",
            "--request",
            "*2\\r\\n$4\\r\\nPING\\r\\n",
        ]);
        assert!(
            e.starts_with("--request: the request ends inside a RESP command"),
            "{e}"
        );
        // Two whole requests are a pipeline, accepted.
        plan(&[
            "127.0.0.1:1",
            "--request",
            "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nHEAD / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
        ]);
    }

    #[test]
    fn test_smaller_ones_refused_or_made_true() {
        // --size 0 used to send 1 byte.
        assert!(refused(&["127.0.0.1:1", "--proto", "echo", "--size", "0"])
            .starts_with("--size must be at least 1"));
        // fixed:N: the payload is N bytes (it was --size's 64, waiting forever for
        // fixed:4 with --size 0); another --size is refused.
        let p = plan(&["127.0.0.1:1", "--proto", "fixed:4"]);
        assert_eq!(p.request, Request::Bytes(b"abcd".to_vec()));
        assert!(
            refused(&["127.0.0.1:1", "--proto", "fixed:4", "--size", "8"])
                .contains("differs from --proto fixed:4")
        );
        plan(&["127.0.0.1:1", "--proto", "fixed:4", "--size", "4"]);
        // --body, --header, --size with the exact bytes were silently dropped.
        let e = refused(&[
            "127.0.0.1:1",
            "--request",
            "GET / HTTP/1.1\\r\\n\\r\\n",
            "--body",
            "x",
        ]);
        assert!(
            e.starts_with("--body builds a request, but --request gives the exact bytes"),
            "{e}"
        );
        assert!(refused(&[
            "127.0.0.1:1",
            "--request",
            "x\\n",
            "--proto",
            "line",
            "-H",
            "A: b"
        ])
        .starts_with("--header"));
        // --plot x.png wrote SVG into a .png.
        let png = std::env::temp_dir().join("loadgen-plan-test.png");
        let e = refused(&["127.0.0.1:1", "--plot", png.to_str().unwrap()]);
        assert!(
            e.ends_with("the plot is SVG; give a file name ending in .svg"),
            "{e}"
        );
        assert!(!png.exists());
        // -c 1 -t 4 reported 4 threads: workers never outnumber connections.
        assert_eq!(
            plan(&["127.0.0.1:1", "-c", "1", "-t", "4"]).load.threads(),
            1
        );
    }

    #[test]
    fn test_bad_rates_refused() {
        assert_eq!(
            refused(&["-R", "0"]),
            "--rate must be a positive number, not 0"
        );
        // Not numbers at all: clap's parser refuses them (one line, exit 2).
        for bad in [
            &["run", "--rate=-5"][..],
            &["-R", "inf"],
            &["--connect-rate", "NaN"],
        ] {
            let e = not_parsed(bad);
            assert!(e.contains("invalid number"), "{bad:?}: {e}");
        }
    }

    /// The clap error of `argv` (refused before any plan).
    fn not_parsed(argv: &[&str]) -> String {
        match Cli::try_parse_from(std::iter::once("loadgen").chain(argv.iter().copied())) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{argv:?}: parsed: {c:?}"),
        }
    }

    #[test]
    fn test_counts_and_rates_take_k_and_m() {
        let p = plan(&["-c", "1k", "-R", "12.5k", "-n", "2M", "-t", "1"]);
        assert_eq!(p.load.connections, 1000);
        assert_eq!(p.load.rate, Some(12_500.0));
        assert_eq!(p.load.requests, Some(2_000_000));
        let e = not_parsed(&["-c", "1K"]);
        assert!(e.contains("K means 1,024"), "{e}");
        assert_eq!(
            plan(&["-d", "1m30s"]).load.duration,
            Duration::from_secs(90)
        );
    }

    #[test]
    fn test_requests_and_pipeline_checked() {
        // -n: no warm-up unless asked; the duration becomes the cap.
        let p = plan(&["-n", "500"]);
        assert_eq!(
            (p.load.requests, p.load.warmup),
            (Some(500), Duration::ZERO)
        );
        assert_eq!(p.load.duration, MAX_N_DURATION);
        let p = plan(&["-n", "500", "-d", "3s", "--warmup", "1s"]);
        assert_eq!(
            (p.load.duration, p.load.warmup),
            (Duration::from_secs(3), Duration::from_secs(1))
        );
        let p = plan(&[]);
        assert_eq!(
            (p.load.duration, p.load.warmup),
            (DEFAULT_DURATION, DEFAULT_WARMUP)
        );
        assert_eq!(refused(&["-n", "0"]), "--requests must be at least 1");
        assert_eq!(plan(&["--pipeline", "16"]).load.pipeline, 16);
        assert_eq!(
            refused(&["--pipeline", "0"]),
            "--pipeline must be from 1 to 64, not 0"
        );
        assert_eq!(
            refused(&["--pipeline", "65"]),
            "--pipeline must be from 1 to 64, not 65"
        );
        // A --request of 2 lines: 2 x 40 replies in flight is more than the framer holds;
        // -n must count whole writes.
        let two = ["127.0.0.1:9", "--proto", "line", "--request", "a\\nb\\n"];
        let e = refused(&[&two[..], &["--pipeline", "40"]].concat());
        assert!(e.contains("that is 80 in flight, at most 64"), "{e}");
        let e = refused(&[&two[..], &["-n", "3"]].concat());
        assert!(e.contains("-n must be a multiple of 2"), "{e}");
        assert_eq!(
            plan(&[&two[..], &["-n", "4", "--pipeline", "32"]].concat())
                .load
                .requests,
            Some(4)
        );
    }

    /// The stages' warm-up is their first part: the measurement is the rest, at the
    /// rest's mean rate (it was the whole sum, measured past the stages' end at 0/s).
    #[test]
    fn test_stages_warmup_is_their_first_part() {
        let p = plan(&["--stages", "1s:100,1s:100"]);
        assert_eq!(
            (p.load.warmup, p.load.duration),
            (Duration::ZERO, Duration::from_secs(2))
        );
        assert_eq!(p.load.rate, Some(75.0));
        let p = plan(&["--stages", "1s:100,1s:100", "--warmup", "500ms"]);
        assert_eq!(p.load.duration, Duration::from_millis(1500));
        // 37.5 requests in the last half of the ramp and 100 in the hold, over 1.5 s.
        let rate = p.load.rate.unwrap();
        assert!((rate - (37.5 + 100.0) / 1.5).abs() < 1e-9, "{rate}");
        let e = refused(&["--stages", "1s:100", "--warmup", "1s"]);
        assert!(e.contains("nothing would be measured"), "{e}");
    }

    #[test]
    fn test_zero_counts_refused() {
        assert_eq!(
            refused(&["--per-conn", "0"]),
            "--per-conn must be at least 1"
        );
        assert_eq!(refused(&["-c", "0"]), "--connections must be at least 1");
        assert_eq!(refused(&["-d", "0"]), "--duration must be more than 0");
        assert_eq!(refused(&["-t", "0"]), "--threads must be at least 1");
    }

    #[test]
    fn test_first_fault_is_the_one_reported() {
        // -c is checked before --per-conn, the numbers before the framing.
        assert_eq!(
            refused(&["-c", "0", "--per-conn", "0"]),
            "--connections must be at least 1"
        );
        assert_eq!(
            refused(&["--per-conn", "0", "--proto", "nonsense"]),
            "--per-conn must be at least 1"
        );
    }

    #[test]
    fn test_url_is_for_http_only() {
        assert_eq!(
            refused(&["http://127.0.0.1:8080/", "--proto", "echo"]),
            "http://127.0.0.1:8080/: a URL is for --proto http; give HOST:PORT for --proto echo"
        );
    }

    #[test]
    fn test_resp_needs_a_target_and_a_request() {
        assert!(refused(&["--proto", "resp"]).contains("needs a TARGET"));
        assert!(refused(&["127.0.0.1:6379", "--proto", "resp"]).contains("needs --request"));
    }

    #[test]
    fn test_default_threads_leave_a_core_to_the_embedded_server() {
        assert_eq!(threads(None, true, 4).unwrap(), 3);
        assert_eq!(threads(None, true, 1).unwrap(), 1);
        assert_eq!(threads(None, false, 4).unwrap(), 4);
        assert_eq!(threads(Some(7), true, 4).unwrap(), 7);
    }

    #[test]
    fn test_url_target_builds_its_http_request() {
        let p = plan(&[
            "http://127.0.0.1:8080/x?y=1",
            "-c",
            "2",
            "-t",
            "1",
            "-R",
            "100",
        ]);
        assert_eq!(
            p.target,
            Target::Given {
                addrs: "127.0.0.1:8080".parse::<SocketAddr>().unwrap().into(),
                host: "127.0.0.1".into(),
                port: 8080,
                via: None,
                label: "http://127.0.0.1:8080/x?y=1".into(),
                host_header: "127.0.0.1:8080".into(),
                path: "/x?y=1".into(),
                tls: false,
            }
        );
        assert_eq!(
            p.request,
            Request::Bytes(b"GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".to_vec())
        );
        assert!(!p.request.is_head(&p.load.framing));
        assert_eq!(
            (p.load.connections, p.load.threads(), p.load.rate),
            (2, 1, Some(100.0))
        );
        assert_eq!(
            p.load.timeout,
            Some(Duration::from_secs(2)),
            "the default, as wrk"
        );
        let p = plan(&["127.0.0.1:1", "--proto", "echo", "--timeout", "0"]);
        assert_eq!(p.load.timeout, None, "--timeout 0 disables it");
        assert!(p.load.nodelay);
    }

    /// Issue 17, item 5: --connect-to sends the connections elsewhere; the URL's host
    /// stays in Host and is the aim's server name.
    #[test]
    fn test_connect_to_routes_the_connections_and_keeps_the_host() {
        let p = plan(&[
            "http://api.example:80/x",
            "--connect-to",
            "other.example:80:127.0.0.9:1",
            "--connect-to",
            "api.example::[::1]:8080",
        ]);
        let Target::Given { addrs, via, .. } = &p.target else {
            panic!("{:?}", p.target);
        };
        let to: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(addrs.as_slice(), [to], "the first rule that matches");
        assert_eq!(via.as_deref(), Some("api.example::[::1]:8080"));
        let aim = p.aim(addrs.clone()).unwrap();
        assert_eq!(
            aim.request,
            b"GET /x HTTP/1.1\r\nHost: api.example:80\r\n\r\n"
        );
        assert_eq!(
            (aim.addr_for(1), aim.server_name.as_str()),
            (to, "api.example")
        );
    }

    #[test]
    fn test_connect_to_refusals_are_usage_errors() {
        let e = refused(&[
            "http://a.example/",
            "--connect-to",
            "a.example:80:127.0.0.1",
        ]);
        assert!(
            e.starts_with("--connect-to \"a.example:80:127.0.0.1\": missing ':'"),
            "{e}"
        );
        let e = refused(&[
            "http://a.example/",
            "--connect-to",
            "b.example:80:127.0.0.1:1",
        ]);
        assert!(e.contains("no rule matches the target a.example:80"), "{e}");
        let e = refused(&["--connect-to", "::127.0.0.1:1"]);
        assert!(e.contains("--connect-to is for a TARGET"), "{e}");
    }

    #[test]
    fn test_the_transport_is_part_of_the_address() {
        let p = plan(&["https://127.0.0.1:8443/", "-k"]);
        let t = p.tls.as_ref().expect("https plans TLS");
        assert!(!t.verified, "--insecure");
        assert_eq!(t.server_name.to_str(), "127.0.0.1");
        assert_eq!(t.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let p = plan(&[
            "https://example.org/",
            "--connect-to",
            "::127.0.0.1:8443",
            "-k",
            "--sni",
            "other.test",
            "--no-resume",
        ]);
        let t = p.tls.as_ref().expect("TLS");
        assert_eq!(
            (t.server_name.to_str().as_ref(), t.resume),
            ("other.test", false)
        );
        // tls:// is any framing over TLS, without ALPN.
        let p = plan(&[
            "tls://127.0.0.1:6380",
            "--proto",
            "resp",
            "--request",
            "PING\r\n",
            "-k",
        ]);
        let t = p.tls.as_ref().expect("tls:// plans TLS");
        assert!(t.config.alpn_protocols.is_empty());
        assert!(plan(&["http://127.0.0.1:8080/"]).tls.is_none());
    }

    #[test]
    fn test_tls_flags_for_a_plain_target_are_refused() {
        for flags in [
            &["-k"][..],
            &["--cacert", "ca.pem"],
            &["--no-resume"],
            &["--sni", "a"],
        ] {
            let mut args = vec!["http://127.0.0.1:8080/"];
            args.extend_from_slice(flags);
            let e = refused(&args);
            assert!(
                e.contains("are for an https:// or tls:// target"),
                "{flags:?}: {e}"
            );
        }
        let e = refused(&["https://127.0.0.1:8443/", "--cacert", "/nonexistent/ca.pem"]);
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn test_embedded_http_request_waits_for_the_address() {
        let p = plan(&["-m", "HEAD", "-H", "X-A: 1", "--no-nodelay"]);
        assert_eq!(
            p.target,
            Target::Embedded {
                proto: readyloop::server::ProtoKind::Http
            }
        );
        assert_eq!(
            p.request,
            Request::HttpToEmbedded(HttpParts {
                method: "HEAD".into(),
                path: "/".into(),
                headers: vec!["X-A: 1".into()],
                body: Vec::new(),
            })
        );
        assert!(p.request.is_head(&p.load.framing));
        assert!(!p.load.nodelay);
        let bytes = p
            .request
            .into_built(&p.target, "127.0.0.1:4000".parse().unwrap())
            .unwrap()
            .0;
        assert_eq!(
            bytes,
            b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nX-A: 1\r\n\r\n".to_vec()
        );
        // A bad header is refused now, not once the server listens.
        assert!(refused(&["-H", "NoColon"]).contains("has no ':'"));
    }

    #[test]
    fn test_echo_payload_and_exact_request() {
        let p = plan(&["127.0.0.1:9", "--proto", "line", "--size", "4"]);
        assert_eq!(p.request, Request::Bytes(b"abc\n".to_vec()));
        let p = plan(&["127.0.0.1:9", "--proto", "echo", "--request", "a\\x00b"]);
        assert_eq!(p.request, Request::Bytes(b"a\0b".to_vec()));
        assert!(refused(&["127.0.0.1:9", "--proto", "echo", "--request", ""]).contains("empty"));
    }
}
