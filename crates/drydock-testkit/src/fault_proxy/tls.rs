//! The certificate the proxy's TLS side presents.

use std::path::PathBuf;
use std::process::Command;

use super::rules::*;

/// A certificate and key for the proxy's TLS side.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A certificate for `dns_name` only (no IP address), signed by the test environment's CA
    /// (`$DRYDOCK_TEST_ENV/tls/ca.crt`), made with the `openssl` CLI. A client that trusts that CA
    /// and connects to `127.0.0.1` must refuse it: the certificate does not name the host.
    ///
    /// # Panics
    ///
    /// When the test environment's CA is missing or `openssl` fails.
    pub fn for_dns_name(dns_name: &str) -> Self {
        let ca = crate::engine::test_env_dir().join("tls");
        let dir = std::env::temp_dir().join(crate::engine::unique("drydock-proxy-tls"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = |name: &str| dir.join(name).display().to_string();
        std::fs::write(
            dir.join("ext.cnf"),
            format!("subjectAltName=DNS:{dns_name}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let serial = format!("{}", std::process::id() as u64 * 1_000_003 + now_nanos());
        let steps: [Vec<String>; 2] = [
            [
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                format!("/CN={dns_name}"),
                "-keyout".into(),
                path("key.pem"),
                "-out".into(),
                path("req.csr"),
            ])
            .collect(),
            vec![
                "x509".into(),
                "-req".into(),
                "-in".into(),
                path("req.csr"),
                "-CA".into(),
                ca.join("ca.crt").display().to_string(),
                "-CAkey".into(),
                ca.join("ca.key").display().to_string(),
                "-set_serial".into(),
                serial,
                "-days".into(),
                "30".into(),
                "-extfile".into(),
                path("ext.cnf"),
                "-out".into(),
                path("cert.pem"),
            ],
        ];
        for args in steps {
            let output = Command::new("openssl")
                .args(&args)
                .output()
                .unwrap_or_else(|e| panic!("openssl: {e} (scripts/test-env.sh installs it)"));
            assert!(
                output.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let identity = Self {
            cert_pem: read("cert.pem"),
            key_pem: read("key.pem"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        identity
    }

    /// The CA that signed [`TlsIdentity::for_dns_name`]'s certificates.
    pub fn test_ca() -> PathBuf {
        crate::engine::test_env_dir().join("tls/ca.crt")
    }
}
