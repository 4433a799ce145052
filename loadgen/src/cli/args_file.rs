//! `--args-file FILE`: command-line arguments read from a file, one per line,
//! expanded in place before clap parses anything.
//!
//! Why: a Kubernetes Job keeps the run's flags in a ConfigMap mounted as a file, and a
//! `FROM scratch` image has no shell to turn that file into arguments. Why this form
//! and not rustc's and gcc's `@FILE`: an argument of loadgen may itself start with `@`
//! (a targets file names a body as `@FILE`, a request or header could be anything),
//! so a bare `@` cannot mean "read a file" without an escape rule; a named flag can,
//! shows in `--help` and is found by grep.
//!
//! The format is deliberately poor, so that what a line means never depends on a
//! quoting rule: each line is one argument, exactly as written, with its surrounding
//! spaces (and a CR of a CRLF file) dropped; blank lines and lines whose first
//! non-space character is `#` are skipped. There is no quoting, no escaping and no
//! variable expansion. An args file may not name another (one level, so nothing can
//! loop), and is at most [`MAX_BYTES`] long. Arguments after a bare `--` are left as
//! they are.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The flag, as typed: `--args-file FILE` or `--args-file=FILE`.
pub(super) const FLAG: &str = "--args-file";

/// The largest args file read: far more than any command line, small enough that a
/// wrong path (a log, a binary) is refused instead of becoming thousands of arguments.
pub(super) const MAX_BYTES: usize = 64 * 1024;

/// Why the arguments could not be expanded; printed as one line, exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ArgsFileError(String);

impl fmt::Display for ArgsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `args` (the program name first, as `std::env::args_os` gives them) with every
/// `--args-file FILE` replaced by the file's arguments.
pub(super) fn expand(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Vec<OsString>, ArgsFileError> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args);
            break;
        }
        match file_of(&arg, &mut args)? {
            Some(path) => out.extend(read(Path::new(&path))?.into_iter().map(OsString::from)),
            None => out.push(arg),
        }
    }
    Ok(out)
}

/// The file `arg` names when it is the flag (taking the next argument for the
/// two-argument form), or `None` when it is any other argument.
fn file_of(
    arg: &OsString,
    rest: &mut impl Iterator<Item = OsString>,
) -> Result<Option<OsString>, ArgsFileError> {
    if arg == FLAG {
        return match rest.next() {
            Some(path) if !path.is_empty() => Ok(Some(path)),
            _ => Err(ArgsFileError(format!("{FLAG} needs a FILE (see --help)"))),
        };
    }
    let Some(path) = arg
        .to_str()
        .and_then(|a| a.strip_prefix(FLAG)?.strip_prefix('='))
    else {
        return Ok(None);
    };
    if path.is_empty() {
        return Err(ArgsFileError(format!("{FLAG} needs a FILE (see --help)")));
    }
    Ok(Some(path.into()))
}

/// The arguments of the file at `path`, or why they could not be read.
fn read(path: &Path) -> Result<Vec<String>, ArgsFileError> {
    let shown = path.display();
    let err = |what: String| ArgsFileError(format!("{FLAG} {shown}: {what}"));
    let file = File::open(path).map_err(|e| err(e.to_string()))?;
    // One byte past the bound tells "too long" from "exactly the bound".
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() > MAX_BYTES {
        return Err(err(format!("longer than {MAX_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
    parse(&text).map_err(err)
}

/// The arguments of an args file's text: see the module's doc for the format.
fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == FLAG || line.starts_with(&format!("{FLAG}=")) {
            return Err(format!(
                "line {}: {FLAG} inside an args file is not followed (one level only)",
                n + 1
            ));
        }
        args.push(line.to_string());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// A file of the test's own, removed on drop (a failed assertion included).
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> TempFile {
            let path = std::env::temp_dir()
                .join(format!("loadgen-args-file-{}-{name}", std::process::id()));
            let mut f = File::create(&path).expect("create the temp file");
            f.write_all(bytes).expect("write the temp file");
            TempFile(path)
        }

        fn arg(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn test_one_argument_per_line_comments_and_blanks_skipped_spaces_dropped() {
        let text = "# the run\nhttp://127.0.0.1:8080/\n\n  -R\n  20k  \r\n\t# indented comment\n--slo\np99<20ms, errors<1%\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                "http://127.0.0.1:8080/",
                "-R",
                "20k",
                "--slo",
                "p99<20ms, errors<1%"
            ]
        );
    }

    #[test]
    fn test_no_quoting_a_line_is_one_argument_as_written() {
        let text = "--request\n'PING\\r\\n' \"x\" $(VAR) @body\n";
        assert_eq!(
            parse(text).unwrap(),
            ["--request", "'PING\\r\\n' \"x\" $(VAR) @body"]
        );
    }

    #[test]
    fn test_expanded_in_place_in_both_forms() {
        let f = TempFile::new("in-place", b"-c\n10\n");
        let args = os(&[
            "loadgen",
            "run",
            "--segment",
            "0/2",
            FLAG,
            &f.arg(),
            "-d",
            "1s",
        ]);
        let eq = format!("{FLAG}={}", f.arg());
        let args_eq = os(&["loadgen", "run", &eq, "-d", "1s"]);
        assert_eq!(
            expand(args).unwrap(),
            os(&["loadgen", "run", "--segment", "0/2", "-c", "10", "-d", "1s"])
        );
        assert_eq!(
            expand(args_eq).unwrap(),
            os(&["loadgen", "run", "-c", "10", "-d", "1s"])
        );
    }

    #[test]
    fn test_arguments_without_the_flag_and_after_a_double_dash_are_untouched() {
        let plain = os(&["loadgen", "-d", "1s", "--args-filex", "@f"]);
        assert_eq!(expand(plain.clone()).unwrap(), plain);
        let after = os(&["loadgen", "--", FLAG, "/nonexistent"]);
        assert_eq!(expand(after.clone()).unwrap(), after);
    }

    #[test]
    fn test_a_missing_or_empty_file_name_is_refused() {
        for args in [
            os(&["loadgen", FLAG]),
            os(&["loadgen", FLAG, ""]),
            os(&["loadgen", "--args-file="]),
        ] {
            let e = expand(args).unwrap_err().to_string();
            assert_eq!(e, "--args-file needs a FILE (see --help)");
        }
    }

    #[test]
    fn test_an_unreadable_file_is_one_line_naming_it() {
        let e = expand(os(&["loadgen", FLAG, "/nonexistent/run.args"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--args-file /nonexistent/run.args: "), "{e}");
        assert!(e.contains("No such file"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn test_size_bounded_at_max_bytes_exactly() {
        let at = TempFile::new("at-bound", &vec![b'x'; MAX_BYTES]);
        let args = expand(os(&["loadgen", FLAG, &at.arg()])).unwrap();
        assert_eq!(args.len(), 2, "the program name and one long argument");
        let over = TempFile::new("over-bound", &vec![b'x'; MAX_BYTES + 1]);
        let e = expand(os(&["loadgen", FLAG, &over.arg()]))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(&format!("longer than {MAX_BYTES} bytes")),
            "{e}"
        );
    }

    #[test]
    fn test_not_utf8_refused() {
        let f = TempFile::new("not-utf8", b"-c\n\xff\xfe\n");
        let e = expand(os(&["loadgen", FLAG, &f.arg()]))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(": not UTF-8 text"), "{e}");
    }

    #[test]
    fn test_an_args_file_naming_another_is_refused_with_its_line() {
        for line in ["--args-file", "--args-file=other.args"] {
            let e = parse(&format!("-c\n10\n{line}\n")).unwrap_err();
            assert_eq!(
                e,
                "line 3: --args-file inside an args file is not followed (one level only)"
            );
        }
    }
}
