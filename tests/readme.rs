//! The README's commands, read from README.md itself and run as written, in the order
//! shown (issue 15, item 2): a tour a new user cannot follow is a defect.
//!
//! Every shell line of every `sh` block is a command (in a block with `$ ` prompts, only
//! the prompted lines). Each is run from a folder that holds the clone's top-level entries
//! (so `examples/targets/mix.txt` resolves and the report files land outside the clone),
//! with this build's `readyloop` and `loadgen` first on PATH, inside a network namespace of
//! the test's own where one can be made (the tour's fixed ports then collide with nothing).
//! Servers (`readyloop`, `redis-server`, `cargo run --example`) start in the background,
//! must say they listen, and stop when the tour ends (`&`) or, in the foreground, when the
//! next server starts or their block ends, as a user's Ctrl-C would. Other commands sent
//! to the background (`&`: a run's other segments) run beside what follows and are
//! waited for when their block ends, as a user's `wait`, their exit codes checked. Long durations and
//! counts are scaled down (`scaled`); the few commands that cannot run here (the test
//! command itself, the ten-minute benchmarks) are named in `exempt` with the reason.
//!
//! Needs curl, wrk and redis-server (`.ci/run` installs them): without them the test skips
//! and says so, unless READYLOOP_REQUIRE_TOOLS=1.

mod util;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One command of the README.
#[derive(Clone, Debug, PartialEq)]
struct Cmd {
    /// The README's line number (1-based).
    line: usize,
    /// The `sh` block it is in (0-based).
    block: usize,
    /// As written, without its prompt and trailing comment.
    text: String,
    /// Ended with `&`.
    background: bool,
}

/// The commands of every `sh` block, in order.
fn readme_commands(readme: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let lines: Vec<&str> = readme.lines().collect();
    let mut i = 0;
    let mut block = 0;
    while i < lines.len() {
        if lines[i].trim() != "```sh" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim() == "```")
            .expect("an sh block is closed");
        let body = &lines[start..end];
        let prompted = body.iter().any(|l| l.starts_with("$ "));
        for (k, l) in body.iter().enumerate() {
            let text = match (prompted, l.strip_prefix("$ ")) {
                (true, Some(t)) => t,
                (true, None) => continue, // output shown, not typed
                (false, _) => l,
            };
            for (text, background) in split_jobs(strip_comment(text)) {
                out.push(Cmd {
                    line: start + k + 1,
                    block,
                    text,
                    background,
                });
            }
        }
        block += 1;
        i = end + 1;
    }
    out
}

/// The line without a trailing `# comment` (a `#` after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return line[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

/// Split at job separators (`&`, not `&&`): each command and whether it goes to the
/// background.
fn split_jobs(line: &str) -> Vec<(String, bool)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let (mut from, mut quote) = (0, None);
    for i in 0..b.len() {
        let c = b[i];
        match (quote, c) {
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'&') if b.get(i + 1) != Some(&b'&') && (i == 0 || b[i - 1] != b'&') => {
                out.push((line[from..i].trim().to_string(), true));
                from = i + 1;
            }
            _ => {}
        }
    }
    let rest = line[from..].trim();
    if !rest.is_empty() {
        out.push((rest.to_string(), false));
    }
    out.retain(|(t, _)| !t.is_empty());
    out
}

/// What the test does with a command.
#[derive(Debug, PartialEq)]
enum Action {
    /// Not run, for this reason (and, if any, a lighter check that is run instead).
    Exempt(&'static str, Option<String>),
    /// A server: started, must say it listens.
    Server(String),
    /// Run to its end; its exit code must be one of these.
    Run(String, &'static [i32]),
}

/// Commands that cannot run inside a test, with why; checked lightly instead.
fn exempt(text: &str) -> Option<Action> {
    if text.starts_with("cargo test") {
        return Some(Action::Exempt("it is the command running this test", None));
    }
    if text.starts_with("cargo build --release") && text.contains("export PATH=") {
        return Some(Action::Exempt(
            "the test puts its own build of both binaries first on PATH",
            None,
        ));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["bash", script, ..] if script.ends_with(".sh") => Some(Action::Exempt(
            "fuzzing for minutes (CI runs fuzz/run.sh 15 itself): its syntax is checked",
            Some(format!("bash -n {script}")),
        )),
        ["python3", script, ..] if script.starts_with("benches/") => Some(Action::Exempt(
            "a benchmark of ten minutes: its --help is run",
            Some(format!("python3 {script} --help")),
        )),
        _ => None,
    }
}

/// How the test runs `text` (already scaled).
fn action(text: &str) -> Action {
    if let Some(a) = exempt(text) {
        return a;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let server = match words.first() {
        Some(&"readyloop") => !words.iter().any(|w| *w == "--help" || *w == "--version"),
        Some(&"redis-server") => true,
        Some(w) => w.contains("/examples/"),
        None => false,
    };
    if server {
        return Action::Server(text.to_string());
    }
    Action::Run(text.to_string(), expected_codes(&words))
}

/// `cargo run` as the binaries this build made.
fn cargo_to_binaries(text: &str) -> String {
    let args = |rest: &str| match rest.strip_prefix(" --") {
        Some(r) if r.is_empty() || r.starts_with(' ') => r.to_string(),
        _ => rest.to_string(),
    };
    if let Some(rest) = text.strip_prefix("cargo run --release -p loadgen") {
        return format!("loadgen{}", args(rest));
    }
    if let Some(rest) = text.strip_prefix("cargo run --release --bin readyloop") {
        return format!("readyloop{}", args(rest));
    }
    if let Some(name) = text.strip_prefix("cargo run --example ") {
        let name = name.split_whitespace().next().unwrap_or_default();
        return bin_dir()
            .join("examples")
            .join(name)
            .to_string_lossy()
            .into_owned();
    }
    text.to_string()
}

/// The exit codes the README promises for a command: 99 may come from `--slo` (the
/// thresholds it shows fail on a busy machine), and a search may also end unconfirmed.
fn expected_codes(words: &[&str]) -> &'static [i32] {
    if words.contains(&"search") {
        &[0, 3, 99]
    } else if words.contains(&"--slo") {
        &[0, 99]
    } else {
        &[0]
    }
}

/// The command with long durations and counts scaled down, and every load run bounded.
fn scaled(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let words: Vec<&str> = text.split(' ').collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        let arg = |v: &str| match w {
            "-d" | "--step" | "--hold" => Some(cap_duration(v, "1s")),
            "-n" => Some(cap_count(v, 2000)),
            "--max" => Some(cap_count(v, 1000)),
            "--stages" => Some(short_stages(v)),
            _ => None,
        };
        match next.and_then(arg) {
            Some(v) => {
                out.extend([w.to_string(), v]);
                i += 2;
                continue;
            }
            None if w.starts_with("-d") && w.len() > 2 && w.as_bytes()[2].is_ascii_digit() => {
                out.push(format!("-d{}", cap_duration(&w[2..], "1s"))); // wrk's -d10s
            }
            None => out.push(w.to_string()),
        }
        let after_loadgen = i > 0 && words[i - 1] == "loadgen";
        let subcommand = matches!(w, "search" | "probe" | "report" | "limits" | "merge");
        if (w == "loadgen" && !next.is_some_and(is_subcommand)) || (after_loadgen && subcommand) {
            out.extend(bounds(w, &words[i + 1..]));
        }
        i += 1;
    }
    out.join(" ")
}

fn is_subcommand(w: &str) -> bool {
    matches!(
        w,
        "run" | "search" | "probe" | "report" | "limits" | "merge"
    )
}

/// Flags added after `loadgen` or its subcommand `cmd` so that the run is short: a
/// duration for a run that has none, short steps for a search, a cap for a probe.
fn bounds(cmd: &str, rest: &[&str]) -> Vec<String> {
    let args: Vec<&str> = rest
        .iter()
        .copied()
        .take_while(|w| !matches!(*w, ";" | "|" | "&&" | "done"))
        .collect();
    let has = |f: &str| args.contains(&f);
    let mut add: Vec<&str> = match cmd {
        _ if has("--help") => vec![],
        "report" | "limits" | "merge" => vec![],
        "search" => vec!["--warmup", "200ms", "--cooldown", "0s", "--max-steps", "3"],
        "probe" if !has("--max") => vec!["--max", "1000"],
        "probe" => vec![],
        _ if has("-d") || has("-n") || has("--stages") => vec![],
        _ => vec!["-d", "1s"],
    };
    if cmd == "search" && !has("--step") {
        add.extend(["--step", "1s"]);
    }
    add.into_iter().map(String::from).collect()
}

fn parse_secs(v: &str) -> Option<f64> {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    })
}

fn cap_duration(v: &str, cap: &str) -> String {
    match (parse_secs(v), parse_secs(cap)) {
        (Some(x), Some(c)) if x > c => cap.to_string(),
        _ => v.to_string(),
    }
}

fn cap_count(v: &str, cap: u64) -> String {
    let n = match v.strip_suffix('k') {
        Some(k) => k.parse::<u64>().map(|k| k * 1000),
        None => v.parse(),
    };
    match n {
        Ok(n) if n > cap => cap.to_string(),
        _ => v.to_string(),
    }
}

/// `30s:10k,1m:10k,30s:0` -> `500ms:10k,500ms:10k,500ms:0`.
fn short_stages(v: &str) -> String {
    v.split(',')
        .map(|st| match st.split_once(':') {
            Some((d, t)) => format!("{}:{t}", cap_duration(d, "500ms")),
            None => st.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where `cargo test` put this build's binaries (`readyloop`, `loadgen`, `examples/`).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_readyloop"))
        .parent()
        .expect("target/<profile>")
        .to_path_buf()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A folder holding a link to each top-level entry of the clone: commands find the
/// clone's files by the README's paths, and what they write stays out of the clone.
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Workdir {
        let dir = std::env::temp_dir().join(format!("readyloop-readme-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(repo_root()).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if name == "target" || name == ".git" {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), dir.join(&name)).unwrap();
        }
        Workdir(dir)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where commands run: a namespace of the test's own, or this host's loopback.
#[derive(Clone)]
struct Shell {
    ns: Option<String>,
    dir: PathBuf,
    path: String,
}

impl Shell {
    fn command(&self, text: &str) -> Command {
        let mut c = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "bash"]);
                c
            }
            None => Command::new("bash"),
        };
        c.args(["-o", "pipefail", "-c", text])
            .current_dir(&self.dir)
            .env("PATH", &self.path)
            .stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c
    }
}

/// A server the tour started, stopped (SIGTERM to its process group) and waited on.
struct Server {
    cmd: Cmd,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    fn start(shell: &Shell, cmd: &Cmd, text: &str) -> Result<Server, String> {
        let mut child = shell
            .command(text)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let o = Arc::clone(&output);
            std::thread::spawn(move || collect(r, o));
        }
        let s = Server {
            cmd: cmd.clone(),
            child,
            output,
        };
        s.wait_listening().map(|_| s)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    fn wait_listening(&self) -> Result<(), String> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            let t = self.text();
            if t.contains("listening") || t.contains("Ready to accept") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("never said it listens: {}", self.text()))
    }

    /// Stop it as Ctrl-C would; readyloop must exit 0 (its graceful shutdown).
    fn stop(mut self) -> Result<(), String> {
        let pid = self.child.id() as i32;
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let status = wait_bounded(&mut self.child, Duration::from_secs(15));
        let is_readyloop = self.cmd.text.contains("readyloop");
        match status {
            Some(s) if !is_readyloop || s.success() => Ok(()),
            Some(s) => Err(format!("stopped with {s}: {}", self.text())),
            None => Err("did not stop within 15 s of SIGTERM".into()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn collect(mut r: Box<dyn Read + Send>, out: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut o = out.lock().unwrap();
        if o.len() < 1 << 20 {
            o.extend_from_slice(&buf[..n]);
        }
    }
}

/// Wait for `child` at most `limit`; killed (its group) and `None` past it.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
    None
}

/// Run `text` to its end (3 minutes at most); its exit code and output.
fn run(shell: &Shell, text: &str) -> (Option<i32>, String) {
    let mut child = shell
        .command(text)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    let output = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|r| {
        let o = Arc::clone(&output);
        std::thread::spawn(move || collect(r, o))
    })
    .collect();
    let status = wait_bounded(&mut child, Duration::from_secs(180));
    for r in readers {
        let _ = r.join();
    }
    let out = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    (status.and_then(|s| s.code()), out)
}

fn tools_present() -> bool {
    let missing: Vec<&str> = ["curl", "wrk", "redis-server", "openssl"]
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "READYLOOP_REQUIRE_TOOLS=1 but the tour's tools are missing: {missing:?}"
    );
    eprintln!("skipping the README tour: {missing:?} not installed (apt-get install curl wrk redis-server openssl)");
    false
}

/// A namespace of the test's own with loopback up, or `None` (host loopback then).
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!("rl-readme-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            assert!(
                std::env::var("READYLOOP_REQUIRE_NETNS").as_deref() != Ok("1"),
                "READYLOOP_REQUIRE_NETNS=1 but no network namespace could be made"
            );
            eprintln!("note: no network namespace here; the tour runs on this host's loopback");
            return None;
        }
        let ns = Netns(name);
        ok(&["-n", &ns.0, "link", "set", "lo", "up"]).then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The tour's state: what runs, what failed.
struct Tour {
    shell: Shell,
    background: Vec<Server>,
    foreground: Option<Server>,
    failures: Vec<String>,
    /// Commands sent to the background that are not servers (a run's other
    /// segments): waited for, as a user's `wait`, when their block ends.
    jobs: Vec<Job>,
}

/// A background command of the tour, running to its end on a thread of its own.
struct Job {
    cmd: Cmd,
    codes: &'static [i32],
    done: std::thread::JoinHandle<(Option<i32>, String)>,
}

impl Tour {
    /// Wait for the block's background jobs; each must end with a code it promises.
    fn wait_jobs(&mut self) {
        for job in std::mem::take(&mut self.jobs) {
            let (code, out) = job.done.join().unwrap_or((None, "panicked".into()));
            if !code.is_some_and(|c| job.codes.contains(&c)) {
                let tail: String = out.lines().rev().take(15).collect::<Vec<_>>().join("\n");
                self.fail(
                    &job.cmd,
                    format!(
                        "exit {code:?}, expected {:?}; output ends:\n{tail}",
                        job.codes
                    ),
                );
            }
        }
    }

    fn fail(&mut self, cmd: &Cmd, why: String) {
        eprintln!("FAIL  README.md:{}: {}\n      {why}", cmd.line, cmd.text);
        self.failures
            .push(format!("README.md:{}: `{}`: {why}", cmd.line, cmd.text));
    }

    fn stop_foreground(&mut self) {
        if let Some(s) = self.foreground.take() {
            let cmd = s.cmd.clone();
            if let Err(e) = s.stop() {
                self.fail(&cmd, e);
            }
        }
    }

    fn step(&mut self, cmd: &Cmd) {
        let text = scaled(&cargo_to_binaries(&cmd.text));
        match action(&text) {
            Action::Exempt(why, check) => {
                eprintln!("skip  README.md:{}: {} ({why})", cmd.line, cmd.text);
                if let Some(check) = check {
                    self.expect(cmd, &check, &[0]);
                }
            }
            Action::Server(t) => {
                self.stop_foreground();
                eprintln!("serve README.md:{}: {t}", cmd.line);
                match Server::start(&self.shell, cmd, &t) {
                    Ok(s) if cmd.background => self.background.push(s),
                    Ok(s) => self.foreground = Some(s),
                    Err(e) => self.fail(cmd, e),
                }
            }
            Action::Run(t, codes) if cmd.background => {
                eprintln!("job   README.md:{}: {t}", cmd.line);
                let shell = self.shell.clone();
                let done = std::thread::spawn(move || run(&shell, &t));
                self.jobs.push(Job {
                    cmd: cmd.clone(),
                    codes,
                    done,
                });
            }
            Action::Run(t, codes) => self.expect(cmd, &t, codes),
        }
    }

    fn expect(&mut self, cmd: &Cmd, text: &str, codes: &[i32]) {
        eprintln!("run   README.md:{}: {text}", cmd.line);
        let t0 = Instant::now();
        let (code, out) = run(&self.shell, text);
        if !code.is_some_and(|c| codes.contains(&c)) {
            let tail: String = out.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            self.fail(
                cmd,
                format!("exit {code:?}, expected {codes:?}; output ends:\n{tail}"),
            );
        } else {
            eprintln!(
                "      ok, exit {code:?}, {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
    }
}

#[test]
fn test_every_readme_command_runs_as_written() {
    let loadgen = bin_dir().join("loadgen");
    assert!(
        loadgen.exists(),
        "{} is missing: run the workspace's tests (cargo test --workspace)",
        loadgen.display()
    );
    if !tools_present() {
        return;
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let cmds = readme_commands(&readme);
    assert!(cmds.len() >= 40, "only {} commands found", cmds.len());
    let ns = Netns::new();
    let work = Workdir::new();
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut tour = Tour {
        shell: Shell {
            ns: ns.as_ref().map(|n| n.0.clone()),
            dir: work.0.clone(),
            path,
        },
        background: Vec::new(),
        foreground: None,
        failures: Vec::new(),
        jobs: Vec::new(),
    };
    let mut block = 0;
    for cmd in &cmds {
        if cmd.block != block {
            tour.wait_jobs();
            tour.stop_foreground(); // the user's Ctrl-C at the end of a block
            block = cmd.block;
        }
        tour.step(cmd);
    }
    tour.wait_jobs();
    tour.stop_foreground();
    for s in std::mem::take(&mut tour.background).into_iter().rev() {
        let cmd = s.cmd.clone();
        if let Err(e) = s.stop() {
            tour.fail(&cmd, e);
        }
    }
    assert!(
        tour.failures.is_empty(),
        "{} of {} README commands failed:\n{}",
        tour.failures.len(),
        cmds.len(),
        tour.failures.join("\n")
    );
}

#[test]
fn test_commands_are_read_from_blocks_prompts_and_jobs() {
    let md = "text\n```sh\n$ a -x 'p#q' # note\nout put\n$ b & c &\n```\n```rust\nno\n```\n\
              ```sh\n# comment\nd && e   # why\n\n```\n";
    let c = readme_commands(md);
    let got: Vec<(&str, bool, usize)> = c
        .iter()
        .map(|c| (c.text.as_str(), c.background, c.block))
        .collect();
    assert_eq!(
        got,
        [
            ("a -x 'p#q'", false, 0),
            ("b", true, 0),
            ("c", true, 0),
            ("d && e", false, 1)
        ]
    );
    assert_eq!(c[0].line, 3);
}

#[test]
fn test_scaling_shortens_and_bounds_every_run() {
    assert_eq!(
        scaled("loadgen http://h/ -c 100 -d 30s"),
        "loadgen http://h/ -c 100 -d 1s"
    );
    assert_eq!(
        scaled("loadgen http://h/ -R 5k"),
        "loadgen -d 1s http://h/ -R 5k"
    );
    assert_eq!(
        scaled("loadgen http://h/ -n 100k"),
        "loadgen http://h/ -n 2000"
    );
    assert_eq!(
        scaled("loadgen h --stages 30s:10k,1m:10k,30s:0 -c 200"),
        "loadgen h --stages 500ms:10k,500ms:10k,500ms:0 -c 200"
    );
    assert_eq!(
        scaled("wrk -t1 -c50 -d10s http://h/"),
        "wrk -t1 -c50 -d1s http://h/"
    );
    assert_eq!(
        scaled("for i in 1 2; do loadgen h -d 5s --json b-$i.json; done"),
        "for i in 1 2; do loadgen h -d 1s --json b-$i.json; done"
    );
    assert_eq!(
        scaled("loadgen probe h --max 36000 --verify"),
        "loadgen probe h --max 1000 --verify"
    );
    assert_eq!(
        scaled("loadgen probe --verify"),
        "loadgen probe --max 1000 --verify"
    );
    assert_eq!(
        scaled("loadgen search h --slo 'p99<20ms' --step 10s"),
        "loadgen search --warmup 200ms --cooldown 0s --max-steps 3 h --slo 'p99<20ms' --step 1s"
    );
    assert_eq!(
        scaled("loadgen report a.json --vs b.json"),
        "loadgen report a.json --vs b.json"
    );
    assert_eq!(scaled("loadgen --help"), "loadgen --help");
    assert_eq!(
        cargo_to_binaries("cargo run --release -p loadgen -- -d 3s"),
        "loadgen -d 3s"
    );
    assert_eq!(
        scaled(&cargo_to_binaries("cargo run --release -p loadgen")),
        "loadgen -d 1s"
    );
    assert!(matches!(
        action("readyloop --listen 127.0.0.1:8080"),
        Action::Server(_)
    ));
    assert!(matches!(action("readyloop --help"), Action::Run(..)));
}
