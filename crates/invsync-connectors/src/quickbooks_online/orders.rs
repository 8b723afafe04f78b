//! Which store orders are posted: a SalesReceipt or an Invoice whose `DocNumber` is the
//! configured template (`order_doc_number`, default `{order}`) with the order filled in.
//! QuickBooks has no orders of its own; posting a store order means recording the sale
//! as one of those two (platform-apis.md §3, "Orders").

use super::{Inner, quote};
use crate::ConnectorError;
use invsync_core::OrderLine;
use std::collections::{BTreeSet, HashSet};

/// QuickBooks' `DocNumber` holds at most 21 characters (Finance.xsd documents the limit
/// for transactions); a longer one cannot be on any posted document.
const DOC_NUMBER_MAX: usize = 21;

/// The DocNumber a posted order carries.
pub(super) fn doc_number(template: &str, line: &OrderLine) -> String {
    template
        .replace("{store}", &line.store)
        .replace("{order}", &line.order)
        .trim()
        .to_owned()
}

pub(super) async fn posted_orders(
    inner: &Inner,
    orders: &[OrderLine],
) -> Result<Vec<bool>, ConnectorError> {
    let template = &inner.config.order_doc_number;
    let wanted: Vec<String> = orders.iter().map(|l| doc_number(template, l)).collect();
    let distinct: BTreeSet<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|d| !d.is_empty() && d.chars().count() <= DOC_NUMBER_MAX)
        .collect();
    let distinct: Vec<&str> = distinct.into_iter().collect();
    let mut posted: HashSet<String> = HashSet::new();
    for chunk in distinct.chunks(inner.tuning.doc_numbers_per_query) {
        let list: Vec<String> = chunk.iter().map(|d| quote(d)).collect();
        for entity in ["SalesReceipt", "Invoice"] {
            let query = format!(
                "select * from {entity} where DocNumber in ({}) MAXRESULTS {}",
                list.join(", "),
                super::MAX_RESULTS
            );
            let response = inner.query(&query).await?;
            posted.extend(
                response
                    .sales_receipts
                    .into_iter()
                    .chain(response.invoices)
                    .filter_map(|d| d.doc_number)
                    .map(|d| d.trim().to_owned()),
            );
        }
    }
    tracing::debug!(connection = %inner.name, lines = orders.len(), documents = distinct.len(), posted = posted.len(), "looked up posted orders");
    Ok(wanted.iter().map(|d| posted.contains(d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use compact_str::CompactString;

    #[test]
    fn doc_numbers_fill_the_template() {
        let line = OrderLine {
            store: CompactString::from("shop"),
            order: CompactString::from("1001"),
            sku: CompactString::from("MUG-1"),
            quantity: 1,
        };
        assert_eq!(doc_number("{order}", &line), "1001");
        assert_eq!(doc_number("{store}-{order}", &line), "shop-1001");
        assert_eq!(doc_number("WEB{order}", &line), "WEB1001");
    }
}
