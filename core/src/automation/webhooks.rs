//! The webhook sender: every node runs one. It claims due deliveries (see
//! [`Store::claim_deliveries`]) and posts each to its webhook, signed:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! X-Threadline-Event: ticket_updated
//! X-Threadline-Delivery: <the delivery's id: the same on every retry>
//! X-Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//! ```
//!
//! A 2xx answer delivers it; anything else (or no answer within the
//! timeout) is retried with backoff for a day, then marked failed. A crash
//! mid-post leaves the delivery to be sent again after its lease: delivery
//! is at least once, and receivers dedupe by `X-Threadline-Delivery`.
//!
//! A URL's host must resolve to a public address (checked at save time by
//! the API and again here, on the address actually connected to) unless the
//! server runs with `--webhooks-allow-private`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use super::{AutomationSettings, Automations};
use crate::domain::automation::signature;
use crate::store::{Attempt, Delivery, Store, Webhook};

/// Deliveries claimed at once, and posted at once at most.
const BATCH: u64 = 16;
/// Bytes of a response kept in the delivery log.
const EXCERPT_BYTES: usize = 512;
/// Longest wait between two retries.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

pub struct Sender {
    pub store: Store,
    pub handle: Automations,
    pub settings: AutomationSettings,
    client: reqwest::Client,
}

/// Why `url` cannot be a webhook's, worded for the admin who typed it:
/// not http(s), or a host that is (or resolves only to) a private address.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("url must start with https:// (or http://)".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url must not carry a user name or password; deliveries are signed instead".into());
    }
    let host = parsed.host_str().ok_or("url has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) if !allow_private && !crate::net::public(ip) => Err(format!(
            "{host} is a loopback, private or link-local address; webhooks post to public addresses only"
        )),
        Ok(_) => Ok(()),
        Err(_) => crate::net::resolve_public(host, port, allow_private).await.map(|_| ()),
    }
}

impl Sender {
    pub fn new(store: Store, handle: Automations, settings: AutomationSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .connect_timeout(settings.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Threadline-Webhooks/1")
            .dns_resolver(Arc::new(crate::net::PublicOnly {
                allow_private: settings.webhooks_allow_private,
            }))
            .build()
            .expect("the webhook client builds");
        Self {
            store,
            handle,
            settings,
            client,
        }
    }

    /// Sends due deliveries until aborted.
    pub async fn run(self) {
        loop {
            let now = Utc::now();
            // Longer than a post may take.
            let lease =
                chrono::Duration::from_std(self.settings.delivery_lease()).unwrap_or(chrono::Duration::minutes(3));
            let claimed = match self.store.claim_deliveries(now, now + lease, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the webhook deliveries");
                    Vec::new()
                }
            };
            let full = claimed.len() as u64 == BATCH;
            let this = &self;
            futures_util::stream::iter(claimed)
                .map(|(d, h)| async move {
                    let this = this;
                    let attempt = this.attempt(&d, &h).await;
                    if let Err(e) = this.store.delivery_attempted(&d, attempt).await {
                        // Its lease runs out and it is tried again.
                        tracing::warn!(error = %e, delivery = %d.id, "cannot record a delivery attempt");
                    }
                })
                .buffer_unordered(BATCH as usize)
                .collect::<Vec<()>>()
                .await;
            if full {
                continue;
            }
            tokio::select! {
                () = self.handle.inner.deliveries.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// One post of `d` to `h`, and what to do next.
    async fn attempt(&self, d: &Delivery, h: &Webhook) -> Attempt {
        let started = Instant::now();
        let posted = self.post(d, h).await;
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status, excerpt, error) = match posted {
            Ok((status, _)) if (200..300).contains(&status) => {
                return Attempt {
                    status: Some(i32::from(status)),
                    latency_ms,
                    excerpt: posted_excerpt(&posted),
                    error: None,
                    retry_at: None,
                };
            }
            Ok((status, excerpt)) => (
                Some(i32::from(status)),
                Some(excerpt),
                format!("the receiver answered {status}"),
            ),
            Err(e) => (None, None, e),
        };
        let age = Utc::now() - d.created_at;
        let given_up = age.to_std().unwrap_or_default() >= self.settings.webhook_retry_for;
        let retry_at = (!given_up).then(|| Utc::now() + self.retry_wait(d.attempts));
        Attempt {
            status,
            latency_ms,
            excerpt,
            error: Some(if given_up {
                format!("{error}; gave up after {} attempts over a day", d.attempts)
            } else {
                error
            }),
            retry_at,
        }
    }

    /// The wait after failed attempt number `attempts` (1 for the first):
    /// the base, doubled each time, with up to a fifth more at random so
    /// retries of many deliveries spread out, at most an hour.
    fn retry_wait(&self, attempts: i32) -> chrono::Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        let wait = self
            .settings
            .webhook_retry_base
            .saturating_mul(1 << doublings)
            .min(MAX_RETRY_WAIT);
        let jitter = wait.mul_f64(rand::random::<f64>() / 5.0);
        chrono::Duration::from_std(wait + jitter).unwrap_or(chrono::Duration::hours(1))
    }

    async fn post(&self, d: &Delivery, h: &Webhook) -> Result<(u16, String), String> {
        // Checked again at each delivery: the admin's address may have
        // moved since it was saved.
        check_url(&h.url, self.settings.webhooks_allow_private).await?;
        let t = Utc::now().timestamp();
        let response = self
            .client
            .post(&h.url)
            .header("Content-Type", "application/json")
            .header("X-Threadline-Event", &d.event)
            .header("X-Threadline-Delivery", &d.id)
            .header("X-Threadline-Signature", signature(&h.secret, t, d.body.as_bytes()))
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        Ok((status, excerpt(response).await))
    }
}

fn posted_excerpt(posted: &Result<(u16, String), String>) -> Option<String> {
    posted.as_ref().ok().map(|(_, e)| e.clone()).filter(|e| !e.is_empty())
}

/// The start of a response's body, as text a log can show.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(EXCERPT_BYTES);
    while kept.len() < EXCERPT_BYTES {
        match tokio::time::timeout(Duration::from_secs(2), response.chunk()).await {
            Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept)
        .chars()
        .map(|c| if c.is_control() && c != '\n' { '\u{FFFD}' } else { c })
        .collect()
}

/// A request error in a few words (reqwest's chain, without the URL).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer within the timeout".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
