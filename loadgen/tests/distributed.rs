//! Issue 18's stand-in hosts: a server namespace and three generator namespaces joined
//! by veth pairs on a bridge (test-only addresses, 10.218.0.0/24, inside namespaces
//! this test makes; nothing else is a target), one segment in each, the coordinator in
//! the first, found by a host name (`lg-0.lg`, from the namespaces' own /etc/hosts, as
//! a pod finds segment 0 through the Job's headless Service). The namespaces and their
//! files are removed afterwards, also on failure. Skipped without root; required with
//! READYLOOP_REQUIRE_NETNS=1.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[path = "common/split_run.rs"]
mod split_run;
use split_run::{merged_json, stderr};

#[path = "common/netns.rs"]
mod netns;
use netns::Netns;

const SERVER: &str = "10.218.0.1";

/// The namespaces, the bridge, the server; all gone on drop.
struct Lab {
    srv: Netns,
    gens: Vec<Netns>,
    server: Option<Child>,
    dir: PathBuf,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tag for one lab's links, unique among this machine's tests: the process and the
/// lab (veth names are at most 15 bytes).
fn lab_tag(lab: u32) -> u32 {
    (std::process::id() % 100_000) * 10 + lab
}

impl Lab {
    /// The server's namespace with a bridge at 10.218.0.1, and three generators at
    /// 10.218.0.10-12 on it; the HTTP server listening at 10.218.0.1:8080. `lab` (a
    /// digit) names them and their links apart from another test's: tests run at once.
    fn new(lab: u32) -> Option<Lab> {
        let srv = netns::netns_or_skip(&format!("ds{lab}"))?;
        let gens: Vec<Netns> = (0..3)
            .map(|i| Netns::new(&format!("dg{lab}{i}")).unwrap())
            .collect();
        let dir = std::env::temp_dir().join(format!("lg-dist-{lab}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut made = Lab {
            srv,
            gens,
            server: None,
            dir,
        };
        made.wire(lab_tag(lab));
        made.start_server();
        Some(made)
    }

    fn wire(&self, tag: u32) {
        let s = &self.srv.0;
        ip(&["-n", s, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", s, "link", "set", "br0", "up"]);
        for (i, g) in self.gens.iter().enumerate() {
            let (a, b) = (format!("vg{tag}{i}"), format!("vs{tag}{i}"));
            ip(&[
                "link", "add", &a, "netns", &g.0, "type", "veth", "peer", "name", &b, "netns", s,
            ]);
            ip(&["-n", s, "link", "set", &b, "master", "br0", "up"]);
            ip(&[
                "-n",
                &g.0,
                "addr",
                "add",
                &format!("10.218.0.1{i}/24"),
                "dev",
                &a,
            ]);
            ip(&["-n", &g.0, "link", "set", &a, "up"]);
            // `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts: the name
            // the segments find the coordinator by.
            let etc = Path::new("/etc/netns").join(&g.0);
            std::fs::create_dir_all(&etc).unwrap();
            std::fs::write(
                etc.join("hosts"),
                "127.0.0.1 localhost\n10.218.0.10 lg-0.lg\n",
            )
            .unwrap();
        }
    }

    fn start_server(&mut self) {
        let mut c = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.srv.0,
                env!("CARGO_BIN_EXE_loadgen"),
                "__serve",
                "--http",
            ])
            .args([
                "--listen",
                &format!("{SERVER}:8080"),
                "--admin",
                &format!("{SERVER}:8081"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Its one line says it listens.
        let mut line = String::new();
        let out = c.stdout.as_mut().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert!(line.contains("8080"), "{line}");
        self.server = Some(c);
    }

    /// The server's request count, from its admin listener.
    fn requests(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.srv.0,
                "curl",
                "-sf",
                &format!("http://{SERVER}:8081/stats"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "curl /stats");
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        j["stats"]["requests"].as_u64().unwrap()
    }

    /// Segment `i` of 3 of `args` in generator namespace `i`, through the coordinator
    /// `lg-0.lg:7070`, with `token`.
    fn segment(&self, i: usize, args: &[&str], token: &str) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.gens[i].0,
                env!("CARGO_BIN_EXE_loadgen"),
            ])
            .args(args)
            .args([
                "--segment",
                &format!("{i}/3"),
                "--coordinator",
                "lg-0.lg:7070",
            ])
            .env("LOADGEN_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        for g in &self.gens {
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&g.0));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // The namespaces go with their `Netns`: the bridge and the veths with them.
    }
}

fn wait_all(kids: Vec<Child>) -> Vec<Output> {
    kids.into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .collect()
}

/// Three hosts, one run: the merged count is the segments' sum and the server's; every
/// merged histogram (whole run, raw, each phase, each second) is the segments' added
/// bucket for bucket; --slo is judged on the merge (one exit code: 99, the others 0).
#[test]
fn test_three_hosts_one_run_merged_exactly_and_judged_once() {
    let Some(lab) = Lab::new(1) else { return };
    let before = lab.requests();
    let url = format!("http://{SERVER}:8080/");
    let log = lab.path("merged.hlog");
    let results: Vec<String> = (0..3).map(|i| lab.path(&format!("seg-{i}.json"))).collect();
    let kids: Vec<Child> = (0..3)
        .map(|i| {
            let mut args = vec!["run", &url, "-c", "6", "-R", "600", "-n", "1800"];
            args.extend([
                "--slo",
                "p99<10s,p50<1us",
                "--json",
                "-",
                "--result",
                &results[i],
            ]);
            if i == 0 {
                args.extend(["--log", &log]);
            }
            lab.segment(i, &args, "a-long-random-token")
        })
        .collect();
    let outs = wait_all(kids);
    for m in &outs[1..] {
        assert_eq!(m.status.code(), Some(0), "{}", stderr(m));
    }
    assert_eq!(outs[0].status.code(), Some(99), "{}", stderr(&outs[0]));
    let j = merged_json(&outs[0]);
    let segs: Vec<loadgen::result::RunResult> = results
        .iter()
        .map(|p| loadgen::result_file::read(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let measured: u64 = segs.iter().map(|r| r.rec.measured).sum();
    assert_eq!(measured, 1800);
    assert_eq!(j["requests"]["measured"], 1800);
    assert_eq!(lab.requests() - before, 1800, "the server's count");
    let pass: Vec<&Value> = j["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["pass"])
        .collect();
    assert_eq!(pass, [true, false]);
    let sum = |f: &dyn Fn(&loadgen::result::RunResult) -> hdrhistogram::Histogram<u64>| {
        let mut h = loadgen::record::new_histogram();
        for r in &segs {
            h.add(f(r)).unwrap();
        }
        h
    };
    let decode = |v: &Value| loadgen::report::decode_histogram(v.as_str().unwrap()).unwrap();
    assert_eq!(
        decode(&j["histograms"]["corrected"]),
        sum(&|r| r.rec.corrected.clone())
    );
    assert_eq!(decode(&j["histograms"]["raw"]), sum(&|r| r.rec.raw.clone()));
    assert_eq!(
        decode(&j["phases"]["histograms"]["ttfb"]),
        sum(&|r| r.rec.phases.ttfb.clone())
    );
    assert_eq!(
        decode(&j["phases"]["histograms"]["connect"]),
        sum(&|r| r.rec.phases.connect.clone())
    );
    let seconds = loadgen::report::read_interval_log(&std::fs::read(&log).unwrap()).unwrap();
    assert!(!seconds.is_empty());
    for (k, iv) in seconds.iter().enumerate() {
        let want = sum(&|r| {
            r.intervals
                .get(k)
                .map_or_else(loadgen::record::new_histogram, |i| i.corrected.histogram())
        });
        assert_eq!(iv.histogram, want, "second {k}");
    }
    for row in j["segments"].as_array().unwrap() {
        assert_eq!(row["measured"], 600, "{row}");
        assert!(row["skew"]["bound_s"].as_f64().unwrap() < 0.01, "{row}");
    }
    // `loadgen merge` of the segments' files: the coordinator's merge, field for field.
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("merge")
        .args(&results)
        .args(["--slo", "p99<10s,p50<1us", "--json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(99), "{}", stderr(&out));
    let by_files: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_files, j);
}

/// The coordinator refuses a segment of another run, a wrong token and garbage (and
/// counts them), then names the segments that never came: exit 4, nothing measured.
/// A segment killed mid-run is named lost, the others' figures reported, exit 4.
#[test]
fn test_refusals_a_missing_and_a_lost_segment_across_hosts() {
    let Some(lab) = Lab::new(2) else { return };
    let url = format!("http://{SERVER}:8080/");
    let before = lab.requests();
    let args = [
        "run",
        &url,
        "-c",
        "3",
        "-R",
        "90",
        "-d",
        "2s",
        "--wait-segments",
        "4s",
    ];
    let coord = lab.segment(0, &args, "right");
    std::thread::sleep(Duration::from_millis(700));
    let other = [
        "run",
        &url,
        "-c",
        "3",
        "-R",
        "91",
        "-d",
        "2s",
        "--wait-segments",
        "4s",
    ];
    let other_plan = lab.segment(1, &other, "right");
    let wrong_token = lab.segment(2, &args, "wrong");
    let garbage = Command::new("ip")
        .args(["netns", "exec", &lab.gens[2].0, "bash", "-c"])
        .arg(
            "exec 3<>/dev/tcp/10.218.0.10/7070; printf 'GET / HTTP/1.1\\r\\n\\r\\n' >&3; sleep 0.3",
        )
        .status()
        .unwrap();
    assert!(garbage.success());
    let outs = wait_all(vec![coord, other_plan, wrong_token]);
    assert_eq!(outs[1].status.code(), Some(4));
    assert!(stderr(&outs[1]).contains("plan"), "{}", stderr(&outs[1]));
    assert_eq!(outs[2].status.code(), Some(4));
    assert!(stderr(&outs[2]).contains("token"), "{}", stderr(&outs[2]));
    let e = stderr(&outs[0]);
    assert_eq!(outs[0].status.code(), Some(4), "{e}");
    assert!(e.contains("segments 1 and 2 never connected"), "{e}");
    assert!(
        e.contains("garbage 1") && e.contains("bad token 1") && e.contains("another run 1"),
        "{e}"
    );
    assert_eq!(lab.requests(), before, "nothing measured");

    let long = [
        "run", &url, "-c", "3", "-R", "90", "-d", "4s", "--warmup", "0s", "--json", "-",
    ];
    let mut kids: Vec<Child> = (0..3).map(|i| lab.segment(i, &long, "t")).collect();
    std::thread::sleep(Duration::from_millis(2500));
    kids[2].kill().unwrap();
    let outs = wait_all(kids);
    assert_eq!(outs[0].status.code(), Some(4), "{}", stderr(&outs[0]));
    let j = merged_json(&outs[0]);
    let rows = j["segments"].as_array().unwrap();
    assert!(
        rows[2]["lost"].as_str().unwrap().contains("lost mid-run"),
        "{}",
        rows[2]
    );
    assert!(rows[0]["lost"].is_null() && rows[1]["lost"].is_null());
    assert!(stderr(&outs[0]).contains("segment(s) 2 of 3 missing"));
}
