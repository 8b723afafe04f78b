//! The listener's password: HTTP Basic (RFC 7617) on every path but the open ones. Any
//! user name is accepted (the password is the secret; Prometheus' `basic_auth` and
//! browsers need some name). The password is kept only as its SHA-256, and the digests
//! are compared in constant time, so neither a byte-by-byte nor a length difference shows
//! in the time a refusal takes.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// Who may use a listener: everyone, or whoever sends the password; `open` paths answer
/// everyone. Cheap to clone; [`Access::set_password`] applies to requests from then on
/// (a SIGHUP that changes the password).
#[derive(Clone)]
pub struct Access {
    digest: Arc<RwLock<Option<[u8; 32]>>>,
    open: &'static [&'static str],
}

/// Put on every request a handler sees: whether it came with the password (always true
/// when none is set). Handlers of open paths use it to say less to strangers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub bool);

fn digest(password: &SecretString) -> [u8; 32] {
    Sha256::digest(password.expose_secret().as_bytes()).into()
}

impl Access {
    pub fn new(password: Option<&SecretString>, open: &'static [&'static str]) -> Access {
        Access {
            digest: Arc::new(RwLock::new(password.map(digest))),
            open,
        }
    }

    pub fn set_password(&self, password: Option<&SecretString>) {
        if let Ok(mut d) = self.digest.write() {
            *d = password.map(digest);
        }
    }

    pub(crate) fn is_open(&self, path: &str) -> bool {
        self.open.contains(&path)
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
        let Some(sent) = basic_password(headers) else {
            return false;
        };
        let sent: [u8; 32] = Sha256::digest(&sent).into();
        sent.ct_eq(&expected).into()
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
}
