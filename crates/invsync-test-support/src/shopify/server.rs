//! The HTTP side: `POST /admin/api/{version}/graphql.json` and the bulk result files.
//! Order of checks per request, as Shopify does it: injected faults, the access token
//! (401), the shop's state (402/423), the JSON body (400), the document against the schema,
//! the single-query cost limit, the cost bucket (THROTTLED), then execution; every answer
//! carries `extensions.cost`.

use super::cost::cost;
use super::exec::{Obj, RequestCtx, cost_extension};
use super::state::{RequestLog, Shop, ShopStatus};
use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::OperationType;
use apollo_compiler::resolvers::Execution;
use apollo_compiler::validation::Valid;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

pub(crate) type Shared = Arc<Mutex<Shop>>;

pub(crate) fn router(shop: Shared) -> axum::Router {
    axum::Router::new()
        .route(
            "/admin/api/{version}/graphql.json",
            axum::routing::post(graphql),
        )
        .route("/bulk/{file}", axum::routing::get(bulk_file))
        // A catalog's JSONL is megabytes (100,000 prices ≈ 12 MB), above axum's 2 MB default
        // body limit; the fake does not model the storage's own size limit.
        .route(
            "/staged-uploads",
            axum::routing::post(staged_upload)
                .layer(axum::extract::DefaultBodyLimit::max(512 * 1024 * 1024)),
        )
        .with_state(shop)
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn lock(shop: &Shared) -> std::sync::MutexGuard<'_, Shop> {
    shop.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn bulk_file(
    State(shop): State<Shared>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let mut shop = lock(&shop);
    let started = std::time::Instant::now();
    let had_token = headers.contains_key("x-shopify-access-token");
    // `N.jsonl`: a completed operation's result; `N.partial.jsonl`: what a failed or
    // cancelled mutation did before it stopped.
    let (id, partial) = match file.strip_suffix(".partial.jsonl") {
        Some(n) => (n.parse::<u64>().ok(), true),
        None => (
            file.strip_suffix(".jsonl")
                .and_then(|n| n.parse::<u64>().ok()),
            false,
        ),
    };
    let body = id
        .and_then(|id| shop.bulk.get(&id))
        .filter(|b| {
            if partial {
                matches!(b.status, "FAILED" | "CANCELED")
            } else {
                b.status == "COMPLETED"
            }
        })
        .map(|b| b.jsonl.clone());
    let status = if body.is_some() { 200 } else { 404 };
    shop.log.push(RequestLog {
        path: format!("/bulk/{file}"),
        had_token,
        query: None,
        variables: None,
        status,
        error_codes: Vec::new(),
        invalid: None,
    });
    shop.busy += started.elapsed();
    match body {
        Some(b) => (StatusCode::OK, b).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The staged upload target (Shopify's storage, not the Admin API: no access token, no
/// cost points): a `multipart/form-data` POST; answers 201 as `success_action_status`
/// asks, or 400 with the storage's complaint.
async fn staged_upload(State(shop): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut shop = lock(&shop);
    let had_token = headers.contains_key("x-shopify-access-token");
    let boundary = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.strip_prefix("multipart/form-data; boundary="))
        .map(str::to_owned);
    let result = match boundary {
        None => Err("not multipart/form-data with a boundary".to_owned()),
        Some(b) => parse_multipart(&body, &b)
            .and_then(|parts| super::bulk::receive_upload(&mut shop, parts)),
    };
    let status = if result.is_ok() { 201 } else { 400 };
    shop.log.push(RequestLog {
        path: "/staged-uploads".into(),
        had_token,
        query: None,
        variables: None,
        status,
        error_codes: Vec::new(),
        invalid: result.as_ref().err().cloned(),
    });
    match result {
        Ok(key) => (
            StatusCode::CREATED,
            format!("<?xml version='1.0' encoding='UTF-8'?><PostResponse><Key>{key}</Key></PostResponse>"),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// The parts of a `multipart/form-data` body (RFC 7578), as `(name, content)`, strictly:
/// CRLF line ends, a `Content-Disposition: form-data; name="…"` on every part.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at = find(text, delimiter.as_bytes(), 0).ok_or("no boundary in the body")?;
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        if text.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        if text.get(at..at + 2) != Some(b"\r\n") {
            return Err("a boundary not followed by CRLF".into());
        }
        at += 2;
        let head_end = find(text, b"\r\n\r\n", at).ok_or("a part without headers")?;
        let head = String::from_utf8_lossy(&text[at..head_end]).into_owned();
        let name = head
            .split("\r\n")
            .find_map(|h| {
                let (k, v) = h.split_once(':')?;
                if !k.trim().eq_ignore_ascii_case("content-disposition") {
                    return None;
                }
                let v = v.trim().strip_prefix("form-data;")?;
                let n = v.split(';').find_map(|p| p.trim().strip_prefix("name="))?;
                Some(n.trim_matches('"').to_owned())
            })
            .ok_or("a part without Content-Disposition: form-data; name=")?;
        let content_start = head_end + 4;
        let next = find(text, format!("\r\n{delimiter}").as_bytes(), content_start)
            .ok_or("a part without a closing boundary")?;
        parts.push((name, text[content_start..next].to_vec()));
        at = next + 2;
    }
}

async fn graphql(
    State(shared): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = lock(&shared).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut shop = lock(&shared);
    let started = std::time::Instant::now();
    let origin = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default();
    let had_token = headers.contains_key("x-shopify-access-token");
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut log = RequestLog {
        path: format!("/admin/api/{version}/graphql.json"),
        had_token,
        query: parsed
            .as_ref()
            .and_then(|b| b.get("query"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        variables: parsed.as_ref().and_then(|b| b.get("variables")).cloned(),
        status: 200,
        error_codes: Vec::new(),
        invalid: None,
    };
    // The shop's clock, as Shopify's servers stamp every response (RFC 9110 `Date`); the
    // connector bounds its catalog cursor by it (ADR 0017).
    let date = shop.clock.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let (status, body) = handle(&mut shop, &version, &headers, parsed, &origin, &mut log);
    log.status = status;
    log.error_codes = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
        .collect();
    shop.log.push(log);
    shop.busy += started.elapsed();
    let retry_after = shop.faults_retry_after.take();
    let mut response = json_response(status, &body);
    if let Ok(v) = date.parse() {
        response.headers_mut().insert(axum::http::header::DATE, v);
    }
    if let Some(r) = retry_after
        && let Ok(v) = r.parse()
    {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    response
}

fn error_body(message: &str, code: &str) -> Value {
    json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

fn handle(
    shop: &mut Shop,
    version: &str,
    headers: &HeaderMap,
    body: Option<Value>,
    origin: &str,
    log: &mut RequestLog,
) -> (u16, Value) {
    super::bulk::advance(shop);
    if let Some(fault) = shop.faults.pop_front() {
        shop.faults_retry_after = fault.retry_after.clone();
        let body = serde_json::from_str(&fault.body).unwrap_or(Value::String(fault.body));
        return (fault.status, body);
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|t| t.to_str().ok());
    if token != Some(shop.token.as_str()) {
        // shopify.dev/docs/api/usage/response-codes: 401 "The request didn't include a
        // valid access token".
        return (
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    match shop.status {
        ShopStatus::Active => {}
        ShopStatus::Frozen => return (402, json!({"errors": "Unavailable Shop"})),
        ShopStatus::Locked => {
            return (
                423,
                json!({"errors": "This shop is unavailable. The shop is locked."}),
            );
        }
    }
    let content_type_ok = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let Some(body) = body.filter(|_| content_type_ok) else {
        return (400, json!({"errors": "Bad Request"}));
    };
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return (
            400,
            json!({"errors": {"query": "Required parameter missing or invalid"}}),
        );
    };
    let variables = match body.get("variables") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(v)) => v.clone(),
        Some(_) => return (400, json!({"errors": "variables must be an object"})),
    };
    let doc = match super::schema::validate(query) {
        Ok(doc) => doc,
        Err(e) => {
            log.invalid = Some(e.clone());
            return (200, error_body(&e, "GRAPHQL_VALIDATION_FAILED"));
        }
    };
    let operation = match doc
        .operations
        .get(body.get("operationName").and_then(Value::as_str))
    {
        Ok(op) => op.clone(),
        Err(e) => {
            return (
                200,
                error_body(&e.message().to_string(), "GRAPHQL_VALIDATION_FAILED"),
            );
        }
    };
    let mutation = operation.operation_type == OperationType::Mutation;
    let requested = cost(&doc, &operation.selection_set, mutation, &variables, None).ceil();
    if requested > f64::from(shop.limits.max_query_cost) {
        let mut b = error_body(
            &format!(
                "Query cost is {requested}, which exceeds the single query max cost limit ({}).",
                shop.limits.max_query_cost
            ),
            "MAX_COST_EXCEEDED",
        );
        b["extensions"] = cost_extension(requested, None, shop);
        return (200, b);
    }
    let available = shop.refill();
    if available < requested {
        // "Throttled": no data, actualQueryCost null (docs/platform-apis.md §1).
        shop.throttled += 1;
        let mut b = error_body("Throttled", "THROTTLED");
        b["errors"][0]["extensions"]["documentation"] =
            json!("https://shopify.dev/api/usage/rate-limits");
        b["extensions"] = cost_extension(requested, None, shop);
        return (shop.limits.throttle_status, b);
    }
    if mutation && !shop.sales_before_next_write.is_empty() {
        for (sku, quantity) in std::mem::take(&mut shop.sales_before_next_write) {
            shop.sell(&sku, quantity);
        }
    }
    shop.bucket.available -= requested;
    let ctx = RequestCtx {
        version: version.to_owned(),
        variables: variables.clone(),
        origin: origin.to_owned(),
        bulk: false,
    };
    if let Some(at) = operation.name.as_ref().and_then(|name| {
        shop.recorded
            .iter()
            .position(|(op, _)| op.as_str() == name.as_str())
    }) {
        let (_, data) = shop.recorded.remove(at);
        let mut b = json!({ "data": data });
        b["extensions"] = cost_extension(requested, Some(requested), shop);
        return (200, b);
    }
    let result = if mutation {
        execute_mutation(shop, &ctx, &doc, &operation)
    } else {
        execute_with(shop, &ctx, &doc, &operation)
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => return (200, error_body(&e, "BAD_REQUEST")),
    };
    let actual = cost(
        &doc,
        &operation.selection_set,
        mutation,
        &variables,
        response.get("data"),
    )
    .ceil()
    .min(requested);
    shop.bucket.available += requested - actual;
    shop.points_spent += actual;
    response["extensions"] = cost_extension(requested, Some(actual), shop);
    (200, response)
}

fn to_json(response: apollo_compiler::response::ExecutionResponse) -> Value {
    serde_json::to_value(response).unwrap_or(Value::Null)
}

fn execute_with(
    shop: &Shop,
    ctx: &RequestCtx,
    doc: &Valid<ExecutableDocument>,
    operation: &apollo_compiler::Node<apollo_compiler::executable::Operation>,
) -> Result<Value, String> {
    let vars = to_bytes_map(&ctx.variables)?;
    let root = Obj::Query(shop, ctx);
    Execution::new(super::schema::schema(), doc)
        .operation(operation)
        .raw_variable_values(&vars)
        .execute_sync(&root)
        .map(to_json)
        .map_err(|e| e.message().to_string())
}

/// One line of a bulk mutation: the mutation with that line's variables; the whole
/// response (`data`, and `errors` if any).
pub(crate) fn execute_bulk_line(
    shop: &mut Shop,
    ctx: &RequestCtx,
    doc: &Valid<ExecutableDocument>,
) -> Result<Value, String> {
    let operation = doc
        .operations
        .get(None)
        .map_err(|e| e.message().to_string())?
        .clone();
    execute_mutation(shop, ctx, doc, &operation)
}

fn execute_mutation(
    shop: &mut Shop,
    ctx: &RequestCtx,
    doc: &Valid<ExecutableDocument>,
    operation: &apollo_compiler::Node<apollo_compiler::executable::Operation>,
) -> Result<Value, String> {
    let vars = to_bytes_map(&ctx.variables)?;
    let cell = RefCell::new(shop);
    let root = Obj::Mutation(&cell, ctx);
    Execution::new(super::schema::schema(), doc)
        .operation(operation)
        .raw_variable_values(&vars)
        .execute_sync(&root)
        .map(to_json)
        .map_err(|e| e.message().to_string())
}

fn to_bytes_map(
    v: &serde_json::Map<String, Value>,
) -> Result<apollo_compiler::response::JsonMap, String> {
    serde_json::from_value(Value::Object(v.clone())).map_err(|e| e.to_string())
}

/// Runs a query document (the inner query of a bulk operation) and returns its `data`.
pub(crate) fn execute_query(
    shop: &Shop,
    ctx: &RequestCtx,
    doc: &Valid<ExecutableDocument>,
) -> Result<Value, String> {
    let operation = doc
        .operations
        .get(None)
        .map_err(|e| e.message().to_string())?;
    if operation.operation_type != OperationType::Query {
        return Err("a bulk query must be a query".into());
    }
    let response = execute_with(shop, ctx, doc, operation)?;
    if let Some(errors) = response.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        return Err(Value::Array(errors.clone()).to_string());
    }
    Ok(response.get("data").cloned().unwrap_or(Value::Null))
}
