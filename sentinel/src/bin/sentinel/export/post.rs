//! `--otlp-endpoint URL`: POSTs the OTLP/JSON requests to an OTLP/HTTP receiver, one batch at a
//! time, each with its own deadline.
//!
//! A URL without a path gets the standard `/v1/traces`; a URL with a path is used as given
//! (as `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` do). A batch
//! answered 429, 502, 503 or 504, or whose connection failed or timed out, is tried again, up
//! to three tries, after 0.5 s and 1 s (or the `Retry-After` seconds, at most 10 s). The first
//! batch the receiver does not take stops the export with an error that says how many spans
//! were already sent; spans a receiver reports as rejected in a partial success are counted.
//! Only the first 64 KiB of an answer are read.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Failure;

/// Statuses after which a batch is sent again, as OTLP/HTTP says (throttled or unavailable).
const RETRYABLE: [u16; 4] = [429, 502, 503, 504];
/// Tries per batch, the first included.
const ATTEMPTS: u32 = 3;
/// Pause before the second try (doubled before the third) when the receiver names none.
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Bytes of a receiver's answer read (for its status text or partial success); the rest is
/// not read and the connection is closed.
const MAX_ANSWER_BYTES: usize = 64 << 10;
/// The longest pause a `Retry-After` may ask for.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// What an export sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Requests the receiver answered with 2xx.
    pub(crate) batches: u64,
    /// Spans in those requests.
    pub(crate) spans: u64,
    /// Spans the receiver said it rejected (`partialSuccess.rejectedSpans`).
    pub(crate) rejected: u64,
}

/// `ExportTraceServiceResponse`, for its partial success.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Response {
    partial_success: Option<PartialSuccess>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PartialSuccess {
    rejected_spans: Option<serde_json::Value>,
    error_message: String,
}

/// The URL requests go to: `/v1/traces` appended when `endpoint` has no path.
///
/// # Errors
///
/// An error naming the endpoint when it is not an `http` or `https` URL.
pub(crate) fn traces_url(endpoint: &str) -> Result<reqwest::Url, Failure> {
    let invalid =
        |why: &str| Failure::Usage(format!("invalid --otlp-endpoint `{endpoint}`: {why}"));
    let mut url = reqwest::Url::parse(endpoint).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("not an http or https URL"));
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/v1/traces");
    }
    Ok(url)
}

/// POSTs each `(spans, body)` batch to `url`, in order, each within `timeout`.
///
/// # Errors
///
/// Stops at the first batch not accepted, with an error naming the status or the failure
/// and how many spans had been sent before.
pub(crate) fn post(
    url: &reqwest::Url,
    batches: impl Iterator<Item = (usize, Vec<u8>)>,
    timeout: Duration,
) -> Result<Sent, Failure> {
    let setup = |e: &dyn std::error::Error| Failure::input(url.as_str(), error_chain(e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| setup(&e))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| setup(&e))?;
    let mut sent = Sent::default();
    for (spans, body) in batches {
        let failed = |why: String| {
            Failure::input(
                url.as_str(),
                format!(
                    "{why} ({} spans in {} batches sent before)",
                    sent.spans, sent.batches
                ),
            )
        };
        let mut attempt = 1;
        let (status, body) = loop {
            let answer = runtime.block_on(async {
                let response = client
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Only the start of an answer is used: a receiver cannot make us hold more.
                let mut response = response;
                let mut body = Vec::new();
                while body.len() < MAX_ANSWER_BYTES
                    && let Some(chunk) = response.chunk().await?
                {
                    let room = MAX_ANSWER_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok::<_, reqwest::Error>((status, retry_after, body))
            });
            let retry = match &answer {
                Ok((status, retry_after, _)) if RETRYABLE.contains(&status.as_u16()) => {
                    Some(*retry_after)
                }
                Err(e) if e.is_connect() || e.is_timeout() => Some(None),
                _ => None,
            };
            match retry {
                Some(retry_after) if attempt < ATTEMPTS => {
                    // A pause between attempts is what the receiver asked for, not a wait on
                    // another task.
                    std::thread::sleep(pause(retry_after, attempt));
                    attempt += 1;
                }
                _ => {
                    let (status, _, body) = answer.map_err(|e| failed(error_chain(&e)))?;
                    break (status, body);
                }
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(200).collect();
            return Err(failed(format!(
                "receiver answered {status} ({attempt} attempts): {text}"
            )));
        }
        sent.batches += 1;
        sent.spans += spans as u64;
        if let Ok(Response {
            partial_success: Some(partial),
        }) = serde_json::from_slice::<Response>(&body)
        {
            let rejected = match &partial.rejected_spans {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .unwrap_or(0);
            if rejected > 0 {
                sent.rejected += rejected;
                crate::error::say(format_args!(
                    "{url}: receiver rejected {rejected} spans: {}",
                    partial.error_message
                ));
            }
        }
    }
    Ok(sent)
}

/// The pause after failed try number `attempt` (1-based): what the receiver asked for,
/// else [`RETRY_DELAY`] doubled for each earlier try; at most [`MAX_RETRY_DELAY`].
fn pause(retry_after: Option<Duration>, attempt: u32) -> Duration {
    retry_after
        .unwrap_or_else(|| RETRY_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16)))
        .min(MAX_RETRY_DELAY)
}

/// An error and its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    // regression: issue #16
    #[test]
    fn issue_16_pauses_between_tries_follow_the_docs() {
        assert_eq!(pause(None, 1), Duration::from_millis(500));
        assert_eq!(pause(None, 2), Duration::from_secs(1));
        let asked = Some(Duration::from_secs(7));
        assert_eq!(pause(asked, 1), Duration::from_secs(7));
        assert_eq!(
            pause(asked, 2),
            Duration::from_secs(7),
            "as asked, not doubled"
        );
        let too_long = Some(Duration::from_secs(3600));
        assert_eq!(pause(too_long, 2), MAX_RETRY_DELAY, "never past the cap");
    }

    #[test]
    fn a_bare_endpoint_gets_the_standard_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").unwrap().as_str(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/custom/path")
                .unwrap()
                .as_str(),
            "https://otel.example/custom/path"
        );
        assert!(traces_url("ftp://x").is_err());
        assert!(traces_url("not a url").is_err());
    }
}
