//! Certificates made in the test with rcgen, as PEM files in a folder of its own
//! (removed on drop): a CA (`ca.pem`) and the leaves it signs, each `NAME.pem` with its
//! key `NAME.key`:
//!
//! - `server`: for "localhost" and 127.0.0.1, valid now;
//! - `expired`: the same names, its `not_after` in 2021;
//! - `wrong`: valid now, for "wrong.example" only;
//! - `client`: a client certificate (extended key usage clientAuth).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

/// The CommonName of the CA, the issuer the reports name.
pub const CA_CN: &str = "loadgen test CA";
/// The CommonName of the `server` leaf, the subject the reports name.
pub const SERVER_CN: &str = "loadgen test server";

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Every certificate, in `<tmp>/rl-loadgen-tls-<tag>-<pid>`.
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("rl-loadgen-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };

        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, CA_CN);
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        std::fs::write(pki.path("ca.pem"), ca_cert.pem()).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let here = ["localhost", "127.0.0.1"];
        let server = rcgen::ExtendedKeyUsagePurpose::ServerAuth;
        pki.leaf(&issuer, "server", SERVER_CN, &here, server.clone(), false);
        pki.leaf(
            &issuer,
            "expired",
            "loadgen expired",
            &here,
            server.clone(),
            true,
        );
        pki.leaf(
            &issuer,
            "wrong",
            "wrong.example",
            &["wrong.example"],
            server,
            false,
        );
        let client = rcgen::ExtendedKeyUsagePurpose::ClientAuth;
        pki.leaf(&issuer, "client", "loadgen test client", &[], client, false);
        pki
    }

    /// Sign a leaf for `names` (DNS names or IP addresses) and write `NAME.pem` and
    /// `NAME.key`: valid now (rcgen's default), or `expired` (2020 to 2021).
    fn leaf(
        &self,
        issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
        name: &str,
        cn: &str,
        names: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
        expired: bool,
    ) {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut p = rcgen::CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![usage];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, issuer).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    /// A file in the folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The same, as a string for a command line.
    pub fn s(&self, file: &str) -> String {
        self.path(file).to_str().unwrap().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
