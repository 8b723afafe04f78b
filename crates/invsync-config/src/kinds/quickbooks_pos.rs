//! `kind = "quickbooks-pos"`: QuickBooks Point of Sale through the QuickBooks Web Connector
//! (accounting side only; ADR 0080, 0081). Like `quickbooks-desktop`, the Web Connector's
//! login lives in `[web_connector]`, which must say `qb_type = "QBPOS"`; the keys shared
//! with Desktop (`order_ref_number`, `max_age`, `max_returned`) read the same way.

use super::quickbooks_desktop::{
    login_belongs_in_web_connector, max_age, max_returned, order_ref_number, web_connector_company,
};
use crate::{
    ConnectionConfig, PosOrderRefField, PosSkuField, QbType, QuickBooksPosConfig, Validator,
    WebConnectorConfig,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The default `adjustment_reason` (POS keeps at most 8 characters).
pub const DEFAULT_ADJUSTMENT_REASON: &str = "invsync";
/// The most characters POS keeps in a memo's `Reason`.
const MAX_REASON: usize = 8;
/// qbposXML 3.0 reports stock for stores 1 to 20.
const MAX_STORE_NUMBER: i64 = 20;

/// `[accounting] kind = "quickbooks-pos"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuickBooksPos {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    sku_field: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    store_number: Option<i64>,
    adjustment_reason: Option<String>,
    order_ref_field: Option<String>,
    order_ref_number: Option<String>,
    max_age: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    max_returned: Option<i64>,
    // The Web Connector's login: read only to say where it belongs.
    username: Option<IgnoredAny>,
    password: Option<IgnoredAny>,
    company_file: Option<IgnoredAny>,
}

pub(super) fn accounting(v: &mut Validator<'_>, value: config::Value) -> Option<ConnectionConfig> {
    let raw: RawQuickBooksPos = v.deserialize("accounting", value)?;
    login_belongs_in_web_connector(
        v,
        [
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("company_file", raw.company_file.is_some()),
        ],
    );
    let sku_field = match raw.sku_field.as_deref().map(str::trim) {
        None | Some("alu") => Some(PosSkuField::Alu),
        Some("item_number") => Some(PosSkuField::ItemNumber),
        Some("upc") => Some(PosSkuField::Upc),
        Some(other) => {
            v.error(
                "accounting.sku_field",
                format!("`{other}` is not an item field invsync matches on in QuickBooks POS: use \"alu\" (the default), \"item_number\" or \"upc\""),
            );
            None
        }
    };
    let store_number = match raw.store_number {
        None => Some(None),
        Some(n) if (1..=MAX_STORE_NUMBER).contains(&n) => u8::try_from(n).ok().map(Some),
        Some(n) => {
            v.error(
                "accounting.store_number",
                format!("{n} is not a store of a QuickBooks POS company: 1 to {MAX_STORE_NUMBER}, or leave it out for the company's total"),
            );
            None
        }
    };
    let adjustment_reason = match raw.adjustment_reason.as_deref().map(str::trim) {
        None => Some(DEFAULT_ADJUSTMENT_REASON.to_owned()),
        Some(reason)
            if !reason.is_empty()
                && reason.chars().count() <= MAX_REASON
                && !reason.chars().any(char::is_control) =>
        {
            Some(reason.to_owned())
        }
        Some(_) => {
            v.error(
                "accounting.adjustment_reason",
                format!("must be 1 to {MAX_REASON} characters (POS's reason of a New Quantity Memo), e.g. \"{DEFAULT_ADJUSTMENT_REASON}\""),
            );
            None
        }
    };
    let order_ref_field = match raw.order_ref_field.as_deref().map(str::trim) {
        None | Some("comments") => Some(PosOrderRefField::Comments),
        Some("tracking_number") => Some(PosOrderRefField::TrackingNumber),
        Some(other) => {
            v.error(
                "accounting.order_ref_field",
                format!("`{other}` is not a sales receipt field invsync looks orders up by: use \"comments\" (the default) or \"tracking_number\""),
            );
            None
        }
    };
    let order_ref_number = order_ref_number(v, raw.order_ref_number.as_deref());
    let max_age = max_age(v, raw.max_age.as_deref());
    let max_returned = max_returned(v, raw.max_returned);
    Some(ConnectionConfig::QuickBooksPos(QuickBooksPosConfig {
        // Filled in from [web_connector] once both are read (`check_with_web_connector`).
        company: String::new(),
        sku_field: sku_field?,
        store_number: store_number?,
        adjustment_reason: adjustment_reason?,
        order_ref_field: order_ref_field?,
        order_ref_number: order_ref_number?,
        max_age: max_age?,
        max_returned: max_returned?,
    }))
}

/// `[web_connector]` must be there with `qb_type = "QBPOS"`. Fills in the company.
pub(crate) fn check_with_web_connector(
    v: &mut Validator<'_>,
    accounting: &mut QuickBooksPosConfig,
    web_connector: Option<&WebConnectorConfig>,
    table_present: bool,
) {
    if let Some(company) =
        web_connector_company(v, QbType::PointOfSale, web_connector, table_present)
    {
        accounting.company = company;
    }
}
