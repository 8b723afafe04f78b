//! Keeping database passwords out of messages and logs.

/// Stands in for a password wherever a URL or message is shown.
const MASK: &str = "****";

/// The URL with its password (user-info password and any `password`-like query
/// parameter) replaced by `****`, safe to log or show. A user name with percent-escapes
/// is masked too (a password can hide in one: `u%3Asecret`). A URL that does not parse,
/// or has no host, is reduced to its scheme, since we cannot tell where a secret might be
/// in it; a scheme that is not a database's is not shown either (the "URL" may be
/// anything a secret file held).
pub fn redact_url(url: &str) -> String {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    let known = scheme.filter(|s| matches!(*s, "postgres" | "postgresql" | "sqlite"));
    let parsed = url::Url::parse(url).ok().filter(|_| known.is_some());
    let Some(mut parsed) = parsed else {
        return match known {
            Some(scheme) => format!("{scheme}:<URL that does not parse>"),
            None => "<a database URL that does not parse>".to_owned(),
        };
    };
    if parsed.cannot_be_a_base() {
        return format!("{}:<URL without a host>", parsed.scheme());
    }
    if has_escapes(parsed.username()) {
        // Only fails for URLs that cannot have a user, which this one has.
        let _ = parsed.set_username(MASK);
    }
    if parsed.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query_pairs().any(|(key, _)| is_secret_key(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_key(&key) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// `text` with every form of the URL's secrets (raw and percent-decoded) masked. Used on
/// driver error messages, which we do not control.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_owned();
    for secret in secrets(url) {
        if !secret.is_empty() {
            out = out.replace(&secret, MASK);
        }
    }
    out
}

fn secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if has_escapes(parsed.username()) {
        found.push(parsed.username().to_owned());
        found.extend(decode(parsed.username()));
    }
    if let Some(password) = parsed.password() {
        found.push(password.to_owned());
        found.extend(decode(password));
    }
    for (key, value) in parsed.query_pairs() {
        if is_secret_key(&key) {
            found.push(value.into_owned());
        }
    }
    // The query as written, in case a message quotes it undecoded.
    if let Some(query) = parsed.query() {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && is_secret_key(key)
            {
                found.push(value.to_owned());
            }
        }
    }
    // Mask longer secrets first, so a secret containing another is masked whole.
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

fn decode(s: &str) -> Option<String> {
    let decoded: String = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (decoded != s).then_some(decoded)
}

/// Whether a URL part holds percent-escapes (`%3A`).
fn has_escapes(part: &str) -> bool {
    part.contains('%')
}

fn is_secret_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info_and_query_passwords() {
        let cases = [
            (
                "postgres://u:s3cret@db:5432/invsync",
                "postgres://u:****@db:5432/invsync",
            ),
            ("postgres://u@db/invsync", "postgres://u@db/invsync"),
            (
                "postgres:///invsync?host=/run/pg&password=hunter2",
                "postgres:///invsync?host=%2Frun%2Fpg&password=****",
            ),
            ("sqlite://var/invsync.db", "sqlite://var/invsync.db"),
            ("postgres://u:p@[bad", "postgres:<URL that does not parse>"),
            // Issue 13, item 6: no part of a URL that is not one of ours is shown, not
            // even its scheme; a URL without a host is not shown; a user name with
            // percent-escapes (a password hidden in it: `u%3Asecret`) is masked.
            (
                "root:S3NT1N3L:19000::",
                "<a database URL that does not parse>",
            ),
            ("S3NT1N3L", "<a database URL that does not parse>"),
            ("postgres:S3NT1N3L", "postgres:<URL without a host>"),
            ("postgres://u%3AS3NT1N3L@h/db", "postgres://****@h/db"),
            (
                "postgres://u%3AS3NT1N3L:pw@h/db",
                "postgres://****:****@h/db",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn scrub_masks_users_with_escapes_raw_and_decoded() {
        let url = "postgres://u%3AS3NT1N3L@127.0.0.1/x";
        let text = "password authentication failed for user \"u:S3NT1N3L\" (u%3AS3NT1N3L)";
        assert_eq!(
            scrub(text, url),
            "password authentication failed for user \"****\" (****)"
        );
        // A plain user name is shown, as before.
        assert_eq!(
            scrub("user \"invsync\"", "postgres://invsync@h/x"),
            "user \"invsync\""
        );
    }

    #[test]
    fn scrub_masks_raw_and_decoded_passwords() {
        let url = "postgres://u:p%40ss%2Fword@db/x?sslpassword=k3y";
        let text = "failed for p%40ss%2Fword and p@ss/word and k3y";
        assert_eq!(scrub(text, url), "failed for **** and **** and ****");
    }
}
