//! This process's command line as one string a POSIX shell would split back into the
//! same arguments, for the reports that show how a run was made (the HTML report).

use std::ffi::OsString;

/// One argument, quoted only when a shell would otherwise change it: as is when made
/// of characters no shell treats specially, else in single quotes (a `'` inside as
/// `'\''`). Not UTF-8 bytes print as U+FFFD: the line is for reading.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%^".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `args` quoted (see [`quote`]) and joined by spaces.
pub(super) fn shell_line(args: impl IntoIterator<Item = OsString>) -> String {
    args.into_iter()
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> String {
        shell_line(args.iter().map(OsString::from))
    }

    #[test]
    fn test_plain_args_stay_plain_and_others_are_quoted() {
        assert_eq!(
            line(&[
                "loadgen",
                "-R",
                "20000",
                "http://127.0.0.1:8080/x?a=1",
                "--html",
                "out.html"
            ]),
            "loadgen -R 20000 'http://127.0.0.1:8080/x?a=1' --html out.html"
        );
        assert_eq!(line(&["-H", "Host: a b"]), "-H 'Host: a b'");
        assert_eq!(line(&["it's"]), r"'it'\''s'");
        assert_eq!(line(&[""]), "''");
        assert_eq!(line(&["$HOME", "a*"]), "'$HOME' 'a*'");
    }
}
