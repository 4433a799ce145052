//! The loadgen binary run to its end with `--json -`: its report, parsed (the run must
//! succeed; its stderr is in the failure message).
#![allow(dead_code)] // each test binary uses a different subset

use std::process::Command;

pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}
