//! Addresses invsync serves HTTP on (`[daemon] listen`; later `[web_connector] listen`):
//! the address, the HTTPS files, the password, and the rule that an address other hosts
//! can reach is never served in the clear nor without a password
//! (docs/adr/0070-http-listener.md).

use crate::{SecretSource, TlsFiles, Validator};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Whether only this host can reach `addr` (127.0.0.0/8, ::1, or ::ffff:127.x.y.z).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Which of the two HTTPS files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
}

impl TlsFile {
    /// The key within its section: `tls_cert` or `tls_key`.
    pub fn key(self) -> &'static str {
        match self {
            TlsFile::Cert => "tls_cert",
            TlsFile::Key => "tls_key",
        }
    }
}

/// A certificate or key file that cannot be used; the message never quotes the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct TlsFileError {
    pub file: TlsFile,
    pub path: PathBuf,
    pub message: String,
}

/// What [`TlsFiles::read`] found: the certificate chain (leaf first) and its key.
pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TlsMaterial {{ chain: {} certificate(s), key: [redacted] }}",
            self.chain.len()
        )
    }
}

impl TlsFiles {
    /// Reads both PEM files: at least one `CERTIFICATE`, and a private key (PKCS#8,
    /// PKCS#1 or SEC1) of a kind TLS can use, belonging to the first certificate.
    pub fn read(&self) -> Result<TlsMaterial, TlsFileError> {
        let fail = |file: TlsFile, path: &Path, message: String| TlsFileError {
            file,
            path: path.to_path_buf(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| fail(TlsFile::Cert, &self.cert, describe(&e, "certificate")))?;
        if chain.is_empty() {
            return Err(fail(
                TlsFile::Cert,
                &self.cert,
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| fail(TlsFile::Key, &self.key, describe(&e, "private key")))?;
        // The same check the TLS server makes when it starts, so `config check` sees it.
        let provider = rustls::crypto::ring::default_provider();
        match CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider) {
            Ok(_) => Ok(TlsMaterial { chain, key }),
            Err(rustls::Error::InconsistentKeys(_)) => Err(fail(
                TlsFile::Key,
                &self.key,
                format!(
                    "is not the key of the certificate in {} (the first one)",
                    self.cert.display()
                ),
            )),
            Err(e) => Err(fail(
                TlsFile::Key,
                &self.key,
                format!(
                    "cannot be used with the certificate in {}: {e}",
                    self.cert.display()
                ),
            )),
        }
    }
}

/// A PEM problem in words, without the file's contents (a key file's lines are secret).
fn describe(e: &pem::Error, what: &str) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::NoItemsFound => format!(
            "holds no PEM {what} (-----BEGIN {}-----)",
            if what == "certificate" {
                "CERTIFICATE"
            } else {
                "PRIVATE KEY"
            }
        ),
        _ => format!("is not a valid PEM {what} file"),
    }
}

/// The keys of one listening section as written.
pub(crate) struct RawListener<'a> {
    /// `daemon` or `web_connector`: errors name `{section}.listen` and so on.
    pub section: &'static str,
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<&'a str>,
    pub tls_key: Option<&'a str>,
    pub password: Option<&'a SecretSource>,
    /// The key `password` was written under, for errors (`daemon.password`, or
    /// `web.password`: the page's password is the listener's).
    pub password_key: &'static str,
    /// Whether an address other hosts can reach needs `password` (the web page and
    /// `/metrics` do; the Web Connector authenticates in its SOAP calls).
    pub password_required: bool,
}

/// A listening section's address, HTTPS files and password, checked together.
pub(crate) struct Listener {
    pub tls: Option<TlsFiles>,
    pub password: Option<SecretString>,
}

impl Validator<'_> {
    pub(crate) fn listener(&mut self, raw: RawListener<'_>, base: &Path) -> Option<Listener> {
        let section = raw.section;
        let errors_before = self.errors.len();
        let tls = match (raw.tls_cert, raw.tls_key) {
            (None, None) => None,
            (Some(_), None) => {
                self.error(
                    &format!("{section}.tls_key"),
                    format!("missing: {section}.tls_cert is set, and HTTPS needs both"),
                );
                None
            }
            (None, Some(_)) => {
                self.error(
                    &format!("{section}.tls_cert"),
                    format!("missing: {section}.tls_key is set, and HTTPS needs both"),
                );
                None
            }
            (Some(cert), Some(key)) => {
                let cert = self.data_path(&format!("{section}.tls_cert"), cert, base);
                let key = self.data_path(&format!("{section}.tls_key"), key, base);
                match (cert, key) {
                    (Some(cert), Some(key)) => {
                        let files = TlsFiles { cert, key };
                        match files.read() {
                            Ok(_) => Some(files),
                            Err(e) => {
                                self.error(&format!("{section}.{}", e.file.key()), e.to_string());
                                None
                            }
                        }
                    }
                    _ => None,
                }
            }
        };
        let password = match raw.password {
            None => None,
            Some(source) => {
                let key = raw.password_key.to_owned();
                match self.secret(&key, source, base) {
                    Some(p) if p.expose_secret().is_empty() => {
                        self.error(&key, "must not be empty");
                        None
                    }
                    other => other,
                }
            }
        };
        if let Some(addr) = raw.listen.filter(|a| !is_loopback(a)) {
            let mut missing = Vec::new();
            if raw.tls_cert.is_none() {
                missing.push(format!("{section}.tls_cert"));
            }
            if raw.tls_key.is_none() {
                missing.push(format!("{section}.tls_key"));
            }
            if raw.password_required && raw.password.is_none() {
                missing.push(raw.password_key.to_owned());
            }
            if !missing.is_empty() {
                let needs = if raw.password_required {
                    "HTTPS (tls_cert and tls_key, PEM files) and a password"
                } else {
                    "HTTPS (tls_cert and tls_key, PEM files)"
                };
                self.error(
                    &format!("{section}.listen"),
                    format!(
                        "`{addr}` is not a loopback address, so other hosts can reach it: that needs {needs}; set {}, or listen on 127.0.0.1",
                        missing.join(", ")
                    ),
                );
            }
        }
        (self.errors.len() == errors_before).then_some(Listener { tls, password })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::is_loopback;
    use crate::tests::{VALID, load_text};
    use crate::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
    use secrecy::ExposeSecret;
    use std::time::Duration;

    /// Every problem loading `text` finds: (key, message).
    pub(crate) fn errors(text: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
        let (_dir, result) = load_text(text, env);
        match result {
            Ok(_) => Vec::new(),
            Err(e) => e
                .iter()
                .map(|e| (e.key.clone().unwrap_or_default(), e.to_string()))
                .collect(),
        }
    }

    #[test]
    fn loopback_addresses() {
        for (addr, loopback) in [
            ("127.0.0.1:9187", true),
            ("127.1.2.3:1", true),
            ("[::1]:9187", true),
            ("[::ffff:127.0.0.1]:9187", true),
            ("0.0.0.0:9187", false),
            ("[::]:9187", false),
            ("192.168.1.10:9187", false),
            ("[::ffff:10.0.0.1]:9187", false),
        ] {
            let addr = addr.parse().expect("an address");
            assert_eq!(is_loopback(&addr), loopback, "{addr}");
        }
    }

    #[test]
    fn the_listener_defaults() {
        let (_dir, config) = load_text(VALID, &[]);
        let daemon = config.expect("valid").daemon;
        assert!(daemon.tls.is_none() && daemon.password.is_none());
        assert_eq!(daemon.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(daemon.header_timeout, DEFAULT_HEADER_TIMEOUT);
        assert_eq!(daemon.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    }

    #[test]
    fn an_address_other_hosts_can_reach_needs_https_and_a_password() {
        for listen in ["0.0.0.0:9187", "[::]:9187", "10.1.2.3:9187"] {
            let found = errors(&format!("[daemon]\nlisten = \"{listen}\"\n{VALID}"), &[]);
            assert_eq!(found.len(), 1, "{found:?}");
            let (key, message) = &found[0];
            assert_eq!(key, "daemon.listen");
            for said in [
                "invsync.toml",
                "not a loopback address",
                "daemon.tls_cert, daemon.tls_key, daemon.password",
            ] {
                assert!(message.contains(said), "`{said}` in {message}");
            }
        }
        // Only what is missing is named.
        let found = errors(
            &format!("[daemon]\nlisten = \"0.0.0.0:9187\"\npassword = \"pw\"\n{VALID}"),
            &[],
        );
        assert!(
            found[0]
                .1
                .contains("set daemon.tls_cert, daemon.tls_key, or"),
            "{found:?}"
        );
        // From the environment, the variable is named too.
        let found = errors(VALID, &[("INVSYNC__DAEMON__LISTEN", "0.0.0.0:9187")]);
        assert!(found[0].1.contains("INVSYNC__DAEMON__LISTEN"), "{found:?}");
    }

    #[test]
    fn https_needs_both_files_and_readable_pem() {
        let found = errors(&format!("[daemon]\ntls_cert = \"cert.pem\"\n{VALID}"), &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "daemon.tls_key");
        assert!(found[0].1.contains("missing"), "{found:?}");

        let found = errors(
            &format!("[daemon]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n{VALID}"),
            &[],
        );
        assert_eq!(found[0].0, "daemon.tls_cert", "{found:?}");
        assert!(found[0].1.contains("cert.pem: cannot read it"), "{found:?}");
    }

    #[test]
    fn pem_files_are_checked_at_load_and_the_key_is_never_quoted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let text = format!(
            "[daemon]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{VALID}",
            cert.display(),
            key.display()
        );
        let write = |path: &std::path::Path, text: &str| std::fs::write(path, text).expect("write");

        write(&cert, "not a certificate\n");
        write(&key, &certified.signing_key.serialize_pem());
        let found = errors(&text, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "daemon.tls_cert");
        assert!(found[0].1.contains("holds no PEM certificate"), "{found:?}");

        // A key cut short: the error says so without quoting a line of it.
        let pem = certified.signing_key.serialize_pem();
        let secret_line = pem.lines().nth(1).expect("a base64 line");
        write(&cert, &certified.cert.pem());
        write(
            &key,
            &format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n"),
        );
        let found = errors(&text, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "daemon.tls_key");
        assert!(
            found[0].1.contains("not a valid PEM private key"),
            "{found:?}"
        );
        assert!(!found[0].1.contains(secret_line), "{found:?}");

        write(&key, "");
        let found = errors(&text, &[]);
        assert!(found[0].1.contains("holds no PEM private key"), "{found:?}");

        // Somebody else's key.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        write(&key, &other.signing_key.serialize_pem());
        let found = errors(&text, &[]);
        assert_eq!(found[0].0, "daemon.tls_key", "{found:?}");
        assert!(
            found[0].1.contains("is not the key of the certificate in"),
            "{found:?}"
        );

        write(&key, &pem);
        assert!(errors(&text, &[]).is_empty());
        let (_dir, config) = load_text(&text, &[]);
        let tls = config.expect("valid").daemon.tls.expect("tls");
        let material = tls.read().expect("readable");
        assert_eq!(material.chain.len(), 1);
        assert!(!format!("{material:?}").contains(secret_line));
    }

    #[test]
    fn the_web_pages_password_is_the_listeners_under_either_key() {
        // `[web] password` (issue 16's name) is the listener's one password.
        let (_dir, config) = load_text(
            &format!("[web]\npassword = {{ env = \"WEB_PASSWORD\" }}\n{VALID}"),
            &[("WEB_PASSWORD", "s3cret")],
        );
        let config = config.expect("valid");
        assert_eq!(
            config.daemon.password.as_ref().map(|p| p.expose_secret()),
            Some("s3cret")
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        // Off loopback it still needs HTTPS, and what is missing is named.
        let found = errors(
            &format!("[daemon]\nlisten = \"0.0.0.0:9187\"\n[web]\npassword = \"pw\"\n{VALID}"),
            &[],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "daemon.listen");
        assert!(
            found[0].1.contains("daemon.tls_cert, daemon.tls_key"),
            "{found:?}"
        );
        assert!(!found[0].1.contains(".password"), "{found:?}");
        // Empty, or written under both keys: an error naming `web.password`.
        for text in [
            "[web]\npassword = \"\"\n".to_owned(),
            "[daemon]\npassword = \"a\"\n[web]\npassword = \"b\"\n".to_owned(),
        ] {
            let found = errors(&format!("{text}{VALID}"), &[]);
            assert_eq!(
                found.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                ["web.password"],
                "{found:?}"
            );
        }
        // Unknown keys of `[web]` are typos, as everywhere.
        let found = errors(&format!("[web]\npasword = \"pw\"\n{VALID}"), &[]);
        assert!(
            found.iter().any(|(k, _)| k.contains("pasword")),
            "{found:?}"
        );
    }

    #[test]
    fn the_password_is_a_secret_and_not_empty() {
        let (_dir, config) = load_text(
            &format!("[daemon]\npassword = {{ env = \"DAEMON_PASSWORD\" }}\n{VALID}"),
            &[("DAEMON_PASSWORD", "s3cret")],
        );
        let config = config.expect("valid");
        assert_eq!(
            config.daemon.password.as_ref().map(|p| p.expose_secret()),
            Some("s3cret")
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        let found = errors(&format!("[daemon]\npassword = \"\"\n{VALID}"), &[]);
        assert_eq!(
            found.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["daemon.password"],
            "{found:?}"
        );
    }

    #[test]
    fn limits_and_timeouts() {
        let (_dir, config) = load_text(
            &format!(
                "[daemon]\nmax_connections = 16\nheader_timeout = \"2s\"\nidle_timeout = \"5m\"\n{VALID}"
            ),
            &[],
        );
        let daemon = config.expect("valid").daemon;
        assert_eq!(daemon.max_connections, 16);
        assert_eq!(daemon.header_timeout, Duration::from_secs(2));
        assert_eq!(daemon.idle_timeout, Duration::from_secs(300));
        for (text, key) in [
            ("max_connections = 0", "daemon.max_connections"),
            ("header_timeout = \"0s\"", "daemon.header_timeout"),
            ("idle_timeout = \"soon\"", "daemon.idle_timeout"),
        ] {
            let found = errors(&format!("[daemon]\n{text}\n{VALID}"), &[]);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!(found[0].0, key, "{found:?}");
        }
    }
}
