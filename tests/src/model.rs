//! A chat-completions endpoint on loopback, as an OpenAI-compatible model
//! server answers: it keeps each request it is sent, and answers with a
//! summary, a 500, or too late, as the test says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with `choices[0].message.content` = [`Model::SUMMARY`].
    Answer,
    /// 500 with [`Model::FAILURE`] as its body.
    Fail,
    /// Answers after 5 s.
    Slow,
}

/// One request it took.
#[derive(Debug, Clone)]
pub struct Asked {
    pub authorization: Option<String>,
    pub body: Value,
}

struct Inner {
    mode: Mutex<Mode>,
    asked: Mutex<Vec<Asked>>,
}

#[derive(Clone)]
pub struct Model {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:<port>/v1/chat/completions`
    pub url: String,
    /// `127.0.0.1:<port>`, as `allowed_hosts` names it.
    pub host: String,
}

async fn complete(State(inner): State<Arc<Inner>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inner.asked.lock().unwrap().push(Asked { authorization, body });
    let mode = *inner.mode.lock().unwrap();
    match mode {
        // Control characters, as a hostile or broken server may send: the
        // plugin log must show them escaped.
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, Model::FAILURE).into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(answer()).into_response()
        }
        Mode::Answer => Json(answer()).into_response(),
    }
}

fn answer() -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": Model::SUMMARY}, "finish_reason": "stop"}],
    })
}

impl Model {
    pub const SUMMARY: &'static str = "The customer was charged twice; the agent is checking with billing.";
    pub const FAILURE: &'static str = "overloaded\n\u{1b}[31mFORGED LINE";

    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            mode: Mutex::new(Mode::Answer),
            asked: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            inner,
            url: format!("http://{host}/v1/chat/completions"),
            host,
        }
    }

    pub fn answer_with(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.inner.asked.lock().unwrap().clone()
    }
}
