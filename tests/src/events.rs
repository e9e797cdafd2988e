//! A live-updates websocket as a test reads it.
use serde_json::Value;

/// A live-updates websocket.
pub struct Events(
    pub(crate) tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Events {
    /// Opens the socket at `url` (`ws://…`) with `token` as its first
    /// frame, once the server says it is ready.
    pub async fn open(url: &str, token: &str) -> Self {
        use futures::SinkExt;
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                serde_json::json!({ "token": token }).to_string().into(),
            ))
            .await
            .expect("token frame sent");
        let ready = next_text(&mut socket).await;
        assert_eq!(ready, serde_json::json!({"kind": "ready"}));
        Events(socket)
    }

    /// The next event (pings skipped); fails after ten seconds without one.
    pub async fn next(&mut self) -> Value {
        next_text(&mut self.0).await
    }

    /// Sends a frame, as a client says something (typing).
    pub async fn send(&mut self, frame: Value) {
        use futures::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    /// Sends raw text, whatever it holds; `false` if the socket is gone.
    pub async fn send_text(&mut self, text: String) -> bool {
        use futures::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .is_ok()
    }

    /// Whether the server ends the socket within ten seconds (closed, or
    /// the connection dropped); events that come first are skipped.
    pub async fn ends(&mut self) -> bool {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The code the server closes the socket with; fails if an event comes
    /// first, or nothing within ten seconds.
    pub async fn close_code(&mut self) -> u16 {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), self.0.next())
                .await
                .expect("closed within ten seconds")
                .expect("a close frame before the end")
                .expect("a readable frame");
            match frame {
                Message::Close(Some(close)) => return u16::from(close.code),
                Message::Close(None) => return 1005,
                Message::Text(text) => panic!("expected the socket to close, got {text}"),
                _ => continue,
            }
        }
    }
}

pub(crate) async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    use futures::StreamExt;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an event within ten seconds")
            .expect("the socket is open")
            .expect("a readable frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("events are JSON");
        }
    }
}
