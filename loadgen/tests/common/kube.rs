//! loadgen's Kubernetes manifests (`loadgen/deploy/kubernetes/`) as a test sees them:
//! copied to a folder of the test's own (with a token, which the repository does not
//! hold), rendered with `kubectl kustomize`, read as JSON (through Python's yaml, which
//! kubernetes-validate needs anyway), and the kubelet's `$(VAR)` expansion of a
//! container's arguments. The tools are optional: a test without them skips and says
//! so, unless READYLOOP_REQUIRE_TOOLS=1, where it fails (`.ci/run` installs them).
#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The manifests' folder in the repository.
pub fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Skip (`false`, and a note) when `what` is missing, or fail under
/// READYLOOP_REQUIRE_TOOLS=1, as the other tests that need a tool do.
pub fn missing(what: &str, install: &str) -> bool {
    assert!(
        std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "READYLOOP_REQUIRE_TOOLS=1 but {what} is missing ({install})"
    );
    eprintln!("skipping: {what} is not installed ({install})");
    false
}

/// Whether `program args` runs and succeeds.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether Python's yaml module is there (to read rendered manifests), else skip.
pub fn have_python_yaml() -> bool {
    runs("python3", &["-c", "import yaml"])
        || missing(
            "python3's yaml",
            "pip install pyyaml, or kubernetes-validate",
        )
}

/// A kubectl: its path and its client's minor version (20 for 1.20).
pub struct Kubectl {
    pub path: String,
    pub minor: u32,
}

/// The client version's minor number that `kubectl version --client` prints, in
/// either of its formats (1.20's `Minor:"20"`, later `Client Version: v1.32.4`).
fn minor_version(path: &str) -> Option<u32> {
    let out = Command::new(path)
        .args(["version", "--client"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(rest) = text.split("Minor:\"").nth(1) {
        return rest.split('"').next()?.trim_end_matches('+').parse().ok();
    }
    let v = text.split("Client Version: v").nth(1)?;
    v.split('.').nth(1)?.parse().ok()
}

/// The kubectls to render with: READYLOOP_KUBECTL (where `.ci/run` puts Debian's
/// kubectl 1.20 when another kubectl is on PATH) and `kubectl` on PATH, each once.
/// Empty (and a note) when there is none.
pub fn kubectls() -> Vec<Kubectl> {
    let mut paths: Vec<String> = std::env::var("READYLOOP_KUBECTL")
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    paths.push("kubectl".into());
    let mut found: Vec<Kubectl> = Vec::new();
    for path in paths {
        if let Some(minor) = minor_version(&path) {
            if !found.iter().any(|k| k.minor == minor) {
                found.push(Kubectl { path, minor });
            }
        }
    }
    if found.is_empty() {
        missing("kubectl", "apt-get install kubernetes-client");
    }
    found
}

/// A folder of the test's own, removed on drop (a failed assertion included).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("loadgen-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("make the test's folder");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The token the tests write, as a user would (docs/distributed.md).
pub const TOKEN: &str = "test-token-not-a-secret";

/// The manifests copied into `dst`, with the token file the kustomization reads.
pub fn copy_manifests(dst: &Path) {
    for entry in std::fs::read_dir(manifests()).expect("read the manifests' folder") {
        let entry = entry.expect("a manifest");
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), dst.join(entry.file_name())).expect("copy a manifest");
        }
    }
    std::fs::write(dst.join("token"), TOKEN).expect("write the token");
}

/// `file` in `dir` with `from` replaced by `to`, which must be there.
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).expect("read a manifest");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&p, text.replace(from, to)).expect("write a manifest");
}

/// `kubectl kustomize dir` with `kubectl`: the YAML it prints (its stderr, where a
/// newer kustomize warns of deprecated fields, is dropped unless it fails).
pub fn render_yaml(kubectl: &Kubectl, dir: &Path) -> String {
    let out = Command::new(&kubectl.path)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl 1.{} kustomize failed: {}",
        kubectl.minor,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kustomize prints UTF-8")
}

/// YAML documents as JSON values, by Python's yaml (safe_load_all).
pub fn yaml_to_json(yaml: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("python3's stdin");
        stdin.write_all(yaml.as_bytes()).expect("feed python3");
    }
    let out = child.wait_with_output().expect("python3's output");
    assert!(out.status.success(), "python3 could not read the YAML");
    match serde_json::from_slice(&out.stdout).expect("JSON from python3") {
        Value::Array(docs) => docs,
        other => panic!("not a list of documents: {other}"),
    }
}

/// The object of `kind` in `objs` (exactly one).
pub fn one<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objs.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in the manifests");
    found[0]
}

/// The kubelet's expansion of `$(VAR)` in a container's command, arguments and
/// subPathExpr: a defined variable is replaced, `$$` is a `$`, anything else (an
/// undefined variable included) is kept as written.
pub fn kubelet_expand(s: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
            .filter(|(name, _)| env.contains_key(*name))
        {
            out.push_str(&env[name]);
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The Job's container's arguments as the kubelet passes them, with `env`.
pub fn job_args(job: &Value, env: &HashMap<String, String>) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| kubelet_expand(a.as_str().expect("an argument is text"), env))
        .collect()
}
