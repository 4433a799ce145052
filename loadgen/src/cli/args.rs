//! The flags: the clap structs of every subcommand, and nothing else.
//!
//! What a user may type, its defaults and its help live here apart from what is done
//! with them, so that the help can be read (and changed) in one place and the checks
//! that clap cannot make are plain code over these values (`run_plan.rs` for `run`).
//! The doc comments here are the help texts: `loadgen --help` prints them.

use clap::{Args, Parser, Subcommand};
use readyloop::units::{parse_count, parse_count_usize, parse_duration, parse_rate, parse_size};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A load generator on the readyloop reactor: honest latency (open loop with
/// coordinated-omission correction, as wrk2), any simple TCP protocol.
///
/// With no TARGET it starts an embedded readyloop server on 127.0.0.1 and measures that,
/// so `loadgen` alone shows the whole thing.
///
/// Examples:
///   loadgen                                          # embedded server, HTTP, 10 s
///   loadgen http://127.0.0.1:8080/ -c 100 -d 30s     # closed loop against a server
///   loadgen http://127.0.0.1:8080/ -R 20k -c 50      # open loop at 20,000 req/s, corrected
///   loadgen http://127.0.0.1:8080/ -n 100k           # exactly 100,000 requests, then stop
///   loadgen http://127.0.0.1:8080/ --pipeline 16     # 16 requests in flight per connection
///   loadgen http://127.0.0.1:8080/ --targets mix.txt # a request mix, statuses and latency per entry
///   loadgen http://[::1]:8080/ -d 1m30s              # IPv6; durations us ms s m h, 1m30s
///   loadgen 127.0.0.1:6379 --proto resp --request 'PING\r\n'
///   loadgen 127.0.0.1:9000 --proto echo --size 1K --per-conn 1   # new connection per request
///   loadgen https://127.0.0.1:8443/ --cacert ca.pem  # HTTPS; -k/--insecure skips verification
///   loadgen https://localhost:8443/ --per-conn 1 --no-resume     # a full handshake per request
///   loadgen tls://127.0.0.1:6380 --proto resp --request 'PING\r\n' -k  # Redis over TLS
///   loadgen -R 10k --slo 'p99<5ms,errors<0.1%'       # thresholds: exit 99 when one fails
///   loadgen --json - --hgrm lat.hgrm --log lat.hlog --plot lat.svg
///   loadgen run --args-file run.args                 # arguments from a file, one a line
///
/// Numbers: counts and rates take k = 1,000 and M = 1,000,000 (-c 1k, -R 12.5k, -n 2M);
/// byte sizes take K = KiB = 1,024 (--size 4K). Exit codes: 0 ran, 1 nothing measured or
/// could not run, 2 usage, 3 a search's answer not confirmed, 4 a segment missing,
/// 99 thresholds failed, 128+N interrupted by signal N.
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) cmd: Option<Cmd>,
    #[command(flatten)]
    pub(super) run: RunArgs,
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub(super) enum Cmd {
    /// Generate load and report latency (the default command)
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Open connections until a limit stops it, hold them, and name that limit
    ///
    /// Examples:
    ///   loadgen probe                        # embedded echo server in its own process
    ///   loadgen probe --verify               # ... and every held connection echoes a byte
    ///   loadgen probe 127.0.0.1:7878 --server-stats 127.0.0.1:7879 --verify --proto http
    ///                                        # readyloop (HTTP) run with --admin 127.0.0.1:7879
    ///   loadgen probe 127.0.0.1:9000 --source 127.0.0.1-127.0.0.8 --procs 2 --hold 5s --verify
    ///   loadgen probe --max 10k --connect-rate 2k --json probe.json
    ///   loadgen probe tls://127.0.0.1:8443 --cacert ca.pem --max 10k --server-stats 127.0.0.1:7879
    ///                                        # held over TLS (readyloop --listen tls://...):
    ///                                        # handshakes, memory per held TLS connection
    #[command(verbatim_doc_comment)]
    Probe(ProbeArgs),
    /// The highest open-loop rate that meets an SLO: steps at rising rates, then bisection
    ///
    /// Each step runs open loop at one rate (--warmup, default 2s, then --step), with
    /// enough connections for rate x the SLO's latency limit; it passes when the SLO holds,
    /// at least 99% of the offered rate was achieved and the generator kept its schedule.
    /// The rate doubles from --start until a step fails, then the gap is halved until it
    /// is within --precision; a last step confirms the answer. A step where the generator
    /// fell behind its own schedule says nothing about the server: it is run again (twice
    /// at most), then the search stops there.
    ///
    /// Exit codes: 0 an answer confirmed; 99 no rate met the SLO; 3 the search stopped
    /// before its answer was confirmed (the generator fell behind, or --max-steps ran
    /// out): its last line says what to change.
    ///
    /// Examples:
    ///   loadgen search http://127.0.0.1:8080/ --slo 'p99<5ms'
    ///   loadgen search http://127.0.0.1:8080/ --slo 'p99<20ms,errors<0.1%' --start 1k --step 5s
    ///   loadgen search 127.0.0.1:6379 --proto resp --request 'PING\r\n' --slo 'p99.9<2ms' --json s.json --plot s.svg
    #[command(verbatim_doc_comment)]
    Search(SearchArgs),
    /// Every limit that caps connections here: value, source, how to raise it
    ///
    /// Examples:
    ///   loadgen limits                 # a table: descriptors, ports, backlog, TIME_WAIT
    ///   loadgen limits --json | jq .   # the same as JSON
    #[command(verbatim_doc_comment)]
    Limits {
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// (internal) the embedded server of `probe`, in its own process
    #[command(name = "__serve", hide = true)]
    Serve {
        /// Listen address
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Connection cap
        #[arg(long)]
        max_conns: Option<usize>,
        /// Admin listener address
        #[arg(long, default_value = "127.0.0.1:0")]
        admin: SocketAddr,
        /// SO_REUSEPORT on the listener: several of these serve one port (a probe
        /// past one process's descriptor limit)
        #[arg(long)]
        reuseport: bool,
        /// Serve HTTP instead of echo (a stand-in host's server in the distributed
        /// tests, whose request count the admin listener gives)
        #[arg(long)]
        http: bool,
    },
    /// Compare saved runs: JSON reports (--json) and interval logs (--log)
    ///
    /// FILES are JSON reports (`loadgen --json FILE`) or HdrHistogram interval logs
    /// (`loadgen --log FILE`); an interval log has latencies only (no errors, and its
    /// throughput is latencies per second of the logged span).
    ///
    /// With --vs, each metric is compared: the median of each side, B/A, and with two or
    /// more runs on each side a difference is flagged only when the sides' ranges (min to
    /// max) do not overlap ("within noise" otherwise); with one run on a side the spread is
    /// unknown and the report says so.
    ///
    /// Examples:
    ///   loadgen report run1.json run2.json run3.hlog
    ///   loadgen report before-*.json --vs after-*.json
    ///   loadgen report a.json --vs b.json --html compare.html --plot compare.svg --plot-log
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Merge the results of a run's segments into the run's report, judged once
    ///
    /// FILES are the --result files of `loadgen run --segment I/N` (one run's, each
    /// segment once; a missing one is named and the exit code is 4). Histograms are
    /// added bucket for bucket, never percentiles averaged; the books, errors, statuses
    /// and mix entries summed; the seconds added from the common start. --slo is judged
    /// on the merge.
    ///
    /// Examples:
    ///   loadgen merge seg-*.json
    ///   loadgen merge seg-0.json seg-1.json seg-2.json --slo 'p99<5ms' --html run.html
    ///   loadgen merge a.hlog b.hlog --units ms --slo 'p99<20ms'   # other HdrHistogram tools' logs
    ///
    /// Exit codes: 0 merged; 1 nothing measured; 2 usage, or files that are not one run's;
    /// 4 a segment missing; 99 a threshold failed.
    #[command(verbatim_doc_comment)]
    Merge(MergeArgs),
}

/// `loadgen merge`: the segments' files, the thresholds, the report's files.
#[derive(Args, Debug, Clone)]
pub(super) struct MergeArgs {
    /// The segments' --result files (or, with --units, interval logs)
    #[arg(required = true, value_name = "FILES")]
    pub(super) files: Vec<PathBuf>,

    /// Thresholds judged on the merge, as run's --slo
    #[arg(long, value_name = "LIST", value_parser = crate::slo::Slo::parse)]
    pub(super) slo: Option<crate::slo::Slo>,

    /// FILES are HdrHistogram interval logs of another tool (Java's, Python's...), whose
    /// values are in this unit: ns, us, ms or s (a log carries none). They merge into
    /// microseconds; they carry no run identity, errors or statuses
    #[arg(long, value_name = "UNIT", value_parser = parse_units)]
    pub(super) units: Option<f64>,

    // The report's files, as run's.
    #[command(flatten)]
    pub(super) out: OutputArgs,
}

/// Examples of `loadgen run` (the same flags work without `run`).
const RUN_EXAMPLES: &str = "Examples:
  loadgen run http://127.0.0.1:8080/ -c 100 -d 30s        # closed loop
  loadgen run http://127.0.0.1:8080/ -R 20k -c 50         # open loop at 20,000 req/s
  loadgen run http://127.0.0.1:8080/ -n 100k --pipeline 16
  loadgen run -R 10k --slo 'p99<5ms,errors<0.1%' --abort-on-fail
  loadgen run 127.0.0.1:6379 --proto resp --request 'PING\\r\\n'
  loadgen run http://api.example/ --connect-to ::127.0.0.1:8080   # Host: api.example:80
  loadgen run https://api.example/ --connect-to ::127.0.0.1:8443 --cacert ca.pem  # SNI api.example
  loadgen run --args-file run.args                        # arguments from a file, one a line

Numbers: k = 1,000 and M = 1,000,000 for counts and rates; K = KiB = 1,024 for sizes.
Durations: us, ms, s, m, h, and compounds such as 1m30s.";

/// `loadgen search`: its own flags and the target, request and protocol flags it
/// shares with `run` ([`RequestArgs`]); a flag of `run` that search does not use is
/// not taken at all (clap's usage error), since each step sets it.
#[derive(Args, Debug, Clone)]
pub(super) struct SearchArgs {
    /// The thresholds each step must meet, as run's --slo: 'p99<5ms,errors<0.1%'
    /// (the metrics are in `loadgen run --help`)
    #[arg(long, value_name = "LIST", value_parser = crate::slo::Slo::parse)]
    pub(super) slo: crate::slo::Slo,

    /// Measured time of each step (after its --warmup)
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) step: Duration,

    /// Run this long before each step's measurement; its results are discarded
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) warmup: Duration,

    /// Pause between steps, so one step's backlog does not reach the next
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) cooldown: Duration,

    /// The first rate tried (requests/s; 1k = 1,000)
    #[arg(long, default_value = "100", value_parser = parse_rate, value_name = "RATE")]
    pub(super) start: f64,

    /// Never try above this rate
    #[arg(long, default_value = "1M", value_parser = parse_rate, value_name = "RATE")]
    pub(super) max_rate: f64,

    /// Stop bisecting once the highest pass is within this share of the lowest failure
    #[arg(long, default_value = "2%", value_parser = parse_percent, value_name = "PCT")]
    pub(super) precision: f64,

    /// At most this many steps (the confirming one included)
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub(super) max_steps: usize,

    // The target, the request, the protocol, threads and connections, as in `run`.
    #[command(flatten)]
    pub(super) req: RequestArgs,

    /// Write the search (every step and the answer) as JSON to FILE ('-' = stdout,
    /// replacing the table)
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<String>,

    /// Plot each step's offered rate against its corrected p99 as SVG, with the SLO's
    /// p99 limit and the answer
    #[arg(long, value_name = "FILE.svg")]
    pub(super) plot: Option<PathBuf>,
    // Taken only to refuse it with a reason (clap would say "unexpected argument").
    #[arg(long, hide = true, value_name = "I/N")]
    pub(super) segment: Option<String>,
}

/// `--stages`: (duration, target rate) pairs, in order.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Stages(pub(super) Vec<(Duration, f64)>);

/// `30s:1000,1m:1k,30s:0`: (duration, target rate) pairs.
fn parse_stages(s: &str) -> Result<Stages, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (d, r) = part
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("stage '{part}': expected DURATION:RATE, e.g. 30s:1000"))?;
        let d = parse_duration(d).map_err(|e| format!("stage '{part}': {e}"))?;
        let r = parse_rate(r).map_err(|e| format!("stage '{part}': {e}"))?;
        if d.is_zero() {
            return Err(format!("stage '{part}': its duration must be more than 0"));
        }
        out.push((d, r));
    }
    if out.iter().all(|&(_, r)| r == 0.0) {
        return Err(format!(
            "--stages '{s}': every target is 0: nothing would be sent"
        ));
    }
    Ok(Stages(out))
}

/// `--units`: microseconds per unit of an interval log's values.
fn parse_units(s: &str) -> Result<f64, String> {
    match s {
        "ns" => Ok(0.001),
        "us" => Ok(1.0),
        "ms" => Ok(1_000.0),
        "s" => Ok(1_000_000.0),
        _ => Err(format!("'{s}': a unit is ns, us, ms or s")),
    }
}

/// A share written as `2%` or `0.02`, more than 0 and at most 50%.
fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid share '{s}' (expected e.g. 2% or 0.02)"))?;
    let v = v / scale;
    if !(v > 0.0 && v <= 0.5) {
        return Err(format!("'{s}' must be more than 0 and at most 50%"));
    }
    Ok(v)
}

/// `loadgen probe`: how many connections can be held, and what stops it (its help and
/// examples are on [`Cmd::Probe`], which clap shows).
#[derive(Args, Debug, Clone)]
pub(super) struct ProbeArgs {
    /// HOST:PORT of the server to hold connections to, tls://HOST:PORT or
    /// https://HOST:PORT to hold them over TLS, each after its handshake (none: an
    /// embedded echo server)
    pub(super) target: Option<String>,

    // How TLS is spoken to an https:// or tls:// target (run's flags).
    #[command(flatten)]
    pub(super) tls: super::tls_args::TlsArgs,

    /// New connections per second (all processes; 2k = 2,000), at most 1M
    #[arg(long, default_value = "5000", value_parser = parse_rate, value_name = "N")]
    pub(super) connect_rate: f64,

    /// Give up on one connect after this long (a timeout means SYNs were dropped)
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) connect_timeout: Duration,

    /// Stop after this many connections (10k = 10,000; default: until something stops it)
    #[arg(long, value_parser = parse_count, value_name = "N")]
    pub(super) max: Option<u64>,

    /// Keep the connections open this long after the ramp, counting those the server closes
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) hold: Duration,

    /// At the end, check every held connection still answers (--proto: an echo of one
    /// byte, or GET / to an HTTP server): answered, too slow to answer (by a deadline
    /// that grows with the count), or dead. Tried on one connection first: a server that
    /// does not answer it is refused before the ramp
    #[arg(long)]
    pub(super) verify: bool,

    /// What --verify speaks: echo or http [default: the protocol the server's
    /// --server-stats name, else echo]
    #[arg(long, value_name = "PROTO", requires = "verify")]
    pub(super) proto: Option<crate::probe::VerifyProto>,

    /// Source addresses of this machine, round robin: 127.0.0.1-127.0.0.8, 127.0.0.0/29
    /// or a comma list
    #[arg(long, value_name = "ADDRS", value_parser = crate::probe::parse_source_list)]
    pub(super) source: Option<crate::probe::SourceList>,

    /// Spread the connections over N processes (each has its own descriptor table)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(super) procs: usize,

    /// The server's admin address (readyloop --admin): its view before and during the hold
    #[arg(long, value_name = "ADDR")]
    pub(super) server_stats: Option<SocketAddr>,

    /// Upper bound on the ramp
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) max_time: Duration,

    /// Write the report as JSON to FILE ('-' = stdout, replacing the text)
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<String>,

    /// (internal) run as one of --procs' children
    #[arg(long, hide = true)]
    pub(super) child: bool,
}

// `loadgen run`'s flags, also the flags of plain `loadgen` (flattened into `Cli`). No
// doc comment (`///`) on purpose: clap would take it for help text, and the help of both
// commands stays as it was.
#[derive(Args, Debug, Clone)]
pub(super) struct RunArgs {
    /// Connections to keep open (1k = 1,000)
    #[arg(short = 'c', long, default_value = "50", value_parser = parse_count_usize, value_name = "N")]
    pub(super) connections: usize,

    /// How long to measure, after the warm-up: 10s, 500ms, 2m, 1m30s, 1h [default: 10s;
    /// with -n, until the N are answered, at most 10m]
    #[arg(short = 'd', long, value_parser = parse_duration, value_name = "DUR")]
    pub(super) duration: Option<Duration>,

    /// Send exactly N requests after the warm-up, then stop once they are answered
    /// (as ab and oha; 10k = 10,000); with -d too, whichever ends first
    #[arg(short = 'n', long = "requests", value_parser = parse_count, value_name = "N")]
    pub(super) requests: Option<u64>,

    /// Open loop with a rate that changes: DUR:RATE stages, each a linear ramp from the
    /// previous rate (0 at first) to RATE over DUR, as k6's stages; '30s:1k,60s:1k,30s:0'
    /// ramps up, holds, ramps down. The run lasts the stages' sum (no -R or -d)
    #[arg(long, value_parser = parse_stages, value_name = "STAGES")]
    pub(super) stages: Option<Stages>,

    /// With --stages: closed loop, the targets are connections (k6's ramping VUs):
    /// connections open as the target rises and close after their reply as it falls
    #[arg(long, requires = "stages")]
    pub(super) closed: bool,

    /// Thresholds, judged at the end; any failed one makes the exit code 99
    ///
    /// A comma list of METRIC OP VALUE, OP one of < <= > >=, as k6's thresholds:
    ///   p50 p90 p99 p99.9 pNN.N max mean
    ///           corrected latency, from the time each request fell due (a duration:
    ///           5ms, 250us); raw.p99, raw.mean... from the time it was sent
    ///   errors  (failed + unsent + error replies) / requests due after the warm-up,
    ///           as a share (0.1% or 0.001); failed includes timed out; error replies
    ///           are RESP -ERR. Requests that fell due within the run's last mean
    ///           latency and were not sent are the run's end, not errors: they are
    ///           left out (the report counts them as 'at the run's end')
    ///   non2xx  HTTP responses with a status outside 2xx/3xx / responses measured
    ///   rps     responses measured per second (10k = 10,000)
    /// Example: 'p99<5ms,p99.9<20ms,errors<0.1%,rps>10k' (docs/loadgen-thresholds.md)
    #[arg(long, value_name = "LIST", value_parser = crate::slo::Slo::parse, verbatim_doc_comment)]
    pub(super) slo: Option<crate::slo::Slo>,

    /// With --slo: judge the thresholds every second on the data so far and stop the
    /// run at the first failure (exit 99)
    #[arg(long, requires = "slo")]
    pub(super) abort_on_fail: bool,

    /// With --abort-on-fail: judge only after this much measured time
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) abort_delay: Duration,

    /// Open loop: add connections up to N when the rate times the mean latency needs
    /// more than -c (k6's maxVUs); the report says how many it took
    #[arg(long, value_parser = parse_count_usize, value_name = "N")]
    pub(super) max_connections: Option<usize>,

    /// Run this long before measuring; its results are discarded [default: 1s; 0 with -n]
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub(super) warmup: Option<Duration>,

    /// Open loop: total requests per second (10k = 10,000); latency is corrected for
    /// coordinated omission
    #[arg(short = 'R', long, value_parser = parse_rate, value_name = "N")]
    pub(super) rate: Option<f64>,

    // The target, the request, the protocol and the connections' options: shared
    // with `search`.
    #[command(flatten)]
    pub(super) req: RequestArgs,

    // The report's files: shared with `merge`.
    #[command(flatten)]
    pub(super) out: OutputArgs,

    // One run over several processes: --segment, --result.
    #[command(flatten)]
    pub(super) dist: super::segment_args::SegmentArgs,
}

// The report's files of `run` and `merge` (flattened into both). No doc comment, so
// clap keeps the help of both as the flags' own.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct OutputArgs {
    /// Write the report as JSON to FILE ('-' = stdout, replacing the text report)
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<String>,

    /// Write the corrected latency distribution as an HdrHistogram .hgrm file
    #[arg(long, value_name = "FILE")]
    pub(super) hgrm: Option<PathBuf>,

    /// Write an HdrHistogram interval log (one histogram per second)
    #[arg(long, value_name = "FILE")]
    pub(super) log: Option<PathBuf>,

    /// Plot latency by percentile (corrected and raw) as SVG
    #[arg(long, value_name = "FILE.svg")]
    pub(super) plot: Option<PathBuf>,

    // The report files of issue 10 (docs/loadgen-reports.md), kept together.
    /// --plot with a log latency axis (default linear, as HdrHistogram's plotter; the
    /// percentile axis is log either way)
    #[arg(long, requires = "plot")]
    pub(super) plot_log: bool,

    /// Write the per-second intervals as CSV: start_s, length_s, count, rps and the
    /// corrected p50/p90/p99/p99.9/max in microseconds
    #[arg(long, value_name = "FILE")]
    pub(super) csv: Option<PathBuf>,

    /// Write a self-contained HTML report: summary, latency (linear and log axis),
    /// throughput and p99 over time, errors, statuses, thresholds, command line, machine
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
}

// The flags `run` and `search` share: the target, the request, the protocol and how
// connections are made (flattened into `RunArgs` and `SearchArgs`, so both parse them
// alike and their help cannot drift apart). No doc comment, as on `RunArgs`: clap would
// take it for the help text of the commands it is flattened into.
#[derive(Args, Debug, Clone)]
pub(super) struct RequestArgs {
    /// HOST:PORT, or for --proto http a URL http://HOST:PORT/PATH or https://...;
    /// tls://HOST:PORT for any protocol over TLS (none: embedded server); a host name's
    /// addresses (A and AAAA) all take connections, round robin
    pub(super) target: Option<String>,

    // How TLS is spoken to an https:// or tls:// target.
    #[command(flatten)]
    pub(super) tls: super::tls_args::TlsArgs,

    /// Keep up to D requests in flight on each connection, answered in order (HTTP,
    /// RESP, echo, line); latency is per request
    #[arg(long, default_value_t = 1, value_name = "D")]
    pub(super) pipeline: usize,

    /// Worker threads, each with its own reactor [default: cores, or cores-1 with the embedded server]
    #[arg(short = 't', long, value_parser = parse_count_usize, value_name = "N")]
    pub(super) threads: Option<usize>,

    /// Open new connections at most this fast (per second, all threads; 1k = 1,000)
    #[arg(long, value_parser = parse_rate, value_name = "N")]
    pub(super) connect_rate: Option<f64>,

    /// Close and reopen each connection after N requests (new-connections test)
    #[arg(long, value_parser = parse_count, value_name = "N")]
    pub(super) per_conn: Option<u64>,

    /// Protocol / framing: http, echo, line, fixed:N, resp
    #[arg(long, default_value = "http", value_name = "PROTO")]
    pub(super) proto: String,

    /// Payload bytes for echo and line when no --request is given (default 64); with
    /// fixed:N the payload is N bytes
    #[arg(long, value_parser = parse_size, value_name = "BYTES")]
    pub(super) size: Option<usize>,

    /// HTTP method
    #[arg(short = 'm', long, default_value = "GET")]
    pub(super) method: String,

    /// HTTP header "Name: value" (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(super) headers: Vec<String>,

    /// HTTP request body (escapes as in --request)
    #[arg(long, value_name = "STRING")]
    pub(super) body: Option<String>,

    /// The exact request bytes, with escapes \r \n \t \0 \\ \xNN (replaces the built request)
    #[arg(long, value_name = "STRING", conflicts_with = "request_file")]
    pub(super) request: Option<String>,

    /// Read the exact request bytes from a file
    #[arg(long, value_name = "FILE")]
    pub(super) request_file: Option<PathBuf>,

    /// A mix of HTTP requests, one per entry, vegeta's format with weights:
    /// 'METHOD URL-or-PATH [weight=N]', header lines, '@FILE' for a body; latency and
    /// statuses are reported per entry (docs/loadgen-targets.md)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["request", "request_file", "body", "method", "size"])]
    pub(super) targets: Option<PathBuf>,

    /// With --targets: round-robin (in turn, weighted, the same sequence every run) or
    /// random (weighted, from --seed)
    #[arg(
        long,
        default_value = "round-robin",
        value_name = "ORDER",
        requires = "targets"
    )]
    pub(super) order: crate::mix::Order,

    /// With --order random: the seed (each thread mixes in its index; the same seed and
    /// -t give the same sequence) [default: 1]
    #[arg(long, value_name = "N", requires = "targets")]
    pub(super) seed: Option<u64>,

    /// A response not complete after this long is an error, and enters the corrected
    /// latencies at the time it waited (2s as wrk; 0 = no timeout)
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) timeout: Duration,

    /// Give up on a connect after this long
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) connect_timeout: Duration,

    /// Leave Nagle's algorithm on (TCP_NODELAY is set by default)
    #[arg(long)]
    pub(super) no_nodelay: bool,

    /// Source addresses to connect from, round robin (127.0.0.1-127.0.0.8,
    /// 127.0.0.0/29 or a comma list): every address is another range of ephemeral
    /// ports toward the target (see `loadgen limits`)
    #[arg(long, value_name = "ADDRS", value_parser = crate::probe::parse_source_list)]
    pub(super) source: Option<crate::probe::SourceList>,

    /// Connect to ADDR:PORT when the target is HOST:PORT (curl's flag, repeatable, the
    /// first match used): the URL's host still goes in Host. Empty HOST or PORT matches
    /// any; empty ADDR or PORT keeps the target's; IPv6 in brackets; a name resolves to
    /// all its addresses. E.g. --connect-to example.com:80:127.0.0.1:8080
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    pub(super) connect_to: Vec<String>,
}

/// `loadgen report`: saved runs in one table, or side A against side B (its help is
/// the doc of `Cmd::Report`).
#[derive(Args, Debug, Clone)]
pub(super) struct ReportArgs {
    /// Saved runs (side A with --vs)
    #[arg(required = true, value_name = "FILES")]
    pub(super) files: Vec<PathBuf>,

    /// Side B: the saved runs to compare with FILES
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub(super) vs: Vec<PathBuf>,

    /// Write the comparison as JSON to FILE ('-' = stdout, replacing the table)
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<String>,

    /// Plot latency by percentile of every run, one line each, as SVG
    #[arg(long, value_name = "FILE.svg")]
    pub(super) plot: Option<PathBuf>,

    /// --plot with a log latency axis
    #[arg(long, requires = "plot")]
    pub(super) plot_log: bool,

    /// Write the tables and the plot as one self-contained HTML page
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Issue 10, item 9: the help of loadgen and of every subcommand a user can see
    /// teaches by example, and says how numbers and durations are written.
    #[test]
    fn test_every_help_has_examples() {
        let mut cmd = Cli::command();
        let top = cmd.render_long_help().to_string();
        assert!(top.contains("Examples:"), "{top}");
        assert!(top.contains("k = 1,000") && top.contains("1,024"), "{top}");
        for sub in cmd.get_subcommands_mut() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let name = sub.get_name().to_string();
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Examples:"), "loadgen {name} --help:\n{help}");
            assert!(help.contains(&format!("loadgen {name}")), "{name}: {help}");
        }
    }

    /// Issue 15, item 4: `search --help` lists only the flags search uses, and a flag of
    /// `run` that search does not use is clap's usage error, not silently ignored (`-c`)
    /// or refused later in the words of another check (`--stages`).
    #[test]
    fn test_search_takes_only_the_flags_it_uses() {
        let mut cmd = Cli::command();
        let search = cmd
            .find_subcommand_mut("search")
            .expect("a search subcommand");
        let longs: Vec<String> = search
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for run_only in [
            "connections",
            "duration",
            "requests",
            "stages",
            "closed",
            "abort-on-fail",
            "abort-delay",
            "max-connections",
            "rate",
            "hgrm",
            "log",
            "plot-log",
            "csv",
            "html",
        ] {
            assert!(
                !longs.iter().any(|l| l == run_only),
                "search --help lists --{run_only}: {longs:?}"
            );
        }
        for (flag, value) in [
            ("-c", "10"),
            ("--stages", "1s:10"),
            ("--max-connections", "10"),
            ("-R", "10"),
            ("-d", "1s"),
            ("-n", "10"),
            ("--csv", "x.csv"),
        ] {
            let e = Cli::try_parse_from(["loadgen", "search", "--slo", "p99<5ms", flag, value])
                .expect_err(flag);
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{flag}: {e}"
            );
        }
    }

    /// Issue 15, item 4: the warm-up default `search --help` shows is the one each step
    /// uses (2s), not `run`'s (1s).
    #[test]
    fn test_search_help_shows_the_warmup_it_uses() {
        let mut cmd = Cli::command();
        let search = cmd
            .find_subcommand_mut("search")
            .expect("a search subcommand");
        let warmup = search
            .get_arguments()
            .find(|a| a.get_long() == Some("warmup"))
            .expect("--warmup");
        let defaults: Vec<String> = warmup
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        assert_eq!(defaults, ["2s"], "{:?}", warmup.get_long_help());
        let help = search.render_long_help().to_string();
        assert!(!help.contains("default: 1s"), "{help}");
    }
}
