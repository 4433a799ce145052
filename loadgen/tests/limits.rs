//! `loadgen limits --json` values equal what /proc/sys and getrlimit say. The binary's
//! CLI wiring is tested elsewhere; here the library's JSON (`Report::read().to_json()`,
//! and `cli::limits::json` which the command prints) is compared with reads made
//! independently of `readyloop::limits`: std::fs for /proc, libc for getrlimit/sysconf.

use loadgen::cli::limits as limits_cmd;
use readyloop::limits::Report;
use serde_json::{json, Value};

/// The numbers in /proc/sys/`path`, parsed here without the library; `None` if the
/// file is absent or unreadable (a container may hide some), which the report must
/// then show as `null`.
fn proc_sys(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/sys/{path}")).ok()?;
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// A one-number sysctl as the JSON the report should hold for it.
fn scalar(path: &str) -> Value {
    match proc_sys(path).as_deref() {
        Some([n]) => json!(n),
        _ => Value::Null,
    }
}

/// getrlimit(RLIMIT_NOFILE) straight from libc: (soft, hard).
fn getrlimit_nofile() -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into a valid, owned struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    assert_eq!(rc, 0, "getrlimit(RLIMIT_NOFILE) failed");
    (rl.rlim_cur, rl.rlim_max)
}

#[test]
fn test_json_values_equal_proc_sys_and_getrlimit() {
    let j = Report::read().to_json();
    // read() raised the soft limit; getrlimit now must say exactly what the report says.
    let (soft, hard) = getrlimit_nofile();
    assert_eq!(j["nofile_soft"], json!(soft));
    assert_eq!(j["nofile_hard"], json!(hard));
    assert!(j["nofile_soft_before"].as_u64().is_some_and(|b| b <= soft));

    for (field, path) in [
        ("nr_open", "fs/nr_open"),
        ("file_max", "fs/file-max"),
        ("somaxconn", "net/core/somaxconn"),
        ("tcp_max_syn_backlog", "net/ipv4/tcp_max_syn_backlog"),
        ("tcp_tw_reuse", "net/ipv4/tcp_tw_reuse"),
        ("tcp_fin_timeout", "net/ipv4/tcp_fin_timeout"),
        ("tcp_max_tw_buckets", "net/ipv4/tcp_max_tw_buckets"),
    ] {
        assert_eq!(j[field], scalar(path), "{field} vs /proc/sys/{path}");
    }
    let range = match proc_sys("net/ipv4/ip_local_port_range").as_deref() {
        Some([lo, hi]) => json!([lo, hi]),
        _ => Value::Null,
    };
    assert_eq!(j["port_range"], range, "port_range");
    let tcp_mem = match proc_sys("net/ipv4/tcp_mem").as_deref() {
        Some(v @ [_, _, _]) => json!(v),
        _ => Value::Null,
    };
    assert_eq!(j["tcp_mem"], tcp_mem, "tcp_mem");

    // SAFETY: sysconf takes no pointers.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert_eq!(j["page_size"], json!(page));
}

/// Issue 15, item 6i: an entry's `value` is the number read, as a JSON number (numbers
/// for a range or a triple, a string only where the value is not a number), the same
/// as the report's field and /proc; the table's wording is its `text` (before: every
/// value was its text, `"20000"`, `"32768-60999 (28232 ports)"`).
#[test]
fn test_entries_show_the_same_values() {
    let r = Report::read();
    let j = r.to_json();
    let field = |name: &str, key: &str| -> Value {
        j["entries"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .map(|e| e[key].clone())
            .unwrap_or_else(|| panic!("no entry {name}"))
    };
    let entry = |name: &str| field(name, "value");
    let (soft, hard) = getrlimit_nofile();
    assert_eq!(entry("RLIMIT_NOFILE (soft)"), json!(soft));
    assert_eq!(entry("RLIMIT_NOFILE (hard)"), json!(hard));
    assert!(field("RLIMIT_NOFILE (soft)", "text")
        .as_str()
        .is_some_and(|v| v.starts_with(&soft.to_string())));
    assert_eq!(entry("open descriptors (this process)"), j["open_fds"]);
    match proc_sys("fs/nr_open").as_deref() {
        Some([n]) => assert_eq!(entry("fs.nr_open"), json!(n)),
        _ => assert!(entry("fs.nr_open").is_null(), "unreadable shows unknown"),
    }
    match proc_sys("net/ipv4/ip_local_port_range").as_deref() {
        Some([lo, hi]) => {
            assert_eq!(entry("net.ipv4.ip_local_port_range"), json!([lo, hi]));
            assert_eq!(
                field("net.ipv4.ip_local_port_range", "text"),
                json!(format!("{lo}-{hi} ({} ports)", hi - lo + 1))
            );
        }
        _ => assert!(entry("net.ipv4.ip_local_port_range").is_null()),
    }
    match proc_sys("net/core/somaxconn").as_deref() {
        Some([n]) => assert_eq!(entry("net.core.somaxconn"), json!(n)),
        _ => assert!(entry("net.core.somaxconn").is_null()),
    }
    match proc_sys("net/ipv4/tcp_mem").as_deref() {
        Some(v @ [_, _, _]) => {
            assert_eq!(entry("net.ipv4.tcp_mem"), json!(v));
            assert_eq!(field("net.ipv4.tcp_mem", "unit"), json!("pages"));
        }
        _ => assert!(entry("net.ipv4.tcp_mem").is_null()),
    }
    // No entry's value is a string of digits.
    for e in j["entries"].as_array().into_iter().flatten() {
        if let Some(v) = e["value"].as_str() {
            assert!(
                v.parse::<f64>().is_err() && !v.starts_with(|c: char| c.is_ascii_digit()),
                "{e}"
            );
        }
    }
}

#[test]
fn test_command_json_prediction_is_the_smaller_limit() {
    let r = Report::read();
    let j = limits_cmd::json(&r);
    let p = &j["prediction"];
    match (r.fd_room(), r.ports()) {
        (Some(fds), Some(ports)) => {
            let (n, by) = if fds <= ports {
                (fds, "fd limit")
            } else {
                (ports, "ephemeral ports")
            };
            assert_eq!(p["connections"], json!(n));
            assert_eq!(p["limited_by"], json!(by));
            // The room is the soft limit less what is open: below the soft limit.
            assert!(fds < r.nofile_soft);
        }
        _ => assert!(p["connections"].is_null()),
    }
    // The text report carries the same sentence.
    let t = limits_cmd::text(&r);
    if let Some(n) = p["connections"].as_u64() {
        assert!(
            t.contains(&format!("can hold about {n} connections here")),
            "{t}"
        );
    }
}
