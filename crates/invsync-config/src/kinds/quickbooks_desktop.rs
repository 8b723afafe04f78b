//! `kind = "quickbooks-desktop"`: QuickBooks Desktop (Pro, Premier, Enterprise) through the
//! QuickBooks Web Connector (accounting side only; ADR 0080). The qbXML keys live here;
//! the Web Connector's login (`username`, `password`, `company_file`) lives in
//! `[web_connector]` (ADR 0080 §7), which must be there with `qb_type = "QBFS"`.

use super::quickbooks_online::check_template;
use crate::{
    ConnectionConfig, DesktopSkuField, InventoryConfig, Master, QbType, QuickBooksDesktopConfig,
    Validator, WebConnectorConfig,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::time::Duration;

/// The default `order_ref_number`: a store order is posted when a SalesReceipt or Invoice
/// carries the store's order number as its `RefNumber`.
pub const DEFAULT_ORDER_REF_NUMBER: &str = "{order}";
/// The default `max_age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// The default `max_returned` (items per page of an iterated read).
pub const DEFAULT_MAX_RETURNED: u32 = 500;
/// The most `max_returned` allows (what one message set answers in reasonable time).
pub const MAX_MAX_RETURNED: u32 = 10_000;

/// `[accounting] kind = "quickbooks-desktop"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuickBooksDesktop {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    sku_field: Option<String>,
    adjustment_account: Option<String>,
    site: Option<String>,
    order_ref_number: Option<String>,
    max_age: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    max_returned: Option<i64>,
    // Issue 15 lists these among the accounting keys; they are the Web Connector's login
    // and belong to [web_connector] (ADR 0080 §7). Read only to say so.
    username: Option<IgnoredAny>,
    password: Option<IgnoredAny>,
    company_file: Option<IgnoredAny>,
}

pub(super) fn accounting(v: &mut Validator<'_>, value: config::Value) -> Option<ConnectionConfig> {
    let raw: RawQuickBooksDesktop = v.deserialize("accounting", value)?;
    login_belongs_in_web_connector(
        v,
        [
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("company_file", raw.company_file.is_some()),
        ],
    );
    let sku_field = match raw.sku_field.as_deref().map(str::trim) {
        None | Some("name") => Some(DesktopSkuField::Name),
        Some("full_name") => Some(DesktopSkuField::FullName),
        Some("manufacturer_part_number") => Some(DesktopSkuField::ManufacturerPartNumber),
        Some("bar_code") => Some(DesktopSkuField::BarCode),
        Some(other) => {
            v.error(
                "accounting.sku_field",
                format!("`{other}` is not an item field invsync matches on: use \"name\" (the default), \"full_name\", \"manufacturer_part_number\" or \"bar_code\""),
            );
            None
        }
    };
    let adjustment_account = full_name(
        v,
        "accounting.adjustment_account",
        raw.adjustment_account,
        "the account inventory adjustments post to, e.g. \"Inventory Adjustments\"",
    );
    let site = full_name(
        v,
        "accounting.site",
        raw.site,
        "an Advanced Inventory site, e.g. \"Main Warehouse\"",
    );
    let order_ref_number = order_ref_number(v, raw.order_ref_number.as_deref());
    let max_age = max_age(v, raw.max_age.as_deref());
    let max_returned = max_returned(v, raw.max_returned);
    Some(ConnectionConfig::QuickBooksDesktop(
        QuickBooksDesktopConfig {
            // Filled in from [web_connector] once both are read (`check_with_web_connector`).
            company: String::new(),
            sku_field: sku_field?,
            adjustment_account: adjustment_account?,
            site: site?,
            order_ref_number: order_ref_number?,
            max_age: max_age?,
            max_returned: max_returned?,
        },
    ))
}

/// Issue 15 lists the Web Connector's login among the accounting keys; it belongs to
/// `[web_connector]` (ADR 0080 §7). Each one present is an error that says so.
pub(super) fn login_belongs_in_web_connector<const N: usize>(
    v: &mut Validator<'_>,
    keys: [(&str, bool); N],
) {
    for (key, present) in keys {
        if present {
            v.error(
                &format!("accounting.{key}"),
                format!("belongs in [web_connector] ({key} there): it is the Web Connector's login for this company file"),
            );
        }
    }
}

/// `order_ref_number`, default [`DEFAULT_ORDER_REF_NUMBER`].
pub(super) fn order_ref_number(v: &mut Validator<'_>, raw: Option<&str>) -> Option<String> {
    match raw {
        None => Some(DEFAULT_ORDER_REF_NUMBER.to_owned()),
        Some(t) => match check_template(t) {
            Ok(()) => Some(t.to_owned()),
            Err(e) => {
                v.error("accounting.order_ref_number", e);
                None
            }
        },
    }
}

/// `max_age`, default [`DEFAULT_MAX_AGE`].
pub(super) fn max_age(v: &mut Validator<'_>, raw: Option<&str>) -> Option<Duration> {
    match raw {
        None => Some(DEFAULT_MAX_AGE),
        Some(t) => v.duration("accounting.max_age", t),
    }
}

/// `max_returned`, default [`DEFAULT_MAX_RETURNED`], 1 to [`MAX_MAX_RETURNED`].
pub(super) fn max_returned(v: &mut Validator<'_>, raw: Option<i64>) -> Option<u32> {
    match raw {
        None => Some(DEFAULT_MAX_RETURNED),
        Some(n) => match u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_MAX_RETURNED).contains(n))
        {
            Some(n) => Some(n),
            None => {
                v.error(
                    "accounting.max_returned",
                    format!("{n} is out of range: 1 to {MAX_MAX_RETURNED} items per page"),
                );
                None
            }
        },
    }
}

/// A QuickBooks list name (`FullName`, at most 159 characters in qbXML 13.0).
fn full_name(
    v: &mut Validator<'_>,
    key: &str,
    value: Option<String>,
    what: &str,
) -> Option<Option<String>> {
    match value.as_deref().map(str::trim) {
        None => Some(None),
        Some(name)
            if !name.is_empty()
                && name.chars().count() <= 159
                && !name.chars().any(char::is_control) =>
        {
            Some(Some(name.to_owned()))
        }
        Some(_) => {
            v.error(
                key,
                format!(
                    "must be the full name (1 to 159 characters, no control characters) of {what}"
                ),
            );
            None
        }
    }
}

/// The Web Connector carries every request: `[web_connector]` must be there and open
/// QuickBooks Desktop. Fills in the company (its `username`).
pub(crate) fn check_with_web_connector(
    v: &mut Validator<'_>,
    accounting: &mut QuickBooksDesktopConfig,
    web_connector: Option<&WebConnectorConfig>,
    table_present: bool,
) {
    if let Some(company) = web_connector_company(v, QbType::Desktop, web_connector, table_present) {
        accounting.company = company;
    }
}

/// The Web Connector carries every request of `kind`: `[web_connector]` must be there and
/// open the product `qb_type` names. Returns the company (its `username`).
pub(crate) fn web_connector_company(
    v: &mut Validator<'_>,
    expected: QbType,
    web_connector: Option<&WebConnectorConfig>,
    table_present: bool,
) -> Option<String> {
    let (kind, product) = match expected {
        QbType::Desktop => ("quickbooks-desktop", "QuickBooks Desktop"),
        QbType::PointOfSale => ("quickbooks-pos", "QuickBooks Point of Sale"),
    };
    let want = expected.qwc();
    match web_connector {
        Some(wc) if wc.qb_type == expected => return Some(wc.username.clone()),
        Some(wc) => v.error(
            "web_connector.qb_type",
            format!(
                "is \"{}\", but [accounting] kind = \"{kind}\" needs the Web Connector to open {product}: set qb_type = \"{want}\"",
                wc.qb_type.qwc()
            ),
        ),
        // An invalid table was reported at its own keys.
        None if table_present => {}
        None => v.error(
            "web_connector",
            format!("missing: [accounting] kind = \"{kind}\" is reached only through the QuickBooks Web Connector; add a [web_connector] table (username, password, qb_type = \"{want}\") and run the daemon"),
        ),
    }
    None
}

/// An adjustment needs the account it posts to when a store is the master (invsync then
/// writes QuickBooks quantities).
pub(super) fn check_with_inventory(
    v: &mut Validator<'_>,
    accounting: &QuickBooksDesktopConfig,
    inventory: &InventoryConfig,
) {
    if let Master::Store(store) = &inventory.master
        && accounting.adjustment_account.is_none()
    {
        v.error(
            "accounting.adjustment_account",
            format!(
                "missing: store `{store}` is the master inventory location, so invsync writes QuickBooks quantities as inventory adjustments (InventoryAdjustmentAdd), which post to an account; give its full name, e.g. \"Inventory Adjustments\""
            ),
        );
    }
}
