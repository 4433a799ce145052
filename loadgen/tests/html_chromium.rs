//! The HTML reports in a real browser: headless Chromium opens the page of a real run
//! and of a comparison, and the test checks they render (the DOM after load holds the
//! summary and the plots; a screenshot has content) and that they make no request
//! (statically: no `src`/`href` leaves the file; in the browser: its network log
//! shows no request from the page, with every host name unresolvable in any case).
//!
//! Without `chromium` or `chromium-browser` on PATH the test skips and says so, unless
//! `READYLOOP_REQUIRE_CHROMIUM=1` (set by `.ci/run`), where that is a failure. Every
//! Chromium run is bounded (killed, with its process group, after 60 s) and waited on.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Headless Chromium with a profile of its own, isolated from the network.
struct Chromium {
    bin: PathBuf,
    profile: PathBuf,
}

impl Chromium {
    /// Run it on `args` plus the fixed flags, stdout into `stdout`; panics when it fails
    /// or outlives [`CHROMIUM_TIMEOUT`] (after killing it and waiting for it).
    fn run(&self, args: &[OsString], stdout: &Path) {
        let out = std::fs::File::create(stdout).unwrap();
        let err_path = stdout.with_extension("stderr");
        let err = std::fs::File::create(&err_path).unwrap();
        let mut profile = OsString::from("--user-data-dir=");
        profile.push(&self.profile);
        let mut child = Command::new(&self.bin)
            // Root in a container needs --no-sandbox; the rest keep a headless run
            // quiet and offline: nothing Chromium wants for itself resolves either.
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--host-resolver-rules=MAP * ~NOTFOUND",
            ])
            .arg(profile)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so a hung run is killed with its helpers.
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = Pid::from_raw(child.id() as i32);
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > CHROMIUM_TIMEOUT {
                let _ = killpg(pgid, Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Helpers that outlive the browser process (none should) go with its group.
        let _ = killpg(pgid, Signal::SIGKILL);
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status {
            None => panic!("chromium {args:?} ran over {CHROMIUM_TIMEOUT:?}: {stderr}"),
            Some(s) => assert!(s.success(), "chromium {args:?}: {s}: {stderr}"),
        }
    }

    /// The DOM of `page` after it loaded, and the URLs the page itself requested (from
    /// Chromium's network log).
    fn load(&self, page: &Path, work: &Path) -> (String, Vec<String>) {
        let (dom, net) = (work.join("dom.html"), work.join("net.json"));
        let mut log = OsString::from("--log-net-log=");
        log.push(&net);
        self.run(&[log, "--dump-dom".into(), url(page)], &dom);
        let requests = page_requests(&std::fs::read(&net).unwrap());
        (std::fs::read_to_string(&dom).unwrap(), requests)
    }

    /// A screenshot of `page`, 1200 pixels wide; its size in bytes.
    fn screenshot(&self, page: &Path, png: &Path) -> u64 {
        let mut shot = OsString::from("--screenshot=");
        shot.push(png);
        self.run(
            &[
                shot,
                "--window-size=1200,2400".into(),
                "--hide-scrollbars".into(),
                url(page),
            ],
            &png.with_extension("stdout"),
        );
        let bytes = std::fs::read(png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        bytes.len() as u64
    }
}

fn url(p: &Path) -> OsString {
    let mut u = OsString::from("file://");
    u.push(p);
    u
}

/// The http(s) URLs a page loaded from a file asked for, from a Chromium NetLog: the
/// requests started whose site for cookies is `file://`. Chromium's own requests
/// (updates, time) have another site, or none.
fn page_requests(netlog: &[u8]) -> Vec<String> {
    let log: serde_json::Value = serde_json::from_slice(netlog).expect("a complete NetLog");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the NetLog names URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("NetLog events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| {
            e["params"]["site_for_cookies"]
                .as_str()
                .is_some_and(|s| s.contains("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| u.starts_with("http:") || u.starts_with("https:"))
        .map(str::to_string)
        .collect()
}

/// Every `src`/`href` value in the tags of `page` that leaves the file.
fn external_links(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in page.split('<').skip(1).filter_map(|t| t.split('>').next()) {
        let lower = tag.to_ascii_lowercase();
        for attr in [" src=", " href=", ":href="] {
            for (i, _) in lower.match_indices(attr) {
                let v = tag[i + attr.len()..]
                    .trim_start_matches(['"', '\''])
                    .to_ascii_lowercase();
                if v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//") {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

#[test]
fn test_html_reports_render_in_chromium_and_request_nothing() {
    let Some(bin) = find_chromium() else {
        assert!(
            std::env::var("READYLOOP_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "READYLOOP_REQUIRE_CHROMIUM=1 but neither chromium nor chromium-browser is on PATH \
             (apt-get install chromium)"
        );
        eprintln!("skipped: no chromium or chromium-browser on PATH");
        return;
    };
    let work = std::env::temp_dir().join(format!("loadgen-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let chromium = Chromium {
        bin,
        profile: work.join("profile"),
    };

    // The detector sees a page's requests: a page with an external image and style
    // sheet (and no policy against them) shows both.
    let control = work.join("control.html");
    std::fs::write(
        &control,
        "<html><body><p>control</p><img src=\"http://example.invalid/x.png\">\
         <link rel=\"stylesheet\" href=\"https://example.invalid/a.css\"></body></html>",
    )
    .unwrap();
    let (_, seen) = chromium.load(&control, &work);
    assert!(
        seen.iter().any(|u| u == "http://example.invalid/x.png")
            && seen.iter().any(|u| u == "https://example.invalid/a.css"),
        "the NetLog check cannot see a page's requests: {seen:?}"
    );
    assert!(!external_links(&std::fs::read_to_string(&control).unwrap()).is_empty());

    // A real run's page.
    let (page, json) = (work.join("run.html"), work.join("run.json"));
    let out = loadgen()
        .args(["-d", "1s", "--warmup", "0", "-c", "2", "-t", "1", "--html"])
        .arg(&page)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(external_links(&html), Vec::<String>::new());
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let target = j["target"].as_str().unwrap();

    let (dom, requests) = chromium.load(&page, &work);
    assert_eq!(requests, Vec::<String>::new(), "the page made requests");
    assert!(dom.contains("<section id=\"summary\">"), "{dom}");
    assert!(dom.contains("<h2>Summary</h2>"));
    assert!(dom.contains(&format!("<td>{target} (embedded readyloop server)</td>")));
    assert!(dom.contains("no thresholds given"));
    assert!(dom.matches("<svg").count() >= 2, "{dom}");
    // A blank 1200x2400 page is about 13 KB of PNG, one line of text 15 KB; the report,
    // with its tables and four charts, is several times that.
    let size = chromium.screenshot(&page, &work.join("run.png"));
    assert!(
        size > 50_000,
        "the screenshot is nearly blank: {size} bytes"
    );

    // A comparison's page.
    let cmp = work.join("cmp.html");
    let out = loadgen()
        .arg("report")
        .arg(&json)
        .arg("--vs")
        .arg(&json)
        .arg("--html")
        .arg(&cmp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        external_links(&std::fs::read_to_string(&cmp).unwrap()),
        Vec::<String>::new()
    );
    let (dom, requests) = chromium.load(&cmp, &work);
    assert_eq!(requests, Vec::<String>::new(), "the page made requests");
    assert!(dom.contains("<section id=\"comparison\">"), "{dom}");
    assert!(dom.contains("<td>run.json</td><td>B</td>"));
    assert!(dom.matches("<svg").count() >= 2, "{dom}");
    let size = chromium.screenshot(&cmp, &work.join("cmp.png"));
    assert!(
        size > 30_000,
        "the screenshot is nearly blank: {size} bytes"
    );
    let _ = std::fs::remove_dir_all(&work);
}
