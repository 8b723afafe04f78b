//! Keeping credentials out of what a connection reports.
//!
//! Platforms put our own requests into their error answers: some error pages echo the
//! request headers (the token, Basic credentials), OAuth endpoints quote the grant, a
//! proxy repeats the URL. Those answers become error messages, which are printed, logged
//! and stored in the run history. So every connection [`open`](crate::open) returns is
//! wrapped in [`Redacted`], which masks its credentials — as configured and as sent on
//! the wire (Basic auth's base64, URL and JSON encodings), and tokens obtained later
//! (OAuth access and refresh tokens) — in every error, rejected product and failed
//! write it reports. A credential cut short by a truncated message is masked too.
//!
//! (Database URLs are the store's business: `invsync_store::redact_url`.)

use crate::{
    CachedCatalog, Catalog, CatalogRead, Connection, ConnectorError, OrderFeed, RecordRef, Write,
    WriteOutcome,
};
use async_trait::async_trait;
use base64::Engine as _;
use invsync_config::ConnectionConfig;
use invsync_core::{OrderLine, Record};
use secrecy::ExposeSecret;
use std::sync::{Arc, RwLock};

/// Stands in for a credential.
const MASK: &str = "[redacted]";
/// Credentials shorter than this are not masked: they would mangle messages, and no
/// platform issues tokens that short.
const MIN_SECRET: usize = 6;
/// A credential's first characters that count as a cut-off copy of it.
const MIN_PARTIAL: usize = 8;
/// The most characters of one message (an error, a rejected product's reason, a failed
/// write's reason) a connection reports, after masking; the rest is cut. The connectors
/// quote at most 300 characters of an HTTP error body (500 of Shopify's GraphQL errors
/// and QuickBooks Faults); this bounds every message whatever its source.
pub const MAX_MESSAGE: usize = 2_000;

/// The credentials of one connection, in every form they travel in. Clones share the
/// list, so tokens a connection obtains later are masked everywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, each as chars (matching walks them one at a time).
    needles: Arc<RwLock<Vec<Vec<char>>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor([redacted])")
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// The redactor of a configured connection: every secret of its kind.
    pub fn for_config(config: &ConnectionConfig) -> Redactor {
        let r = Redactor::new();
        match config {
            // No credentials: the Web Connector's password is checked by the endpoint.
            ConnectionConfig::File(_)
            | ConnectionConfig::QuickBooksDesktop(_)
            | ConnectionConfig::QuickBooksPos(_) => {}
            ConnectionConfig::WooCommerce(woo) => {
                r.add(woo.consumer_key.expose_secret());
                r.add(woo.consumer_secret.expose_secret());
                r.add_basic(
                    woo.consumer_key.expose_secret(),
                    woo.consumer_secret.expose_secret(),
                );
            }
            ConnectionConfig::BigCommerce(big) => r.add(big.access_token.expose_secret()),
            ConnectionConfig::Shopify(shop) => r.add(shop.access_token.expose_secret()),
            ConnectionConfig::QuickBooksOnline(qbo) => {
                r.add(qbo.client_secret.expose_secret());
                r.add_basic(&qbo.client_id, qbo.client_secret.expose_secret());
                if let Some(refresh) = &qbo.refresh_token {
                    r.add(refresh.expose_secret());
                }
            }
        }
        r
    }

    /// Masks `secret` from now on: as it is and in base64 (standard and URL-safe, alone
    /// and inside any longer base64 text). Escaped, entity-encoded, re-cased and spaced
    /// copies are found by [`Redactor::scrub`] itself.
    pub fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET {
            return;
        }
        let mut forms = vec![secret.to_owned()];
        forms.extend(base64_forms(secret.as_bytes()));
        let mut needles = self.needles.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            let form: Vec<char> = form.chars().collect();
            // Matching ignores case: one copy per spelling is enough.
            let same = |n: &Vec<char>| {
                n.len() == form.len() && n.iter().zip(&form).all(|(a, b)| same_char(*a, *b))
            };
            if form.len() >= MIN_SECRET && !needles.iter().any(same) {
                needles.push(form);
            }
        }
        // Longest first, so a credential containing another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// Masks the HTTP Basic credentials of `user` and `password` (`user` alone is no
    /// secret; the pair's base64 is).
    pub fn add_basic(&self, user: &str, password: &str) {
        if password.chars().count() < MIN_SECRET {
            return;
        }
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.add(&pair);
    }

    /// `text` with every credential masked — in any letter case; with characters written
    /// as `%XX`, `&#NN;`, `&#xHH;`, `&name;`, `\uXXXX`, `\xHH` or `\/`; with whitespace
    /// between its characters — and any credential's beginning (of [`MIN_PARTIAL`]
    /// characters or more) where a message was cut short.
    pub fn scrub(&self, text: &str) -> String {
        let needles = self.needles.read().unwrap_or_else(|e| e.into_inner());
        if needles.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            let found = needles.iter().find_map(|n| match_at(text, at, n));
            match found {
                Some(end) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(MASK);
                    copied = end;
                    at = end;
                }
                None => at += text[at..].chars().next().map_or(1, char::len_utf8),
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    /// [`Redactor::scrub`], then at most [`MAX_MESSAGE`] characters.
    pub fn message(&self, text: &str) -> String {
        let scrubbed = self.scrub(text);
        match scrubbed.char_indices().nth(MAX_MESSAGE) {
            Some((cut, _)) => format!(
                "{}… ({} more characters cut)",
                &scrubbed[..cut],
                scrubbed[cut..].chars().count()
            ),
            None => scrubbed,
        }
    }

    pub fn error(&self, e: ConnectorError) -> ConnectorError {
        ConnectorError {
            message: self.message(&e.message),
            ..e
        }
    }

    fn outcome(&self, outcome: WriteOutcome) -> WriteOutcome {
        match outcome {
            WriteOutcome::Applied => WriteOutcome::Applied,
            WriteOutcome::Failed(m) => WriteOutcome::Failed(self.message(&m)),
            WriteOutcome::Stale(m) => WriteOutcome::Stale(self.message(&m)),
        }
    }
}

/// The base64 texts that give `secret` away: its encoding alone (standard with padding,
/// URL-safe without), and, for each of the three ways it can sit in a longer encoded
/// text, the characters that depend on its bytes only.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut forms = vec![STANDARD.encode(secret), URL_SAFE_NO_PAD.encode(secret)];
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        let encoded = URL_SAFE_NO_PAD.encode(&bytes);
        // Character i carries bits 6i..6i+6 of the input; keep those within the secret.
        let first = (8 * offset).div_ceil(6);
        let last = (8 * (offset + secret.len())) / 6;
        if let Some(stable) = encoded.get(first..last) {
            forms.push(stable.replace('-', "+").replace('_', "/"));
            forms.push(stable.to_owned());
        }
    }
    forms
}

/// Where a copy of `needle` that starts at byte `at` of `text` ends: a whole copy, or a
/// copy of its first [`MIN_PARTIAL`] characters or more (a message cut short).
fn match_at(text: &str, at: usize, needle: &[char]) -> Option<usize> {
    let mut pos = at;
    let mut end = at;
    let mut matched = 0;
    for (i, want) in needle.iter().enumerate() {
        if i > 0 && !want.is_whitespace() {
            // A copy split by spaces or line breaks.
            pos += text[pos..]
                .char_indices()
                .find(|(_, c)| !c.is_whitespace())
                .map_or(text.len() - pos, |(n, _)| n);
        }
        match unit_len(&text[pos..], *want) {
            Some(len) => {
                pos += len;
                end = pos;
                matched += 1;
            }
            None => break,
        }
    }
    (matched == needle.len() || matched >= MIN_PARTIAL).then_some(end)
}

/// How many bytes at the start of `text` spell `want`, as it is or encoded.
fn unit_len(text: &str, want: char) -> Option<usize> {
    let c = text.chars().next()?;
    if same_char(c, want) {
        return Some(c.len_utf8());
    }
    let (decoded, len) = match c {
        '%' => (hex_char(text.get(1..3)?)?, 3),
        '&' => {
            // The longest reference spelled here is `&VerticalLine;`.
            let semi = text
                .char_indices()
                .take(16)
                .find_map(|(i, c)| (c == ';').then_some(i))?;
            (entity(&text[1..semi])?, semi + 1)
        }
        '\\' => match text.get(1..2)? {
            "u" => (hex_char(text.get(2..6)?)?, 6),
            "x" => (hex_char(text.get(2..4)?)?, 4),
            escaped @ ("/" | "\"" | "\\") => (escaped.chars().next()?, 2),
            _ => return None,
        },
        _ => return None,
    };
    same_char(decoded, want).then_some(len)
}

fn same_char(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

fn hex_char(hex: &str) -> Option<char> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(hex, 16).ok()?)
}

/// An HTML character reference without `&` and `;`: `#115`, `#x73`, or a name of the
/// ASCII punctuation and letters a token can hold.
fn entity(body: &str) -> Option<char> {
    if let Some(number) = body.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        if digits.is_empty() || digits.len() > 7 {
            return None;
        }
        return char::from_u32(u32::from_str_radix(digits, radix).ok()?);
    }
    let c = match body {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "sol" => '/',
        "bsol" => '\\',
        "plus" => '+',
        "equals" => '=',
        "lowbar" | "UnderBar" => '_',
        "period" => '.',
        "colon" => ':',
        "semi" => ';',
        "comma" => ',',
        "excl" => '!',
        "quest" => '?',
        "num" => '#',
        "dollar" => '$',
        "percnt" => '%',
        "ast" | "midast" => '*',
        "commat" => '@',
        "tilde" => '~',
        "Hat" => '^',
        "grave" => '`',
        "verbar" | "vert" | "VerticalLine" => '|',
        "lpar" => '(',
        "rpar" => ')',
        "lsqb" | "lbrack" => '[',
        "rsqb" | "rbrack" => ']',
        "lcub" | "lbrace" => '{',
        "rcub" | "rbrace" => '}',
        _ => return None,
    };
    Some(c)
}

/// A connection whose reports pass through its [`Redactor`].
pub struct Redacted {
    inner: Box<dyn Connection>,
    redactor: Redactor,
}

impl Redacted {
    pub fn new(inner: Box<dyn Connection>, redactor: Redactor) -> Redacted {
        Redacted { inner, redactor }
    }
}

#[async_trait]
impl Connection for Redacted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let mut catalog = self
            .inner
            .read_catalog()
            .await
            .map_err(|e| self.redactor.error(e))?;
        for reject in &mut catalog.rejects {
            reject.error = self.redactor.message(&reject.error);
        }
        Ok(catalog)
    }

    async fn read_catalog_since(
        &self,
        cached: Option<CachedCatalog>,
    ) -> Result<CatalogRead, ConnectorError> {
        let mut read = self
            .inner
            .read_catalog_since(cached)
            .await
            .map_err(|e| self.redactor.error(e))?;
        for reject in &mut read.catalog.rejects {
            reject.error = self.redactor.message(&reject.error);
        }
        Ok(read)
    }

    // Every method of the trait is forwarded: a default one here would silently replace
    // the connection's own (incremental order reads, say).
    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        self.inner
            .read_orders(cursor)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    fn cheap_to_watch(&self) -> bool {
        self.inner.cheap_to_watch()
    }

    fn write_batch_size(&self) -> usize {
        self.inner.write_batch_size()
    }

    fn write_batch_size_for(&self, field: invsync_core::Field, pending: usize) -> usize {
        self.inner.write_batch_size_for(field, pending)
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        self.inner
            .read_records(records)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        self.inner
            .posted_orders(orders)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let outcomes = self
            .inner
            .write(writes)
            .await
            .map_err(|e| self.redactor.error(e))?;
        Ok(outcomes
            .into_iter()
            .map(|o| self.redactor.outcome(o))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_form_and_cut_off_copies() {
        let r = Redactor::new();
        r.add("SENTINEL-7f3a9c/+=");
        r.add_basic("ck_user", "SENTINEL-7f3a9c/+=");
        let basic = base64::engine::general_purpose::STANDARD.encode("ck_user:SENTINEL-7f3a9c/+=");
        for text in [
            "token SENTINEL-7f3a9c/+= refused".to_owned(),
            "q=SENTINEL-7f3a9c%2F%2B%3D&x".to_owned(),
            format!("Basic {basic}"),
            "cut: SENTINEL-7f3".to_owned(),
        ] {
            let shown = r.scrub(&text);
            assert!(!shown.contains("SENTINEL-7"), "{text} → {shown}");
            assert!(!shown.contains(&basic[..12]), "{text} → {shown}");
            assert!(shown.contains(MASK), "{shown}");
        }
        assert_eq!(r.scrub("nothing secret, é"), "nothing secret, é");
        // Short strings are not taken for credentials.
        r.add("abc");
        assert_eq!(r.scrub("abc"), "abc");
    }

    /// Issue 13, item 7: a token echoed upper-cased, percent-encoded, entity-encoded,
    /// JSON-escaped, split by a space or inside longer base64 reached stderr and
    /// `sync_runs.error`. Every such copy is masked, whole or cut short, and the text
    /// around it is kept.
    #[test]
    fn masks_transformed_echoes() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use invsync_test_support::echo;
        const TOKEN: &str = "shpat_SENTINEL-7f3a9c/+=x";
        let r = Redactor::new();
        r.add(TOKEN);
        let mut transformed: Vec<(String, String)> = echo::TRANSFORMS
            .iter()
            .map(|how| (how.to_string(), echo::transform(how, TOKEN)))
            .collect();
        let form: String = url::form_urlencoded::byte_serialize(TOKEN.as_bytes()).collect();
        for (how, copy) in [
            ("as is", TOKEN.to_owned()),
            ("lower case", TOKEN.to_lowercase()),
            ("form-encoded", form),
            (
                "upper case, percent-encoded",
                echo::transform("percent", TOKEN).to_uppercase(),
            ),
            ("JSON-escaped slash", TOKEN.replace('/', "\\/")),
            (
                "split by a line break",
                format!("{}\n  {}", &TOKEN[..4], &TOKEN[4..]),
            ),
        ] {
            transformed.push((how.into(), copy));
        }
        for prefix in ["a", "ab", "abc"] {
            let inner = format!("{prefix}{TOKEN}:more");
            transformed.push((format!("base64 after {prefix}"), STANDARD.encode(&inner)));
            transformed.push((
                format!("URL-safe base64 after {prefix}"),
                URL_SAFE_NO_PAD.encode(&inner),
            ));
        }
        let traces = echo::base64_traces(TOKEN);
        let leaked = |shown: &str| {
            let plain = echo::decoded(shown);
            plain.contains("sentinel") || traces.iter().any(|t| plain.contains(t))
        };
        for (how, copy) in &transformed {
            let text = format!("HTTP 401 (\"errors\":\"Invalid token {copy} for shop\")");
            let shown = r.scrub(&text);
            assert!(shown.contains(MASK), "{how}: {shown}");
            assert!(
                shown.ends_with(" for shop\")"),
                "{how}: the rest is kept: {shown}"
            );
            assert!(!leaked(&shown), "{how}: {shown}");
            // Cut short (a message truncated) after 30 characters of the copy.
            let cut: String = copy.chars().take(30).collect();
            let shown = r.scrub(&format!("echo: {cut}"));
            assert!(!leaked(&shown), "{how}, cut: {shown}");
        }
        // Text that only looks alike stays.
        for text in [
            "shpat_other-token",
            "SENTINEL",
            "%73%68%70",
            "a & b; c",
            "\\u00e9t\u{e9}",
        ] {
            assert_eq!(r.scrub(text), text);
        }
    }

    #[test]
    fn messages_are_cut_to_a_bounded_length_after_masking() {
        let r = Redactor::new();
        r.add("SENTINEL-token-1234");
        let long = format!(
            "{}SENTINEL-token-1234{}",
            "x".repeat(MAX_MESSAGE - 5),
            "y".repeat(5000)
        );
        let shown = r.message(&long);
        assert!(!shown.contains("SENTINEL"), "masked before the cut");
        assert!(shown.chars().count() < MAX_MESSAGE + 40, "{}", shown.len());
        assert!(
            shown.ends_with("more characters cut)"),
            "{}",
            &shown[shown.len() - 40..]
        );
        assert_eq!(r.message("short"), "short");
    }

    #[test]
    fn clones_share_tokens_added_later() {
        let r = Redactor::new();
        let clone = r.clone();
        r.add("access-token-123456");
        assert_eq!(
            clone.scrub("x access-token-123456 y"),
            format!("x {MASK} y")
        );
    }
}
