//! `--slo` thresholds judged at a run's edges (issue 15, item 1): a request that fell due
//! in the run's last moment and was not sent is the run's end, not an error, in a run
//! and in `loadgen search`. Loopback only, against the embedded server; bounded runs.

use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

/// The run: `-R 100 -d 2s --slo 'errors<0.1%'` against an idle embedded server
/// printed `errors: none` and then `FAIL errors<0.1% measured 0.50%` (exit 99), the
/// one request due at the last instant counted as an error.
#[test]
fn test_errors_threshold_passes_a_healthy_open_loop_run() {
    for _ in 0..3 {
        let out = loadgen()
            .args([
                "-R",
                "100",
                "-d",
                "2s",
                "--slo",
                "errors<0.1%",
                "--json",
                "-",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["thresholds"][0]["pass"], true, "{}", j["thresholds"]);
        assert_eq!(j["thresholds"][0]["measured"], 0.0);
        // Kept in the books: every unsent request is still censored and counted; here,
        // an idle server, each one is at the run's end.
        let c = &j["censored"];
        assert_eq!(c["unsent_at_end"], c["unsent"], "{c}");
        assert!(c["unsent"].as_u64().unwrap() <= 2, "{c}");
        assert_eq!(j["requests"]["failed"], 0);
    }
}

/// `search --slo 'errors<0.1%'` against a server far faster than the rates tried:
/// every step used to fail on its one boundary request, and the answer was "none".
#[test]
fn test_search_with_an_errors_threshold_finds_a_rate() {
    let out = loadgen()
        .args([
            "search",
            "--slo",
            "p99<50ms,errors<0.1%",
            "--start",
            "200",
            "--max-rate",
            "400",
            "--step",
            "1s",
            "--warmup",
            "200ms",
            "--cooldown",
            "0s",
            "--max-steps",
            "3",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer = j["answer_rps"].as_f64();
    assert!(answer.is_some_and(|a| a >= 200.0), "{j}");
}
