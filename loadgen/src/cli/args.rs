//! The flags: the clap structs of every subcommand, and nothing else.
//!
//! What a user may type, its defaults and its help live here apart from what is done
//! with them, so that the help can be read (and changed) in one place and the checks
//! that clap cannot make are plain code over these values (`run_plan.rs` for `run`).
//! The doc comments here are the help texts: `loadgen --help` prints them.

use clap::{Args, Parser, Subcommand};
use readyloop::units::parse_duration;
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
///   loadgen http://127.0.0.1:8080/ -R 20000 -c 50    # open loop at 20k req/s, corrected
///   loadgen 127.0.0.1:6379 --proto resp --request 'PING\r\n'
///   loadgen 127.0.0.1:9000 --proto echo --size 1024 --per-conn 1   # new connection per request
///   loadgen --json - --hgrm lat.hgrm --log lat.hlog --plot lat.svg
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
    Run(RunArgs),
    /// Open connections until a limit stops it, hold them, and name that limit
    Probe(ProbeArgs),
    /// Every limit that caps connections here: value, source, how to raise it
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
}

/// `loadgen probe`: how many connections can be held, and what stops it.
///
/// Examples:
///   loadgen probe                                   # embedded echo server in its own process
///   loadgen probe 127.0.0.1:7878 --server-stats 127.0.0.1:7879 --verify
///   loadgen probe 127.0.0.1:9000 --source 127.0.0.1-127.0.0.8 --procs 2 --hold 5s --verify
#[derive(Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
pub(super) struct ProbeArgs {
    /// HOST:PORT of the server to hold connections to (none: an embedded echo server)
    pub(super) target: Option<String>,

    /// New connections per second (all processes), at most 1000000
    #[arg(long, default_value_t = 5000.0, value_name = "N")]
    pub(super) connect_rate: f64,

    /// Give up on one connect after this long (a timeout means SYNs were dropped)
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) connect_timeout: Duration,

    /// Stop after this many connections (default: until something stops it)
    #[arg(long, value_name = "N")]
    pub(super) max: Option<u64>,

    /// Keep the connections open this long after the ramp, counting those the server closes
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) hold: Duration,

    /// At the end, check every held connection still answers (echo of one byte): answered,
    /// too slow to answer (by a deadline that grows with the count), or dead
    #[arg(long)]
    pub(super) verify: bool,

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
    /// HOST:PORT, or for --proto http a URL http://HOST:PORT/PATH (none: embedded server)
    pub(super) target: Option<String>,

    /// Connections to keep open
    #[arg(short = 'c', long, default_value_t = 50, value_name = "N")]
    pub(super) connections: usize,

    /// How long to measure (after the warm-up)
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) duration: Duration,

    /// Worker threads, each with its own reactor [default: cores, or cores-1 with the embedded server]
    #[arg(short = 't', long, value_name = "N")]
    pub(super) threads: Option<usize>,

    /// Run this long before measuring; its results are discarded
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub(super) warmup: Duration,

    /// Open new connections at most this fast (per second, all threads)
    #[arg(long, value_name = "N")]
    pub(super) connect_rate: Option<f64>,

    /// Open loop: total requests per second; latency is corrected for coordinated omission
    #[arg(short = 'R', long, value_name = "N")]
    pub(super) rate: Option<f64>,

    /// Close and reopen each connection after N requests (new-connections test)
    #[arg(long, value_name = "N")]
    pub(super) per_conn: Option<u64>,

    /// Protocol / framing: http, echo, line, fixed:N, resp
    #[arg(long, default_value = "http", value_name = "PROTO")]
    pub(super) proto: String,

    /// Payload bytes for echo and line when no --request is given (default 64); with
    /// fixed:N the payload is N bytes
    #[arg(long, value_name = "BYTES")]
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
