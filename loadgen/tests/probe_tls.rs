//! `loadgen probe` over TLS, end to end: an in-process readyloop echo server with a
//! `tls://` and a plain listener side by side, certificates made here with rcgen (a CA
//! and a leaf for localhost and 127.0.0.1). Loopback only; every probe bounded by
//! `--max` and `--max-time`; the server is stopped and the files removed at the end.

use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::tls::ServerOptions;
use readyloop::{Config, ConnLimits};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// A CA and a leaf it signed, as PEM files in a directory removed on drop.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("lg-probe-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "loadgen probe test CA");
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let mut p =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "probe leaf");
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An echo server with a plain and a TLS listener and an admin endpoint, in a thread.
/// No idle or header timeout: held connections stay as long as the probe holds them.
struct TlsEcho {
    plain: SocketAddr,
    tls: SocketAddr,
    admin: SocketAddr,
    handle: readyloop::Handle,
    thread: Option<std::thread::JoinHandle<std::io::Result<readyloop::server::ServerStats>>>,
}

impl TlsEcho {
    fn start(pki: &Pki) -> TlsEcho {
        let _ = readyloop::limits::raise_nofile();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = Server::bind(ServerConfig {
            listen: vec![local],
            listen_tls: vec![local],
            tls: Some(ServerOptions::new(
                pki.path("cert.pem"),
                pki.path("key.pem"),
            )),
            proto: ProtoKind::Echo,
            admin: Some(local),
            reactor: Config {
                limits: ConnLimits {
                    idle_timeout: None,
                    header_timeout: None,
                    ..ConnLimits::default()
                },
                ..Config::default()
            },
            ..ServerConfig::default()
        })
        .expect("TLS echo server");
        let (plain, tls) = (server.local_addrs()[0], server.tls_addrs()[0]);
        let admin = server.admin_addr().expect("admin address");
        let handle = server.handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        TlsEcho {
            plain,
            tls,
            admin,
            handle,
            thread,
        }
    }
}

impl Drop for TlsEcho {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// `loadgen probe ARGS --json -`: its JSON, or the test fails with its stderr.
#[track_caller]
fn probe_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("probe")
        .args(args)
        .args(["--json", "-"])
        .output()
        .expect("run loadgen probe");
    assert!(
        out.status.success(),
        "probe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// 1,000 connections: the fewest a per-connection memory figure is reported for.
const HELD: u64 = 1000;

#[test]
fn test_probe_holds_tls_connections_each_after_its_handshake() {
    let pki = Pki::new("hold");
    let srv = TlsEcho::start(&pki);
    let target = format!("tls://localhost:{}", srv.tls.port());
    let admin = srv.admin.to_string();
    let ca = pki.path("ca.pem");
    let max = HELD.to_string();
    // Slow enough for a debug build's handshakes; bounded by --max and --max-time.
    let common = [
        "--max",
        &max,
        "--connect-rate",
        "1000",
        "--connect-timeout",
        "20s",
        "--hold",
        "0s",
        "--max-time",
        "60s",
        "--server-stats",
        &admin,
    ];
    let mut args = vec![target.as_str(), "--cacert", &ca, "--verify"];
    args.extend(common);
    let j = probe_json(&args);
    assert_eq!(j["stop"]["kind"], "max", "{j:#}");
    assert_eq!(j["held_at_once"], HELD, "{j:#}");
    assert_eq!(j["established"], HELD, "{j:#}");
    let tls = &j["tls"];
    assert_eq!(tls["server_name"], "localhost", "{j:#}");
    assert_eq!(tls["verified"], true);
    let hs = &tls["handshakes"];
    let done = hs["full"].as_u64().unwrap() + hs["resumed"].as_u64().unwrap();
    assert_eq!(done, HELD, "every held connection made its handshake: {hs}");
    assert_eq!(hs["failed"], 0, "{hs}");
    // The server made the same handshakes (its admin /stats counts them).
    assert_eq!(
        j["verify"]["alive"], HELD,
        "every held connection echoes over TLS"
    );
    let tls_client = j["client"]["user_bytes_per_connection"]
        .as_f64()
        .unwrap_or_else(|| panic!("client memory per TLS connection: {:#}", j["client"]));
    assert!(tls_client > 0.0, "{tls_client}");
    assert!(
        j["server"]["active_during"].as_u64().unwrap() >= HELD,
        "{:#}",
        j["server"]
    );

    // The plain listener of the same server, as before: no TLS, no handshake.
    let plain = srv.plain.to_string();
    let mut args = vec![plain.as_str(), "--verify"];
    args.extend(common);
    let p = probe_json(&args);
    assert_eq!(p["stop"]["kind"], "max", "{p:#}");
    assert_eq!(p["held_at_once"], HELD);
    assert_eq!(p["verify"]["alive"], HELD);
    assert_eq!(p["tls"], Value::Null, "a plain target has no tls object");
    let plain_client = p["client"]["user_bytes_per_connection"].as_f64();
    eprintln!(
        "client memory per held connection: TLS {tls_client:.0} B, plain {plain_client:?} B; server: TLS {:?}, plain {:?}",
        j["server"]["user_bytes_per_connection"], p["server"]["user_bytes_per_connection"]
    );
}

#[test]
fn test_a_plain_server_behind_tls_is_a_handshake_stop_named() {
    let pki = Pki::new("plain");
    let srv = TlsEcho::start(&pki);
    // The plain echo listener answers a ClientHello with itself: no TLS there.
    let target = format!("tls://127.0.0.1:{}", srv.plain.port());
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["probe", &target, "-k", "--max", "20", "--max-time", "20s"])
        .output()
        .expect("run loadgen probe");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "refused by the preflight: {err}"
    );
    assert!(err.contains("TLS to 127.0.0.1:"), "{err}");
}

#[test]
fn test_tls_flags_for_a_plain_probe_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["probe", "127.0.0.1:9", "--insecure", "--max", "1"])
        .output()
        .expect("run loadgen probe");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("are for an https:// or tls:// target"));
}
