//! Catalog reads that keep what they read (ADR 0017).
//!
//! A whole read is ADR 0011's: count, then pages or one bulk operation. Its cursor holds,
//! for each of the three things a record is made of — the variant (price, SKU, bundle), its
//! inventory item (tracking) and its level at the location (quantity) — a high-water mark
//! on Shopify's clock, kept and settled like the order cursors of ADR 0060. The next run
//! hands back the records with that cursor and reads only what changed since each mark:
//! `productVariants`, `inventoryItems` and `location.inventoryLevels`, each filtered by
//! `updated_at:>'…'` and each giving the whole variant. Three pages and a count on a
//! quiet shop, against ~500 points a hundred variants for a paged whole read.
//!
//! A variant's own `updatedAt` does not move when only its stock does; that is why levels
//! are followed separately (a stock increase made by hand would otherwise be missed and
//! could oversell). Deleted variants appear in no filter; the variant count does: when
//! Shopify's exact count differs from the cache with the changes applied, the run reads
//! the catalog whole. A whole read also comes every `full_read_every` (default a day), when
//! the cursor belongs to another shop or location, or when more changed than a bulk read
//! would cost (`bulk_above`).

use super::{ShopifyConnection, documents, vendor::VariantNode};
use crate::order_feed::{self, Cursor};
use crate::{CachedCatalog, Catalog, CatalogRead, ConnectorError, ErrorKind, Reject};
use chrono::{DateTime, SecondsFormat, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Variants a page of changes asks for: ~7 points each with the level and item around
/// them, so a page stays under the single-query limit of 1000.
const CHANGED_PAGE: i64 = 100;

/// The cursor format. 2: records of untracked variants are `untracked` and of variants
/// not stocked at the location `not-stocked` (version 1 kept them as `base` and as
/// rejects): a version-1 cursor reads the catalog whole once, so no record keeps the old
/// classification until its variant changes.
const CURSOR_VERSION: u8 = 2;

/// What a catalog read hands the next one, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CatalogCursor {
    /// Format version: [`CURSOR_VERSION`].
    v: u8,
    shop: String,
    location: String,
    /// When the last whole read was made, on invsync's clock.
    full_at: DateTime<Utc>,
    /// Order-feed cursors (`v1:<mark>…`) of variants, inventory items and levels.
    variants: String,
    items: String,
    levels: String,
    /// Variants the cache leaves out because they could not be read (an answer invsync
    /// cannot use), still reported as failed items each run until they change.
    #[serde(default)]
    rejects: Vec<CursorReject>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CursorReject {
    id: String,
    sku: Option<String>,
    error: String,
}

/// A `Count` object: the count (unreadable: as many as can be, so nothing is taken for
/// small) and whether Shopify says it is exact.
fn parse_count(count: &Value) -> (u64, bool) {
    (
        count["count"].as_u64().unwrap_or(u64::MAX),
        count["precision"].as_str() != Some("AT_LEAST"),
    )
}

/// The search filter of changes after `since`.
fn changed_since(since: DateTime<Utc>) -> String {
    format!(
        "updated_at:>'{}'",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// The three marks of a cursor, parsed.
struct Marks {
    variants: Cursor,
    items: Cursor,
    levels: Cursor,
}

/// The greatest of a stream's change times in what an incremental read saw, never after
/// `bound` (Shopify's clock when the read began: a change landing during the read must
/// not move the mark past changes the read had already paged by); `None` when it saw
/// none (the mark stays and settles).
fn newest(
    nodes: &[VariantNode],
    part: impl Fn(&VariantNode) -> Option<DateTime<Utc>>,
    bound: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let seen = nodes.iter().filter_map(part).max();
    match (seen, bound) {
        (Some(s), Some(b)) => Some(s.min(b)),
        (s, _) => s,
    }
}

impl ShopifyConnection {
    /// The variant count, and whether Shopify says it is exact.
    async fn variant_count(&self) -> Result<(u64, bool), ConnectorError> {
        let data = self
            .client
            .call("VariantsCount", documents::VARIANTS_COUNT, json!({}), true)
            .await?;
        Ok(parse_count(&data["productVariantsCount"]))
    }

    /// Reads every variant (ADR 0011) and the cursor to read only changes next time.
    pub(super) async fn read_whole(
        &self,
        location: &str,
        now: DateTime<Utc>,
    ) -> Result<CatalogRead, ConnectorError> {
        let (count, _) = self.variant_count().await?;
        let bound = self.client.server_time();
        let bulk = count > self.config.bulk_above;
        let started = std::time::Instant::now();
        let nodes = if bulk {
            self.read_bulk(location).await?
        } else {
            self.read_paged(location).await?
        };
        tracing::debug!(
            connection = %self.name, variants = nodes.len(), bulk,
            elapsed_ms = started.elapsed().as_millis(), "read the whole Shopify catalog"
        );
        self.remember(&nodes).await;
        let catalog = self.to_records(&nodes);
        let cursor = (!self.config.full_read_every.is_zero()).then(|| {
            // A whole read saw everything changed before it began: its marks are that
            // moment (Shopify's `Date`), or the newest change it saw if Shopify sent none.
            let mark = |part: fn(&VariantNode) -> Option<DateTime<Utc>>| {
                let mark = bound.or_else(|| nodes.iter().filter_map(part).max());
                order_feed::advance(None, mark, now)
            };
            self.encode_cursor(
                location,
                now,
                [
                    mark(|n| n.changed.variant),
                    mark(|n| n.changed.item),
                    mark(|n| n.changed.level),
                ],
                &catalog.rejects,
            )
        });
        Ok(CatalogRead {
            catalog,
            cursor: cursor.flatten(),
            incremental: false,
        })
    }

    /// The cursor's text; `None` when a stream has no mark (an empty shop): the next read
    /// is whole again, as cheap as an incremental one then.
    fn encode_cursor(
        &self,
        location: &str,
        full_at: DateTime<Utc>,
        [variants, items, levels]: [Option<Cursor>; 3],
        rejects: &[Reject],
    ) -> Option<String> {
        let cursor = CatalogCursor {
            v: CURSOR_VERSION,
            shop: self.config.shop.clone(),
            location: location.to_owned(),
            full_at,
            variants: order_feed::encode(variants?),
            items: order_feed::encode(items?),
            levels: order_feed::encode(levels?),
            rejects: rejects
                .iter()
                .filter_map(|r| {
                    Some(CursorReject {
                        id: r.id.clone()?,
                        sku: r.sku.clone(),
                        error: r.error.clone(),
                    })
                })
                .collect(),
        };
        serde_json::to_string(&cursor).ok()
    }

    /// The cached cursor, if it is this shop's and location's and its whole read is
    /// recent enough.
    fn resume_catalog(
        &self,
        text: &str,
        location: &str,
        now: DateTime<Utc>,
    ) -> Option<(CatalogCursor, Marks)> {
        let cursor: CatalogCursor = match serde_json::from_str(text) {
            Ok(c) => c,
            Err(_) => {
                tracing::warn!(connection = %self.name, "catalog cursor not understood; reading the whole catalog");
                return None;
            }
        };
        if cursor.v != CURSOR_VERSION {
            tracing::info!(connection = %self.name, version = cursor.v, "the cached catalog is of an older format; reading the whole catalog");
            return None;
        }
        if cursor.shop != self.config.shop || cursor.location != location {
            tracing::info!(connection = %self.name, "the cached catalog is of another shop or location; reading the whole catalog");
            return None;
        }
        let age = (now - cursor.full_at).to_std().unwrap_or_default();
        if age >= self.config.full_read_every || cursor.full_at > now {
            tracing::info!(connection = %self.name, "the last whole read is older than full_read_every; reading the whole catalog");
            return None;
        }
        let marks = Marks {
            variants: order_feed::parse(&cursor.variants)?,
            items: order_feed::parse(&cursor.items)?,
            levels: order_feed::parse(&cursor.levels)?,
        };
        Some((cursor, marks))
    }

    /// Reads the catalog, incrementally when `cached` allows (module docs).
    pub(super) async fn read_catalog_cached(
        &self,
        cached: Option<CachedCatalog>,
    ) -> Result<CatalogRead, ConnectorError> {
        let location = self.location().await?.to_owned();
        let now = (self.order_clock)();
        if self.config.full_read_every.is_zero() {
            return self.read_whole(&location, now).await;
        }
        if let Some(cached) = cached
            && let Some((cursor, marks)) = self.resume_catalog(&cached.cursor, &location, now)
            && let Some(read) = self
                .read_changes(&location, cursor, marks, cached, now)
                .await?
        {
            return Ok(read);
        }
        self.read_whole(&location, now).await
    }

    /// Reads what changed since the marks and applies it to `records`; `None` when the
    /// catalog must be read whole instead.
    async fn read_changes(
        &self,
        location: &str,
        cursor: CatalogCursor,
        marks: Marks,
        cached: CachedCatalog,
        now: DateTime<Utc>,
    ) -> Result<Option<CatalogRead>, ConnectorError> {
        let mut records = cached.records;
        // More changes than a whole read would be paged for: read whole (in bulk). Never
        // below one full page, so `bulk_above = 0` (always bulk) keeps incremental reads.
        let limit = usize::try_from(self.config.bulk_above.max(super::MAX_PAGE as u64))
            .unwrap_or(usize::MAX);
        let counts = self
            .client
            .call(
                "CatalogCounts",
                documents::CATALOG_COUNTS,
                json!({ "changed": changed_since(marks.variants.since()) }),
                true,
            )
            .await?;
        let bound = self.client.server_time();
        let (count, exact) = parse_count(&counts["all"]);
        let (variants_changed, _) = parse_count(&counts["changed"]);
        // What invsync itself wrote since comes back as changes too (levels have no count).
        let expected = variants_changed.saturating_add(cached.writes_since);
        if expected > limit as u64 {
            tracing::info!(
                connection = %self.name, variants_changed, written = cached.writes_since, limit,
                "more changes than bulk_above; reading the whole catalog"
            );
            return Ok(None);
        }
        let mut changed = Vec::new();
        for (operation, document, since, path) in [
            (
                "VariantsChanged",
                documents::VARIANTS_CHANGED,
                marks.variants.since(),
                &["productVariants"][..],
            ),
            (
                "ItemsChanged",
                documents::ITEMS_CHANGED,
                marks.items.since(),
                &["inventoryItems"][..],
            ),
            (
                "LevelsChanged",
                documents::LEVELS_CHANGED,
                marks.levels.since(),
                &["location", "inventoryLevels"][..],
            ),
        ] {
            let before = changed.len();
            let complete = self
                .read_changed_pages(
                    operation,
                    document,
                    since,
                    path,
                    location,
                    limit,
                    &mut changed,
                )
                .await?;
            tracing::debug!(connection = %self.name, operation, changed = changed.len() - before, "read Shopify changes");
            if !complete {
                tracing::info!(
                    connection = %self.name, limit,
                    "more variants changed than bulk_above; reading the whole catalog"
                );
                return Ok(None);
            }
        }
        self.remember(&changed).await;

        // Apply: a changed variant replaces its record (or is new); one that cannot be
        // read any more leaves the catalog and is reported.
        let mut rejects: HashMap<String, Reject> = cursor
            .rejects
            .into_iter()
            .map(|r| {
                (
                    r.id.clone(),
                    Reject {
                        sku: r.sku,
                        id: Some(r.id),
                        error: r.error,
                    },
                )
            })
            .collect();
        let mut at: HashMap<CompactString, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let mut dropped: HashSet<usize> = HashSet::new();
        for node in &changed {
            match node.to_record() {
                Ok(record) => {
                    rejects.remove(&node.id);
                    match at.get(&record.id) {
                        Some(&i) => {
                            dropped.remove(&i);
                            records[i] = record;
                        }
                        None => {
                            at.insert(record.id.clone(), records.len());
                            records.push(record);
                        }
                    }
                }
                Err(error) => {
                    if let Some(&i) = at.get(node.id.as_str()) {
                        dropped.insert(i);
                    }
                    rejects.insert(
                        node.id.clone(),
                        Reject {
                            sku: node.sku.clone(),
                            id: Some(node.id.clone()),
                            error,
                        },
                    );
                }
            }
        }
        if !dropped.is_empty() {
            records = records
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, r)| r)
                .collect();
        }
        let known = records.len() + rejects.len();
        if exact && u64::try_from(known).ok() != Some(count) {
            tracing::info!(
                connection = %self.name, shopify = count, cached = known,
                "the shop's variant count differs from the cached catalog (variants deleted?); reading the whole catalog"
            );
            return Ok(None);
        }
        let mut rejects: Vec<Reject> = rejects.into_values().collect();
        rejects.sort_by(|a, b| a.id.cmp(&b.id));
        let next = |previous: Cursor, part: fn(&VariantNode) -> Option<DateTime<Utc>>| {
            order_feed::advance(Some(previous), newest(&changed, part, bound), now)
        };
        let marks = [
            next(marks.variants, |n| n.changed.variant),
            next(marks.items, |n| n.changed.item),
            next(marks.levels, |n| n.changed.level),
        ];
        let next_cursor = self.encode_cursor(location, cursor.full_at, marks, &rejects);
        Ok(Some(CatalogRead {
            catalog: Catalog { records, rejects },
            cursor: next_cursor,
            incremental: true,
        }))
    }

    /// Pages one change query into `out`; `false` once `out` holds more than `limit`
    /// changes of all three queries (the caller reads the catalog whole instead).
    #[allow(clippy::too_many_arguments)]
    async fn read_changed_pages(
        &self,
        operation: &'static str,
        document: &'static str,
        since: DateTime<Utc>,
        path: &[&str],
        location: &str,
        limit: usize,
        out: &mut Vec<VariantNode>,
    ) -> Result<bool, ConnectorError> {
        let query = changed_since(since);
        let mut after: Option<String> = None;
        let mut first = CHANGED_PAGE;
        loop {
            let answer = self
                .client
                .call(
                    operation,
                    document,
                    json!({ "first": first, "after": after, "query": query, "locationId": location }),
                    true,
                )
                .await;
            let data = match answer {
                Err(e) if e.message.contains("MAX_COST_EXCEEDED") && first > 1 => {
                    first /= 2;
                    continue;
                }
                other => other?,
            };
            let connection = path.iter().fold(&data, |v, key| &v[*key]);
            if connection.is_null() {
                return Ok(true);
            }
            let page: super::vendor::Connection<Value> = serde_json::from_value(connection.clone())
                .map_err(|e| {
                    self.error(
                        ErrorKind::Unavailable,
                        format!("{operation}: unexpected answer: {e}"),
                    )
                })?;
            for node in page.nodes {
                // Items and levels carry their variant inside.
                let variant = match (node.get("variant"), node.get("item")) {
                    (Some(v), _) => v.clone(),
                    (None, Some(item)) => item["variant"].clone(),
                    (None, None) => node,
                };
                if !variant.is_null() {
                    out.push(VariantNode::parse(variant));
                }
            }
            if out.len() > limit {
                return Ok(false);
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn a_mark_never_passes_the_time_the_read_began() {
        let node = |t: &str| {
            let mut n = VariantNode::parse(json!({"id": "gid://shopify/ProductVariant/1"}));
            n.changed.variant = Some(at(t));
            n
        };
        let nodes = [node("2026-11-28T10:00:00Z"), node("2026-11-28T12:00:00Z")];
        let bound = Some(at("2026-11-28T11:00:00Z"));
        assert_eq!(
            newest(&nodes, |n| n.changed.variant, bound),
            bound,
            "a change during the read is after the bound"
        );
        assert_eq!(
            newest(&nodes[..1], |n| n.changed.variant, bound),
            Some(at("2026-11-28T10:00:00Z"))
        );
        assert_eq!(
            newest(&[], |n| n.changed.variant, bound),
            None,
            "nothing seen: the mark stays"
        );
    }
}
