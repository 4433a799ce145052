//! loadgen's Kubernetes manifests (`loadgen/deploy/kubernetes/`), with no cluster:
//! rendered by `kubectl kustomize` (kubectl 1.20's built-in kustomize, Debian's, and any
//! newer kubectl on PATH: the same objects), validated offline against the Kubernetes
//! schemas by kubernetes-validate (strict: no unknown field), and held to the contract
//! of issue 18: an Indexed Job of N pods run once, segment I of N each, the coordinator
//! reachable through a headless Service, the token from a Secret; N set in one file.
//! `collect.sh` is run against a stand-in kubectl that answers as a cluster would.
//!
//! Needs kubectl, kubernetes-validate (PyPI) and Python's yaml: without them the tests
//! skip and say so, unless READYLOOP_REQUIRE_TOOLS=1 (`.ci/run` installs them, and
//! Debian's kubectl 1.20 beside any other, in READYLOOP_KUBECTL).

#[path = "common/kube.rs"]
mod kube;

use kube::{Kubectl, TempDir};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The oldest Kubernetes whose schemas kubernetes-validate ships (1.25): Indexed Jobs
/// are GA since 1.24, so every field here is known to it. The newest (the tool's
/// default) is checked too, for anything removed since.
const OLDEST_SCHEMA: &str = "1.25.0";

/// The N of the committed run.yaml.
const N: u64 = 4;

/// kubectls and the rest, or `None` (skipped, with a note).
fn tools() -> Option<Vec<Kubectl>> {
    if !kube::have_python_yaml()
        || !(kube::runs("python3", &["-m", "kubernetes_validate", "--version"])
            || kube::missing("kubernetes-validate", "pip install kubernetes-validate"))
    {
        return None;
    }
    let kubectls = kube::kubectls();
    if kubectls.is_empty() {
        return None;
    }
    if !kubectls.iter().any(|k| k.minor == 20) {
        assert!(
            std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "READYLOOP_REQUIRE_TOOLS=1 but no kubectl 1.20 (Debian's kubernetes-client, \
             the oldest kustomize the manifests must render with; or READYLOOP_KUBECTL=PATH)"
        );
        eprintln!(
            "note: no kubectl 1.20 here (Debian's kubernetes-client, or READYLOOP_KUBECTL=PATH): \
             rendered with kubectl 1.{} only",
            kubectls[0].minor
        );
    }
    Some(kubectls)
}

/// The manifests of `dir` rendered by every kubectl, checked to be the same objects
/// (up to order, and the Secret's name suffix, a hash each kustomize computes its
/// own way), as JSON; the YAML of the first too.
fn render_all(kubectls: &[Kubectl], dir: &Path) -> (String, Vec<Value>) {
    let mut first: Option<(String, Vec<Value>)> = None;
    for k in kubectls {
        let yaml = kube::render_yaml(k, dir);
        let objs = canonical(kube::yaml_to_json(&yaml));
        match &first {
            None => first = Some((yaml, objs)),
            Some((_, seen)) => assert_eq!(
                &objs, seen,
                "kubectl 1.{} renders other objects than kubectl 1.{}",
                k.minor, kubectls[0].minor
            ),
        }
    }
    first.expect("at least one kubectl")
}

/// Objects sorted by kind and name, the Secret's name (a hash suffix) as `TOKEN`.
fn canonical(objs: Vec<Value>) -> Vec<Value> {
    let secret = kube::one(&objs, "Secret")["metadata"]["name"]
        .as_str()
        .expect("the Secret's name")
        .to_string();
    let text = serde_json::to_string(&objs).expect("to JSON");
    let mut objs: Vec<Value> = serde_json::from_str(&text.replace(&secret, "TOKEN")).expect("JSON");
    objs.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    objs
}

/// kubernetes-validate, strict, on `yaml` against `version` (`None`: its newest).
fn validate(yaml: &str, version: Option<&str>) {
    let dir = TempDir::new("k8s-validate");
    let file = dir.0.join("rendered.yaml");
    std::fs::write(&file, yaml).expect("write the rendered manifests");
    // As a module of the python3 that pip installed it for (its script may not be on
    // PATH).
    let mut c = Command::new("python3");
    c.args(["-m", "kubernetes_validate", "--strict"]);
    if let Some(v) = version {
        c.args(["-k", v]);
    }
    let out = c.arg(&file).output().expect("run kubernetes-validate");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubernetes-validate {version:?}:\n{said}"
    );
    // One "passed" line per object: five objects, none skipped as unknown.
    assert_eq!(said.matches(" passed ").count(), 5, "{said}");
}

fn pod_spec(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

fn container(job: &Value) -> &Value {
    &pod_spec(job)["containers"][0]
}

/// The whole contract of the rendered manifests, for `n` segments.
fn assert_contract(objs: &[Value], n: u64) {
    let job = kube::one(objs, "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], n, "completions = N");
    assert_eq!(
        spec["parallelism"], n,
        "parallelism = N: all segments at once"
    );
    assert_eq!(spec["backoffLimit"], 0, "a failed run is not run again");
    assert!(spec["activeDeadlineSeconds"]
        .as_u64()
        .is_some_and(|s| s > 0));
    assert_eq!(pod_spec(job)["restartPolicy"], "Never");
    assert_segment_args(job, n);
    assert_coordinator_reachable(objs, job);
    assert_token_from_secret(objs, job);
    assert_args_file_from_config_map(objs, job);
    assert_pod_settings(job);
}

/// `--segment $(JOB_COMPLETION_INDEX)/N`, and as the kubelet expands it for pod I.
fn assert_segment_args(job: &Value, n: u64) {
    let raw = kube::job_args(job, &HashMap::new());
    let at = raw
        .iter()
        .position(|a| a == "--segment")
        .expect("--segment");
    assert_eq!(raw[at + 1], format!("$(JOB_COMPLETION_INDEX)/{n}"));
    assert_eq!(raw[0], "run");
    for i in [0, n - 1] {
        let env = HashMap::from([("JOB_COMPLETION_INDEX".to_string(), i.to_string())]);
        assert_eq!(kube::job_args(job, &env)[at + 1], format!("{i}/{n}"));
    }
}

/// A headless Service named as the Job's subdomain, selecting the Job's pods, on the
/// coordinator's port; `--coordinator` is segment 0's stable name in it.
fn assert_coordinator_reachable(objs: &[Value], job: &Value) {
    let svc = kube::one(objs, "Service");
    let name = svc["metadata"]["name"]
        .as_str()
        .expect("the Service's name");
    assert_eq!(svc["spec"]["clusterIP"], "None", "headless");
    assert_eq!(pod_spec(job)["subdomain"], name, "subdomain = the Service");
    let job_name = job["metadata"]["name"].as_str().expect("the Job's name");
    assert_eq!(svc["spec"]["selector"]["job-name"], job_name);
    let args = kube::job_args(job, &HashMap::new());
    let at = args
        .iter()
        .position(|a| a == "--coordinator")
        .expect("--coordinator");
    let port = svc["spec"]["ports"][0]["port"].as_u64().expect("a port");
    assert_eq!(args[at + 1], format!("{job_name}-0.{name}:{port}"));
    assert_eq!(container(job)["ports"][0]["containerPort"], port);
}

/// LOADGEN_TOKEN from the Secret's key, which holds the token written.
fn assert_token_from_secret(objs: &[Value], job: &Value) {
    let env = container(job)["env"].as_array().expect("env");
    let token = env
        .iter()
        .find(|e| e["name"] == "LOADGEN_TOKEN")
        .expect("LOADGEN_TOKEN");
    let by = &token["valueFrom"]["secretKeyRef"];
    let secret = kube::one(objs, "Secret");
    assert_eq!(by["name"], secret["metadata"]["name"]);
    let key = by["key"].as_str().expect("a key");
    let data = secret["data"][key]
        .as_str()
        .expect("the Secret has the key");
    let encoded = base64_of(kube::TOKEN.as_bytes());
    assert_eq!(data, encoded, "the Secret holds the token file");
    assert!(token.get("value").is_none(), "never in the Job itself");
}

/// Standard base64 (the Secret's data), small and here to keep the test's own.
fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `--args-file FILE` where the ConfigMap's `run.args` is mounted.
fn assert_args_file_from_config_map(objs: &[Value], job: &Value) {
    let args = kube::job_args(job, &HashMap::new());
    let at = args
        .iter()
        .position(|a| a == "--args-file")
        .expect("--args-file");
    let file = Path::new(&args[at + 1]);
    let (dir, name) = (file.parent().expect("a folder"), file.file_name());
    let mount = container(job)["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == dir.to_str().expect("UTF-8"))
        .expect("the args file's folder is mounted");
    let volume = pod_spec(job)["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("its volume");
    let cm = kube::one(objs, "ConfigMap");
    assert_eq!(volume["configMap"]["name"], cm["metadata"]["name"]);
    let key = name.and_then(|n| n.to_str()).expect("a file name");
    let text = cm["data"][key]
        .as_str()
        .expect("the ConfigMap has run.args");
    assert!(text.lines().any(|l| l.starts_with("--duration=")), "{text}");
}

/// The sysctl, the spread over nodes, the resources, the reports volume per segment.
fn assert_pod_settings(job: &Value) {
    let sysctls = pod_spec(job)["securityContext"]["sysctls"]
        .as_array()
        .expect("sysctls");
    let range = sysctls
        .iter()
        .find(|s| s["name"] == "net.ipv4.ip_local_port_range")
        .expect("net.ipv4.ip_local_port_range");
    assert_eq!(range["value"], "1024 65535");
    let spread = &pod_spec(job)["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(spread["whenUnsatisfiable"], "DoNotSchedule");
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["job-name"],
        job["metadata"]["name"]
    );
    let res = &container(job)["resources"];
    assert_eq!(res["requests"], res["limits"], "Guaranteed QoS");
    assert!(res["limits"]["cpu"].is_string() && res["limits"]["memory"].is_string());
    let reports = container(job)["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == "/reports")
        .expect("the reports volume");
    assert_eq!(reports["subPathExpr"], "segment-$(JOB_COMPLETION_INDEX)");
}

#[test]
fn test_manifests_render_validate_and_keep_the_contract() {
    let Some(kubectls) = tools() else { return };
    let dir = TempDir::new("k8s-render");
    kube::copy_manifests(&dir.0);
    let (yaml, objs) = render_all(&kubectls, &dir.0);
    validate(&yaml, Some(OLDEST_SCHEMA));
    validate(&yaml, None);
    assert_contract(&objs, N);
    let kinds: Vec<&str> = objs.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Job",
            "PersistentVolumeClaim",
            "Secret",
            "Service"
        ]
    );
}

#[test]
fn test_n_set_in_run_yaml_reaches_every_place() {
    let Some(kubectls) = tools() else { return };
    let dir = TempDir::new("k8s-n");
    kube::copy_manifests(&dir.0);
    // run.yaml's two lines of N, the only edit (its comment says why two).
    kube::edit(&dir.0, "run.yaml", "segments: \"4\"", "segments: \"7\"");
    kube::edit(&dir.0, "run.yaml", "completions: 4", "completions: 7");
    let (yaml, objs) = render_all(&kubectls, &dir.0);
    validate(&yaml, Some(OLDEST_SCHEMA));
    assert_contract(&objs, 7);
}

#[test]
fn test_image_and_flags_set_in_run_yaml() {
    let Some(kubectls) = tools() else { return };
    let dir = TempDir::new("k8s-one-place");
    kube::copy_manifests(&dir.0);
    kube::edit(
        &dir.0,
        "run.yaml",
        "image: localhost/loadgen:0.1.0",
        "image: registry.example/loadgen:9.9.9",
    );
    kube::edit(&dir.0, "run.yaml", "--duration=60s", "--duration=17s");
    let (_, objs) = render_all(&kubectls, &dir.0);
    let job = kube::one(&objs, "Job");
    assert_eq!(container(job)["image"], "registry.example/loadgen:9.9.9");
    let cm = kube::one(&objs, "ConfigMap");
    let args = cm["data"]["run.args"].as_str().expect("run.args");
    assert!(args.lines().any(|l| l == "--duration=17s"), "{args}");
}

/// A stand-in kubectl for collect.sh: the pods of a finished Job, segment 0's log
/// with the merged report between its markers, its exit code.
const FAKE_KUBECTL: &str = r#"#!/bin/sh
case "$*" in
  *"get pods -l job-name=loadgen,batch.kubernetes.io/job-completion-index=0"*) echo loadgen-0-abcde ;;
  "logs loadgen-0-abcde")
    echo "segment 0/4: waiting for 3 segments"
    echo "--- loadgen merged report begin ---"
    echo "throughput:  40,000 req/s"
    echo "  p99           1.20ms"
    echo "--- loadgen merged report end ---"
    echo "bye" ;;
  *"get job loadgen"*) echo loadgen-reports ;;
  *"get pod loadgen-0-abcde"*) echo "$FAKE_EXIT" ;;
  *) echo "fake kubectl: unexpected: $*" >&2; exit 1 ;;
esac
"#;

#[test]
fn test_collect_prints_the_merged_report_and_exits_as_segment_0() {
    let dir = TempDir::new("k8s-collect");
    let fake = dir.0.join("kubectl");
    std::fs::write(&fake, FAKE_KUBECTL).expect("write the fake kubectl");
    let chmod = Command::new("chmod").arg("+x").arg(&fake).status();
    assert!(chmod.is_ok_and(|s| s.success()));
    let script = kube::manifests().join("collect.sh");
    for (exit, says) in [
        ("0", "the run passed"),
        ("4", "a segment was missing or lost"),
        ("99", "thresholds failed"),
    ] {
        let out = Command::new("bash")
            .arg(&script)
            .env("KUBECTL", &fake)
            .env("FAKE_EXIT", exit)
            .output()
            .expect("run collect.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), exit.parse().ok(), "{stderr}");
        assert_eq!(
            stdout,
            "throughput:  40,000 req/s\n  p99           1.20ms\n"
        );
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            stderr.contains("loadgen-reports"),
            "names the claim: {stderr}"
        );
    }
}

/// The args file of the committed run.yaml, as loadgen reads it: every flag known and
/// every value of the form clap checks (clap prints the help only once all the
/// arguments before `--help` have parsed, and nothing is run).
#[test]
fn test_run_yaml_flags_parse_as_an_args_file() {
    let run_yaml = std::fs::read_to_string(kube::manifests().join("run.yaml")).expect("run.yaml");
    let (_, block) = run_yaml
        .split_once("  run.args: |\n")
        .expect("run.args in run.yaml");
    let text: String = block
        .lines()
        .map(|l| l.strip_prefix("    ").expect("the block's indentation"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(text.lines().count() >= 5, "{text}");
    let dir = TempDir::new("k8s-args");
    let file = dir.0.join("run.args");
    std::fs::write(&file, &text).expect("write run.args");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "--args-file"])
        .arg(&file)
        .arg("--help")
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--rate"));
    // The same file with a mistyped flag is refused: the file was read.
    std::fs::write(&file, text.replace("--rate=", "--rat=")).expect("write run.args");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "--args-file"])
        .arg(&file)
        .arg("--help")
        .output()
        .expect("run loadgen");
    assert_eq!(out.status.code(), Some(2));
}

/// An args file that cannot be read: one line naming it, exit code 2 (usage).
#[test]
fn test_an_unreadable_args_file_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "--args-file", "/nonexistent/run.args"])
        .output()
        .expect("run loadgen");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("loadgen: --args-file /nonexistent/run.args: "),
        "{stderr}"
    );
}
