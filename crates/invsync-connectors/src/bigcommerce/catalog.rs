//! Catalog reads: products with their variants as records, and another location's stock
//! from the Inventory API.

use super::vendor::{BcProduct, InventoryItem, LocationItem, RecordId, price_of, sale_of};
use super::{BigCommerceConnection, INVENTORY_PAGE, PRODUCT_PAGE};
use crate::{ConnectorError, Reject};
use invsync_core::{ItemKind, Record};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// The records of one product (see the module docs).
pub(super) fn product_records(p: &BcProduct) -> Result<Vec<Record>, String> {
    let untracked = p.inventory_tracking == "none" || p.inventory_tracking.is_empty();
    let by_product = p.inventory_tracking == "product";
    if !untracked && !by_product && p.inventory_tracking != "variant" {
        return Err(format!(
            "unknown inventory_tracking `{}`",
            p.inventory_tracking
        ));
    }
    let has_options = p.variants.iter().any(|v| !v.option_values.is_empty());
    let mut out = Vec::new();
    if has_options {
        out.push(Record {
            id: p.id.to_string().into(),
            sku: p.sku.trim().into(),
            name: p.name.as_str().into(),
            kind: ItemKind::Base,
            price: price_of(None, p.price.as_ref())?,
            quantity: None,
            sale: None,
        });
    }
    for v in &p.variants {
        if has_options && v.option_values.is_empty() {
            continue;
        }
        let quantity = if untracked {
            None
        } else if by_product {
            Some(
                p.inventory_level
                    .ok_or("inventory is tracked by product but inventory_level is missing")?,
            )
        } else {
            Some(
                v.inventory_level
                    .ok_or("inventory is tracked by variant but inventory_level is missing")?,
            )
        };
        let sku = if v.sku.trim().is_empty() && !has_options {
            p.sku.trim()
        } else {
            v.sku.trim()
        };
        out.push(Record {
            id: RecordId {
                product: p.id,
                variant: v.id,
                by_product,
            }
            .text()
            .into(),
            sku: sku.into(),
            name: if has_options {
                format!("{} ({sku})", p.name).into()
            } else {
                p.name.as_str().into()
            },
            // Every variant is sold; without tracking only its price syncs.
            kind: if untracked {
                ItemKind::Untracked
            } else {
                ItemKind::Inventory
            },
            price: price_of(v.price.as_ref(), p.price.as_ref())?,
            quantity,
            sale: sale_of(v.sale_price.as_ref(), p.sale_price.as_ref())?.map(Box::new),
        });
    }
    Ok(out)
}

impl BigCommerceConnection {
    /// On-hand quantities at the configured location for some items (all when `None`).
    pub(super) async fn location_quantities(
        &self,
        items: Option<&[InventoryItem]>,
    ) -> Result<HashMap<InventoryItem, i64>, ConnectorError> {
        let path = format!("v3/inventory/locations/{}/items", self.location);
        let mut values = Vec::new();
        match items {
            None => values = self.v3_all(&path, &[], INVENTORY_PAGE).await?,
            Some(items) => {
                let (mut variants, mut products) = (Vec::new(), Vec::new());
                for item in items {
                    match item {
                        InventoryItem::Variant(v) => variants.push(*v),
                        InventoryItem::Product(p) => products.push(*p),
                    }
                }
                for (key, ids) in [("variant_id:in", variants), ("product_id:in", products)] {
                    for chunk in ids.chunks(INVENTORY_PAGE) {
                        values.extend(
                            self.v3_all(&path, &[(key, join(chunk))], INVENTORY_PAGE)
                                .await?,
                        );
                    }
                }
            }
        }
        Ok(quantities_by_item(&values))
    }

    pub(super) async fn products(
        &self,
        ids: Option<&[u64]>,
    ) -> Result<(Vec<Record>, Vec<Reject>), ConnectorError> {
        let mut query = vec![("include", "variants".to_owned())];
        let mut items = Vec::new();
        match ids {
            None => {
                items = self
                    .v3_all("v3/catalog/products", &query, PRODUCT_PAGE)
                    .await?
            }
            Some(ids) => {
                for chunk in ids.chunks(PRODUCT_PAGE) {
                    query.truncate(1);
                    query.push(("id:in", join(chunk)));
                    items.extend(
                        self.v3_all("v3/catalog/products", &query, PRODUCT_PAGE)
                            .await?,
                    );
                }
            }
        }
        let mut records = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            let parsed = serde_json::from_value::<BcProduct>(item.clone())
                .map_err(|e| format!("unreadable product: {e}"))
                .and_then(|p| product_records(&p));
            match parsed {
                Ok(r) => records.extend(r),
                Err(error) => rejects.push(Reject {
                    sku: item.get("sku").and_then(Value::as_str).map(str::to_owned),
                    id: item.get("id").map(Value::to_string),
                    error,
                }),
            }
        }
        // The catalog shows the default location's stock; another location's comes from
        // the Inventory API.
        if self.location != 1 {
            let wanted: Vec<InventoryItem> = records
                .iter()
                .filter(|r| r.quantity.is_some())
                .filter_map(|r| RecordId::parse(&r.id).ok().map(RecordId::item))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let at = self
                .location_quantities(if ids.is_some() { Some(&wanted) } else { None })
                .await?;
            for r in &mut records {
                if r.quantity.is_some()
                    && let Ok(id) = RecordId::parse(&r.id)
                {
                    r.quantity = Some(at.get(&id.item()).copied().unwrap_or(0));
                }
            }
        }
        Ok((records, rejects))
    }
}

/// On-hand quantity per inventory item of `/v3/inventory/locations/{id}/items` rows.
/// A row's `identity` may carry `variant_id`, `product_id` or both (LocationItemsResponse
/// in inventory.v3.yml). A variant id keys the variant's stock. The product's stock (what a
/// product-tracked record reads) is the row without a variant id when there is one, else
/// the first row naming the product: the spec does not say whether a product-tracked
/// product's row names its base variant too, and either way its quantity is found.
pub(super) fn quantities_by_item(rows: &[Value]) -> HashMap<InventoryItem, i64> {
    let mut out = HashMap::new();
    for row in rows {
        // Anything but an object reads as a row without a quantity: left out.
        let row: LocationItem = crate::lenient::decode(row.clone());
        let Some(q) = row.total_inventory_onhand.0 else {
            continue;
        };
        let id = row.identity.0.unwrap_or_default();
        if let Some(vid) = id.variant_id.0 {
            out.insert(InventoryItem::Variant(vid), q);
        }
        if let Some(pid) = id.product_id.0 {
            if id.variant_id.0.is_none() {
                out.insert(InventoryItem::Product(pid), q);
            } else {
                out.entry(InventoryItem::Product(pid)).or_insert(q);
            }
        }
    }
    out
}

pub(super) fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's `identity` may name a product-tracked product's base variant beside the
    /// product: its stock must still be found under the product.
    #[test]
    fn read_back_rows_key_product_stock_with_or_without_a_variant_id() {
        let rows = vec![
            serde_json::json!({"identity": {"sku": "A", "product_id": 1}, "total_inventory_onhand": 5}),
            serde_json::json!({"identity": {"sku": "B", "product_id": 2, "variant_id": 20}, "total_inventory_onhand": 7}),
            serde_json::json!({"identity": {"sku": "C-1", "product_id": 3, "variant_id": 31}, "total_inventory_onhand": 1}),
            serde_json::json!({"identity": {"sku": "C", "product_id": 3}, "total_inventory_onhand": 9}),
            serde_json::json!({"identity": {"sku": "D"}, "total_inventory_onhand": 4}),
            serde_json::json!({"identity": {"product_id": 5}}),
        ];
        let q = quantities_by_item(&rows);
        assert_eq!(q.get(&InventoryItem::Product(1)), Some(&5));
        assert_eq!(q.get(&InventoryItem::Product(2)), Some(&7));
        assert_eq!(q.get(&InventoryItem::Variant(20)), Some(&7));
        assert_eq!(
            q.get(&InventoryItem::Product(3)),
            Some(&9),
            "the product's own row wins over a variant's"
        );
        assert_eq!(q.get(&InventoryItem::Variant(31)), Some(&1));
        assert_eq!(q.get(&InventoryItem::Product(5)), None, "no quantity");
        assert_eq!(q.len(), 5);
    }
}
