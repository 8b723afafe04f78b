//! The real Shopify Admin API schema, for validating every GraphQL document the fake
//! receives (and the connector's `.graphql` files in its tests).
//!
//! The spec is introspection JSON (`../shared/specs/shopify/admin_schema_2025-01.json.gz`);
//! apollo-compiler reads SDL, so [`introspection_to_sdl`] prints one from it. On top of
//! 2025-01 come the documented additions the connector relies on (docs/platform-apis.md
//! §1): `InventoryQuantityInput.changeFromQuantity` (2026-01), the `@idempotent(key:)`
//! directive (2026-01, mandatory on inventory mutations from 2026-04) and the newer
//! `InventorySetQuantitiesUserErrorCode` values.

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Read as _;
use std::sync::OnceLock;

/// The spec file, relative to the specs folder.
pub const SPEC: &str = "shopify/admin_schema_2025-01.json.gz";

/// Additions documented for 2026-01 and 2026-04 (shopify.dev: input-objects/
/// InventoryQuantityInput 2026-01; changelog "adding idempotency for inventory adjustments";
/// enums/InventorySetQuantitiesUserErrorCode latest).
const ADDITIONS_2026: &str = r#"
directive @idempotent(key: String!) on FIELD

extend input InventoryQuantityInput {
  changeFromQuantity: Int
}

extend enum InventorySetQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST
  IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
}
"#;

/// The schema, built once per process (about a second: 2,700 types).
pub fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = crate::specs::path(SPEC);
        let file = std::fs::File::open(&path).expect("open the Shopify schema spec");
        let mut json = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut json)
            .expect("gunzip the Shopify schema spec");
        let introspection: Value = serde_json::from_str(&json).expect("introspection JSON");
        let mut sdl = introspection_to_sdl(&introspection).expect("introspection → SDL");
        sdl.push_str(ADDITIONS_2026);
        let schema = match Schema::parse(&sdl, "shopify-admin-2025-01+2026.graphql") {
            Ok(s) => s,
            Err(with_errors) => panic!("the schema SDL does not parse: {}", with_errors.errors),
        };
        // Shopify's published schema trips a few of apollo-compiler's stricter SDL checks
        // (e.g. deprecated required arguments); documents are still fully validated
        // against it, which is what the fake needs.
        match schema.validate() {
            Ok(valid) => valid,
            Err(with_errors) => Valid::assume_valid(with_errors.partial),
        }
    })
}

/// Parses and validates one GraphQL document against the schema; the error lists every
/// problem with its line and column.
pub fn validate(source: &str) -> Result<Valid<ExecutableDocument>, String> {
    ExecutableDocument::parse_and_validate(schema(), source, "request.graphql")
        .map_err(|with_errors| with_errors.errors.to_string())
}

fn type_ref(t: &Value) -> Option<String> {
    match t.get("kind")?.as_str()? {
        "NON_NULL" => Some(format!("{}!", type_ref(t.get("ofType")?)?)),
        "LIST" => Some(format!("[{}]", type_ref(t.get("ofType")?)?)),
        _ => Some(t.get("name")?.as_str()?.to_owned()),
    }
}

fn args(out: &mut String, args: Option<&Value>) -> Option<()> {
    let args = args.and_then(Value::as_array).filter(|a| !a.is_empty());
    let Some(args) = args else {
        return Some(());
    };
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        input_value(out, a)?;
    }
    out.push(')');
    Some(())
}

fn input_value(out: &mut String, v: &Value) -> Option<()> {
    let _ = write!(
        out,
        "{}: {}",
        v.get("name")?.as_str()?,
        type_ref(v.get("type")?)?
    );
    if let Some(default) = v.get("defaultValue").and_then(Value::as_str) {
        let _ = write!(out, " = {default}");
    }
    Some(())
}

fn names(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Prints the SDL of an introspection result (`{"data":{"__schema":…}}` or `{"__schema":…}`).
/// Descriptions and deprecations are left out: validation does not need them.
pub fn introspection_to_sdl(introspection: &Value) -> Option<String> {
    let schema = introspection
        .get("data")
        .unwrap_or(introspection)
        .get("__schema")?;
    let mut out = String::with_capacity(1 << 20);
    out.push_str("schema {\n");
    for (op, key) in [
        ("query", "queryType"),
        ("mutation", "mutationType"),
        ("subscription", "subscriptionType"),
    ] {
        if let Some(name) = schema
            .get(key)
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
        {
            let _ = writeln!(out, "  {op}: {name}");
        }
    }
    out.push_str("}\n\n");
    for d in schema.get("directives")?.as_array()? {
        let name = d.get("name")?.as_str()?;
        if matches!(name, "skip" | "include" | "deprecated" | "specifiedBy") {
            continue; // built in
        }
        let _ = write!(out, "directive @{name}");
        args(&mut out, d.get("args"))?;
        if d.get("isRepeatable").and_then(Value::as_bool) == Some(true) {
            out.push_str(" repeatable");
        }
        let locations: Vec<&str> = d
            .get("locations")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(out, " on {}\n", locations.join(" | "));
    }
    for t in schema.get("types")?.as_array()? {
        let name = t.get("name")?.as_str()?;
        if name.starts_with("__") {
            continue;
        }
        match t.get("kind")?.as_str()? {
            "SCALAR" => {
                if !matches!(name, "String" | "Int" | "Float" | "Boolean" | "ID") {
                    let _ = writeln!(out, "scalar {name}\n");
                }
            }
            kind @ ("OBJECT" | "INTERFACE") => {
                let keyword = if kind == "OBJECT" {
                    "type"
                } else {
                    "interface"
                };
                let _ = write!(out, "{keyword} {name}");
                let interfaces = names(t.get("interfaces"));
                if !interfaces.is_empty() {
                    let _ = write!(out, " implements {}", interfaces.join(" & "));
                }
                out.push_str(" {\n");
                for f in t.get("fields")?.as_array()? {
                    let _ = write!(out, "  {}", f.get("name")?.as_str()?);
                    args(&mut out, f.get("args"))?;
                    let _ = writeln!(out, ": {}", type_ref(f.get("type")?)?);
                }
                out.push_str("}\n\n");
            }
            "UNION" => {
                let _ = writeln!(
                    out,
                    "union {name} = {}\n",
                    names(t.get("possibleTypes")).join(" | ")
                );
            }
            "ENUM" => {
                let _ = writeln!(
                    out,
                    "enum {name} {{\n  {}\n}}\n",
                    names(t.get("enumValues")).join("\n  ")
                );
            }
            "INPUT_OBJECT" => {
                let one_of = if t.get("isOneOf").and_then(Value::as_bool) == Some(true) {
                    " @oneOf"
                } else {
                    ""
                };
                let _ = writeln!(out, "input {name}{one_of} {{");
                for f in t.get("inputFields")?.as_array()? {
                    out.push_str("  ");
                    input_value(&mut out, f)?;
                    out.push('\n');
                }
                out.push_str("}\n\n");
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Checks that `data` (a GraphQL answer's `data`) has the shape the schema gives the
/// answer to `document`'s operation `operation` (or its only one): every selected field
/// present under its response key, `null` only where the field's type is nullable, lists
/// where the type is a list, and leaves of the JSON kind their scalar is sent as (`Int`
/// an integer, `Boolean` a boolean, `Money`, `ID`, `DateTime` and the other custom scalars
/// and enums a string). Recorded or hand-written fixtures and the fake's own answers are
/// checked with it, so neither drifts from what Shopify can send. The error names the path.
pub fn check_answer(document: &str, operation: Option<&str>, data: &Value) -> Result<(), String> {
    let doc = validate(document)?;
    let op = doc
        .operations
        .get(operation)
        .map_err(|e| format!("no such operation: {e:?}"))?;
    let mut problems = Vec::new();
    check_selection(&doc, &op.selection_set, data, "data", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks a line of a bulk operation's JSONL result (one `node` of the bulk query's
/// top-level connection) against that connection's node selection.
pub fn check_bulk_line(bulk_query: &str, line: &Value) -> Result<(), String> {
    use apollo_compiler::executable::Selection;
    let doc = validate(bulk_query)?;
    let op = doc
        .operations
        .get(None)
        .map_err(|e| format!("no operation: {e:?}"))?;
    // { connection { edges { node { … } } } }
    let mut set = &op.selection_set;
    for _ in 0..3 {
        set = match set.selections.first() {
            Some(Selection::Field(f)) => &f.selection_set,
            _ => return Err("not a bulk query of one connection's edges.node".to_owned()),
        };
    }
    let mut problems = Vec::new();
    check_selection(&doc, set, line, "line", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn check_selection(
    doc: &ExecutableDocument,
    set: &apollo_compiler::executable::SelectionSet,
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
) {
    use apollo_compiler::executable::Selection;
    let Some(object) = value.as_object() else {
        problems.push(format!("{path}: an object was expected, found {value}"));
        return;
    };
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                let key = field.response_key().as_str();
                let here = format!("{path}.{key}");
                match object.get(key) {
                    None => problems.push(format!("{here}: missing")),
                    Some(v) => check_value(doc, field, &field.definition.ty, v, &here, problems),
                }
            }
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(spread.fragment_name.as_str()) {
                    Some(fragment) => {
                        check_selection(doc, &fragment.selection_set, value, path, problems)
                    }
                    None => problems.push(format!("{path}: no fragment {}", spread.fragment_name)),
                }
            }
            // A fragment on a type condition applies to objects of that type; an answer
            // for another type leaves its fields out (`nodes(ids:)` gives `{}` then).
            Selection::InlineFragment(inline) => {
                if inline.type_condition.is_none() || !object.is_empty() {
                    check_selection(doc, &inline.selection_set, value, path, problems);
                }
            }
        }
    }
}

fn check_value(
    doc: &ExecutableDocument,
    field: &apollo_compiler::executable::Field,
    ty: &apollo_compiler::ast::Type,
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
) {
    use apollo_compiler::schema::ExtendedType;
    if value.is_null() {
        if ty.is_non_null() {
            problems.push(format!("{path}: null, but its type {ty} is non-null"));
        }
        return;
    }
    if ty.is_list() {
        match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(
                        doc,
                        field,
                        ty.item_type(),
                        item,
                        &format!("{path}[{i}]"),
                        problems,
                    );
                }
            }
            None => problems.push(format!("{path}: a list ({ty}) was expected, found {value}")),
        }
        return;
    }
    let name = ty.inner_named_type().as_str();
    let fits = match schema().types.get(name) {
        Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
            check_selection(doc, &field.selection_set, value, path, problems);
            return;
        }
        Some(ExtendedType::Enum(e)) => value
            .as_str()
            .is_some_and(|v| e.values.keys().any(|k| k.as_str() == v)),
        Some(ExtendedType::Scalar(_)) => match name {
            "Int" => value.as_i64().is_some(),
            "Float" => value.is_number(),
            "Boolean" => value.is_boolean(),
            "JSON" => true,
            // String, ID and Shopify's custom scalars (Money, Decimal, DateTime, URL,
            // UnsignedInt64 …) are sent as strings.
            _ => value.is_string(),
        },
        _ => false,
    };
    if !fits {
        problems.push(format!("{path}: {value} is not a {name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_schema_loads_with_the_2026_additions() {
        let s = schema();
        assert!(s.get_object("QueryRoot").is_some());
        let input = s
            .get_input_object("InventoryQuantityInput")
            .expect("InventoryQuantityInput");
        assert!(input.fields.contains_key("changeFromQuantity"));
        assert!(input.fields.contains_key("compareQuantity"));
        assert!(s.directive_definitions.contains_key("idempotent"));
    }

    #[test]
    fn documents_are_checked_against_it() {
        validate("query { productVariants(first: 1) { nodes { id sku price } } }")
            .expect("a valid query");
        let e = validate("query { productVariants(first: 1) { nodes { id skew } } }")
            .expect_err("an unknown field");
        assert!(e.contains("skew"), "{e}");
        let e = validate(
            "mutation { inventorySetQuantities(input: {name: \"available\", reason: \"correction\", quantities: [{inventoryItemId: \"gid://shopify/InventoryItem/1\", locationId: \"gid://shopify/Location/1\", quantity: 1, changeFromQuantity: 0}]}) @idempotent(key: \"k\") { userErrors { code } } }",
        );
        assert!(e.is_ok(), "the 2026 additions validate: {e:?}");
    }
}
