//! A network namespace of a test's own (its own loopback and sysctls), deleted on drop;
//! the tests that need one skip without root, or fail with READYLOOP_REQUIRE_NETNS=1.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::{Command, Stdio};

/// A namespace named after the test and this process, loopback up.
pub struct Netns(pub String);

fn ok(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Netns {
    /// Make it, loopback up; `None` without the rights.
    pub fn new(tag: &str) -> Option<Netns> {
        let name = format!("rl-{tag}-{}", std::process::id());
        if !ok(Command::new("ip").args(["netns", "add", &name])) {
            return None;
        }
        let ns = Netns(name);
        if !ok(Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"])) {
            return None;
        }
        Some(ns)
    }

    /// Write `value` to `/proc/sys/<key>` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> bool {
        ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.0,
            "sh",
            "-c",
            &format!("echo '{value}' > /proc/sys/{key}"),
        ]))
    }

    /// The loadgen binary run inside the namespace.
    pub fn loadgen(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_loadgen")])
            .args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A namespace, or `None` (and a note) where none can be made; with
/// `READYLOOP_REQUIRE_NETNS=1` that is a failure instead.
pub fn netns_or_skip(tag: &str) -> Option<Netns> {
    let ns = Netns::new(tag);
    if ns.is_none() {
        assert!(
            std::env::var("READYLOOP_REQUIRE_NETNS").as_deref() != Ok("1"),
            "READYLOOP_REQUIRE_NETNS=1 but a network namespace could not be made (needs root and iproute2)"
        );
        eprintln!("skipping: cannot create a network namespace here (needs root and iproute2)");
    }
    ns
}
