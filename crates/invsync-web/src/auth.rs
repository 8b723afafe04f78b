//! Who may use the page, and proof that a form came from it (docs/adr/0090-web-page.md).
//!
//! * **One password**, the listener's (`[daemon] password`): the daemon keeps only its
//!   SHA-256 and compares digests in constant time ([`Password`]). A browser logs in once
//!   on `/login` and gets a **session**: a random 256-bit id in an `HttpOnly`,
//!   `SameSite=Strict` cookie (`Secure` under TLS), kept in memory, ended by logging out,
//!   8 hours without use, 24 hours after login, a password change or a restart.
//! * Without a password (loopback only, checked at config load) everyone on this host is
//!   in, and a browser still gets a session: it carries the CSRF token. Requests naming
//!   another host are refused, so a web page elsewhere cannot reach the daemon through
//!   DNS rebinding.
//! * **CSRF**: every state-changing request is a POST ([`Posted`]) whose form carries the
//!   session's token (compared in constant time) and whose `Origin`, when sent, is this
//!   host. A token that is missing or wrong is refused with 403 and logged.

use crate::WebState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tracing::warn;

pub const SESSION_COOKIE: &str = "invsync_session";
/// The login form's own CSRF token, before there is a session.
pub const LOGIN_COOKIE: &str = "invsync_login";
/// A session unused this long is over.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A session is over this long after login, used or not.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Sessions kept at most; past it the least recently used one ends.
const MAX_SESSIONS: usize = 10_000;

/// The listener's password, as the page sees it (the daemon implements it).
pub trait Password: Send + Sync {
    /// Whether a password is set: without one everyone on this host is in.
    fn required(&self) -> bool;
    /// Whether `sent` is the password (constant-time; false when none is set).
    fn verify(&self, sent: &[u8]) -> bool;
    /// Changes whenever the password does; sessions of an older epoch are over.
    fn epoch(&self) -> u64;
}

struct Session {
    csrf: String,
    epoch: u64,
    /// Made by logging in with the password (or by a request that sent it), as opposed
    /// to a session made while no password was set.
    logged_in: bool,
    created: Instant,
    seen: Instant,
}

/// The session of the request being handled, put into its extensions by the guard.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub id: String,
    pub csrf: String,
    /// Whether logging out means anything (a password is set).
    pub can_log_out: bool,
}

/// The page's login sessions, in memory. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    password: Arc<dyn Password>,
    /// Cookies get `Secure` when the listener serves HTTPS.
    secure: bool,
}

/// 32 random bytes as hex, from the thread's CSPRNG (ChaCha, seeded by the OS).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sessions {
    pub fn new(password: Arc<dyn Password>, secure: bool) -> Sessions {
        Sessions {
            inner: Arc::new(Mutex::new(HashMap::new())),
            password,
            secure,
        }
    }

    pub fn password(&self) -> &dyn Password {
        self.password.as_ref()
    }

    /// A new session; returns it with the `Set-Cookie` value that hands it out.
    pub fn create(&self, logged_in: bool) -> (CurrentSession, HeaderValue) {
        let id = random_token();
        let csrf = random_token();
        let now = Instant::now();
        if let Ok(mut sessions) = self.inner.lock() {
            sessions.retain(|_, s| self.is_live(s, now));
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.seen)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            sessions.insert(
                id.clone(),
                Session {
                    csrf: csrf.clone(),
                    epoch: self.password.epoch(),
                    logged_in,
                    created: now,
                    seen: now,
                },
            );
        }
        let cookie = self.cookie_header(SESSION_COOKIE, &id, None);
        (
            CurrentSession {
                id,
                csrf,
                can_log_out: self.password.required(),
            },
            cookie,
        )
    }

    fn is_live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) < IDLE
            && now.duration_since(s.created) < LIFETIME
            && s.epoch == self.password.epoch()
            && (s.logged_in || !self.password.required())
    }

    /// The request's session, if it has a live one (and marks it used).
    pub fn current(&self, headers: &HeaderMap) -> Option<CurrentSession> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.inner.lock().ok()?;
        let now = Instant::now();
        let live = sessions.get(id).is_some_and(|s| self.is_live(s, now));
        if !live {
            sessions.remove(id);
            return None;
        }
        let session = sessions.get_mut(id)?;
        session.seen = now;
        Some(CurrentSession {
            id: id.to_owned(),
            csrf: session.csrf.clone(),
            can_log_out: self.password.required(),
        })
    }

    /// Whether the request has a live session made with the password: what the listener
    /// accepts instead of the password itself.
    pub fn logged_in(&self, headers: &HeaderMap) -> bool {
        self.password.required() && self.current(headers).is_some()
    }

    pub fn end(&self, id: &str) {
        if let Ok(mut sessions) = self.inner.lock() {
            sessions.remove(id);
        }
    }

    /// `Set-Cookie` for `name`: HttpOnly, SameSite=Strict, the whole site, `Secure` under
    /// HTTPS; `max_age` `Some(0)` deletes it, `None` keeps it for the browser's session.
    pub fn cookie_header(&self, name: &str, value: &str, max_age: Option<u32>) -> HeaderValue {
        let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if self.secure {
            text.push_str("; Secure");
        }
        if let Some(age) = max_age {
            text.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Whether `host` (a `Host` header) names this machine: `localhost` or a loopback IP.
pub fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    if name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// A POST's form, accepted only with the session's CSRF token and from this site.
/// Every handler that changes something takes it, so none can forget the check.
pub struct Posted {
    pub session: CurrentSession,
    pairs: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form's fields but the token and the button pressed: what a page may post again.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "csrf" && k != "action")
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why a POST was refused.
pub struct Refused(pub(crate) &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        crate::pages::problem(
            StatusCode::FORBIDDEN,
            "Refused",
            self.0,
            "Reload the page you came from and try again.",
        )
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Whether the request's `Origin`, when it has one, is the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

impl FromRequest<WebState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let path = request.uri().path().to_owned();
        let session = request.extensions().get::<CurrentSession>().cloned();
        let cross_site = !same_origin(request.headers());
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let refuse = |why: &'static str| {
            warn!(trigger = "web", path = %path, why, "web: a form was refused");
            Refused(why).into_response()
        };
        if cross_site {
            return Err(refuse("the form was sent from another site"));
        }
        let Some(session) = session else {
            return Err(refuse("there is no session: log in first"));
        };
        let pairs = form_pairs(&body);
        let token = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        match token {
            Some(token) if same_token(token, &session.csrf) => Ok(Posted { session, pairs }),
            Some(_) => Err(refuse(
                "the form's CSRF token is not this session's: it is out of date or did not come from this page",
            )),
            None => Err(refuse(
                "the form carries no CSRF token: it did not come from this page",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Fixed {
        password: Option<&'static str>,
        epoch: AtomicU64,
    }

    impl Password for Fixed {
        fn required(&self) -> bool {
            self.password.is_some()
        }
        fn verify(&self, sent: &[u8]) -> bool {
            self.password.is_some_and(|p| p.as_bytes() == sent)
        }
        fn epoch(&self) -> u64 {
            self.epoch.load(Ordering::SeqCst)
        }
    }

    fn with_cookie(value: &HeaderValue) -> HeaderMap {
        let mut h = HeaderMap::new();
        let pair = value
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).expect("header"),
        );
        h
    }

    #[test]
    fn sessions_are_strict_http_only_cookies_that_end_with_the_password() {
        let password = Arc::new(Fixed {
            password: Some("pw"),
            epoch: AtomicU64::new(1),
        });
        let sessions = Sessions::new(password.clone(), true);
        let (session, cookie) = sessions.create(true);
        let text = cookie.to_str().expect("ascii");
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(text.contains(part), "{text}");
        }
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf);
        let headers = with_cookie(&cookie);
        assert!(sessions.logged_in(&headers));
        assert_eq!(
            sessions.current(&headers).map(|s| s.csrf),
            Some(session.csrf.clone())
        );

        // A session made while no password was set does not count once one is.
        let (_, anonymous) = sessions.create(false);
        assert!(!sessions.logged_in(&with_cookie(&anonymous)));

        // A password change ends every session.
        password.epoch.store(2, Ordering::SeqCst);
        assert!(!sessions.logged_in(&headers));
        assert!(sessions.current(&headers).is_none());

        let (again, cookie) = sessions.create(true);
        sessions.end(&again.id);
        assert!(!sessions.logged_in(&with_cookie(&cookie)));
        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_static("invsync_session=00"),
        );
        assert!(!sessions.logged_in(&forged));
    }

    #[test]
    fn tokens_compare_whole() {
        let t = random_token();
        assert!(same_token(&t, &t.clone()));
        assert!(!same_token(&t, &t[..63]));
        assert!(!same_token(&t, ""));
        assert_ne!(random_token(), t);
    }

    #[test]
    fn local_hosts() {
        for (host, local) in [
            ("localhost", true),
            ("localhost:9187", true),
            ("127.0.0.1:9187", true),
            ("127.3.2.1", true),
            ("[::1]:9187", true),
            ("app.localhost:1", true),
            ("evil.example:9187", false),
            ("localhost.evil.example", false),
            ("10.0.0.1:9187", false),
            ("", false),
        ] {
            assert_eq!(is_local_host(host), local, "{host}");
        }
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9187"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9187"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
