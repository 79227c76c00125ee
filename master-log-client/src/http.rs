//! The only file that talks to `reqwest`: one batch attempt, or one direct-mode request.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::batch::Batch;
use crate::config::{Config, Urls};
use crate::error::{Error, HttpError, Result};
use crate::stats::Receipt;
use crate::worker::{Attempt, MAX_RETRY_AFTER};

/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("master-log-client-rust/", env!("CARGO_PKG_VERSION"));

/// Longest piece of a response body kept in errors and reports, in characters.
const MAX_BODY_IN_REASON: usize = 200;

/// Most bytes of a response body read; the rest is discarded and the connection closed
/// rather than reused, so a server cannot make the client buffer without bound.
pub(crate) const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// A configured HTTP client (connection pool with keep-alive), the request headers and the
/// two URLs.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    headers: HeaderMap,
    urls: Urls,
    timeout: Duration,
}

impl Http {
    /// Uses `client` when the user gave one, else builds the default one. Headers and the
    /// timeout are set on each request, so a user's client works unchanged.
    pub(crate) fn new(config: &Config, client: Option<reqwest::Client>) -> Result<Http> {
        let mut auth =
            HeaderValue::try_from(format!("Bearer {}", config.api_key.0)).map_err(|_| {
                Error::InvalidConfig {
                    setting: crate::config::API_KEY_ENV,
                    value: "<redacted>".to_owned(),
                    expected: "expected a key that is a valid header value",
                }
            })?;
        // Sensitive values are redacted by reqwest's own Debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        let client = match client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Build(HttpError::new(e.without_url())))?,
        };
        Ok(Http {
            client,
            headers,
            urls: config.urls.clone(),
            timeout: config.timeout,
        })
    }

    /// Makes one attempt at sending `batch`, waiting at most `timeout`, and classifies the
    /// answer.
    pub(crate) async fn send_batch(&self, batch: Batch, timeout: Duration) -> Attempt {
        let len = batch.len;
        let mut id = HeaderValue::from_bytes(&batch.id).unwrap_or(HeaderValue::from_static("-"));
        id.set_sensitive(false);
        let response = self
            .client
            .post(self.urls.batch.as_str())
            .headers(self.headers.clone())
            .header(IDEMPOTENCY_KEY, id)
            .timeout(timeout)
            .body(batch.body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_timeout() && !e.is_connect() => {
                return Attempt::TimedOut {
                    reason: describe(&e),
                };
            }
            Err(e) => {
                return Attempt::Retry {
                    status: None,
                    retry_after: None,
                    reason: describe(&e),
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_capped(response).await;
        if status.is_success() {
            let (accepted, warning) = accepted_count(&body, len);
            return Attempt::Accepted {
                status: status.as_u16(),
                accepted,
                warning,
            };
        }
        let text = snippet(&body.unwrap_or_else(BodyError::into_prefix));
        let reason = format!("status {}: {text}", status.as_u16());
        if is_retryable(status) {
            Attempt::Retry {
                status: Some(status.as_u16()),
                retry_after,
                reason,
            }
        } else {
            Attempt::Reject {
                status: Some(status.as_u16()),
                reason,
            }
        }
    }

    /// Sends one event to the single-event URL and returns the server's answer.
    pub(crate) async fn send_one(&self, body: Vec<u8>) -> Result<Receipt> {
        let response: Response = self
            .client
            .post(self.urls.single.as_str())
            .headers(self.headers.clone())
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Http(HttpError::new(e.without_url())))?;
        let status = response.status();
        let body = read_capped(response).await;
        if !status.is_success() {
            return Err(Error::Status {
                status: status.as_u16(),
                body: snippet(&body.unwrap_or_else(BodyError::into_prefix)),
            });
        }
        let json = body
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null);
        let event_id = json
            .get("events")
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Receipt {
            queued: false,
            spooled: false,
            status: Some(status.as_u16()),
            event_id,
            accepted: json.get("accepted").and_then(Value::as_u64),
        })
    }
}

/// Header carrying the batch id, the same for every attempt at one batch.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Why a response body was not read whole.
#[derive(Debug)]
enum BodyError {
    /// Longer than [`MAX_RESPONSE_BODY`]; the first bytes are kept.
    TooLarge(Vec<u8>),
    /// The connection failed or the request timed out while reading it.
    Failed,
}

/// Reads at most [`MAX_RESPONSE_BODY`] bytes of the body. Dropping the response with
/// unread bytes closes its connection instead of returning it to the pool.
async fn read_capped(mut response: Response) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BODY - out.len();
                if chunk.len() > room {
                    out.extend_from_slice(&chunk[..room]);
                    return Err(BodyError::TooLarge(out));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(_) => return Err(BodyError::Failed),
        }
    }
}

impl BodyError {
    fn into_prefix(self) -> Vec<u8> {
        match self {
            BodyError::TooLarge(prefix) => prefix,
            BodyError::Failed => Vec::new(),
        }
    }
}

/// The accepted count of a success answer, clamped to `0..=len`, and a warning when the
/// answer broke the protocol. A body without `accepted` counts the whole batch (the original
/// client's rule), silently.
fn accepted_count(body: &Result<Vec<u8>, BodyError>, len: usize) -> (u64, Option<String>) {
    let all = len as u64;
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(_)) => {
            let warning = format!("success answer larger than {MAX_RESPONSE_BODY} bytes");
            return (all, Some(warning));
        }
        Err(BodyError::Failed) => return (all, None),
    };
    let Some(value) = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("accepted").cloned())
    else {
        return (all, None);
    };
    match (value.as_u64(), value.as_i64()) {
        (Some(n), _) if n <= all => (n, None),
        (Some(n), _) => (all, Some(format!("accepted {n} of a batch of {len}"))),
        (None, Some(n)) => (0, Some(format!("accepted {n} of a batch of {len}"))),
        _ => (
            all,
            Some(format!(
                "accepted is not a count: {}",
                snippet(value.to_string().as_bytes())
            )),
        ),
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Parses `Retry-After` as delay-seconds or as an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let at =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// The error and its causes on one line, without the URL.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut out = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_BODY_IN_REASON) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after(&headers("3")), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&headers(" 0.5 ")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(&headers("-1")), None);
        assert_eq!(retry_after(&headers("315360000")), Some(MAX_RETRY_AFTER));
        let far = retry_after(&headers("Fri, 01 Jan 2100 00:00:00 GMT"));
        assert_eq!(far, Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_http_date() {
        let past = retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(past, Some(Duration::ZERO));
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let fmt = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let wait = retry_after(&headers(&fmt)).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn accepted_counts_are_clamped_with_a_warning() {
        let ok = |text: &str| Ok(text.as_bytes().to_vec());
        assert_eq!(accepted_count(&ok("{\"accepted\":3}"), 5), (3, None));
        assert_eq!(accepted_count(&ok("{}"), 5), (5, None));
        assert_eq!(accepted_count(&ok("{\"accepted\":6}"), 5).0, 5);
        assert_eq!(accepted_count(&ok("{\"accepted\":-1}"), 5).0, 0);
        assert_eq!(accepted_count(&ok("{\"accepted\":null}"), 5).0, 5);
        for bad in [
            "{\"accepted\":6}",
            "{\"accepted\":-1}",
            "{\"accepted\":[1]}",
        ] {
            assert!(accepted_count(&ok(bad), 5).1.is_some(), "{bad}");
        }
        let cut = accepted_count(&Err(BodyError::TooLarge(vec![b'{'])), 5);
        assert_eq!(cut.0, 5);
        assert!(cut.1.unwrap().contains("65536"));
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn snippets_are_cut_at_characters() {
        assert_eq!(snippet(b"  short  "), "short");
        let long = "é".repeat(300);
        assert_eq!(
            snippet(long.as_bytes()).chars().count(),
            MAX_BODY_IN_REASON + 1
        );
    }
}
