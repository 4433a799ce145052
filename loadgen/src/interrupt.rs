//! Ctrl-C (SIGINT) and SIGTERM during a run: stop, report what was measured, exit
//! 128 + signal.
//!
//! A run interrupted half-way still measured something, and throwing it away (the
//! default action of SIGINT) loses minutes of load. So `run` blocks both signals in
//! every thread and one thread waits for them (`sigwait`): the first asks every worker,
//! through its reactor's [`Handle`], to end the run now (as the end timer would); the
//! report and every requested file are then written as usual, and the process exits
//! 128 + the signal. A second signal exits at once, for a user who will not wait.

use readyloop::Handle;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

/// The value posted to a worker's reactor to end its run now.
pub(crate) const STOP: u64 = u64::MAX;

/// The workers to stop, and the signal that stopped them (0: none yet).
#[derive(Debug, Default)]
pub struct Interrupt {
    signal: AtomicI32,
    workers: Mutex<Vec<Handle>>,
}

impl Interrupt {
    /// Block SIGINT and SIGTERM in this thread (and so in every thread it starts from
    /// now on) and start the thread that waits for them. Call it before starting the
    /// workers.
    pub fn install() -> std::io::Result<Arc<Interrupt>> {
        use nix::sys::signal::{SigSet, Signal};
        let this = Arc::new(Interrupt::default());
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block().map_err(std::io::Error::from)?;
        let me = this.clone();
        std::thread::Builder::new()
            .name("loadgen-signals".into())
            .spawn(move || loop {
                let Ok(sig) = set.wait() else { return };
                let n = sig as i32;
                if me.signal.swap(n, Ordering::SeqCst) != 0 {
                    eprintln!("\nloadgen: second signal {n}: exiting now");
                    std::process::exit(128 + n);
                }
                eprintln!(
                    "\nloadgen: signal {n}: stopping, the report follows (again to exit now)"
                );
                me.stop_all();
            })?;
        Ok(this)
    }

    /// Add a worker; one that registers after the signal is stopped at once.
    pub(crate) fn register(&self, h: Handle) {
        let mut w = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if self.signal() != 0 {
            h.post(STOP);
        }
        w.push(h);
    }

    fn stop_all(&self) {
        let w = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for h in w.iter() {
            h.post(STOP);
        }
    }

    /// The signal that interrupted the run, 0 if none did.
    pub fn signal(&self) -> i32 {
        self.signal.load(Ordering::SeqCst)
    }
}
