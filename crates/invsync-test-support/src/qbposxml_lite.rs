//! A small validator of qbposXML 3.0 request documents: the envelope, which requests and
//! elements may appear, in which order, how often, which are required, and what their
//! values look like. Intuit ships no XSD for qbposXML (the SDK has `qbposxml30.dtd`, not
//! public), so this is written from the documented request layouts (ADR 0081):
//!
//! * the onscreen qbposXML reference,
//!   <https://developer.intuit.com/app/developer/qbdesktop/docs/api-reference/qbpos> —
//!   `…/qbpos/iteminventoryquery`, `…/qbpos/iteminventorymod`,
//!   `…/qbpos/inventoryqtyadjustmentadd`, `…/qbpos/inventoryqtyadjustmentquery`,
//!   `…/qbpos/salesreceiptquery` (the *Request* tab: tag, type, max length, required);
//! * the same layouts in element order as Intuit's sample document of `qbposxml30.dtd`
//!   ("(c) 2008 Intuit Inc."), kept in `qbwc/qbxml` as `schema/qbposxmlops30.xml`
//!   (commit ec96ea0aed9c58ff4742f77a9070e34c458e61df): the `<?qbposxml version="3.0"?>`
//!   instruction, `QBPOSXML` / `QBPOSXMLMsgsRq onError` (required: `continueOnError` or
//!   `stopOnError`), each request's children in sequence with `opt`, `may rep` and
//!   `field max = N`, and the `BEGIN OR` groups (a filter *or* its range filter).
//!
//! It models only the requests invsync sends, and of each only the elements invsync sends
//! plus their documented neighbours; anything else is refused ("not modelled") — a new
//! element must be added here from the reference before a builder may send it. Elements
//! of a request must come in the documented order; a `(c)hoice group` allows one of its
//! members. Values: `INTTYPE` whole numbers, `AMTTYPE` at most two decimals, `QUANTYPE`
//! at most five, `BOOLTYPE` `true`/`false`, enums from the reference, strings within
//! their maximum length, `IncludeRetElement` one of the `…Ret`'s own elements.

use crate::quickbooks_desktop::{Node, parse_with_pi};

/// Validates one request document; `Err` says what is wrong and where.
pub fn validate(document: &str) -> Result<(), String> {
    let (root, pi) = parse_with_pi(document).map_err(|e| format!("not well-formed: {e}"))?;
    match pi {
        Some((target, version)) if target == "qbposxml" && version == "3.0" => {}
        Some((target, version)) => {
            return Err(format!(
                "<?{target} version=\"{version}\"?> is not <?qbposxml version=\"3.0\"?>"
            ));
        }
        None => return Err("no <?qbposxml version=\"3.0\"?> instruction".into()),
    }
    if root.name != "QBPOSXML" {
        return Err(format!("the root is <{}>, not <QBPOSXML>", root.name));
    }
    let [messages] = root.children.as_slice() else {
        return Err("<QBPOSXML> must hold exactly one <QBPOSXMLMsgsRq>".into());
    };
    if messages.name != "QBPOSXMLMsgsRq" {
        return Err(format!("<{}> is not <QBPOSXMLMsgsRq>", messages.name));
    }
    check_attributes(
        messages,
        &[Attr::required_enum(
            "onError",
            &["continueOnError", "stopOnError"],
        )],
    )?;
    if messages.children.is_empty() {
        return Err("<QBPOSXMLMsgsRq> holds no request".into());
    }
    for request in &messages.children {
        let layout = REQUESTS
            .iter()
            .find(|l| l.name == request.name)
            .ok_or_else(|| format!("<{}> is not a request this validator models", request.name))?;
        check(request, layout, &request.name)?;
    }
    Ok(())
}

/// Panics with the problem and the document when it is not valid.
pub fn assert_valid(document: &str) {
    if let Err(e) = validate(document) {
        panic!("qbposXML not valid: {e}\n--- document ---\n{document}");
    }
}

#[derive(Debug, Clone, Copy)]
struct Attr {
    name: &'static str,
    required: bool,
    values: Option<&'static [&'static str]>,
}

impl Attr {
    const fn optional(name: &'static str) -> Attr {
        Attr {
            name,
            required: false,
            values: None,
        }
    }
    const fn optional_enum(name: &'static str, values: &'static [&'static str]) -> Attr {
        Attr {
            name,
            required: false,
            values: Some(values),
        }
    }
    const fn required_enum(name: &'static str, values: &'static [&'static str]) -> Attr {
        Attr {
            name,
            required: true,
            values: Some(values),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Content {
    /// `STRTYPE` / `IDTYPE` / `GUIDTYPE`, with its maximum length when documented.
    Str(Option<usize>),
    Int,
    Amount,
    Quantity,
    Enum(&'static [&'static str]),
    /// `IncludeRetElement`: at most 50 characters, one of these element names.
    RetElement(&'static [&'static str]),
    Aggregate(&'static Layout),
}

#[derive(Debug, Clone, Copy)]
struct Child {
    name: &'static str,
    required: bool,
    repeats: bool,
    /// Members of one `BEGIN OR` group share a non-zero number: at most one may appear.
    choice: u8,
    content: Content,
}

const fn req(name: &'static str, content: Content) -> Child {
    Child {
        name,
        required: true,
        repeats: false,
        choice: 0,
        content,
    }
}
const fn opt(name: &'static str, content: Content) -> Child {
    Child {
        name,
        required: false,
        repeats: false,
        choice: 0,
        content,
    }
}
const fn rep(name: &'static str, content: Content) -> Child {
    Child {
        name,
        required: false,
        repeats: true,
        choice: 0,
        content,
    }
}
const fn or(choice: u8, name: &'static str, content: Content) -> Child {
    Child {
        name,
        required: false,
        repeats: false,
        choice,
        content,
    }
}

#[derive(Debug)]
struct Layout {
    name: &'static str,
    attributes: &'static [Attr],
    children: &'static [Child],
}

const QUERY_ATTRIBUTES: &[Attr] = &[
    Attr::optional("requestID"),
    Attr::optional_enum("metaData", &["MetaDataAndResponseData", "MetaDataOnly"]),
    Attr::optional_enum("iterator", &["Start", "Continue", "Stop"]),
    Attr::optional("iteratorID"),
];
const ADD_MOD_ATTRIBUTES: &[Attr] = &[Attr::optional("requestID")];

const STRING_CRITERIA: &[&str] = &["Equal", "StartsWith", "Contains", "EndsWith"];
const NUMERIC_CRITERIA: &[&str] = &[
    "LessThan",
    "LessThanEqual",
    "Equal",
    "GreaterThan",
    "GreaterThanEqual",
];
const HISTORY_DOC_STATUS: &[&str] = &["Regular", "Reversed", "Reversing"];
const ITEM_TYPES: &[&str] = &[
    "Inventory",
    "NonInventory",
    "Service",
    "Assembly",
    "Group",
    "SpecialOrder",
];

/// A `…Filter` of a string field: `MatchStringCriterion`, then the field.
macro_rules! string_filter {
    ($filter:literal, $field:literal, $max:expr) => {
        Layout {
            name: $filter,
            attributes: &[],
            children: &[
                req("MatchStringCriterion", Content::Enum(STRING_CRITERIA)),
                req($field, Content::Str($max)),
            ],
        }
    };
}

/// A `…RangeFilter` of a string field: `From…`, `To…`.
macro_rules! string_range {
    ($filter:literal, $from:literal, $to:literal, $max:expr) => {
        Layout {
            name: $filter,
            attributes: &[],
            children: &[opt($from, Content::Str($max)), opt($to, Content::Str($max))],
        }
    };
}

static ALU_FILTER: Layout = string_filter!("ALUFilter", "ALU", Some(20));
static UPC_FILTER: Layout = string_filter!("UPCFilter", "UPC", Some(18));
static COMMENTS_FILTER: Layout = string_filter!("CommentsFilter", "Comments", Some(300));
static COMMENTS_RANGE: Layout = string_range!(
    "CommentsRangeFilter",
    "FromComments",
    "ToComments",
    Some(300)
);
static TRACKING_FILTER: Layout = string_filter!("TrackingNumberFilter", "TrackingNumber", Some(50));
static TRACKING_RANGE: Layout = string_range!(
    "TrackingNumberRangeFilter",
    "FromTrackingNumber",
    "ToTrackingNumber",
    Some(50)
);
static ITEM_NUMBER_FILTER: Layout = Layout {
    name: "ItemNumberFilter",
    attributes: &[],
    children: &[
        req("MatchNumericCriterion", Content::Enum(NUMERIC_CRITERIA)),
        req("ItemNumber", Content::Int),
    ],
};
static RECEIPT_NUMBER_FILTER: Layout = Layout {
    name: "SalesReceiptNumberFilter",
    attributes: &[],
    children: &[
        req("MatchNumericCriterion", Content::Enum(NUMERIC_CRITERIA)),
        req("SalesReceiptNumber", Content::Int),
    ],
};
static TIME_MODIFIED_RANGE: Layout = Layout {
    name: "TimeModifiedRangeFilter",
    attributes: &[],
    children: &[
        opt("FromTimeModified", Content::Str(None)),
        opt("ToTimeModified", Content::Str(None)),
    ],
};

/// `ItemInventoryRet`'s elements, what `IncludeRetElement` may name.
const ITEM_RET: &[&str] = &[
    "ListID",
    "TimeCreated",
    "TimeModified",
    "ALU",
    "Attribute",
    "COGSAccount",
    "Cost",
    "DepartmentCode",
    "DepartmentListID",
    "Desc1",
    "Desc2",
    "IncomeAccount",
    "IsBelowReorder",
    "IsEligibleForCommission",
    "IsPrintingTags",
    "IsUnorderable",
    "HasPictures",
    "IsEligibleForRewards",
    "IsWebItem",
    "ItemNumber",
    "ItemType",
    "LastReceived",
    "MarginPercent",
    "MarkupPercent",
    "MSRP",
    "OnHandStore01",
    "OnHandStore02",
    "OnHandStore03",
    "OnHandStore04",
    "OnHandStore05",
    "OnHandStore06",
    "OnHandStore07",
    "OnHandStore08",
    "OnHandStore09",
    "OnHandStore10",
    "OnHandStore11",
    "OnHandStore12",
    "OnHandStore13",
    "OnHandStore14",
    "OnHandStore15",
    "OnHandStore16",
    "OnHandStore17",
    "OnHandStore18",
    "OnHandStore19",
    "OnHandStore20",
    "ReorderPointStore01",
    "ReorderPointStore02",
    "ReorderPointStore03",
    "ReorderPointStore04",
    "ReorderPointStore05",
    "ReorderPointStore06",
    "ReorderPointStore07",
    "ReorderPointStore08",
    "ReorderPointStore09",
    "ReorderPointStore10",
    "ReorderPointStore11",
    "ReorderPointStore12",
    "ReorderPointStore13",
    "ReorderPointStore14",
    "ReorderPointStore15",
    "ReorderPointStore16",
    "ReorderPointStore17",
    "ReorderPointStore18",
    "ReorderPointStore19",
    "ReorderPointStore20",
    "OrderByUnit",
    "OrderCost",
    "Price1",
    "Price2",
    "Price3",
    "Price4",
    "Price5",
    "QuantityOnCustomerOrder",
    "QuantityOnHand",
    "QuantityOnOrder",
    "QuantityOnPendingOrder",
    "AvailableQty",
    "ReorderPoint",
    "SellByUnit",
    "SerialFlag",
    "Size",
    "StoreExchangeStatus",
    "TaxCode",
    "UnitOfMeasure",
    "UPC",
    "VendorCode",
    "VendorListID",
    "WebDesc",
    "WebPrice",
    "Manufacturer",
    "Weight",
    "WebSKU",
    "Keywords",
    "WebCategories",
    "UnitOfMeasure1",
    "UnitOfMeasure2",
    "UnitOfMeasure3",
    "VendorInfo2",
    "VendorInfo3",
    "VendorInfo4",
    "VendorInfo5",
    "DataExtRet",
];

/// `InventoryQtyAdjustmentRet`'s elements.
const ADJUSTMENT_RET: &[&str] = &[
    "TxnID",
    "TimeCreated",
    "TimeModified",
    "Associate",
    "Comments",
    "CostDifference",
    "HistoryDocStatus",
    "InventoryAdjustmentNumber",
    "InventoryAdjustmentSource",
    "ItemsCount",
    "NewQuantity",
    "OldQuantity",
    "QtyDifference",
    "QuickBooksFlag",
    "Reason",
    "StoreExchangeStatus",
    "StoreNumber",
    "TxnDate",
    "TxnState",
    "Workstation",
    "InventoryQtyAdjustmentItemRet",
    "DataExtRet",
];

/// `SalesReceiptRet`'s elements.
const RECEIPT_RET: &[&str] = &[
    "TxnID",
    "TimeCreated",
    "TimeModified",
    "Associate",
    "Cashier",
    "Comments",
    "CustomerListID",
    "Discount",
    "DiscountPercent",
    "HistoryDocStatus",
    "ItemsCount",
    "PriceLevelNumber",
    "PromoCode",
    "QuickBooksFlag",
    "SalesOrderTxnID",
    "SalesReceiptNumber",
    "SalesReceiptType",
    "ShipDate",
    "StoreExchangeStatus",
    "StoreNumber",
    "Subtotal",
    "TaxAmount",
    "TaxCategory",
    "TaxPercentage",
    "TenderType",
    "TipReceiver",
    "Total",
    "TrackingNumber",
    "TxnDate",
    "TxnState",
    "Workstation",
    "BillingInformation",
    "ShippingInformation",
    "SalesReceiptItemRet",
    "TenderAccountRet",
    "TenderCashRet",
    "TenderCheckRet",
    "TenderCreditCardRet",
    "TenderDebitCardRet",
    "TenderDepositRet",
    "TenderGiftRet",
    "TenderGiftCardRet",
    "DataExtRet",
];

/// `…/qbpos/iteminventoryquery`: the modelled part of its sequence.
static ITEM_INVENTORY_QUERY: Layout = Layout {
    name: "ItemInventoryQueryRq",
    attributes: QUERY_ATTRIBUTES,
    children: &[
        opt("MaxReturned", Content::Int),
        rep("OwnerID", Content::Str(None)),
        opt("ListID", Content::Str(None)),
        or(
            2,
            "TimeModifiedRangeFilter",
            Content::Aggregate(&TIME_MODIFIED_RANGE),
        ),
        or(3, "ALUFilter", Content::Aggregate(&ALU_FILTER)),
        or(
            11,
            "ItemNumberFilter",
            Content::Aggregate(&ITEM_NUMBER_FILTER),
        ),
        opt("ItemType", Content::Enum(ITEM_TYPES)),
        or(69, "UPCFilter", Content::Aggregate(&UPC_FILTER)),
        rep("IncludeRetElement", Content::RetElement(ITEM_RET)),
    ],
};

/// `…/qbpos/iteminventorymod`: `ItemInventoryMod`, the modelled part of its sequence.
static ITEM_INVENTORY_MOD_BODY: Layout = Layout {
    name: "ItemInventoryMod",
    attributes: &[],
    children: &[
        req("ListID", Content::Str(None)),
        opt("ALU", Content::Str(Some(20))),
        opt("Desc1", Content::Str(Some(30))),
        opt("Price1", Content::Amount),
        opt("Price2", Content::Amount),
        opt("Price3", Content::Amount),
        opt("Price4", Content::Amount),
        opt("Price5", Content::Amount),
        opt("UPC", Content::Str(Some(18))),
    ],
};

static ITEM_INVENTORY_MOD: Layout = Layout {
    name: "ItemInventoryModRq",
    attributes: ADD_MOD_ATTRIBUTES,
    children: &[
        req(
            "ItemInventoryMod",
            Content::Aggregate(&ITEM_INVENTORY_MOD_BODY),
        ),
        rep("IncludeRetElement", Content::RetElement(ITEM_RET)),
    ],
};

/// `…/qbpos/inventoryqtyadjustmentadd`: every element of the add and of its lines.
static ADJUSTMENT_LINE: Layout = Layout {
    name: "InventoryQtyAdjustmentItemAdd",
    attributes: &[],
    children: &[
        req("ListID", Content::Str(None)),
        req("NewQuantity", Content::Quantity),
        opt("SerialNumber", Content::Str(Some(25))),
        opt("UnitOfMeasure", Content::Str(Some(20))),
    ],
};

static ADJUSTMENT_BODY: Layout = Layout {
    name: "InventoryQtyAdjustmentAdd",
    attributes: &[Attr::optional("defMacro")],
    children: &[
        opt("Associate", Content::Str(Some(40))),
        opt("Comments", Content::Str(Some(300))),
        opt(
            "InventoryAdjustmentSource",
            Content::Enum(&["Manual", "PhysicalInventory", "Assembly"]),
        ),
        opt(
            "QuickBooksFlag",
            Content::Enum(&["NotPosted", "Completed", "Error", "UnbilledPurchases"]),
        ),
        req("Reason", Content::Str(Some(8))),
        opt("StoreNumber", Content::Int),
        opt("TxnDate", Content::Str(None)),
        opt("TxnState", Content::Enum(&["Normal", "Held"])),
        opt("Workstation", Content::Int),
        rep(
            "InventoryQtyAdjustmentItemAdd",
            Content::Aggregate(&ADJUSTMENT_LINE),
        ),
    ],
};

static ADJUSTMENT_ADD: Layout = Layout {
    name: "InventoryQtyAdjustmentAddRq",
    attributes: ADD_MOD_ATTRIBUTES,
    children: &[
        req(
            "InventoryQtyAdjustmentAdd",
            Content::Aggregate(&ADJUSTMENT_BODY),
        ),
        rep("IncludeRetElement", Content::RetElement(ADJUSTMENT_RET)),
    ],
};

/// `…/qbpos/inventoryqtyadjustmentquery`: the modelled part of its sequence.
static ADJUSTMENT_QUERY: Layout = Layout {
    name: "InventoryQtyAdjustmentQueryRq",
    attributes: QUERY_ATTRIBUTES,
    children: &[
        opt("MaxReturned", Content::Int),
        rep("OwnerID", Content::Str(None)),
        opt("TxnID", Content::Str(None)),
        or(4, "CommentsFilter", Content::Aggregate(&COMMENTS_FILTER)),
        or(
            4,
            "CommentsRangeFilter",
            Content::Aggregate(&COMMENTS_RANGE),
        ),
        opt("HistoryDocStatus", Content::Enum(HISTORY_DOC_STATUS)),
        rep("IncludeRetElement", Content::RetElement(ADJUSTMENT_RET)),
    ],
};

/// `…/qbpos/salesreceiptquery`: the modelled part of its sequence.
static RECEIPT_QUERY: Layout = Layout {
    name: "SalesReceiptQueryRq",
    attributes: QUERY_ATTRIBUTES,
    children: &[
        opt("MaxReturned", Content::Int),
        rep("OwnerID", Content::Str(None)),
        opt("TxnID", Content::Str(None)),
        or(6, "CommentsFilter", Content::Aggregate(&COMMENTS_FILTER)),
        or(
            6,
            "CommentsRangeFilter",
            Content::Aggregate(&COMMENTS_RANGE),
        ),
        opt("HistoryDocStatus", Content::Enum(HISTORY_DOC_STATUS)),
        or(
            14,
            "SalesReceiptNumberFilter",
            Content::Aggregate(&RECEIPT_NUMBER_FILTER),
        ),
        or(
            26,
            "TrackingNumberFilter",
            Content::Aggregate(&TRACKING_FILTER),
        ),
        or(
            26,
            "TrackingNumberRangeFilter",
            Content::Aggregate(&TRACKING_RANGE),
        ),
        rep("IncludeRetElement", Content::RetElement(RECEIPT_RET)),
    ],
};

static REQUESTS: [&Layout; 5] = [
    &ITEM_INVENTORY_QUERY,
    &ITEM_INVENTORY_MOD,
    &ADJUSTMENT_ADD,
    &ADJUSTMENT_QUERY,
    &RECEIPT_QUERY,
];

fn check_attributes(node: &Node, allowed: &[Attr]) -> Result<(), String> {
    for (name, value) in &node.attributes {
        let attr = allowed
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| format!("<{}> has no attribute {name:?}", node.name))?;
        if let Some(values) = attr.values
            && !values.contains(&value.as_str())
        {
            return Err(format!(
                "<{}> {name}={value:?} is not one of {values:?}",
                node.name
            ));
        }
    }
    for attr in allowed.iter().filter(|a| a.required) {
        if node.attribute(attr.name).is_none() {
            return Err(format!(
                "<{}> needs the attribute {:?}",
                node.name, attr.name
            ));
        }
    }
    Ok(())
}

fn check(node: &Node, layout: &Layout, path: &str) -> Result<(), String> {
    check_attributes(node, layout.attributes)?;
    if !node.text.trim().is_empty() {
        return Err(format!("{path} holds text; it is an aggregate"));
    }
    let mut position = 0usize;
    let mut seen = vec![0usize; layout.children.len()];
    let mut choices: Vec<u8> = Vec::new();
    for child in &node.children {
        let here = format!("{path}/{}", child.name);
        let index = layout
            .children
            .iter()
            .position(|c| c.name == child.name)
            .ok_or_else(|| {
                format!(
                    "{here}: not allowed here (not in the qbposXML 3.0 layout, or not modelled)"
                )
            })?;
        if index < position {
            return Err(format!(
                "{here}: out of order; it must come before <{}>",
                layout.children[position].name
            ));
        }
        position = index;
        let spec = layout.children[index];
        seen[index] += 1;
        if seen[index] > 1 && !spec.repeats {
            return Err(format!("{here}: may appear only once"));
        }
        if spec.choice != 0 {
            if seen[index] == 1 && choices.contains(&spec.choice) {
                return Err(format!(
                    "{here}: only one of its group (a filter or its range filter) may appear"
                ));
            }
            choices.push(spec.choice);
        }
        check_content(child, spec.content, &here)?;
    }
    for (spec, count) in layout.children.iter().zip(&seen) {
        if spec.required && *count == 0 {
            return Err(format!("{path}: <{}> is required", spec.name));
        }
    }
    Ok(())
}

fn check_content(node: &Node, content: Content, path: &str) -> Result<(), String> {
    if let Content::Aggregate(layout) = content {
        return check(node, layout, path);
    }
    if !node.children.is_empty() {
        return Err(format!("{path} holds elements; it is a value"));
    }
    if !node.attributes.is_empty() {
        return Err(format!("{path} has attributes"));
    }
    let text = node.text.as_str();
    let number = |decimals: usize| -> Result<(), String> {
        let body = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (body.contains('.') && !digits(fraction)) || fraction.len() > decimals
        {
            return Err(format!(
                "{path}: {text:?} is not a number with at most {decimals} decimals"
            ));
        }
        Ok(())
    };
    match content {
        Content::Str(max) => {
            if let Some(max) = max
                && text.chars().count() > max
            {
                return Err(format!(
                    "{path}: {} characters, at most {max} allowed",
                    text.chars().count()
                ));
            }
            Ok(())
        }
        Content::Int => number(0),
        Content::Amount => number(2),
        Content::Quantity => number(5),
        Content::Enum(values) => {
            if values.contains(&text) {
                Ok(())
            } else {
                Err(format!("{path}: {text:?} is not one of {values:?}"))
            }
        }
        Content::RetElement(names) => {
            if text.chars().count() > 50 || !names.contains(&text) {
                Err(format!("{path}: {text:?} is not an element of the answer"))
            } else {
                Ok(())
            }
        }
        Content::Aggregate(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(requests: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><?qbposxml version="3.0"?><QBPOSXML><QBPOSXMLMsgsRq onError="continueOnError">{requests}</QBPOSXMLMsgsRq></QBPOSXML>"#
        )
    }

    #[test]
    fn documented_requests_pass() {
        for requests in [
            r#"<ItemInventoryQueryRq requestID="1" iterator="Start"><MaxReturned>500</MaxReturned><IncludeRetElement>ListID</IncludeRetElement><IncludeRetElement>OnHandStore02</IncludeRetElement></ItemInventoryQueryRq>"#,
            r#"<ItemInventoryQueryRq><ListID>-1</ListID><ALUFilter><MatchStringCriterion>Equal</MatchStringCriterion><ALU>A-1</ALU></ALUFilter></ItemInventoryQueryRq>"#,
            r#"<ItemInventoryModRq requestID="2"><ItemInventoryMod><ListID>-1</ListID><Price1>39.99</Price1></ItemInventoryMod><IncludeRetElement>Price1</IncludeRetElement></ItemInventoryModRq>"#,
            r#"<InventoryQtyAdjustmentAddRq><InventoryQtyAdjustmentAdd><Comments>x</Comments><Reason>invsync</Reason><StoreNumber>2</StoreNumber><InventoryQtyAdjustmentItemAdd><ListID>-1</ListID><NewQuantity>3</NewQuantity></InventoryQtyAdjustmentItemAdd><InventoryQtyAdjustmentItemAdd><ListID>-2</ListID><NewQuantity>0</NewQuantity></InventoryQtyAdjustmentItemAdd></InventoryQtyAdjustmentAdd></InventoryQtyAdjustmentAddRq>"#,
            r#"<SalesReceiptQueryRq><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion><Comments>#1001</Comments></CommentsFilter><IncludeRetElement>SalesReceiptNumber</IncludeRetElement></SalesReceiptQueryRq>"#,
        ] {
            assert_eq!(validate(&doc(requests)), Ok(()), "{requests}");
        }
    }

    #[test]
    fn what_pos_would_reject_is_refused() {
        let cases = [
            // Envelope.
            (
                r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBPOSXML><QBPOSXMLMsgsRq onError="continueOnError"><SalesReceiptQueryRq/></QBPOSXMLMsgsRq></QBPOSXML>"#.to_owned(),
                "qbxml",
            ),
            (
                r#"<?qbposxml version="3.0"?><QBPOSXML><QBPOSXMLMsgsRq><SalesReceiptQueryRq/></QBPOSXMLMsgsRq></QBPOSXML>"#.to_owned(),
                "onError",
            ),
            (doc("<ItemQueryRq/>"), "not a request"),
            // Order, required, repeats, choices.
            (
                doc("<ItemInventoryModRq><ItemInventoryMod><Price1>1.00</Price1><ListID>-1</ListID></ItemInventoryMod></ItemInventoryModRq>"),
                "out of order",
            ),
            (
                doc("<ItemInventoryModRq><ItemInventoryMod><ListID>-1</ListID><EditSequence>1</EditSequence></ItemInventoryMod></ItemInventoryModRq>"),
                "not allowed",
            ),
            (
                doc("<InventoryQtyAdjustmentAddRq><InventoryQtyAdjustmentAdd><Comments>x</Comments></InventoryQtyAdjustmentAdd></InventoryQtyAdjustmentAddRq>"),
                "<Reason> is required",
            ),
            (
                doc("<InventoryQtyAdjustmentAddRq><InventoryQtyAdjustmentAdd><Reason>r</Reason><InventoryQtyAdjustmentItemAdd><ListID>-1</ListID><QuantityDifference>1</QuantityDifference></InventoryQtyAdjustmentItemAdd></InventoryQtyAdjustmentAdd></InventoryQtyAdjustmentAddRq>"),
                "not allowed",
            ),
            (
                doc("<ItemInventoryQueryRq><ListID>-1</ListID><ListID>-2</ListID></ItemInventoryQueryRq>"),
                "only once",
            ),
            (
                doc("<SalesReceiptQueryRq><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion><Comments>a</Comments></CommentsFilter><CommentsRangeFilter><FromComments>a</FromComments></CommentsRangeFilter></SalesReceiptQueryRq>"),
                "only one of its group",
            ),
            // Values.
            (
                doc("<ItemInventoryModRq><ItemInventoryMod><ListID>-1</ListID><Price1>1.999</Price1></ItemInventoryMod></ItemInventoryModRq>"),
                "at most 2 decimals",
            ),
            (
                doc("<InventoryQtyAdjustmentAddRq><InventoryQtyAdjustmentAdd><Reason>toolongreason</Reason></InventoryQtyAdjustmentAdd></InventoryQtyAdjustmentAddRq>"),
                "at most 8",
            ),
            (
                doc("<ItemInventoryQueryRq iterator=\"Again\"/>"),
                "iterator",
            ),
            (
                doc("<ItemInventoryQueryRq><IncludeRetElement>SalesPrice</IncludeRetElement></ItemInventoryQueryRq>"),
                "not an element of the answer",
            ),
            (
                doc("<SalesReceiptQueryRq><CommentsFilter><MatchStringCriterion>Like</MatchStringCriterion><Comments>a</Comments></CommentsFilter></SalesReceiptQueryRq>"),
                "not one of",
            ),
            (
                doc("<ItemInventoryQueryRq><MaxReturned>ten</MaxReturned></ItemInventoryQueryRq>"),
                "not a number",
            ),
        ];
        for (document, expected) in cases {
            let e = validate(&document).expect_err(&document);
            assert!(
                e.contains(expected),
                "{e} (wanted {expected:?}) for {document}"
            );
        }
    }
}
