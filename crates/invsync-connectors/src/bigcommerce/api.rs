//! BigCommerce's part in the request pipeline ([`crate::http::Pipeline`]): the
//! `X-Auth-Token`, the store's pacer (one per store and process, ADR 0026), 429s, and
//! error bodies; and the paged list reads on top of it.

use super::pace::{self, Pacer};
use super::vendor::error_detail;
use super::{AUTH_HINT, BigCommerceConnection, MAX_PAGES, ORDERS_PAGE, READ_CONCURRENCY};
use crate::http::{self, Answer, Call, Pipeline, Platform};
use crate::{ConnectorError, ErrorKind};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One store: its token and its pacer.
pub(super) struct Store {
    pub name: String,
    pub token: SecretString,
    pub pacer: Arc<Pacer>,
}

impl Platform for Store {
    type Permit<'p> = pace::Permit;

    fn sign(&self, request: RequestBuilder, _: Option<&SecretString>) -> RequestBuilder {
        http::with_token(request, "X-Auth-Token", &self.token)
    }

    async fn admit(&self, _call: &Call<'_>) -> pace::Permit {
        self.pacer.acquire().await
    }

    fn observe(&self, _call: &Call<'_>, answer: &Answer, _permit: &pace::Permit) -> bool {
        let throttled = answer.status == StatusCode::TOO_MANY_REQUESTS;
        self.pacer.observe(&answer.headers, throttled);
        throttled
    }

    fn throttle_wait(&self, _call: &Call<'_>, answer: &Answer, backoff: Duration) -> Duration {
        if pace::announces_reset(&answer.headers) {
            // The pacer holds every request of the store until the window resets.
            Duration::ZERO
        } else {
            // No rate headers: the platform is under load (api-rate-limits.mdx).
            http::retry_after(&answer.headers).unwrap_or(backoff)
        }
    }

    fn status_error(&self, _call: &Call<'_>, answer: &Answer) -> ConnectorError {
        let status = answer.status;
        let mut e =
            http::status_error(&self.name, status, &error_detail(&answer.text()), AUTH_HINT);
        if status.as_u16() == 413 {
            e.message = format!(
                "{}; BigCommerce accepted fewer items than it documents",
                e.message
            );
        }
        e
    }
}

impl BigCommerceConnection {
    /// One request through the pipeline: paced by the rate-limit headers, 429s wait for
    /// the window, 5xx and timeouts are retried with backoff (every request here is
    /// idempotent: reads, absolute prices, absolute quantities). `Ok(None)` is a 204.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Option<Value>, ConnectorError> {
        let url = self.base.join(path).map_err(|e| {
            ConnectorError::new(&self.name, ErrorKind::Other, format!("bad API path: {e}"))
        })?;
        let mut call = Call::new(method, url, path).query(query);
        if let Some(body) = body {
            call = call.json(body);
        }
        let answer = self.pipeline.send(&self.store, &call).await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        serde_json::from_slice(&answer.body).map(Some).map_err(|e| {
            ConnectorError::new(
                &self.name,
                ErrorKind::InvalidData,
                format!("{path}: the response is not BigCommerce's JSON ({e}); is base_url right?"),
            )
        })
    }

    /// Every item of a v3 list, page 1 first, the rest concurrently. The page count is
    /// the platform's word; one that no store could have ([`MAX_PAGES`]) is an error
    /// rather than an endless read.
    pub(super) async fn v3_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let page = |n: usize| {
            let mut q = query.to_vec();
            q.push(("limit", limit.to_string()));
            q.push(("page", n.to_string()));
            async move {
                let body = self
                    .call(Method::GET, path, &q, None)
                    .await?
                    .unwrap_or(Value::Null);
                let pages = body
                    .pointer("/meta/pagination/total_pages")
                    .and_then(Value::as_u64)
                    .unwrap_or(1) as usize;
                match body.get("data") {
                    Some(Value::Array(items)) => Ok((items.clone(), pages)),
                    _ => Err(ConnectorError::new(
                        &self.name,
                        ErrorKind::InvalidData,
                        format!("{path}: no `data` array"),
                    )),
                }
            }
        };
        let (items, pages) = page(1).await?;
        if pages > MAX_PAGES {
            return Err(ConnectorError::new(
                &self.name,
                ErrorKind::InvalidData,
                format!(
                    "{path}: BigCommerce reports {pages} pages of {limit}; more than {MAX_PAGES} is not a real catalog, so nothing was read"
                ),
            ));
        }
        Pipeline::later_pages(items, pages, READ_CONCURRENCY, |n| {
            let fetch = page(n);
            async move { fetch.await.map(|(items, _)| items) }
        })
        .await
    }

    /// Every item of a v2 list: pages until a short one (v2 has no totals; 204 is empty).
    pub(super) async fn v2_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        for page in 1.. {
            let mut q = query.to_vec();
            q.push(("limit", ORDERS_PAGE.to_string()));
            q.push(("page", page.to_string()));
            let items = match self.call(Method::GET, path, &q, None).await? {
                None => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(_) => {
                    return Err(ConnectorError::new(
                        &self.name,
                        ErrorKind::InvalidData,
                        format!("{path}: expected a JSON array"),
                    ));
                }
            };
            let n = items.len();
            out.extend(items);
            if n < ORDERS_PAGE {
                break;
            }
        }
        Ok(out)
    }
}
