//! The listener's password: HTTP Basic (RFC 7617) on every path but the open ones. Any
//! user name is accepted (the password is the secret; Prometheus' `basic_auth` and
//! browsers need some name). The password is kept only as its SHA-256, and the digests
//! are compared in constant time, so neither a byte-by-byte nor a length difference shows
//! in the time a refusal takes.
//!
//! A listener that serves the web page also takes the page's login sessions
//! ([`Access::with_login`]): a browser logs in once with the same password and then sends
//! a session cookie; a browser's page request without either is sent to the login page
//! instead of the Basic challenge (docs/adr/0090-web-page.md).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// Whether a request carries a valid login session (the web page's cookie).
pub type SessionCheck = Arc<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// Who may use a listener: everyone, or whoever sends the password; `open` paths answer
/// everyone. Cheap to clone; [`Access::set_password`] applies to requests from then on
/// (a SIGHUP that changes the password).
#[derive(Clone)]
pub struct Access {
    digest: Arc<RwLock<Option<[u8; 32]>>>,
    /// Counts password changes: sessions made under another password are over.
    epoch: Arc<AtomicU64>,
    open: Arc<[&'static str]>,
    /// The login page and the check of its sessions, when the web page is served.
    login: Option<(&'static str, SessionCheck)>,
}

/// Put on every request a handler sees: whether it came with the password (always true
/// when none is set). Handlers of open paths use it to say less to strangers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub bool);

fn digest(password: &SecretString) -> [u8; 32] {
    Sha256::digest(password.expose_secret().as_bytes()).into()
}

impl Access {
    pub fn new(password: Option<&SecretString>, open: &[&'static str]) -> Access {
        Access {
            digest: Arc::new(RwLock::new(password.map(digest))),
            epoch: Arc::new(AtomicU64::new(0)),
            open: open.into(),
            login: None,
        }
    }

    /// Also lets in requests with a valid login session, and sends a browser's page
    /// request that has neither password nor session to `login_path`.
    pub fn with_login(mut self, login_path: &'static str, sessions: SessionCheck) -> Access {
        self.login = Some((login_path, sessions));
        self
    }

    pub fn set_password(&self, password: Option<&SecretString>) {
        if let Ok(mut d) = self.digest.write() {
            let new = password.map(digest);
            if *d != new {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
            *d = new;
        }
    }

    /// Whether a password is set (else everyone is in).
    pub fn password_set(&self) -> bool {
        self.digest.read().map_or(true, |d| d.is_some())
    }

    /// Whether `sent` is the password, compared as SHA-256 digests in constant time.
    /// False when no password is set: there is nothing to log in with.
    pub fn verify(&self, sent: &[u8]) -> bool {
        let Ok(Some(expected)) = self.digest.read().map(|d| *d) else {
            return false;
        };
        let sent: [u8; 32] = Sha256::digest(sent).into();
        sent.ct_eq(&expected).into()
    }

    /// Changes whenever the password does: a session remembers the epoch it logged in at.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn is_open(&self, path: &str) -> bool {
        self.open.contains(&path)
    }

    /// Where a browser without the password goes instead of the Basic challenge: the
    /// login page, for a page request (GET, HTML accepted) when the web page is served.
    pub(crate) fn login_redirect(
        &self,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
    ) -> Option<Response> {
        let (login, _) = self.login.as_ref()?;
        let wants_html = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if *method != Method::GET || !wants_html {
            return None;
        }
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        let location = format!("{login}?next={next}");
        let location = HeaderValue::from_str(&location).ok()?;
        Some((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
    }

    /// Whether the request may use every path: no password is set, or it sent it.
    pub(crate) fn authenticated(&self, headers: &HeaderMap) -> bool {
        // A poisoned lock means a panic mid-write: refuse rather than open up.
        let Ok(expected) = self.digest.read().map(|d| *d) else {
            return false;
        };
        let Some(expected) = expected else {
            return true;
        };
        if let Some(sent) = basic_password(headers) {
            let sent: [u8; 32] = Sha256::digest(&sent).into();
            if bool::from(sent.ct_eq(&expected)) {
                return true;
            }
        }
        self.login
            .as_ref()
            .is_some_and(|(_, sessions)| sessions(headers))
    }
}

/// The password part of `Authorization: Basic base64(user:password)`.
fn basic_password(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    // The user name cannot hold a colon (RFC 7617 §2); the password may.
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// The page logs in with the listener's one password (docs/adr/0090-web-page.md).
impl invsync_web::Password for Access {
    fn required(&self) -> bool {
        self.password_set()
    }
    fn verify(&self, sent: &[u8]) -> bool {
        Access::verify(self, sent)
    }
    fn epoch(&self) -> u64 {
        Access::epoch(self)
    }
}

/// 401 with the Basic challenge, so browsers ask for the password.
pub(crate) fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"invsync\", charset=\"UTF-8\""),
        )],
        "this needs the password of the listener (HTTP Basic, any user name)\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(a).expect("ascii"),
            );
        }
        h
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn the_password_is_checked_whatever_the_user_name() {
        let password = SecretString::from("pa:ss word");
        let access = Access::new(Some(&password), &["/healthz"]);
        for (authorization, ok) in [
            (None, false),
            (Some(basic("prometheus:pa:ss word")), true),
            (Some(basic(":pa:ss word")), true),
            (Some(basic("x:pa:ss wor")), false),
            (Some(basic("x:pa:ss word ")), false),
            (Some(basic("pa:ss word")), false),
            (Some(basic("no colon")), false),
            (Some(format!("bAsIc {}", &basic("u:pa:ss word")[6..])), true),
            (
                Some(format!("Bearer {}", &basic("u:pa:ss word")[6..])),
                false,
            ),
            (Some("Basic not base64!".to_owned()), false),
        ] {
            assert_eq!(
                access.authenticated(&headers(authorization.as_deref())),
                ok,
                "{authorization:?}"
            );
        }
        assert!(access.is_open("/healthz"));
        assert!(!access.is_open("/metrics"));
        assert!(!access.is_open("/healthz/"));
    }

    #[test]
    fn without_a_password_everyone_is_in_and_a_new_one_applies_at_once() {
        let access = Access::new(None, &[]);
        assert!(access.authenticated(&headers(None)));
        access.set_password(Some(&SecretString::from("new")));
        assert!(!access.authenticated(&headers(None)));
        assert!(access.authenticated(&headers(Some(&basic("u:new")))));
        access.set_password(None);
        assert!(access.authenticated(&headers(None)));
    }

    #[test]
    fn a_login_session_lets_in_and_a_browser_without_one_is_sent_to_the_login_page() {
        let access = Access::new(Some(&SecretString::from("pw")), &[]).with_login(
            "/login",
            Arc::new(|h: &HeaderMap| h.get(header::COOKIE).is_some_and(|c| c == "s=ok")),
        );
        let mut with_session = headers(None);
        with_session.insert(header::COOKIE, HeaderValue::from_static("s=ok"));
        assert!(access.authenticated(&with_session));
        assert!(!access.authenticated(&headers(None)));
        assert!(access.verify(b"pw") && !access.verify(b"pw ") && !access.verify(b""));

        let mut browser = headers(None);
        browser.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        let to_login = access
            .login_redirect(&Method::GET, &browser, "/runs?store=a b")
            .expect("a redirect");
        assert_eq!(to_login.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            to_login.headers()[header::LOCATION],
            "/login?next=%2Fruns%3Fstore%3Da+b"
        );
        // Scrapers and forms get the 401 as before.
        assert!(
            access
                .login_redirect(&Method::POST, &browser, "/sync")
                .is_none()
        );
        assert!(
            access
                .login_redirect(&Method::GET, &headers(None), "/metrics")
                .is_none()
        );

        // A new password starts a new epoch: sessions of the old one end.
        let epoch = access.epoch();
        access.set_password(Some(&SecretString::from("pw")));
        assert_eq!(access.epoch(), epoch, "the same password is no change");
        access.set_password(Some(&SecretString::from("other")));
        assert_ne!(access.epoch(), epoch);
    }
}
