//! Record a connection's conversation with a platform fake, then replay it mutated.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use invsync_test_support::fake::{self, FakeServer};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Stands for the server's own `http://127.0.0.1:PORT` in recorded bodies and headers
/// (bulk-operation result URLs, `Link` headers).
const BASE: &str = "{{BASE}}";

/// One request and the answer to it.
#[derive(Debug, Clone)]
pub(super) struct Exchange {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers that describe the transfer, not the answer; hyper sets its own.
fn is_hop_header(name: &str) -> bool {
    matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "date" | "host" | "keep-alive"
    )
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.replace(from, to).into_bytes(),
        Err(_) => bytes.to_vec(),
    }
}

fn response(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(body)).unwrap_or_else(|_| {
        // A header value the mutation made unsendable: answer without the headers.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        r
    })
}

// ---------------------------------------------------------------------------------------
// Recording

#[derive(Clone)]
struct Recording {
    upstream: String,
    own: Arc<Mutex<String>>,
    log: Arc<Mutex<Vec<Exchange>>>,
    http: reqwest::Client,
}

/// A proxy on loopback in front of a fake that keeps every exchange.
pub(super) struct Recorder {
    pub server: FakeServer,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    pub async fn start(upstream: &str) -> Recorder {
        let state = Recording {
            upstream: upstream.trim_end_matches('/').to_owned(),
            own: Arc::new(Mutex::new(String::new())),
            log: Arc::new(Mutex::new(Vec::new())),
            http: reqwest::Client::new(),
        };
        let log = state.log.clone();
        let own = state.own.clone();
        let server = fake::serve(axum::Router::new().fallback(forward).with_state(state)).await;
        *own.lock().expect("lock") = server.base_url();
        Recorder { server, log }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().expect("lock").clone()
    }
}

async fn forward(State(state): State<Recording>, request: Request) -> Response {
    let own = state.own.lock().expect("lock").clone();
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let mut upstream = state
        .http
        .request(method.clone(), format!("{}{path}", state.upstream));
    for (name, value) in request.headers() {
        if !is_hop_header(name.as_str()) {
            upstream = upstream.header(name, value);
        }
    }
    let body = to_bytes(request.into_body(), usize::MAX)
        .await
        .expect("request body");
    let answer = upstream
        .body(replace(&body, &own, &state.upstream))
        .send()
        .await
        .expect("the fake answers");
    let status = answer.status().as_u16();
    let headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_header(name.as_str()))
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?.replace(&state.upstream, BASE);
            Some((name.as_str().to_owned(), value))
        })
        .collect();
    let body = replace(
        &answer.bytes().await.expect("response body"),
        &state.upstream,
        BASE,
    );
    state.log.lock().expect("lock").push(Exchange {
        method: method.as_str().to_owned(),
        path,
        status,
        headers: headers.clone(),
        body: body.clone(),
    });
    let headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(n, v)| (n, v.replace(BASE, &own)))
        .collect();
    response(status, &headers, replace(&body, BASE, &own))
}

// ---------------------------------------------------------------------------------------
// Replaying

#[derive(Default)]
struct Script {
    exchanges: Vec<Exchange>,
    used: Vec<bool>,
    /// Every credential requests carried: tokens of `Authorization`,
    /// `X-Shopify-Access-Token`, `X-Auth-Token`, and OAuth `refresh_token`s.
    credentials: Vec<String>,
}

fn credentials_in(headers: &axum::http::HeaderMap, body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for name in ["authorization", "x-shopify-access-token", "x-auth-token"] {
        for value in headers.get_all(name) {
            if let Ok(v) = value.to_str() {
                let token = v.split_once(' ').map_or(v, |(_, t)| t);
                found.push(token.to_owned());
            }
        }
    }
    for (key, value) in url::form_urlencoded::parse(body) {
        if matches!(key.as_ref(), "refresh_token" | "client_secret" | "code") {
            found.push(value.into_owned());
        }
    }
    found
}

impl Script {
    /// The first unused answer to this method and path (with its query, else without),
    /// else the last one given to it.
    fn answer(&mut self, method: &str, path: &str) -> Option<&Exchange> {
        let bare = |p: &str| p.split('?').next().unwrap_or("").to_owned();
        let keys: [&dyn Fn(&Exchange) -> bool; 2] = [
            &|e: &Exchange| e.method == method && e.path == path,
            &|e: &Exchange| e.method == method && bare(&e.path) == bare(path),
        ];
        for key in keys {
            let matching: Vec<usize> = (0..self.exchanges.len())
                .filter(|&i| key(&self.exchanges[i]))
                .collect();
            if let Some(&i) = matching.iter().find(|&&i| !self.used[i]) {
                self.used[i] = true;
                return Some(&self.exchanges[i]);
            }
            if let Some(&i) = matching.last() {
                return Some(&self.exchanges[i]);
            }
        }
        None
    }
}

/// A server that answers from a script of (mutated) recorded exchanges.
pub(super) struct Replay {
    pub server: FakeServer,
    script: Arc<Mutex<Script>>,
}

impl Replay {
    pub async fn start() -> Replay {
        let script = Arc::new(Mutex::new(Script::default()));
        let server = fake::serve(
            axum::Router::new()
                .fallback(answer)
                .with_state(script.clone()),
        )
        .await;
        Replay { server, script }
    }

    /// Answers from `exchanges` from now on, with [`BASE`] standing for this server.
    pub fn set(&self, exchanges: Vec<Exchange>) {
        let base = self.server.base_url();
        let exchanges: Vec<Exchange> = exchanges
            .into_iter()
            .map(|mut e| {
                e.body = replace(&e.body, BASE, &base);
                for (_, v) in &mut e.headers {
                    *v = v.replace(BASE, &base);
                }
                e
            })
            .collect();
        let mut script = self.script.lock().expect("lock");
        script.used = vec![false; exchanges.len()];
        script.exchanges = exchanges;
        script.credentials.clear();
    }

    /// The credentials requests carried since [`Replay::set`].
    pub fn credentials(&self) -> Vec<String> {
        self.script.lock().expect("lock").credentials.clone()
    }
}

/// In a replayed body, stands for everything the request carried (headers, body): a
/// server that echoes credentials back, as some error pages do.
pub(super) const ECHO: &str = "{{ECHO}}";

async fn answer(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let headers = request.headers().clone();
    let mut echo: String = request
        .headers()
        .values()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(" ");
    echo.push(' ');
    echo.push_str(&path);
    let body = to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    echo.push(' ');
    echo.push_str(&String::from_utf8_lossy(&body));
    // Echoed inside a JSON string.
    let echo = serde_json::to_string(&echo).unwrap_or_default();
    let echo = echo.trim_matches('"');
    let mut script = script.lock().expect("lock");
    script.credentials.extend(credentials_in(&headers, &body));
    match script.answer(&method, &path) {
        Some(e) => response(e.status, &e.headers, replace(&e.body, ECHO, echo)),
        None => response(
            404,
            &[("content-type".into(), "application/json".into())],
            br#"{"message":"not in the recording"}"#.to_vec(),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Mutations

/// One change to one recorded answer.
#[derive(Debug, Clone)]
pub(super) enum Mutation {
    Status(u16),
    /// Replace the JSON value at the node picked by the index.
    Replace(Index, Value),
    /// Remove that node from its object or array.
    Remove(Index),
    /// Repeat that node in its array (or an array's first item).
    Duplicate(Index),
    /// Cut the body short.
    Truncate(Index),
    Garbage(Vec<u8>),
    Header(&'static str, &'static str),
}

/// JSON values that decoders trip over.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::sample::select(vec![
            Value::Null, json!(true), json!(false), json!(0), json!(-1), json!(1),
            json!(1.5), json!(-0.0), json!(1e300), json!(-1e300), json!(u64::MAX), json!(i64::MIN),
            json!(4.0e-320), json!(""), json!(" "), json!("0"), json!("-1"), json!("1.5"),
            json!("12,50"), json!("1e400"), json!("NaN"), json!("-0"), json!("0x10"),
            json!("79228162514264337593543950336"), json!("99999999999999999999.999"),
            json!("1.000000000000000000000000000001"), json!("abc"), json!("é"),
            json!("\u{0}"), json!("true"), json!("parent"), json!("variable"), json!("simple"),
            json!("none"), json!("product"), json!("variant"), json!("Inventory"),
            json!("NonInventory"), json!("Service"), json!("Group"), json!("Bundle"),
            json!("gid://shopify/ProductVariant/"), json!("gid://shopify/ProductVariant/x"),
            json!("gid://shopify/InventoryItem/1"), json!("gid://shopify/Product/1"),
            json!("COMPLETED"), json!("FAILED"), json!("RUNNING"), json!("ACCESS_DENIED"),
            json!("INTERNAL_SERVER_ERROR"), json!("5010"), json!("Bearer"), json!({}), json!([]),
            json!([null]), json!({"code": "x"}), json!({"message": 1}), json!(ECHO),
            json!({"message": ECHO}), json!({"errors": ECHO}), json!({"error": ECHO}),
        ]),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => "[ -~]{0,40}".prop_map(Value::from),
        1 => "[0-9]{1,40}(\\.[0-9]{0,30})?".prop_map(Value::from),
    ]
}

fn header() -> impl Strategy<Value = (&'static str, &'static str)> {
    // Only waits that end soon: long waits are the pacing's business, fuzzed in `units`.
    let name = prop::sample::select(vec![
        "content-type",
        "link",
        "x-wp-total",
        "x-wp-totalpages",
        "x-rate-limit-requests-left",
        "x-rate-limit-requests-quota",
        "x-rate-limit-time-reset-ms",
        "x-rate-limit-time-window-ms",
        "retry-after",
        "x-shopify-shop-api-call-limit",
        "intuit_tid",
    ]);
    let value = prop::sample::select(vec![
        "",
        "0",
        "1",
        "-1",
        "abc",
        "5",
        "18446744073709551616",
        "4294967295",
        "0.01",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "text/html",
        "application/json; charset=iso-8859-1",
        "<{{BASE}}/x?page=2>; rel=\"next\"",
        "<>; rel=\"next\"",
        "<http://example.com/?page=2>; rel=\"next\"",
        "rel=\"next\"",
        "40/40",
    ]);
    (name, value)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<Index>(), leaf()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Duplicate),
        1 => prop::sample::select(vec![200u16, 201, 204, 207, 400, 401, 403, 404, 409, 422, 429, 500, 503])
            .prop_map(Mutation::Status),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Mutation::Garbage),
        1 => Just(Mutation::Garbage(format!("error: {ECHO}").into_bytes())),
        1 => header().prop_map(|(n, v)| Mutation::Header(n, v)),
    ]
}

/// Mutations of a recording: which exchange, and what to do to it.
pub(super) fn mutations() -> impl Strategy<Value = Vec<(Index, Mutation)>> {
    prop::collection::vec((any::<Index>(), mutation()), 1..5)
}

/// One answer turned into an error whose body echoes the request's credentials back,
/// in the shapes each platform's error bodies take.
pub(super) fn echo_mutations() -> impl Strategy<Value = Vec<(Index, Mutation)>> {
    let body = prop::sample::select(vec![
        format!("{ECHO}"),
        format!(r#"{{"message":"{ECHO}"}}"#),
        format!(r#"{{"errors":"{ECHO}"}}"#),
        format!(r#"{{"errors":[{{"message":"{ECHO}","extensions":{{"code":"ACCESS_DENIED"}}}}]}}"#),
        format!(
            r#"{{"code":"woocommerce_rest_cannot_view","message":"{ECHO}","data":{{"status":401}}}}"#
        ),
        format!(r#"{{"status":401,"title":"{ECHO}","type":"x","errors":{{"x":"{ECHO}"}}}}"#),
        format!(r#"{{"error":"invalid_grant","error_description":"{ECHO}"}}"#),
        format!(
            r#"{{"Fault":{{"Error":[{{"Message":"{ECHO}","Detail":"{ECHO}","code":"3200"}}],"type":"AUTHENTICATION"}}}}"#
        ),
        format!(
            r#"{{"fault":{{"error":[{{"message":"{ECHO}","detail":"{ECHO}","code":"3200"}}]}}}}"#
        ),
    ]);
    let status = prop::sample::select(vec![200u16, 400, 401, 403, 404, 409, 422, 500, 503]);
    (any::<Index>(), status, body).prop_map(|(at, status, body)| {
        vec![
            (at, Mutation::Status(status)),
            (at, Mutation::Garbage(body.into_bytes())),
        ]
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    At(usize),
}

fn paths(value: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                here.push(Seg::Key(k.clone()));
                paths(v, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                here.push(Seg::At(i));
                paths(v, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut v = value;
    for seg in path {
        v = match seg {
            Seg::Key(k) => v.get(k.as_str())?,
            Seg::At(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn node_mut<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut v = value;
    for seg in path {
        v = match seg {
            Seg::Key(k) => v.get_mut(k.as_str())?,
            Seg::At(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

/// A body as JSON, as JSON lines (bulk-operation results) or neither.
enum Parsed {
    Json(Value),
    Lines(Value),
    Raw,
}

fn parse(body: &[u8]) -> Parsed {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Parsed::Json(v);
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Parsed::Raw;
    };
    let lines: Option<Vec<Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).ok())
        .collect();
    match lines {
        Some(lines) if !lines.is_empty() => Parsed::Lines(Value::Array(lines)),
        _ => Parsed::Raw,
    }
}

/// Applies a JSON mutation to `body`; other bodies stay as they are. `skip` keeps nodes
/// out of reach (paths whose first key it names).
fn mutate_json(body: &[u8], skip: &[&str], apply: impl FnOnce(&mut Value, &[Vec<Seg>])) -> Vec<u8> {
    let (mut value, lines) = match parse(body) {
        Parsed::Json(v) => (v, false),
        Parsed::Lines(v) => (v, true),
        Parsed::Raw => return body.to_vec(),
    };
    let mut all = Vec::new();
    paths(&value, &mut Vec::new(), &mut all);
    let reachable: Vec<Vec<Seg>> = all
        .into_iter()
        .filter(|p| {
            !p.iter()
                .any(|s| matches!(s, Seg::Key(k) if skip.contains(&k.as_str())))
        })
        .collect();
    apply(&mut value, &reachable);
    match (lines, value) {
        (true, Value::Array(items)) => items
            .iter()
            .map(|v| format!("{v}\n"))
            .collect::<String>()
            .into_bytes(),
        (_, v) => v.to_string().into_bytes(),
    }
}

/// The recording with `mutations` applied. `skip`: object keys whose values stay as
/// recorded (see [`mutate_json`]).
pub(super) fn apply(
    recorded: &[Exchange],
    mutations: &[(Index, Mutation)],
    skip: &[&str],
) -> Vec<Exchange> {
    let mut out = recorded.to_vec();
    if out.is_empty() {
        return out;
    }
    for (which, m) in mutations {
        let e = &mut out[which.index(recorded.len())];
        match m {
            Mutation::Status(s) => e.status = *s,
            Mutation::Truncate(at) => {
                let n = at.index(e.body.len() + 1);
                e.body.truncate(n);
            }
            Mutation::Garbage(bytes) => e.body = bytes.clone(),
            Mutation::Header(name, value) => {
                e.headers.retain(|(n, _)| n != name);
                e.headers.push(((*name).to_owned(), (*value).to_owned()));
            }
            Mutation::Replace(at, new) => {
                e.body = mutate_json(&e.body, skip, |v, paths| {
                    if paths.is_empty() {
                        return;
                    }
                    if let Some(node) = node_mut(v, &paths[at.index(paths.len())]) {
                        *node = new.clone();
                    }
                });
            }
            Mutation::Remove(at) => {
                e.body = mutate_json(&e.body, skip, |v, paths| {
                    let paths: Vec<&Vec<Seg>> = paths.iter().filter(|p| !p.is_empty()).collect();
                    if paths.is_empty() {
                        return;
                    }
                    let path = paths[at.index(paths.len())];
                    let (last, parent) = path.split_last().expect("not the root");
                    match (node_mut(v, parent), last) {
                        (Some(Value::Object(map)), Seg::Key(k)) => {
                            map.remove(k);
                        }
                        (Some(Value::Array(items)), Seg::At(i)) if *i < items.len() => {
                            items.remove(*i);
                        }
                        _ => {}
                    }
                });
            }
            Mutation::Duplicate(at) => {
                e.body = mutate_json(&e.body, skip, |v, paths| {
                    let arrays: Vec<&Vec<Seg>> = paths
                        .iter()
                        .filter(|p| matches!(node(v, p), Some(Value::Array(a)) if !a.is_empty()))
                        .collect();
                    if arrays.is_empty() {
                        return;
                    }
                    let path = arrays[at.index(arrays.len())].clone();
                    if let Some(Value::Array(items)) = node_mut(v, &path) {
                        let first = items[0].clone();
                        items.push(first);
                    }
                });
            }
        }
    }
    out
}
