//! Output files, checked before the run and written whole after it (the interval log:
//! during it).
//!
//! A run can take minutes; learning only at its end that `--json /no/such/dir/x.json`
//! cannot be written wastes them, and stopping at the first bad path would leave the
//! other outputs of the same command unwritten. So every output file is staged before
//! the run: a temporary file is created beside it (same directory, so the final rename
//! is atomic and cannot cross file systems), which fails at once for a bad path (a usage
//! error, exit 2). After the run each report is written into its temporary and renamed
//! over the destination; a reader never sees half a file. Temporaries not committed are
//! removed when the set is dropped (a failed write, an error anywhere), so none is left
//! behind.
//!
//! The interval log (`--log`) is staged the same way but written as the run goes: its
//! temporary is renamed into place with the first second and written on (see
//! `cli/log_stream.rs`), so a run that dies leaves a readable log under its name.

use crate::Error;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One output file on its way: its flag (for messages), where it goes, and the
/// temporary written first.
#[derive(Debug)]
pub struct Staged {
    flag: &'static str,
    dest: PathBuf,
    tmp: PathBuf,
    done: bool,
}

impl Staged {
    /// The temporary's path: write the report there.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The temporary, opened for writing (truncated).
    pub fn file(&self) -> Result<File, Error> {
        File::create(&self.tmp).map_err(|e| self.error(e))
    }

    /// Where it goes.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// An I/O error on this output, named by its flag and destination.
    pub fn error(&self, e: std::io::Error) -> Error {
        Error::io(format!("{} {}", self.flag, self.dest.display()), e)
    }

    /// Move the finished temporary over the destination.
    pub fn commit(&mut self) -> Result<(), Error> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| self.error(e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Stage `dest` for `flag`: create its temporary now. A directory that does not exist
/// or cannot be written is a usage error, reported before anything runs.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("loadgen-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let dest = dir.join("out.json");
/// let mut s = loadgen::staged::stage("--json", &dest).unwrap();
/// std::fs::write(s.path(), b"{}").unwrap();
/// s.commit().unwrap();
/// assert_eq!(std::fs::read(&dest).unwrap(), b"{}");
/// assert!(loadgen::staged::stage("--json", &dir.join("no/such/dir/x.json")).is_err());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn stage(flag: &'static str, dest: &Path) -> Result<Staged, Error> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{flag} {}: not a file name", dest.display())))?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if dest.as_os_str() == "-" {
        return Err(Error::Usage(format!(
            "{flag} -: only --json writes to stdout ('-'); give {flag} a file name"
        )));
    }
    // A report is written beside its destination and renamed over it: a FIFO, a
    // device or a directory there would be replaced or broken, not written to.
    // (`--json -` is stdout; the other files have no such form.)
    if let Ok(m) = std::fs::metadata(dest) {
        let ft = m.file_type();
        if !ft.is_file() {
            let what = if ft.is_dir() {
                "a directory"
            } else {
                "not a regular file (a FIFO or a device)"
            };
            return Err(Error::Usage(format!(
                "{flag} {}: {what}; loadgen writes a report file and renames it into place",
                dest.display()
            )));
        }
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".loadgen-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    // create_new: never clobber a file of somebody else's that happens to have the name.
    if let Err(e) = File::options().write(true).create_new(true).open(&tmp) {
        return Err(Error::Usage(format!(
            "{flag} {}: cannot write there: {e}",
            dest.display()
        )));
    }
    Ok(Staged {
        flag,
        dest: dest.to_path_buf(),
        tmp,
        done: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_fifo_a_device_or_a_directory_is_refused_not_replaced() {
        let dir = std::env::temp_dir().join(format!("lg-outputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("f");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (dest, want) in [
            (fifo.as_path(), "not a regular file"),
            (Path::new("/dev/null"), "not a regular file"),
            (dir.as_path(), "a directory"),
            (Path::new("-"), "only --json writes to stdout"),
        ] {
            let Err(e) = stage("--log", dest) else {
                panic!("{}: staged", dest.display())
            };
            let e = e.to_string();
            assert!(e.contains(want), "{}: {e}", dest.display());
        }
        // Left as it was.
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        // A regular file there is fine (replaced at the end).
        let f = dir.join("r.log");
        std::fs::write(&f, b"old").unwrap();
        assert!(stage("--log", &f).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
