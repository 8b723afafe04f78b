//! Bulk operations (shopify.dev/docs/api/usage/bulk-operations/queries):
//! `bulkOperationRunQuery` runs a query without page sizes in the background; the app polls
//! the operation until `COMPLETED` and downloads a JSONL file from its `url`: one line per
//! node, nested connections' nodes on their own lines with `__parentId`.

use super::exec::{RequestCtx, UserError};
use super::state::{BulkOperation, Shop};
use serde_json::Value;

pub(crate) fn run_query(
    shop: &mut Shop,
    ctx: &RequestCtx,
    query: Option<&str>,
) -> (Option<BulkOperation>, Vec<UserError>) {
    let invalid = |message: String| {
        (
            None,
            vec![UserError {
                code: Some("INVALID".into()),
                field: vec!["query".into()],
                message,
            }],
        )
    };
    let Some(query) = query else {
        return invalid("query is required".into());
    };
    if shop
        .bulk
        .values()
        .any(|b| matches!(b.status, "CREATED" | "RUNNING"))
    {
        return (
            None,
            vec![UserError {
                code: Some("OPERATION_IN_PROGRESS".into()),
                field: Vec::new(),
                message: "A bulk query operation for this app and shop is already in progress"
                    .into(),
            }],
        );
    }
    // The inner query is a document like any other: it must be valid against the schema.
    let doc = match super::schema::validate(query) {
        Ok(doc) => doc,
        Err(e) => return invalid(format!("Invalid bulk query: {e}")),
    };
    let inner = RequestCtx {
        version: ctx.version.clone(),
        variables: serde_json::Map::new(),
        origin: ctx.origin.clone(),
        bulk: true,
    };
    let data = match super::server::execute_query(shop, &inner, &doc) {
        Ok(data) => data,
        Err(e) => return invalid(format!("Invalid bulk query: {e}")),
    };
    let (jsonl, objects, roots) = match shop.recorded_bulk.take() {
        Some(recorded) => {
            let lines = recorded.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            (recorded, lines, lines)
        }
        None => to_jsonl(&data),
    };
    let id = shop.next_id();
    let op = BulkOperation {
        id,
        query: query.to_owned(),
        status: "CREATED",
        jsonl,
        object_count: objects,
        root_object_count: roots,
        polls_left: shop.bulk_polls,
        origin: ctx.origin.clone(),
    };
    shop.bulk.insert(id, op.clone());
    (Some(op), Vec::new())
}

/// Lets every unfinished operation make progress; called once per request.
pub(crate) fn advance(shop: &mut Shop) {
    for op in shop.bulk.values_mut() {
        match op.status {
            "CREATED" => op.status = "RUNNING",
            "RUNNING" if op.polls_left == 0 => op.status = "COMPLETED",
            "RUNNING" => op.polls_left -= 1,
            _ => {}
        }
    }
}

fn connection_nodes(value: &Value) -> Option<Vec<Value>> {
    let obj = value.as_object()?;
    if let Some(nodes) = obj.get("nodes").and_then(Value::as_array) {
        return Some(nodes.clone());
    }
    let edges = obj.get("edges").and_then(Value::as_array)?;
    Some(
        edges
            .iter()
            .filter_map(|e| e.get("node").cloned())
            .collect(),
    )
}

/// `(jsonl, objects, root objects)`.
fn to_jsonl(data: &Value) -> (String, u64, u64) {
    let mut out = String::new();
    let mut objects = 0;
    let mut roots = 0;
    let Some(root) = data.as_object() else {
        return (out, 0, 0);
    };
    for value in root.values() {
        for node in connection_nodes(value).unwrap_or_default() {
            roots += 1;
            emit(&mut out, &mut objects, node, None);
        }
    }
    (out, objects, roots)
}

fn emit(out: &mut String, objects: &mut u64, mut node: Value, parent: Option<&str>) {
    let mut children = Vec::new();
    if let Some(obj) = node.as_object_mut() {
        let nested: Vec<String> = obj
            .iter()
            .filter(|(_, v)| connection_nodes(v).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in nested {
            if let Some(v) = obj.remove(&key) {
                children.extend(connection_nodes(&v).unwrap_or_default());
            }
        }
        if let Some(p) = parent {
            obj.insert("__parentId".into(), Value::String(p.to_owned()));
        }
    }
    let id = node
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default();
    out.push_str(&node.to_string());
    out.push('\n');
    *objects += 1;
    for child in children {
        emit(out, objects, child, Some(&id));
    }
}
