//! `loadgen search` against a server of known capacity (issue 10, item 6).
//!
//! The server serves one request at a time and answers each 1 ms after it gets its
//! turn: a virtual queue in the reactor's context (`busy_until`), answered by timers,
//! not by CPU. So its capacity is exactly 1,000 requests a second: below it a request
//! waits ~1 ms, above it the queue grows without bound. Loopback only; bounded steps.

use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::collections::VecDeque;
use std::process::Command;
use std::time::{Duration, Instant};

/// When the single server is next free; shared by every connection.
struct Queue {
    busy_until: Instant,
}

/// Queues each line request; answers it when its turn's millisecond is over.
#[derive(Default)]
struct OneAtATime {
    answers: VecDeque<Instant>,
}

impl Protocol for OneAtATime {
    type Context = Queue;

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<Queue>,
    ) -> Step {
        let used = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for _ in input[..used].iter().filter(|&&b| b == b'\n') {
            let at = cx.now.max(cx.ctx.busy_until) + Duration::from_millis(1);
            cx.ctx.busy_until = at;
            self.answers.push_back(at);
        }
        Step::cont(used)
    }

    fn poll_at(&self, _q: &Queue) -> Option<Instant> {
        self.answers.front().copied()
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Queue>) -> Verdict {
        while self.answers.front().is_some_and(|&t| t <= cx.now) {
            self.answers.pop_front();
            out.extend_from_slice(b"ok\n");
        }
        Verdict::Continue
    }
}

#[test]
fn test_search_finds_a_known_capacity() {
    let mut r = Reactor::with_context(
        Config {
            precise_timers: true,
            ..Config::default()
        },
        Queue {
            busy_until: Instant::now(),
        },
    )
    .unwrap();
    let id = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(id).unwrap();
    let handle = r.handle();
    let server = std::thread::spawn(move || r.run(&mut ServeWith(OneAtATime::default)));

    let began = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["search", &addr.to_string(), "--proto", "line"])
        .args(["--slo", "p99<20ms", "--start", "250", "-t", "1"])
        .args(["--step", "2s", "--warmup", "1s", "--cooldown", "500ms"])
        .args(["--precision", "5%", "--max-steps", "16", "--json", "-"])
        .output()
        .unwrap();
    handle.stop();
    server.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("search JSON");
    let answer = j["answer_rps"].as_f64().expect("an answer");
    eprintln!(
        "answer {answer:.0}/s for a capacity of 1000/s, in {:?}",
        began.elapsed()
    );
    assert!(
        (850.0..=1150.0).contains(&answer),
        "answer {answer} for a capacity of 1000/s"
    );
    assert_eq!(j["confirmed"], true);
    let steps = j["steps"].as_array().unwrap();
    assert!(steps.len() >= 4, "{steps:?}");
    // Steps above the capacity failed on the SLO, not for the generator's sake.
    for s in steps {
        if s["offered_rps"].as_f64().unwrap() > 1100.0 {
            assert_eq!(s["pass"], false, "{s}");
        }
    }
    // The table was printed, one row per step.
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("  probe ")
                || l.contains("  bisect ")
                || l.contains("  confirm "))
            .count(),
        steps.len(),
        "{stderr}"
    );
    assert!(stderr.contains("answer:  "), "{stderr}");
}
