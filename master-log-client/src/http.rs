//! The only file that talks to `reqwest`: one batch attempt, or one direct-mode request.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::batch::Batch;
use crate::config::{Config, Urls};
use crate::error::{Error, HttpError, Result};
use crate::stats::Receipt;
use crate::worker::Attempt;

/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("master-log-client-rust/", env!("CARGO_PKG_VERSION"));

/// Longest piece of a response body kept in errors and reports, in characters.
const MAX_BODY_IN_REASON: usize = 200;

/// A configured HTTP client (connection pool with keep-alive) and the two URLs.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    urls: Urls,
}

impl Http {
    pub(crate) fn new(config: &Config) -> Result<Http> {
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
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(config.timeout)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Build(HttpError::new(e)))?;
        Ok(Http {
            client,
            urls: config.urls.clone(),
        })
    }

    /// Makes one attempt at sending `batch` and classifies the answer.
    pub(crate) async fn send_batch(&self, batch: Batch) -> Attempt {
        let len = batch.len;
        let response = self
            .client
            .post(&self.urls.batch)
            .body(batch.body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
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
        let body = response.bytes().await;
        if status.is_success() {
            let accepted = body
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("accepted").and_then(Value::as_u64));
            let accepted = accepted.unwrap_or_else(|| {
                tracing::debug!(
                    target: "master_log_client",
                    count = len,
                    status = status.as_u16(),
                    reason = "response body has no integer `accepted`",
                    "assuming the whole batch was accepted",
                );
                len as u64
            });
            return Attempt::Accepted {
                status: status.as_u16(),
                accepted,
            };
        }
        let text = body.map(|b| snippet(&b)).unwrap_or_default();
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
            .post(&self.urls.single)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Http(HttpError::new(e)))?;
        let status = response.status();
        let body = response.bytes().await;
        if !status.is_success() {
            return Err(Error::Status {
                status: status.as_u16(),
                body: body.map(|b| snippet(&b)).unwrap_or_default(),
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
            status: Some(status.as_u16()),
            event_id,
            accepted: json.get("accepted").and_then(Value::as_u64),
        })
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Parses `Retry-After` as delay-seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
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
