//! Bulk operations (shopify.dev/docs/api/usage/bulk-operations/queries):
//! `bulkOperationRunQuery` runs a query without page sizes in the background; the app polls
//! the operation until `COMPLETED` and downloads a JSONL file from its `url`: one line per
//! node, nested connections' nodes on their own lines with `__parentId`.
//!
//! Bulk mutations (shopify.dev/docs/api/usage/bulk-operations/imports): the app asks
//! `stagedUploadsCreate(resource: BULK_MUTATION_VARIABLES)` for an upload target, POSTs the
//! JSONL of variables there as a multipart form (the issued parameters first, the file
//! last), and passes the `key` parameter as `stagedUploadPath` to
//! `bulkOperationRunMutation`. Shopify runs the mutation once per line, on its side and
//! without the app's cost points, and writes one result line per input line —
//! `{"data": {...}, "__lineNumber": n}` (or `errors`) — to the file at `url` (or, when it
//! failed or was cancelled part-way, at `partialDataUrl`). Before API version 2026-01 one
//! bulk mutation runs per shop at a time, from 2026-01 up to five (the imports guide).

use super::exec::{RequestCtx, UserError};
use super::state::{BulkEnding, BulkOperation, Shop, StagedUpload};
use apollo_compiler::executable::{OperationType, Selection};
use serde_json::{Value, json};
use std::time::Instant;

/// Concurrent bulk operations of one type per shop: one before 2026-01, five from then.
fn concurrency(version: &str) -> usize {
    if version == "unstable" || version >= "2026-01" {
        5
    } else {
        1
    }
}

fn in_progress(shop: &Shop, kind: &str) -> Vec<u64> {
    shop.bulk
        .values()
        .filter(|b| b.kind == kind && matches!(b.status, "CREATED" | "RUNNING" | "CANCELING"))
        .map(|b| b.id)
        .collect()
}

fn user_error(code: &str, field: &[&str], message: impl Into<String>) -> UserError {
    UserError {
        code: Some(code.to_owned()),
        field: field.iter().map(|f| (*f).to_owned()).collect(),
        message: message.into(),
    }
}

/// A staged upload target: `(url, resourceUrl, parameters)`.
pub(crate) type StagedTarget = (String, Option<String>, Vec<(String, String)>);

/// `stagedUploadsCreate`: only `BULK_MUTATION_VARIABLES` (what invsync uploads); the target
/// is the fake's `/staged-uploads`, with the kind of signed-policy fields Shopify's storage
/// wants (they must come back unchanged).
pub(crate) fn staged_uploads_create(
    shop: &mut Shop,
    ctx: &RequestCtx,
    inputs: &[Value],
) -> (Vec<StagedTarget>, Vec<UserError>) {
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let at = i.to_string();
        if input["resource"].as_str() != Some("BULK_MUTATION_VARIABLES") {
            errors.push(user_error(
                "INVALID",
                &["input", &at, "resource"],
                "the Shopify fake stages BULK_MUTATION_VARIABLES uploads only",
            ));
            continue;
        }
        if input["httpMethod"].as_str().is_some_and(|m| m != "POST") {
            errors.push(user_error(
                "INVALID",
                &["input", &at, "httpMethod"],
                "bulk mutation variables are uploaded with POST",
            ));
            continue;
        }
        let filename = input["filename"].as_str().unwrap_or("bulk_op_vars");
        let n = shop.next_id();
        let key = format!("tmp/fake-shop/bulk/{n:08x}-staged/{filename}");
        let parameters = vec![
            ("key".to_owned(), key.clone()),
            (
                "Content-Type".to_owned(),
                input["mimeType"]
                    .as_str()
                    .unwrap_or("text/jsonl")
                    .to_owned(),
            ),
            ("success_action_status".to_owned(), "201".to_owned()),
            ("acl".to_owned(), "private".to_owned()),
            ("policy".to_owned(), format!("fake-policy-{n}")),
            (
                "x-goog-signature".to_owned(),
                format!("fake-signature-{n:x}"),
            ),
        ];
        shop.staged.insert(
            key,
            StagedUpload {
                parameters: parameters.clone(),
                file: None,
            },
        );
        targets.push((format!("{}/staged-uploads", ctx.origin), None, parameters));
    }
    (targets, errors)
}

/// The multipart upload of a staged file: every issued parameter, unchanged and in order,
/// then `file`. `Err` is the storage's refusal.
pub(crate) fn receive_upload(
    shop: &mut Shop,
    parts: Vec<(String, Vec<u8>)>,
) -> Result<String, String> {
    let key = parts
        .iter()
        .find(|(name, _)| name == "key")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .ok_or("no key field")?;
    let staged = shop
        .staged
        .get_mut(&key)
        .ok_or_else(|| format!("no upload was staged at {key}"))?;
    let Some(((file_name, file), fields)) = parts.split_last() else {
        return Err("an empty form".into());
    };
    if file_name != "file" {
        return Err("the file must be the last field of the form".into());
    }
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    if fields != staged.parameters {
        return Err(format!(
            "the form fields are not the staged parameters: sent {fields:?}"
        ));
    }
    let text = String::from_utf8(file.clone()).map_err(|_| "the file is not UTF-8")?;
    staged.file = Some(text);
    Ok(key)
}

/// `bulkOperationRunMutation`.
pub(crate) fn run_mutation(
    shop: &mut Shop,
    ctx: &RequestCtx,
    mutation: Option<&str>,
    path: Option<&str>,
    client_identifier: Option<&str>,
) -> (Option<BulkOperation>, Vec<UserError>) {
    let refuse = |code: &str, field: &str, message: String| {
        (None, vec![user_error(code, &[field], message)])
    };
    let running = in_progress(shop, "MUTATION");
    if running.len() >= concurrency(&ctx.version) {
        // The documented refusal (the imports guide's "Operation in progress" case).
        let id = running.first().copied().unwrap_or_default();
        return (
            None,
            vec![user_error(
                "OPERATION_IN_PROGRESS",
                &[],
                format!(
                    "A bulk mutation operation for this app and shop is already in progress: {}.",
                    super::exec::gid("BulkOperation", id)
                ),
            )],
        );
    }
    let Some(mutation) = mutation else {
        return refuse(
            "INVALID_MUTATION",
            "mutation",
            "mutation is required".into(),
        );
    };
    if let Err(e) = check_mutation(mutation) {
        return refuse("INVALID_MUTATION", "mutation", e);
    }
    let Some(file) = path
        .and_then(|p| shop.staged.get(p))
        .and_then(|s| s.file.clone())
    else {
        return refuse(
            "NO_SUCH_FILE",
            "stagedUploadPath",
            format!(
                "The JSONL file could not be found at {}. Try uploading the file again.",
                path.unwrap_or_default()
            ),
        );
    };
    let mut inputs = Vec::new();
    for (n, line) in file.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => inputs.push(v),
            _ => {
                return refuse(
                    "INVALID_STAGED_UPLOAD_FILE",
                    "stagedUploadPath",
                    format!("line {}: not a JSON object of variables", n + 1),
                );
            }
        }
    }
    let id = shop.next_id();
    let op = BulkOperation {
        id,
        kind: "MUTATION",
        query: mutation.to_owned(),
        status: "CREATED",
        error_code: None,
        jsonl: String::new(),
        object_count: 0,
        root_object_count: 0,
        polls_left: 0,
        origin: ctx.origin.clone(),
        client_identifier: client_identifier.map(str::to_owned),
        inputs,
        done: 0,
        version: ctx.version.clone(),
        running_since: None,
        completed_at: None,
        ending: shop.next_bulk_ending.take(),
    };
    shop.bulk.insert(id, op.clone());
    (Some(op), Vec::new())
}

/// A bulk mutation is one mutation operation with exactly one top-level field, not itself
/// a bulk operation, selecting at most one connection (the imports guide's limits).
fn check_mutation(mutation: &str) -> Result<(), String> {
    let doc = super::schema::validate(mutation).map_err(|e| format!("Invalid mutation: {e}"))?;
    let operation = doc
        .operations
        .get(None)
        .map_err(|e| format!("Invalid mutation: {}", e.message()))?;
    if operation.operation_type != OperationType::Mutation {
        return Err("Invalid mutation: the document must be a mutation".into());
    }
    let fields: Vec<_> = operation
        .selection_set
        .selections
        .iter()
        .filter_map(|s| match s {
            Selection::Field(f) => Some(f),
            _ => None,
        })
        .collect();
    if fields.len() != 1 || operation.selection_set.selections.len() != 1 {
        return Err("Invalid mutation: a bulk mutation has exactly one top-level field".into());
    }
    let name = fields[0].name.as_str();
    if name.starts_with("bulkOperation") {
        return Err(format!("Invalid mutation: {name} cannot run in bulk"));
    }
    let connections = count_connections(&fields[0].selection_set);
    if connections > 1 {
        return Err(format!(
            "Invalid mutation: at most one connection field may be selected ({connections})"
        ));
    }
    Ok(())
}

fn count_connections(set: &apollo_compiler::executable::SelectionSet) -> usize {
    set.selections
        .iter()
        .map(|s| match s {
            Selection::Field(f) => {
                usize::from(f.ty().inner_named_type().as_str().ends_with("Connection"))
                    + count_connections(&f.selection_set)
            }
            Selection::InlineFragment(i) => count_connections(&i.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Processes a running bulk mutation's lines due by now: each line runs the mutation with
/// its variables against the shop, as any mutation would, but charges no points.
fn progress(shop: &mut Shop, op: &mut BulkOperation) {
    let since = *op.running_since.get_or_insert_with(Instant::now);
    let due = (since.elapsed().as_secs_f64() * shop.bulk_mutation_rate).floor();
    let mut target = if due >= op.inputs.len() as f64 {
        op.inputs.len()
    } else {
        due as usize
    };
    let stop_at = match op.ending {
        Some(BulkEnding::Fail { after_lines, .. } | BulkEnding::Cancel { after_lines }) => {
            Some(after_lines.min(op.inputs.len()))
        }
        _ => None,
    };
    if let Some(stop) = stop_at {
        target = target.min(stop);
    }
    if target > op.done {
        let doc = super::schema::validate(&op.query);
        for n in op.done..target {
            let line = match &doc {
                Ok(doc) => {
                    let ctx = RequestCtx {
                        version: op.version.clone(),
                        variables: op.inputs[n].as_object().cloned().unwrap_or_default(),
                        origin: op.origin.clone(),
                        bulk: false,
                    };
                    match super::server::execute_bulk_line(shop, &ctx, doc) {
                        Ok(mut v) => {
                            v["__lineNumber"] = json!(n);
                            v
                        }
                        Err(e) => json!({"errors": [{"message": e}], "__lineNumber": n}),
                    }
                }
                Err(e) => json!({"errors": [{"message": e}], "__lineNumber": n}),
            };
            op.jsonl.push_str(&line.to_string());
            op.jsonl.push('\n');
        }
        op.done = target;
        op.object_count = target as u64;
        op.root_object_count = target as u64;
    }
    match (op.ending, stop_at) {
        (Some(BulkEnding::Fail { code, .. }), Some(stop)) if op.done >= stop => {
            op.status = "FAILED";
            op.error_code = Some(code);
        }
        (Some(BulkEnding::Cancel { .. }), Some(stop)) if op.done >= stop => {
            op.status = "CANCELED";
        }
        _ if op.done >= op.inputs.len() => {
            op.status = if op.ending == Some(BulkEnding::Expire) {
                "EXPIRED"
            } else {
                "COMPLETED"
            };
        }
        _ => {}
    }
    if op.status != "RUNNING" {
        op.completed_at = Some(shop.clock);
    }
}

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
    if in_progress(shop, "QUERY").len() >= concurrency(&ctx.version) {
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
        kind: "QUERY",
        query: query.to_owned(),
        status: "CREATED",
        error_code: None,
        jsonl,
        object_count: objects,
        root_object_count: roots,
        polls_left: shop.bulk_polls,
        origin: ctx.origin.clone(),
        client_identifier: None,
        inputs: Vec::new(),
        done: 0,
        version: ctx.version.clone(),
        running_since: None,
        completed_at: None,
        ending: None,
    };
    shop.bulk.insert(id, op.clone());
    (Some(op), Vec::new())
}

/// Lets every unfinished operation make progress; called once per request.
pub(crate) fn advance(shop: &mut Shop) {
    let ids: Vec<u64> = shop
        .bulk
        .values()
        .filter(|b| matches!(b.status, "CREATED" | "RUNNING"))
        .map(|b| b.id)
        .collect();
    for id in ids {
        let Some(mut op) = shop.bulk.remove(&id) else {
            continue;
        };
        match (op.kind, op.status) {
            (_, "CREATED") => {
                op.status = "RUNNING";
                op.running_since = Some(Instant::now());
            }
            ("MUTATION", _) => progress(shop, &mut op),
            (_, "RUNNING") if op.polls_left == 0 => {
                op.status = "COMPLETED";
                op.completed_at = Some(shop.clock);
            }
            _ => op.polls_left -= 1,
        }
        shop.bulk.insert(id, op);
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
