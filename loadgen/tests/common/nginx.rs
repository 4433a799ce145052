//! Debian's nginx, started by a test on free loopback ports with a prefix folder of its
//! own (configuration, pid, logs, temp files), in the foreground (`daemon off`) and as
//! one process (`master_process off`), so that killing the child stops all of it. The
//! guard kills it, waits on it and removes the folder on drop, a failed test included.
//!
//! Without nginx the tests that need it skip and say so, unless
//! READYLOOP_REQUIRE_TOOLS=1 (`.ci/run` installs `nginx` and `libnginx-mod-stream`).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long nginx may take to listen, and a log line to appear.
const START: Duration = Duration::from_secs(10);

/// The nginx program: on PATH, or Debian's /usr/sbin (not on a user's PATH).
fn program() -> Option<&'static str> {
    ["nginx", "/usr/sbin/nginx"].into_iter().find(|p| {
        Command::new(p)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Skip (`false`, and a note) when `what` is missing, or fail under
/// READYLOOP_REQUIRE_TOOLS=1, as the other tests that need a tool do.
fn missing(what: &str, install: &str) -> bool {
    assert!(
        std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "READYLOOP_REQUIRE_TOOLS=1 but {what} is missing ({install})"
    );
    eprintln!("skipping: {what} is not installed ({install})");
    false
}

/// Whether nginx can be run here.
pub fn have_nginx() -> bool {
    program().is_some() || missing("nginx", "apt-get install nginx")
}

/// What the configuration needs to have the stream module: `Some("")` when it is built
/// in, `Some("load_module PATH;")` when it is a dynamic module found in nginx's modules
/// folder, `None` (and a note naming the missing file) when neither.
pub fn stream_module() -> Option<String> {
    let v = Command::new(program()?).arg("-V").output().ok()?;
    let conf = String::from_utf8_lossy(&v.stderr).into_owned();
    let args: Vec<&str> = conf.split_whitespace().collect();
    if args.contains(&"--with-stream") {
        return Some(String::new());
    }
    let dir = args
        .iter()
        .find_map(|a| a.strip_prefix("--modules-path="))
        .unwrap_or("/usr/lib/nginx/modules");
    let so = Path::new(dir).join("ngx_stream_module.so");
    if so.exists() {
        return Some(format!("load_module {};", so.display()));
    }
    missing(
        &format!("nginx's stream module ({})", so.display()),
        "apt-get install libnginx-mod-stream",
    );
    None
}

/// A running nginx; killed, waited on and its folder removed on drop.
pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
    /// The ports it listens on, as the configuration was given them.
    pub ports: Vec<u16>,
}

/// A port free on 127.0.0.1 now (nginx binds it a moment later: a start that finds it
/// taken is retried with others).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Nginx {
    /// Start nginx with `conf(dir, ports)` (the `http` or `stream` blocks; `dir` is
    /// its prefix folder, for logs and temp files) on `n` free ports, after `top`
    /// (main-context lines: `load_module`). Waits until every port accepts.
    pub fn start(tag: &str, top: &str, n: usize, conf: impl Fn(&Path, &[u16]) -> String) -> Nginx {
        let prog = program().expect("have_nginx() first");
        let mut dir =
            std::env::temp_dir().join(format!("rl-loadgen-nginx-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        for attempt in 0.. {
            let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
            let text = format!(
                "pid {pid};\n{top}\nevents {{ worker_connections 1024; }}\n{body}\n",
                pid = dir.join("nginx.pid").display(),
                body = conf(&dir, &ports),
            );
            std::fs::write(dir.join("nginx.conf"), text).unwrap();
            let child = Command::new(prog)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("error.log"))
                .args(["-g", "daemon off; master_process off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
            let mut ngx = Nginx { child, dir, ports };
            match ngx.wait_listening() {
                Ok(()) => return ngx,
                Err(why) if why.contains("Address already in use") && attempt < 5 => {
                    // Another process took a port in between: again, with others.
                    ngx.stop();
                    dir = ngx.take_dir();
                }
                Err(why) => panic!("nginx did not start: {why}"),
            }
        }
        unreachable!()
    }

    /// Until every port accepts a connection; the logs when nginx exits first.
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("exited {st}: {}", self.logs()));
            }
            let up = self.ports.iter().all(|p| {
                let a = SocketAddr::from(([127, 0, 0, 1], *p));
                TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
            });
            if up {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not listening after {START:?}: {}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its stderr and error log, for a failure message.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "stderr: {} error.log: {}",
            read("stderr"),
            read("error.log")
        )
    }

    /// The lines of `access.log` once there are `n` (nginx writes a request's line
    /// after its answer, maybe after the client has it), within a few seconds; the
    /// lines there then otherwise, for the caller's assertion to show.
    pub fn access_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + START;
        loop {
            let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n || Instant::now() >= deadline {
                // A moment more for a line beyond `n`, which would be one too many.
                std::thread::sleep(Duration::from_millis(100));
                let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
                return text.lines().map(str::to_string).collect();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Empty `access.log` between runs (nginx appends: O_APPEND).
    pub fn clear_access_log(&self) {
        std::fs::write(self.dir.join("access.log"), b"").unwrap();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn take_dir(&mut self) -> PathBuf {
        std::mem::take(&mut self.dir)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `http` block serving `return 200 "ok"` over TLS on 127.0.0.1:`port` with
/// `cert` and `key`, TLS 1.2 and 1.3, a shared session cache and tickets, and an
/// access log of `$ssl_session_reused $ssl_protocol $status $ssl_client_verify` per
/// request; `extra` goes inside the `server` block. Several servers: call it once and
/// give `servers` more.
pub fn https_conf(dir: &Path, servers: &[(u16, PathBuf, PathBuf, &str)]) -> String {
    let d = dir.display();
    let mut s = format!(
        "http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    log_format tls '$ssl_session_reused $ssl_protocol $status $ssl_client_verify';
    access_log {d}/access.log tls;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    ssl_session_tickets on;
    keepalive_requests 1000000;
"
    );
    for (port, cert, key, extra) in servers {
        s.push_str(&format!(
            "    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {};
        ssl_certificate_key {};
        {extra}
        location / {{ return 200 \"ok\"; }}
    }}
",
            cert.display(),
            key.display()
        ));
    }
    s.push_str("}\n");
    s
}
