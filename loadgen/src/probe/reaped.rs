//! [`Reaped`]: a child process that is stopped and waited for when dropped, so no
//! path out of `loadgen probe` (an error, a panic unwinding) leaves an orphan: not the
//! embedded server, not a `--procs` child. A parent killed outright (SIGKILL) runs no
//! drop: for that, [`die_with_parent`] has the kernel kill the child.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Have the kernel SIGKILL the child `cmd` starts when its parent goes
/// (`PR_SET_PDEATHSIG`), so a probe killed with -9 mid-ramp leaves no child holding
/// connections or serving them.
///
/// The signal fires when the *thread* that forked exits, not the process: spawn from
/// the main thread (as `loadgen probe` does), or a worker thread ending would kill the
/// child early.
pub(super) fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe
    // calls are allowed: prctl and getppid are plain system calls, and the error made
    // from an errno allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect: then no signal
            // will come, and the child must not start at all.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Kill and reap a child (never leave orphans). `None` once it has been waited for
/// already, or when there is no child.
pub(super) struct Reaped(pub(super) Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            // SIGTERM first so a readyloop child shuts down cleanly.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
    }
}
