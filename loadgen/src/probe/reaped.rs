//! [`Reaped`]: a child process that is stopped and waited for when dropped, so no
//! path out of `loadgen probe` (an error, a panic unwinding) leaves an orphan: not the
//! embedded server, not a `--procs` child.

use std::process::Child;
use std::time::{Duration, Instant};

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
