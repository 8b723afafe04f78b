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

/// The credentials of one connection, in every form they travel in. Clones share the
/// list, so tokens a connection obtains later are masked everywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Arc<RwLock<Vec<String>>>,
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
            ConnectionConfig::File(_) => {}
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

    /// Masks `secret` from now on, raw and encoded.
    pub fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET {
            return;
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let forms = [
            secret.to_owned(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            json.trim_matches('"').to_owned(),
        ];
        let mut needles = self.needles.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if !needles.contains(&form) {
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

    /// `text` with every credential masked, and any credential's beginning (of
    /// [`MIN_PARTIAL`] characters or more) where a message was cut short.
    pub fn scrub(&self, text: &str) -> String {
        let needles = self.needles.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for needle in needles.iter() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), MASK);
            }
        }
        for needle in needles.iter() {
            out = mask_partial(&out, needle);
        }
        out
    }

    pub fn error(&self, e: ConnectorError) -> ConnectorError {
        ConnectorError {
            message: self.scrub(&e.message),
            ..e
        }
    }

    fn outcome(&self, outcome: WriteOutcome) -> WriteOutcome {
        match outcome {
            WriteOutcome::Applied => WriteOutcome::Applied,
            WriteOutcome::Failed(m) => WriteOutcome::Failed(self.scrub(&m)),
            WriteOutcome::Stale(m) => WriteOutcome::Stale(self.scrub(&m)),
        }
    }
}

/// Masks the runs of `text` that begin like `needle` for at least [`MIN_PARTIAL`]
/// characters (whole copies are masked before).
fn mask_partial(text: &str, needle: &str) -> String {
    let Some((head_end, _)) = needle.char_indices().nth(MIN_PARTIAL) else {
        return text.to_owned();
    };
    let head = &needle[..head_end];
    if !text.contains(head) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(head) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let mut end = tail
            .bytes()
            .zip(needle.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !tail.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(MASK);
        rest = &tail[end.max(head.len())..];
    }
    out.push_str(rest);
    out
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

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let mut catalog = self
            .inner
            .read_catalog()
            .await
            .map_err(|e| self.redactor.error(e))?;
        for reject in &mut catalog.rejects {
            reject.error = self.redactor.scrub(&reject.error);
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
            reject.error = self.redactor.scrub(&reject.error);
        }
        Ok(read)
    }

    async fn read_open_orders(&self) -> Result<Option<Vec<OrderLine>>, ConnectorError> {
        self.inner
            .read_open_orders()
            .await
            .map_err(|e| self.redactor.error(e))
    }

    // Every method of the trait is forwarded: a default one here would silently replace
    // the connection's own (incremental order reads, say).
    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        self.inner
            .read_orders(cursor)
            .await
            .map_err(|e| self.redactor.error(e))
    }

    fn write_batch_size(&self) -> usize {
        self.inner.write_batch_size()
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
