//! `[web_connector]`: the QuickBooks Web Connector's SOAP endpoint and the `.qwc` file
//! (docs/adr/0080). The Web Connector refuses some settings only on the merchant's Windows
//! machine, with a QBWC code; what it would refuse is refused here, at load, so
//! `invsync config check` finds it first:
//!
//! * an AppURL (`public_url`) that is an IP address, or `http://` to anything but
//!   `localhost` (QBWC1001 — "the AppURL must use https, or http://localhost");
//! * an AppSupport page (`support_url`) on another host than the AppURL (QBWC1000/1003).

use crate::listen::RawListener;
use crate::secret::SecretSource;
use crate::{TlsFiles, Validator};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// `[web_connector] listen` when none is given.
pub const DEFAULT_WEB_CONNECTOR_LISTEN: &str = "127.0.0.1:9188";
/// `[web_connector] public_url` when none is given: what the Web Connector on this same
/// machine reaches without TLS.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:9188/qbwc";
/// `[web_connector] app_name` when none is given.
pub const DEFAULT_APP_NAME: &str = "invsync";
/// `[web_connector] session_timeout` when none is given: a session silent this long ends
/// (and its company file may start another).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebConnector {
    pub listen: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub public_url: Option<String>,
    pub support_url: Option<String>,
    pub app_name: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub company_file: Option<String>,
    pub qb_type: Option<String>,
    pub session_timeout: Option<String>,
}

/// Which QuickBooks the Web Connector opens (the `.qwc`'s `QBType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QbType {
    /// QuickBooks Desktop (Pro, Premier, Enterprise): `QBFS`, qbXML.
    Desktop,
    /// QuickBooks Point of Sale: `QBPOS`, qbposXML.
    PointOfSale,
}

impl QbType {
    /// The `.qwc`'s `QBType` value.
    pub fn qwc(self) -> &'static str {
        match self {
            QbType::Desktop => "QBFS",
            QbType::PointOfSale => "QBPOS",
        }
    }
}

/// The validated `[web_connector]` table. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct WebConnectorConfig {
    /// Where the SOAP endpoint listens (`/qbwc`); other hosts need `tls`.
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// The `.qwc`'s AppURL: where the Web Connector calls.
    pub public_url: url::Url,
    /// The `.qwc`'s AppSupport: the support page the daemon serves (`{public_url}/support`
    /// unless set), on the AppURL's host.
    pub support_url: url::Url,
    /// The `.qwc`'s AppName (what the Web Connector lists).
    pub app_name: String,
    /// The Web Connector's user for this company file; also the company file's name in
    /// the database and in metrics.
    pub username: String,
    /// What the operator types into the Web Connector's Password column.
    pub password: SecretString,
    /// The company file QuickBooks opens (`authenticate`'s answer); `None`: the file open
    /// in QuickBooks.
    pub company_file: Option<String>,
    pub qb_type: QbType,
    /// A session silent this long ends.
    pub session_timeout: Duration,
}

/// Why the Web Connector would refuse `public_url` (QBWC1001), if it would.
pub fn app_url_problem(url: &url::Url) -> Option<String> {
    match url.host() {
        None => Some("has no host".into()),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Some(format!(
            "names an IP address ({}); the Web Connector refuses AppURLs that are IP addresses (QBWC1001): use a host name (https) or http://localhost",
            url.host_str().unwrap_or_default()
        )),
        Some(url::Host::Domain(host)) => match url.scheme() {
            "https" => None,
            "http" if host.eq_ignore_ascii_case("localhost") => None,
            "http" => Some(format!(
                "is plain http to `{host}`; the Web Connector accepts http only for localhost (QBWC1001): use https (tls_cert and tls_key, or a reverse proxy with a certificate)"
            )),
            other => Some(format!(
                "uses `{other}`; the Web Connector speaks https (or http to localhost)"
            )),
        },
    }
}

impl Validator<'_> {
    pub(crate) fn web_connector(
        &mut self,
        raw: &RawWebConnector,
        base: &Path,
    ) -> Option<WebConnectorConfig> {
        let errors_before = self.errors.len();
        let listen_text = raw
            .listen
            .as_deref()
            .map(str::trim)
            .unwrap_or(DEFAULT_WEB_CONNECTOR_LISTEN);
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    "web_connector.listen",
                    format!("`{listen_text}` is not an address like \"127.0.0.1:9188\""),
                );
                None
            }
        };
        let listener = self.listener(
            RawListener {
                section: "web_connector",
                listen,
                tls_cert: raw.tls_cert.as_deref(),
                tls_key: raw.tls_key.as_deref(),
                password: None,
                password_key: "web_connector.password",
                // The Web Connector sends no HTTP password; it authenticates in SOAP.
                password_required: false,
            },
            base,
        );
        let public_url = self.app_url(
            "web_connector.public_url",
            raw.public_url.as_deref().unwrap_or(DEFAULT_PUBLIC_URL),
        );
        let support_url = match (&public_url, raw.support_url.as_deref()) {
            (Some(app), None) => Some(default_support_url(app)),
            (app, Some(text)) => match url::Url::parse(text.trim()) {
                Ok(support) => {
                    if let Some(app) = app
                        && (support.host_str() != app.host_str()
                            || support.scheme() != app.scheme())
                    {
                        self.error(
                            "web_connector.support_url",
                            format!(
                                "`{support}` is not on the AppURL's host ({}); the Web Connector refuses a support page on another host (QBWC1000/QBWC1003) — leave support_url out to use the page the daemon serves",
                                app.origin().ascii_serialization()
                            ),
                        );
                    }
                    Some(support)
                }
                Err(e) => {
                    self.error(
                        "web_connector.support_url",
                        format!("`{text}` is not a URL ({e})"),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        let app_name = raw
            .app_name
            .as_deref()
            .map(str::trim)
            .unwrap_or(DEFAULT_APP_NAME)
            .to_owned();
        if app_name.is_empty() || app_name.chars().any(char::is_control) {
            self.error(
                "web_connector.app_name",
                "must be a name without control characters",
            );
        }
        let username = match raw.username.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => {
                Some(name.to_owned())
            }
            Some(_) => {
                self.error(
                    "web_connector.username",
                    "must be a name without control characters",
                );
                None
            }
            None => {
                self.error(
                    "web_connector.username",
                    "missing: the Web Connector logs in with a user name (the .qwc's UserName)",
                );
                None
            }
        };
        let password = match &raw.password {
            None => {
                self.error(
                    "web_connector.password",
                    "missing: the password the Web Connector sends (a secret: { env = \"VAR\" }, { file = \"/path\" } or a literal)",
                );
                None
            }
            Some(source) => match self.secret("web_connector.password", source, base) {
                Some(p) if p.expose_secret().is_empty() => {
                    self.error("web_connector.password", "must not be empty");
                    None
                }
                other => other,
            },
        };
        let company_file = raw
            .company_file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        let qb_type = match raw.qb_type.as_deref().map(str::trim) {
            None | Some("QBFS") => Some(QbType::Desktop),
            Some("QBPOS") => Some(QbType::PointOfSale),
            Some(other) => {
                self.error(
                    "web_connector.qb_type",
                    format!(
                        "`{other}` is not a QuickBooks type: \"QBFS\" (Desktop) or \"QBPOS\" (Point of Sale)"
                    ),
                );
                None
            }
        };
        let session_timeout = match &raw.session_timeout {
            None => Some(DEFAULT_SESSION_TIMEOUT),
            Some(t) => self.duration("web_connector.session_timeout", t),
        };
        if self.errors.len() != errors_before {
            return None;
        }
        Some(WebConnectorConfig {
            listen: listen?,
            tls: listener?.tls,
            public_url: public_url?,
            support_url: support_url?,
            app_name,
            username: username?,
            password: password?,
            company_file,
            qb_type: qb_type?,
            session_timeout: session_timeout?,
        })
    }

    fn app_url(&mut self, key: &str, text: &str) -> Option<url::Url> {
        match url::Url::parse(text.trim()) {
            Ok(url) => match app_url_problem(&url) {
                None => Some(url),
                Some(problem) => {
                    self.error(key, format!("`{url}` {problem}"));
                    None
                }
            },
            Err(e) => {
                self.error(key, format!("`{text}` is not a URL ({e})"));
                None
            }
        }
    }
}

/// `{public_url}/support`: the page the daemon serves next to the endpoint.
fn default_support_url(app: &url::Url) -> url::Url {
    let mut support = app.clone();
    let path = format!("{}/support", app.path().trim_end_matches('/'));
    support.set_path(&path);
    support.set_query(None);
    support
}

#[cfg(test)]
mod tests {
    use crate::tests::{VALID, load_text};
    use secrecy::ExposeSecret;

    const TABLE: &str = "[web_connector]\nusername = \"qbwc\"\npassword = \"s3cret-pw\"\n";

    fn errors(text: &str) -> Vec<(String, String)> {
        crate::listen::tests::errors(text, &[])
    }

    #[test]
    fn defaults_and_no_table() {
        let (_dir, config) = load_text(VALID, &[]);
        assert!(config.expect("valid").web_connector.is_none());
        let (_dir, config) = load_text(&format!("{TABLE}{VALID}"), &[]);
        let config = config.expect("valid");
        let wc = config.web_connector.as_ref().expect("table");
        assert_eq!(wc.listen.to_string(), "127.0.0.1:9188");
        assert_eq!(wc.public_url.as_str(), "http://localhost:9188/qbwc");
        assert_eq!(
            wc.support_url.as_str(),
            "http://localhost:9188/qbwc/support"
        );
        assert_eq!(wc.app_name, "invsync");
        assert_eq!(wc.username, "qbwc");
        assert_eq!(wc.password.expose_secret(), "s3cret-pw");
        assert_eq!(wc.qb_type, super::QbType::Desktop);
        assert!(wc.company_file.is_none() && wc.tls.is_none());
        assert!(!format!("{config:?}").contains("s3cret-pw"));
    }

    #[test]
    fn what_the_web_connector_refuses_is_refused() {
        for (url, said) in [
            ("http://192.168.1.5:9188/qbwc", "QBWC1001"),
            ("https://10.0.0.2/qbwc", "IP address"),
            ("http://127.0.0.1:9188/qbwc", "IP address"),
            ("https://[::1]/qbwc", "IP address"),
            (
                "http://shop.example.com/qbwc",
                "accepts http only for localhost",
            ),
            ("ftp://localhost/qbwc", "https"),
            ("not a url", "is not a URL"),
        ] {
            let found = errors(&format!("{TABLE}public_url = \"{url}\"\n{VALID}"));
            assert_eq!(found.len(), 1, "{url}: {found:?}");
            assert_eq!(found[0].0, "web_connector.public_url", "{found:?}");
            assert!(found[0].1.contains(said), "{url}: {found:?}");
        }
        for url in [
            "https://sync.example.com/qbwc",
            "http://localhost:9188/qbwc",
        ] {
            assert!(
                errors(&format!("{TABLE}public_url = \"{url}\"\n{VALID}")).is_empty(),
                "{url}"
            );
        }
        let found = errors(&format!(
            "{TABLE}public_url = \"https://sync.example.com/qbwc\"\nsupport_url = \"https://help.example.com/\"\n{VALID}"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "web_connector.support_url");
        assert!(found[0].1.contains("QBWC1000"), "{found:?}");
        assert!(
            errors(&format!(
                "{TABLE}public_url = \"https://sync.example.com/qbwc\"\nsupport_url = \"https://sync.example.com/help\"\n{VALID}"
            ))
            .is_empty()
        );
    }

    #[test]
    fn listening_off_loopback_needs_https_but_no_http_password() {
        let found = errors(&format!("{TABLE}listen = \"0.0.0.0:9188\"\n{VALID}"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "web_connector.listen");
        assert!(
            found[0]
                .1
                .contains("set web_connector.tls_cert, web_connector.tls_key,"),
            "{found:?}"
        );
        assert!(!found[0].1.contains("password"), "{found:?}");
    }

    #[test]
    fn login_and_type_are_checked() {
        let found = errors(&format!("[web_connector]\n{VALID}"));
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["web_connector.username", "web_connector.password"],
            "{found:?}"
        );
        let found = errors(&format!(
            "[web_connector]\nusername = \"u\"\npassword = \"\"\nqb_type = \"QBO\"\nsession_timeout = \"never\"\n{VALID}"
        ));
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "web_connector.password",
                "web_connector.qb_type",
                "web_connector.session_timeout"
            ],
            "{found:?}"
        );
        let (_dir, config) = load_text(
            &format!("{TABLE}qb_type = \"QBPOS\"\ncompany_file = 'C:\\Shop\\shop.qbw'\n{VALID}"),
            &[],
        );
        let wc = config.expect("valid").web_connector.expect("table");
        assert_eq!(wc.qb_type.qwc(), "QBPOS");
        assert_eq!(wc.company_file.as_deref(), Some("C:\\Shop\\shop.qbw"));
        let found = errors(&format!("{TABLE}tls = true\n{VALID}"));
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
