//! A webhook receiver on loopback, as another system would run one: it
//! keeps what it is sent, checks each signature with its own HMAC code
//! (not the server's), and can be told to fail for a while.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Mutex;

/// One post the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: String,
    pub delivery: String,
    pub signature: String,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
    /// What it answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    got: Mutex<Vec<Received>>,
    /// Posts still to answer 503.
    failing: AtomicU32,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
}

async fn take(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let failing = inner
        .failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    };
    inner.got.lock().await.push(Received {
        event: header("x-threadline-event"),
        delivery: header("x-threadline-delivery"),
        signature: header("x-threadline-signature"),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        raw: body.to_vec(),
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, url }
    }

    /// Answers the next `n` posts with 503.
    pub fn fail_next(&self, n: u32) {
        self.inner.failing.store(n, Ordering::SeqCst);
    }

    /// Everything posted so far, failed posts included.
    pub async fn all(&self) -> Vec<Received> {
        self.inner.got.lock().await.clone()
    }

    /// The posts it accepted.
    pub async fn accepted(&self) -> Vec<Received> {
        self.all().await.into_iter().filter(|r| r.status < 300).collect()
    }

    /// Waits up to 15 s for `n` accepted posts whose event is `event`
    /// (any, for `None`); returns them all.
    pub async fn wait_for(&self, n: usize, event: Option<&str>) -> Vec<Received> {
        for _ in 0..300 {
            let got: Vec<Received> = self
                .accepted()
                .await
                .into_iter()
                .filter(|r| event.is_none_or(|e| r.event == e))
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver did not get {n} {event:?} posts in 15 s; it got {:?}",
            self.all()
                .await
                .iter()
                .map(|r| (&r.event, r.status))
                .collect::<Vec<_>>()
        );
    }
}

/// Whether `r` is signed with `secret` as the README says to check it:
/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, within five minutes.
pub fn verify(r: &Received, secret: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in r.signature.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x),
            Some(("v1", x)) => v1 = Some(x),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let Ok(seconds) = t.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - seconds).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&r.raw);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}
