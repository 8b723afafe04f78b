//! Request bodies checked against a platform's real OpenAPI file (`../shared/specs/`).
//!
//! [`RequestSchema::load`] takes the JSON schema of one operation's request body, inlines
//! its local `$ref`s, turns OpenAPI 3.0's `nullable: true` / `x-nullable: true` into JSON
//! Schema's `null` type, and compiles it with the `jsonschema` crate (draft 4, which
//! OpenAPI 3.0 schemas are a dialect of). Keywords JSON Schema does not know (`example`,
//! `x-required`, `format: double` …) are ignored, as validators do.

use serde_json::{Map, Value};
use std::path::Path;

/// A compiled request-body schema.
pub struct RequestSchema {
    validator: jsonschema::Validator,
    what: String,
}

impl std::fmt::Debug for RequestSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestSchema({})", self.what)
    }
}

impl RequestSchema {
    /// The `application/json` request body of `method` on `path` in the YAML spec at `spec`.
    ///
    /// # Panics
    /// When the spec cannot be read or has no such operation: a test must not silently
    /// check nothing.
    pub fn load(spec: &Path, path: &str, method: &str) -> RequestSchema {
        let text = std::fs::read_to_string(spec)
            .unwrap_or_else(|e| panic!("cannot read the spec {}: {e}", spec.display()));
        let doc: Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", spec.display()));
        let body = doc
            .pointer(&format!(
                "/paths/{}/{method}/requestBody/content/application~1json/schema",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .unwrap_or_else(|| {
                panic!(
                    "{} has no JSON request body for {method} {path}",
                    spec.display()
                )
            })
            .clone();
        let schema = openapi_to_json_schema(&inline_refs(&body, &doc, 0));
        let validator = jsonschema::draft4::new(&schema).unwrap_or_else(|e| {
            panic!("the request schema of {method} {path} does not compile: {e}")
        });
        RequestSchema {
            validator,
            what: format!("{method} {path}"),
        }
    }

    /// Every way `body` breaks the schema, one message each (empty when valid).
    pub fn violations(&self, body: &Value) -> Vec<String> {
        self.validator
            .iter_errors(body)
            .map(|e| format!("{}: {} at {}", self.what, e, e.instance_path()))
            .collect()
    }
}

/// The query parameters one operation declares, to check what a client sends: names the
/// operation does not declare, numbers that are not numbers, values outside an `enum`.
/// A `sort` whose description says to add `:asc` or `:desc` (BigCommerce's v2 orders) takes
/// an enum value with that suffix.
pub struct QueryParams {
    params: Map<String, Value>,
    what: String,
}

impl std::fmt::Debug for QueryParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryParams({})", self.what)
    }
}

impl QueryParams {
    /// The `in: query` parameters of `method` on `path` in the YAML spec at `spec`, with
    /// their `$ref`s resolved (OpenAPI 3 `schema`, or OpenAPI 2 `type`/`enum` inline).
    ///
    /// # Panics
    /// When the spec cannot be read or has no such operation.
    pub fn load(spec: &Path, path: &str, method: &str) -> QueryParams {
        let text = std::fs::read_to_string(spec)
            .unwrap_or_else(|e| panic!("cannot read the spec {}: {e}", spec.display()));
        let doc: Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", spec.display()));
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let operation = doc
            .pointer(&format!("/paths/{escaped}/{method}"))
            .unwrap_or_else(|| panic!("{} has no {method} {path}", spec.display()));
        let mut params = Map::new();
        let shared = doc.pointer(&format!("/paths/{escaped}/parameters"));
        for list in [shared, operation.get("parameters")].into_iter().flatten() {
            for p in list.as_array().into_iter().flatten() {
                let p = inline_refs(p, &doc, 0);
                if p.get("in").and_then(Value::as_str) != Some("query") {
                    continue;
                }
                if let Some(name) = p.get("name").and_then(Value::as_str) {
                    params.insert(name.to_owned(), p.clone());
                }
            }
        }
        assert!(
            !params.is_empty(),
            "{method} {path} declares no query parameters"
        );
        QueryParams {
            params,
            what: format!("{method} {path}"),
        }
    }

    /// Every way `query` breaks the declared parameters, one message each.
    pub fn violations<'a>(
        &self,
        query: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in query {
            let Some(p) = self.params.get(name) else {
                out.push(format!(
                    "{}: undeclared query parameter `{name}`",
                    self.what
                ));
                continue;
            };
            let schema = p.get("schema").unwrap_or(p);
            let ok_type = match schema.get("type").and_then(Value::as_str) {
                Some("integer") => value.parse::<i64>().is_ok(),
                Some("number") => value.parse::<f64>().is_ok(),
                Some("boolean") => matches!(value.as_str(), "true" | "false"),
                _ => true,
            };
            if !ok_type {
                out.push(format!(
                    "{}: `{name}={value}` is not a {}",
                    self.what, schema["type"]
                ));
            }
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
                let directed = p
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.contains(":asc") && d.contains(":desc"));
                let bare = if directed {
                    value
                        .strip_suffix(":asc")
                        .or_else(|| value.strip_suffix(":desc"))
                        .unwrap_or(value)
                } else {
                    value.as_str()
                };
                if !allowed.iter().any(|a| a.as_str() == Some(bare)) {
                    out.push(format!(
                        "{}: `{name}={value}` is not one of {allowed:?}",
                        self.what
                    ));
                }
            }
        }
        out
    }
}

/// Replaces `{"$ref": "#/…"}` with the referenced value, recursively (bounded depth: the
/// specs' request bodies are not recursive).
fn inline_refs(value: &Value, doc: &Value, depth: usize) -> Value {
    assert!(depth < 64, "$ref nesting too deep");
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(pointer) = r.strip_prefix('#')
            {
                let target = doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"));
                return inline_refs(target, doc, depth + 1);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline_refs(v, doc, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline_refs(v, doc, depth)).collect())
        }
        other => other.clone(),
    }
}

/// `nullable`/`x-nullable` → a `null` type; `example(s)` dropped (not schema keywords).
fn openapi_to_json_schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let nullable = ["nullable", "x-nullable"]
                .iter()
                .any(|k| map.get(*k) == Some(&Value::Bool(true)));
            let mut out = Map::new();
            for (k, v) in map {
                if k == "example" || k == "examples" || k == "nullable" || k == "x-nullable" {
                    continue;
                }
                // `properties` and `required` hold names, not schemas: keep their keys.
                out.insert(k.clone(), openapi_to_json_schema(v));
            }
            if nullable && let Some(Value::String(t)) = out.get("type").cloned() {
                out.insert(
                    "type".into(),
                    Value::Array(vec![Value::String(t), "null".into()]),
                );
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bigcommerce_order_queries_are_checked_against_the_real_spec() {
        let orders = QueryParams::load(
            &crate::specs::path("bigcommerce/orders.v2.oas2.yml"),
            "/orders",
            "get",
        );
        let check = |pairs: &[(&str, &str)]| {
            let q: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            orders.violations(q.iter().map(|(k, v)| (k, v)))
        };
        let good = check(&[
            ("min_date_modified", "2026-11-28T09:55:00+00:00"),
            ("sort", "id:asc"),
            ("status_id", "11"),
            ("limit", "250"),
            ("page", "2"),
        ]);
        assert!(good.is_empty(), "{good:?}");
        assert_eq!(check(&[("modified_since", "x")]).len(), 1, "undeclared");
        assert_eq!(
            check(&[("sort", "updated:asc")]).len(),
            1,
            "not in the enum"
        );
        assert_eq!(check(&[("status_id", "open")]).len(), 1, "not an integer");
    }

    #[test]
    fn bigcommerce_bodies_are_checked_against_the_real_specs() {
        let adjust = RequestSchema::load(
            &crate::specs::path("bigcommerce/inventory.v3.yml"),
            "/inventory/adjustments/absolute",
            "put",
        );
        let good =
            json!({"reason": "r", "items": [{"location_id": 1, "variant_id": 7, "quantity": 3}]});
        assert!(
            adjust.violations(&good).is_empty(),
            "{:?}",
            adjust.violations(&good)
        );
        let two_ids =
            json!({"items": [{"location_id": 1, "variant_id": 7, "product_id": 1, "quantity": 3}]});
        assert!(
            !adjust.violations(&two_ids).is_empty(),
            "oneOf: one identity per item"
        );
        let string_qty = json!({"items": [{"location_id": 1, "variant_id": 7, "quantity": "3"}]});
        assert!(!adjust.violations(&string_qty).is_empty());

        let variants = RequestSchema::load(
            &crate::specs::path("bigcommerce/product-variants_catalog.v3.yml"),
            "/catalog/variants",
            "put",
        );
        assert!(
            variants
                .violations(&json!([{"id": 1, "price": 19.99}]))
                .is_empty()
        );
        assert!(
            !variants
                .violations(&json!([{"id": 1, "price": "19.99"}]))
                .is_empty()
        );
        assert!(
            !variants
                .violations(&json!([{"id": 1, "price": -1}]))
                .is_empty()
        );
    }
}
