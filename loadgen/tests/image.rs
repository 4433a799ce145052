//! loadgen's container image (`loadgen/deploy/Containerfile`), with no container
//! runtime: built by `loadgen/deploy/build-image.sh` with buildah, pushed to an OCI
//! layout, unpacked by umoci, and its own root filesystem used to run the binary as a
//! pod would: chrooted, as the image's user, with only the environment the pod gives
//! (JOB_COMPLETION_INDEX, LOADGEN_TOKEN), /proc mounted, /etc/hosts and
//! /etc/resolv.conf written as the kubelet writes them, the ConfigMap's args file and
//! the reports volume in place, and its arguments taken from the rendered Job with
//! `$(VAR)` expanded as the kubelet does. The chroot shares this machine's network, so
//! the target is a readyloop server of the test's own on 127.0.0.1.
//!
//! The image and every folder made are removed at the end, a failed test included.
//! The musl build is the slow part (about 2 minutes from nothing on 2 cores): CI builds
//! it once before its tests and names it in LOADGEN_MUSL_BIN, which the build script
//! then uses; without it the script builds it.
//!
//! Needs root (chroot, mount), buildah, umoci, kubectl, Python's yaml, binutils, and
//! for a build musl-tools and rustup's x86_64-unknown-linux-musl target: without them
//! the tests skip and say so, unless READYLOOP_REQUIRE_TOOLS=1.

#[path = "common/kube.rs"]
mod kube;

use kube::{Kubectl, TempDir};
use readyloop::server::{ProtoKind, Server, ServerConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The image's user (Containerfile's USER, job.yaml's runAsUser).
const UID: u32 = 65532;

/// The tools, or `None` (skipped, with a note).
fn tools() -> Option<Vec<Kubectl>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        kube::missing("root (for chroot and mount)", "run the tests as root");
        return None;
    }
    let needed = [
        ("buildah", "--version", "apt-get install buildah"),
        ("umoci", "--version", "apt-get install umoci"),
        ("readelf", "--version", "apt-get install binutils"),
        ("unshare", "--version", "apt-get install util-linux"),
    ];
    for (tool, arg, install) in needed {
        if !kube::runs(tool, &[arg]) {
            kube::missing(tool, install);
            return None;
        }
    }
    if !kube::have_python_yaml() {
        return None;
    }
    let kubectls = kube::kubectls();
    (!kubectls.is_empty()).then_some(kubectls)
}

/// An image built by the test, removed on drop (a failed assertion included).
struct Image(String);

impl Image {
    /// build-image.sh with a name of the test's own; prints how long it took.
    fn build() -> Image {
        let version = env!("CARGO_PKG_VERSION");
        let image = Image(format!(
            "localhost/loadgen-test-{}:{version}",
            std::process::id()
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/build-image.sh");
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg(&image.0)
            .output()
            .expect("run build-image.sh");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "build-image.sh failed:\n{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("build-image.sh: {:.1?}\n{said}", started.elapsed());
        image
    }

    /// Pushed to an OCI layout in `work` and unpacked there by umoci: the bundle.
    fn unpack(&self, work: &Path) -> PathBuf {
        let tag = env!("CARGO_PKG_VERSION");
        let layout = work.join("oci");
        let dest = format!("oci:{}:{tag}", layout.display());
        run_ok(Command::new("buildah").args(["push", "--quiet", &self.0, &dest]));
        let bundle = work.join("bundle");
        let from = format!("{}:{tag}", layout.display());
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--image", &from])
                .arg(&bundle),
        );
        eprintln!(
            "image: {} bytes as stored (compressed layer, config, manifest), {} bytes unpacked",
            tree_bytes(&layout.join("blobs")),
            tree_bytes(&bundle.join("rootfs"))
        );
        bundle
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("buildah")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

/// `c` run to its end, which must succeed.
fn run_ok(c: &mut Command) -> Output {
    let out = c.output().expect("run a tool");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The bytes of the files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    files(dir).iter().map(|(_, bytes)| bytes).sum()
}

/// The files under `root` (folders walked, not listed), relative, with their sizes.
fn files(root: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a folder") {
            let entry = entry.expect("an entry");
            let meta = entry.metadata().expect("its metadata");
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_owned();
                found.push((rel.display().to_string(), meta.len()));
            }
        }
    }
    found.sort();
    found
}

/// The image holds the binary and the CA bundle, nothing else; its config runs
/// /loadgen as the numeric user.
fn assert_only_what_it_needs(bundle: &Path) {
    let names: Vec<String> = files(&bundle.join("rootfs"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["etc/ssl/certs/ca-certificates.crt", "loadgen"]);
    let config: Value = serde_json::from_slice(
        &std::fs::read(bundle.join("config.json")).expect("the bundle's config.json"),
    )
    .expect("JSON");
    assert_eq!(config["process"]["args"][0], "/loadgen");
    assert_eq!(config["process"]["user"]["uid"], UID);
    // Static: a program interpreter would not be in the image.
    let elf = run_ok(
        Command::new("readelf")
            .arg("-l")
            .arg(bundle.join("rootfs/loadgen")),
    );
    assert!(!String::from_utf8_lossy(&elf.stdout).contains("INTERP"));
}

/// A readyloop HTTP server on 127.0.0.1 in a thread, stopped on drop.
struct Target {
    addr: std::net::SocketAddr,
    handle: readyloop::Handle,
    thread: Option<std::thread::JoinHandle<std::io::Result<readyloop::server::ServerStats>>>,
}

impl Target {
    fn start() -> Target {
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().expect("an address")],
            proto: ProtoKind::Http,
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).expect("bind the target");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        Target {
            addr,
            handle,
            thread,
        }
    }

    /// Requests answered, once stopped.
    fn stop(mut self) -> u64 {
        self.handle.shutdown();
        let thread = self.thread.take().expect("running");
        thread
            .join()
            .expect("joined")
            .expect("served")
            .http
            .requests
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// The rendered manifests, from a copy whose run.yaml has `n` segments and `args`
/// as its args file, and the coordinator on `port`.
fn render(kubectl: &Kubectl, work: &Path, n: u32, args: &[String], port: u16) -> Vec<Value> {
    let dir = work.join("manifests");
    std::fs::create_dir_all(&dir).expect("make the manifests' folder");
    kube::copy_manifests(&dir);
    kube::edit(
        &dir,
        "run.yaml",
        "segments: \"4\"",
        &format!("segments: \"{n}\""),
    );
    kube::edit(
        &dir,
        "run.yaml",
        "completions: 4",
        &format!("completions: {n}"),
    );
    kube::edit(
        &dir,
        "job.yaml",
        "loadgen-0.loadgen:7070",
        &format!("loadgen-0.loadgen:{port}"),
    );
    let run_yaml = std::fs::read_to_string(dir.join("run.yaml")).expect("run.yaml");
    let (head, _) = run_yaml
        .split_once("  run.args: |\n")
        .expect("run.args in run.yaml");
    let lines: String = args.iter().map(|a| format!("    {a}\n")).collect();
    std::fs::write(
        dir.join("run.yaml"),
        format!("{head}  run.args: |\n{lines}"),
    )
    .expect("write run.yaml");
    kube::yaml_to_json(&kube::render_yaml(kubectl, &dir))
}

/// The unpacked root filesystem made into a pod's: what the kubelet and the runtime
/// add to the image's files (see the module's doc).
struct Pod {
    rootfs: PathBuf,
    env: HashMap<String, String>,
}

impl Pod {
    fn new(bundle: &Path, objs: &[Value], index: u32) -> Pod {
        let rootfs = bundle.join("rootfs");
        let job = kube::one(objs, "Job");
        let hostname = format!(
            "{}-{index}",
            job["metadata"]["name"].as_str().expect("a name")
        );
        let subdomain = job["spec"]["template"]["spec"]["subdomain"]
            .as_str()
            .expect("subdomain");
        // The kubelet's /etc/hosts names the pod itself; in a cluster, the DNS answers
        // for the coordinator. Here the hosts file stands in for both, on loopback.
        let hosts = format!(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
             127.0.0.1\t{hostname}.{subdomain}.default.svc.cluster.local\t{hostname}\n\
             127.0.0.1\t{}-0.{subdomain}\n",
            job["metadata"]["name"].as_str().expect("a name")
        );
        let resolv = "search default.svc.cluster.local svc.cluster.local cluster.local\n\
                      nameserver 127.0.0.1\noptions ndots:5\n";
        std::fs::write(rootfs.join("etc/hosts"), hosts).expect("write /etc/hosts");
        std::fs::write(rootfs.join("etc/resolv.conf"), resolv).expect("write /etc/resolv.conf");
        std::fs::create_dir_all(rootfs.join("proc")).expect("make /proc");
        let cm = kube::one(objs, "ConfigMap");
        std::fs::create_dir_all(rootfs.join("etc/loadgen")).expect("make /etc/loadgen");
        let run_args = cm["data"]["run.args"].as_str().expect("run.args");
        std::fs::write(rootfs.join("etc/loadgen/run.args"), run_args).expect("write run.args");
        // The reports volume, this segment's folder of it, writable by the pod's fsGroup.
        let reports = rootfs.join("reports");
        std::fs::create_dir_all(&reports).expect("make /reports");
        std::os::unix::fs::chown(&reports, Some(UID), Some(UID)).expect("chown /reports");
        let env = HashMap::from([
            ("JOB_COMPLETION_INDEX".to_string(), index.to_string()),
            ("LOADGEN_TOKEN".to_string(), kube::TOKEN.to_string()),
            ("HOSTNAME".to_string(), hostname),
        ]);
        Pod { rootfs, env }
    }

    /// /loadgen ARGS in the pod's root, as its user, with /proc, with `extra` in the
    /// environment beside the pod's.
    fn run(&self, args: &[String], extra: &[(&str, &str)]) -> Output {
        let mut c = Command::new("unshare");
        // A mount namespace of its own: /proc is gone with the process.
        let script = format!(
            r#"mount -t proc proc "$0/proc" && exec chroot --userspec={UID}:{UID} "$0" /loadgen "$@""#
        );
        c.args(["-m", "sh", "-c", &script]);
        c.arg(&self.rootfs).args(args);
        c.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(&self.env)
            .envs(extra.iter().copied());
        c.output().expect("run /loadgen in the pod's root")
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Fails with what the run printed unless it exited 0.
fn assert_ran(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The run's flags for a short run against `target`, as run.yaml's args file.
fn short_run(target: &Target) -> Vec<String> {
    strings(&[
        &format!("http://{}/", target.addr),
        "--rate=200",
        "--connections=4",
        "--threads=1",
        "--warmup=0s",
        "--duration=1s",
        "--json=/reports/report.json",
    ])
}

#[test]
fn test_the_image_runs_loadgen_as_a_pod_would() {
    let Some(kubectls) = tools() else { return };
    let work = TempDir::new("image");
    let image = Image::build();
    let bundle = image.unpack(&work.0);
    assert_only_what_it_needs(&bundle);
    let target = Target::start();
    let objs = render(&kubectls[0], &work.0, 1, &short_run(&target), 7070);
    let pod = Pod::new(&bundle, &objs, 0);

    let version = pod.run(&strings(&["--version"]), &[]);
    assert_ran(&version);
    let expected = format!("loadgen {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&version.stdout), expected);

    // The run's flags from the ConfigMap's file, as the Job passes them.
    let run = pod.run(
        &strings(&["run", "--args-file", "/etc/loadgen/run.args"]),
        &[],
    );
    assert_ran(&run);
    let served = target.stop();
    let path = pod.rootfs.join("reports/report.json");
    assert_eq!(std::fs::metadata(&path).expect("report.json").uid(), UID);
    let report: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read report.json")).expect("JSON");
    assert_eq!(report["requests"]["failed"], 0, "{report}");
    let completed = report["requests"]["completed"].as_u64().expect("a count");
    assert!(completed > 0, "{report}");
    assert_eq!(
        completed, served,
        "every request the server answered is counted"
    );

    assert_ca_bundle_found(&pod);
    drop(image);
}

/// An HTTPS target's roots come from the image's bundle: with it, loadgen gets as far
/// as connecting (refused: nothing listens on port 1); pointed elsewhere by
/// SSL_CERT_FILE, it finds none.
fn assert_ca_bundle_found(pod: &Pod) {
    let args = strings(&["run", "https://127.0.0.1:1/", "-n", "1"]);
    let none = "no trusted root certificates found";
    let with = pod.run(&args, &[]);
    let said = String::from_utf8_lossy(&with.stderr);
    assert!(
        said.contains("cannot connect") && !said.contains(none),
        "{said}"
    );
    let without = pod.run(&args, &[("SSL_CERT_FILE", "/nonexistent.pem")]);
    let said = String::from_utf8_lossy(&without.stderr);
    assert!(said.contains(none), "{said}");
}

#[test]
fn test_the_image_runs_a_segment_with_the_jobs_arguments() {
    let Some(kubectls) = tools() else { return };
    let work = TempDir::new("image-segment");
    let image = Image::build();
    let bundle = image.unpack(&work.0);
    let target = Target::start();
    let port = free_port();
    let objs = render(&kubectls[0], &work.0, 1, &short_run(&target), port);
    let pod = Pod::new(&bundle, &objs, 0);
    // The Job's own arguments: --segment 0/1, the coordinator by its host name
    // (resolved from the pod's /etc/hosts), the token from the environment.
    let args = kube::job_args(kube::one(&objs, "Job"), &pod.env);
    assert!(
        args.windows(2).any(|w| w == ["--segment", "0/1"]),
        "{args:?}"
    );
    let out = pod.run(&args, &[]);
    assert_ran(&out);
    let served = target.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let begin = "--- loadgen merged report begin ---\n";
    let end = "--- loadgen merged report end ---\n";
    let merged = stdout
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(report, _)| report)
        .expect("the merged report between its markers");
    assert!(merged.contains("throughput"), "{merged}");
    let result = std::fs::read(pod.rootfs.join("reports/result.json")).expect("result.json");
    let _: Value = serde_json::from_slice(&result).expect("the result is JSON");
    assert!(served > 0);
    drop(image);
}

/// A port free on this machine now, for the coordinator (which listens on all
/// addresses, as in a pod).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}
