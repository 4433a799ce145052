//! Advice for the report: how to move the limit that stopped the probe, with this
//! machine's values of the knobs involved (read by [`readyloop::limits::Report`]).

use super::ramp::Stop;
use readyloop::limits::Report;

/// How to move the limit that stopped the probe, with this machine's values.
pub(crate) fn how_to_raise(stop: &Stop, rep: &Report, procs: usize) -> String {
    let range = rep
        .port_range
        .map_or("unknown".to_string(), |(lo, hi)| format!("{lo}-{hi}"));
    let ports = rep.ports().map_or("unknown".to_string(), |n| n.to_string());
    match stop {
        Stop::Descriptors { errno } if errno == "ENFILE" => format!(
            "raise the system-wide limit: sysctl -w fs.file-max=N (now {}, {} in use)",
            rep.file_max.map_or("unknown".into(), |v| v.to_string()),
            rep.files_in_use.map_or("unknown".into(), |v| v.to_string())
        ),
        Stop::Descriptors { .. } => format!(
            "the soft limit is already raised to the hard limit ({}); raising the hard limit needs root \
             (ulimit -Hn N, systemd LimitNOFILE=, /etc/security/limits.conf), up to fs.nr_open ({}); \
             or spread the connections over processes: --procs {}",
            rep.nofile_hard,
            rep.nr_open.map_or("unknown".into(), |v| v.to_string()),
            procs.max(1) * 2
        ),
        Stop::Ports => format!(
            "ports run out per (source address, destination address, destination port): widen \
             net.ipv4.ip_local_port_range (now {range}, {ports} ports), add source addresses \
             (--source 127.0.0.1-127.0.0.8: all of 127.0.0.0/8 is loopback), or connect to more \
             destination ports"
        ),
        Stop::SourceNotLocal { source } => format!(
            "not a limit: --source {source} is on none of this machine's interfaces; give addresses \
             it has (ip -brief address lists them; all of 127.0.0.0/8 is loopback)"
        ),
        Stop::Refused => "start the server, or give it a larger listen backlog (listen(backlog), \
             net.core.somaxconn) and make it accept faster"
            .to_string(),
        Stop::ConnectTimeout => format!(
            "the server is not accepting: its accept queue (net.core.somaxconn = {}, \
             tcp_max_syn_backlog = {}) is full, usually because the server is at its fd limit; \
             raise the server's RLIMIT_NOFILE, or run more server processes (readyloop --reuseport)",
            rep.somaxconn.map_or("unknown".into(), |v| v.to_string()),
            rep.tcp_max_syn_backlog.map_or("unknown".into(), |v| v.to_string())
        ),
        Stop::ServerClosed => "raise the server's connection cap (readyloop --max-conns, nginx \
             worker_connections, redis maxclients) or its fd limit; or add server processes \
             (readyloop --reuseport)"
            .to_string(),
        Stop::Memory { .. } => format!(
            "raise net.ipv4.tcp_mem (pages: {}) or add RAM; measure bytes per connection with --server-stats",
            rep.tcp_mem.map_or("unknown".into(), |m| format!("{} {} {}", m[0], m[1], m[2]))
        ),
        Stop::Max => "not a limit: --max was reached".to_string(),
        Stop::TimeLimit => "not a limit: raise --max-time or --connect-rate".to_string(),
        Stop::Other { .. } => "see the errno".to_string(),
        Stop::Handshake { failure, .. } if failure == "bad_certificate" => {
            "not a limit: the server's certificate was refused; trust its CA (--cacert FILE), name \
             the server as its certificate does (--sni NAME), or --insecure to not check"
                .to_string()
        }
        Stop::Handshake { .. } => "not a limit: the server does not complete a TLS handshake with \
             these settings; check that the port speaks TLS (a plain port: drop tls:// or https://) \
             and the --tls-version, --cert and --key it needs"
            .to_string(),
        Stop::HandshakeTimeout => format!(
            "the server is not accepting, or too busy to answer handshakes: its accept queue \
             (net.core.somaxconn = {}) holds connections it never took, usually because it is at \
             its fd limit; raise the server's RLIMIT_NOFILE, run more server processes (readyloop \
             --reuseport), or give handshakes longer (--connect-timeout, --connect-rate lower)",
            rep.somaxconn.map_or("unknown".into(), |v| v.to_string()),
        ),
    }
}
