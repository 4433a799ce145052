//! Parsing of sizes (`64K`, `4MiB`) and durations (`10s`, `250ms`, `2m`) for the
//! command lines of the server and loadgen.

use std::time::Duration;

/// Parse a byte size: a number with an optional suffix `K`/`KB`/`KiB`, `M`..., `G`...
/// (all binary, 1K = 1024, as `ulimit` and socket options count).
///
/// ```
/// use readyloop::units::parse_size;
/// assert_eq!(parse_size("64K"), Ok(65536));
/// assert_eq!(parse_size("4MiB"), Ok(4 << 20));
/// assert_eq!(parse_size("100"), Ok(100));
/// assert!(parse_size("4X").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("invalid size '{s}' (expected e.g. 65536, 64K, 4M)"))?;
    let mult: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in '{s}' (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// Parse a duration: numbers with units `us`, `ms`, `s`, `m` or `h`, one after the
/// other as in `1m30s` or `1h15m` (Go's and k6's syntax); a bare number alone is
/// seconds. `0` means zero, which callers use for "off".
///
/// ```
/// use readyloop::units::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(parse_duration("ten").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("invalid duration '{s}' (expected e.g. 10s, 250ms, 2m, 1m30s)");
    let mut rest = t;
    let mut secs = 0.0;
    let mut parts = 0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let ulen = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(ulen);
        secs += n * match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            // A bare number only on its own: "1m30" is more likely a typo than 30 s.
            "" if parts == 0 => 1.0,
            "" => return Err(bad()),
            _ => {
                return Err(format!(
                    "invalid duration unit in '{s}' (use us, ms, s, m or h, e.g. 1m30s)"
                ))
            }
        };
        parts += 1;
        rest = next;
    }
    if parts == 0 {
        return Err(bad());
    }
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration '{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parse a count or a rate: a number with an optional decimal suffix `k` (1,000), `M`
/// (1,000,000) or `G` (1,000,000,000), as `-c 1k` or `-R 12.5k`. Decimal on purpose:
/// counts of requests and connections are not byte sizes (those are binary, see
/// [`parse_size`]), so `K` is refused here to keep the two apart.
///
/// ```
/// use readyloop::units::parse_rate;
/// assert_eq!(parse_rate("10k"), Ok(10_000.0));
/// assert_eq!(parse_rate("2.5M"), Ok(2_500_000.0));
/// assert_eq!(parse_rate("750"), Ok(750.0));
/// assert!(parse_rate("10K").is_err());
/// ```
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1e3),
        Some((i, 'M')) => (&t[..i], 1e6),
        Some((i, 'G')) => (&t[..i], 1e9),
        Some((_, 'K')) => {
            return Err(format!(
                "'{s}': counts and rates take k (1,000) or M (1,000,000); K means 1,024 and is for byte sizes"
            ))
        }
        _ => (t, 1.0),
    };
    let ok = !num.is_empty() && num.chars().all(|c| c.is_ascii_digit() || c == '.');
    let n: f64 = num
        .parse()
        .ok()
        .filter(|_| ok)
        .ok_or_else(|| format!("invalid number '{s}' (expected e.g. 500, 10k, 1.5M)"))?;
    let v = n * mult;
    if !v.is_finite() {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(v)
}

/// Parse a whole count with [`parse_rate`]'s suffixes: `1k` = 1,000, `2M` = 2,000,000;
/// `1.5k` is 1,500, and a count that is not whole (`1.0005k`) is refused.
///
/// ```
/// use readyloop::units::parse_count;
/// assert_eq!(parse_count("1k"), Ok(1000));
/// assert_eq!(parse_count("1.5k"), Ok(1500));
/// assert_eq!(parse_count("50"), Ok(50));
/// assert!(parse_count("0.5").is_err());
/// ```
pub fn parse_count(s: &str) -> Result<u64, String> {
    let v = parse_rate(s)?;
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(format!("'{s}' is not a whole count"));
    }
    Ok(v as u64)
}

/// [`parse_count`] for a `usize` (connections, threads).
pub fn parse_count_usize(s: &str) -> Result<usize, String> {
    let n = parse_count(s)?;
    usize::try_from(n).map_err(|_| format!("'{s}' is out of range"))
}

/// What a command line does when clap refuses its arguments: `--help` and `--version`
/// print and exit 0; anything else is one line on stderr, `PROG: what is wrong (see
/// --help)`, and exit code 2, instead of clap's whole usage block. A mistyped flag,
/// value or subcommand keeps clap's suggestion: `loadgen: unexpected argument
/// '--duraton' found; did you mean '--duration'? (see --help)`.
pub fn usage_exit(prog: &str, e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!("{prog}: {} (see --help)", usage_line(&e));
    std::process::ExitCode::from(2)
}

/// A usage error in one line: its message ([`one_line`]) and, when clap has one, its
/// "did you mean" (which clap prints on a line of its own, dropped with the rest).
fn usage_line(e: &clap::Error) -> String {
    let line = one_line(&e.to_string());
    match suggestion(e) {
        Some(s) => format!("{line}; did you mean {s}?"),
        None => line,
    }
}

/// clap's suggestion for a mistyped flag, value or subcommand, quoted (`'--duration'`,
/// or `'a' or 'b'` when it has several); `None` when it has none.
fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let quoted = |v: &[String]| {
        let q: Vec<String> = v.iter().map(|s| format!("'{s}'")).collect();
        (!q.is_empty()).then(|| q.join(" or "))
    };
    [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
        ContextKind::SuggestedSubcommand,
    ]
    .into_iter()
    .find_map(|kind| match e.get(kind)? {
        ContextValue::String(s) => Some(format!("'{s}'")),
        ContextValue::Strings(v) => quoted(v),
        _ => None,
    })
}

/// A clap error message in one line: its first line, and when that ends with a colon
/// (the list of missing arguments follows), the indented lines of the list with it.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines();
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    if !first.ends_with(':') {
        return first.to_string();
    }
    let list: Vec<&str> = lines
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    format!("{first} {}", list.join(", "))
}

/// `None` for a zero duration ("off"), `Some(d)` otherwise.
pub fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_usage_errors_keep_the_missing_arguments() {
        let msg = "error: the following required arguments were not provided:\n  --targets <FILE>\n  --x\n\nUsage: loadgen --order <ORDER> --targets <FILE>\n";
        assert_eq!(
            one_line(msg),
            "the following required arguments were not provided: --targets <FILE>, --x"
        );
        assert_eq!(
            one_line("error: unexpected argument '--y' found\n\n  tip: ..."),
            "unexpected argument '--y' found"
        );
    }

    #[test]
    fn test_usage_errors_carry_the_suggestion() {
        use clap::{Arg, Command};
        let cmd = || {
            Command::new("x")
                .arg(Arg::new("duration").long("duration"))
                .arg(
                    Arg::new("order")
                        .long("order")
                        .value_parser(["random", "round-robin"]),
                )
                .subcommand(Command::new("limits"))
        };
        let line = |args: &[&str]| {
            let e = cmd().try_get_matches_from(args).expect_err("a usage error");
            usage_line(&e)
        };
        assert_eq!(
            line(&["x", "--duraton", "1s"]),
            "unexpected argument '--duraton' found; did you mean '--duration'?"
        );
        assert_eq!(
            line(&["x", "--order", "randon"]),
            "invalid value 'randon' for '--order <order>'; did you mean 'random'?"
        );
        assert_eq!(
            line(&["x", "limitz"]),
            "unrecognized subcommand 'limitz'; did you mean 'limits'?"
        );
        // Nothing close: the message alone.
        assert_eq!(line(&["x", "--zzz"]), "unexpected argument '--zzz' found");
    }

    #[test]
    fn test_size_rejects_garbage() {
        for bad in [
            "",
            "K",
            "-1",
            "1.5K",
            "99999999999999999999",
            "18014398509481984G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_duration_units() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "1d", "-1s", "1e400s", "1m30", "1s m", "m1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_duration_compound() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2ms500us"), Ok(Duration::from_micros(2500)));
    }

    #[test]
    fn test_counts_and_rates_are_decimal() {
        assert_eq!(parse_count("1k"), Ok(1000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("3G"), Ok(3_000_000_000));
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert_eq!(parse_rate("12.5k"), Ok(12_500.0));
        for bad in [
            "", "k", "1K", "1KiB", "-1", "1e3", "1m", "1.2.3", "1 k", "0.5k0",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_count("1.0005k").is_err());
        assert!(parse_count("0.5").is_err());
        assert!(parse_count("99999999999G").is_err());
        let k = parse_rate("1K").unwrap_err();
        assert!(k.contains("1,024"), "{k}");
    }
}
