//! `loadgen limits`: every limit on how many TCP connections this machine can hold and
//! on what UDP sockets can take (buffer sizes, UDP memory) with the kernel's UDP drop
//! counters, read now, with where it was read, what it caps and how to raise it, and the
//! ceiling predicted for one process connecting to one destination.
//!
//! Formatting is pure ([`text`], [`json`]) so it is tested on hand-made reports; [`run`]
//! reads the machine ([`Report::read`]) and prints.

use readyloop::limits::{predict, Report};
use std::io::Write;

/// Width the explanations are wrapped to: readable in an 80-100 column terminal.
const WIDTH: usize = 100;
/// Indent of the explanation lines under a limit's name.
const INDENT: &str = "    ";
/// Indent of an explanation's continuation lines: under its first word.
const HANG: &str = "            ";

/// The prediction sentence for one process to one destination from one source address.
fn prediction_line(r: &Report) -> String {
    match predict(r, 1) {
        Some((n, by)) => format!(
            "one process to one destination can hold about {n} connections here, limited by \
             the {by}"
        ),
        None => "one process to one destination: no prediction, the descriptor room or the \
                 ephemeral port range is unknown"
            .into(),
    }
}

/// The report as text: one block per limit (name and value, then where it was read,
/// what it limits and how to raise it), unknown values as "unknown", and the prediction
/// line last.
pub fn text(r: &Report) -> String {
    let entries = r.entries();
    let name_w = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out = String::from(
        "Limits on TCP connections and UDP sockets here (read now; \"unknown\" = could not be \
         read)\n\n",
    );
    out += &format!("{:name_w$}  VALUE\n", "LIMIT");
    for e in &entries {
        out += &format!(
            "{:name_w$}  {}\n",
            e.name,
            e.text.as_deref().unwrap_or("unknown")
        );
        for (label, body) in [
            ("source", e.source),
            ("limits", e.caps),
            ("raise", e.raise.as_str()),
        ] {
            out += &wrap(body, &format!("{INDENT}{label:<6}  "), HANG);
        }
    }
    out += "\n";
    out += &wrap(&prediction_line(r), "", "  ");
    out
}

/// Word-wrap `s` to [`WIDTH`]: the first line after `first`, the rest after `rest`.
/// A word longer than the width gets a line of its own rather than being cut.
fn wrap(s: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut empty = true;
    for word in s.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out += &line;
            out.push('\n');
            line = String::from(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line += word;
        empty = false;
    }
    out += &line;
    out.push('\n');
    out
}

/// The JSON form: [`Report::to_json`] (every field plus `entries`) and `"prediction"`:
/// `{"sources": 1, "connections": N, "limited_by": "fd limit" | "ephemeral ports"}`,
/// with `connections` and `limited_by` `null` when they cannot be predicted.
pub fn json(r: &Report) -> serde_json::Value {
    let mut v = r.to_json();
    let p = predict(r, 1);
    v["prediction"] = serde_json::json!({
        "sources": 1,
        "connections": p.map(|(n, _)| n),
        "limited_by": p.map(|(_, by)| by),
    });
    v
}

/// Read this machine's limits (raising the soft descriptor limit to the hard one, as a
/// probe would) and print them to stdout: text, or pretty JSON when `json`.
pub fn run(json_out: bool) -> std::io::Result<()> {
    let r = Report::read();
    let mut out = std::io::stdout().lock();
    if json_out {
        serde_json::to_writer_pretty(&mut out, &json(&r))?;
        writeln!(out)?;
    } else {
        out.write_all(text(&r).as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use readyloop::limits::{parse_snmp6_udp, parse_snmp_udp, parse_sockstat};

    /// This machine's values, by hand: no I/O.
    fn sample() -> Report {
        Report {
            nofile_soft: 20000,
            nofile_hard: 20000,
            nofile_soft_before: 20000,
            open_fds: Some(10),
            nr_open: Some(1048576),
            file_max: Some(2466177),
            files_in_use: Some(377),
            port_range: Some((32768, 60999)),
            somaxconn: Some(4096),
            tcp_max_syn_backlog: Some(2048),
            tcp_tw_reuse: Some(2),
            tcp_tw_reuse_delay_ms: Some(1000),
            tcp_fin_timeout: Some(60),
            tcp_max_tw_buckets: Some(131072),
            tcp_mem: Some([287901, 383868, 575802]),
            sockstat: Some(parse_sockstat(
                "sockets: used 114\nTCP: inuse 103 orphan 0 tw 100 alloc 103 mem 4\n\
                 UDP: inuse 2 mem 1\n",
            )),
            page_size: 4096,
            mem_available: Some(24210984 * 1024),
            rmem_default: Some(212992),
            rmem_max: Some(4194304),
            wmem_default: Some(212992),
            wmem_max: Some(4194304),
            udp_mem: Some([575814, 767755, 1151628]),
            udp_rmem_min: Some(4096),
            udp_wmem_min: Some(4096),
            udp: parse_snmp_udp(
                "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                 Udp: 236 3 7 239 5 1\n",
            ),
            udp6: parse_snmp6_udp(
                "Udp6InDatagrams 40\nUdp6NoPorts 1\nUdp6InErrors 6\nUdp6RcvbufErrors 6\n\
                 Udp6SndbufErrors 0\n",
            ),
        }
    }

    /// Every sysctl and /proc value unknown; only getrlimit's answers remain.
    fn blank() -> Report {
        Report {
            open_fds: None,
            nr_open: None,
            file_max: None,
            files_in_use: None,
            port_range: None,
            somaxconn: None,
            tcp_max_syn_backlog: None,
            tcp_tw_reuse: None,
            tcp_tw_reuse_delay_ms: None,
            tcp_fin_timeout: None,
            tcp_max_tw_buckets: None,
            tcp_mem: None,
            sockstat: None,
            mem_available: None,
            rmem_default: None,
            rmem_max: None,
            wmem_default: None,
            wmem_max: None,
            udp_mem: None,
            udp_rmem_min: None,
            udp_wmem_min: None,
            udp: None,
            udp6: None,
            ..sample()
        }
    }

    #[test]
    fn test_text_names_every_entry_with_value_source_and_raise() {
        let r = sample();
        let t = text(&r);
        for e in r.entries() {
            assert!(t.contains(e.name), "{} missing", e.name);
            assert!(t.contains(e.source), "{} source missing", e.name);
            let value = e.text.expect("sample knows every value");
            assert!(t.contains(&value), "{value} missing");
            // The raise text is wrapped: compare its words, in order.
            let flat: Vec<&str> = t.split_whitespace().collect();
            let want: Vec<&str> = e.raise.split_whitespace().collect();
            assert!(
                flat.windows(want.len()).any(|w| w == want.as_slice()),
                "raise of {} missing",
                e.name
            );
        }
        assert!(!t.contains("unknown\n"), "nothing unknown in the sample");
        let long: Vec<&str> = t.lines().filter(|l| l.len() > WIDTH).collect();
        assert!(long.is_empty(), "lines over {WIDTH} columns: {long:#?}");
    }

    #[test]
    fn test_text_prediction_line() {
        let t = text(&sample());
        assert!(
            t.contains(
                "one process to one destination can hold about 19990 connections here, \
                 limited by the fd limit"
            ),
            "{t}"
        );
        let ports_bound = Report {
            nofile_soft: 1 << 20,
            nofile_hard: 1 << 20,
            nofile_soft_before: 1 << 20,
            ..sample()
        };
        assert!(text(&ports_bound)
            .contains("about 28232 connections here, limited by the ephemeral ports"));
    }

    #[test]
    fn test_unknown_values_print_unknown() {
        let r = blank();
        let t = text(&r);
        for e in r.entries() {
            if e.text.is_none() {
                assert!(
                    t.lines()
                        .any(|l| l.starts_with(e.name) && l.ends_with("  unknown")),
                    "{} not shown as unknown:\n{t}",
                    e.name
                );
            }
        }
        assert!(t.contains("one process to one destination: no prediction"));
    }

    #[test]
    fn test_json_has_report_and_prediction() {
        let j = json(&sample());
        assert_eq!(j["nofile_soft"], 20000);
        assert_eq!(j["prediction"]["connections"], 19990);
        assert_eq!(j["prediction"]["limited_by"], "fd limit");
        assert_eq!(j["prediction"]["sources"], 1);
        assert!(j["entries"].as_array().is_some_and(|a| !a.is_empty()));
        let b = json(&blank());
        assert!(b["prediction"]["connections"].is_null());
        assert!(b["nr_open"].is_null());
    }

    #[test]
    fn test_text_and_json_show_udp_rows() {
        let r = sample();
        let t = text(&r);
        let row = |name: &str| {
            t.lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no row {name} in\n{t}"))
                .split_once("  ")
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(row("net.core.rmem_default"), "212992 (208.0 KiB)");
        assert_eq!(row("net.core.rmem_max"), "4194304 (4.0 MiB)");
        assert_eq!(row("net.core.wmem_max"), "4194304 (4.0 MiB)");
        assert_eq!(
            row("net.ipv4.udp_mem"),
            "575814 767755 1151628 pages (2.2/2.9/4.4 GiB); 1 in use now"
        );
        assert_eq!(row("net.ipv4.udp_rmem_min"), "4096 (4.0 KiB)");
        assert_eq!(row("Udp RcvbufErrors"), "5 (236 delivered)");
        assert_eq!(row("Udp SndbufErrors"), "1 (239 sent)");
        assert_eq!(row("Udp NoPorts"), "3 (236 delivered)");
        assert_eq!(row("Udp6 RcvbufErrors"), "6 (40 delivered)");
        assert_eq!(
            row("Udp6 SndbufErrors"),
            "0",
            "no Udp6OutDatagrams in the sample"
        );
        assert!(t.contains("sysctl -w net.core.rmem_max=8388608"), "{t}");
        // UDP rows come after the TCP ones.
        let at = |s: &str| t.find(s).unwrap_or(usize::MAX);
        assert!(at("MemAvailable") < at("net.core.rmem_default"));
        let j = json(&r);
        assert_eq!(j["rmem_max"], 4194304);
        assert_eq!(j["udp_mem"], serde_json::json!([575814, 767755, 1151628]));
        assert_eq!(j["udp"]["rcvbuf_errors"], 5);
        assert_eq!(j["udp6"]["in_datagrams"], 40);
        assert!(j["udp6"]["mem_errors"].is_null(), "not in the sample");
        assert_eq!(j["sockstat"]["udp_mem_pages"], 1);
        let b = json(&blank());
        assert!(b["udp"].is_null() && b["rmem_max"].is_null());
    }

    #[test]
    fn test_wrap_keeps_words_and_width() {
        let s = "word ".repeat(60);
        let w = wrap(&s, "  ", "    ");
        assert!(w.starts_with("  word word"));
        assert!(w.lines().all(|l| l.len() <= WIDTH));
        assert_eq!(w.split_whitespace().count(), 60);
        assert!(w.lines().skip(1).all(|l| l.starts_with("    word")));
        let long = "x".repeat(WIDTH + 5);
        assert_eq!(wrap(&long, "", ""), format!("{long}\n"), "not cut");
    }
}
