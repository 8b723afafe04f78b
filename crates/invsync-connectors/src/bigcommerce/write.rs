//! Writes: prices through the catalog's variant batches, quantities through the
//! Inventory API ([`super::inventory`]).

use super::vendor::RecordId;
use super::{BigCommerceConnection, VARIANT_BATCH};
use crate::{ConnectorError, ErrorKind, Write, WriteOutcome};
use invsync_core::{Field, FieldValue, SaleAction};
use reqwest::Method;
use serde_json::value::RawValue;

impl BigCommerceConnection {
    async fn write_prices(
        &self,
        writes: &[Write],
        which: &[usize],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        /// One variant of a `PUT /v3/catalog/variants` body: its price, or its price and a
        /// sale price of 0 (the sale ended), or its sale price alone.
        #[derive(serde::Serialize)]
        struct VariantPrice {
            id: u64,
            /// The decimal's own digits as a JSON number: no float conversion.
            #[serde(skip_serializing_if = "Option::is_none")]
            price: Option<Box<RawValue>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sale_price: Option<Box<RawValue>>,
        }
        let mut items: Vec<(VariantPrice, usize)> = Vec::new();
        for &i in which {
            let (Ok(id), FieldValue::Price(p)) = (RecordId::parse(&writes[i].id), writes[i].new)
            else {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "`{}` is not a BigCommerce record id",
                    writes[i].id
                )));
                continue;
            };
            let Ok(raw) = RawValue::from_string(p.normalize().to_string()) else {
                outcomes[i] = Some(WriteOutcome::Failed(format!("price {p} cannot be sent")));
                continue;
            };
            let zero = || RawValue::from_string("0".to_owned()).ok();
            let (price, sale_price) = match writes[i].sale {
                None => (Some(raw), None),
                // 0 is the variant's own "no sale" (null would fall back to the product's).
                Some(SaleAction::End) => (Some(raw), zero()),
                Some(SaleAction::Set) => (None, Some(raw)),
            };
            items.push((
                VariantPrice {
                    id: id.variant,
                    price,
                    sale_price,
                },
                i,
            ));
        }
        for chunk in items.chunks(VARIANT_BATCH) {
            let body: Vec<&VariantPrice> = chunk.iter().map(|(v, _)| v).collect();
            let bytes = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::new(&self.name, ErrorKind::Other, e))?;
            let outcome = match self
                .call(Method::PUT, "v3/catalog/variants", &[], Some(&bytes))
                .await
            {
                Ok(_) => WriteOutcome::Applied,
                // 422 {"batch_errors": [...]}: the call was refused as a whole. (The batch
                // endpoint documents no 207; the single-variant endpoints' 207 is about
                // inventory, which invsync never sends through the catalog.)
                Err(e) if e.status == Some(422) => WriteOutcome::Failed(format!(
                    "BigCommerce refused the price update: {}",
                    e.message
                )),
                Err(e) => return Err(e),
            };
            for (_, i) in chunk {
                outcomes[*i] = Some(outcome.clone());
            }
        }
        Ok(())
    }

    /// [`crate::Connection::write`]: prices first, then quantities.
    pub(super) async fn write_all(
        &self,
        writes: &[Write],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
        let prices: Vec<usize> = (0..writes.len())
            .filter(|&i| writes[i].field == Field::Price)
            .collect();
        let quantities: Vec<usize> = (0..writes.len())
            .filter(|&i| writes[i].field == Field::Quantity)
            .collect();
        let mut error = self
            .write_prices(writes, &prices, &mut outcomes)
            .await
            .err();
        if error.is_none() {
            error = self
                .write_quantities(writes, &quantities, &mut outcomes)
                .await
                .err();
        }
        crate::batch_outcomes(outcomes, error)
    }
}
