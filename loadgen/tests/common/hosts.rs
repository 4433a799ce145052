//! The loadgen binary run with an `/etc/hosts` of the test's own, so that a name
//! resolves to the addresses a test wants (two loopback addresses, say) without a DNS
//! query: in a mount namespace of its own (`unshare -m`, private propagation: the
//! machine's `/etc/hosts` is untouched), the file bind-mounted over it. Tests that need
//! it skip without the rights, or fail with READYLOOP_REQUIRE_NETNS=1.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether a mount namespace can be made here (root, util-linux's unshare).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `loadgen ARGS` with `hosts` as its `/etc/hosts`, or `None` (and a note) where no
/// mount namespace can be made.
pub fn loadgen_with_hosts(hosts: &Path, args: &[&str]) -> Option<Command> {
    if !can_unshare() {
        assert!(
            std::env::var("READYLOOP_REQUIRE_NETNS").as_deref() != Ok("1"),
            "READYLOOP_REQUIRE_NETNS=1 but a mount namespace could not be made (needs root and unshare)"
        );
        eprintln!("skipping: cannot make a mount namespace here (needs root and unshare)");
        return None;
    }
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/hosts && exec "$@""#,
    ])
    .arg(hosts)
    .arg(env!("CARGO_BIN_EXE_loadgen"))
    .args(args);
    Some(c)
}
