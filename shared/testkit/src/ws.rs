//! A mock WebSocket server on 127.0.0.1 for the venue adapters' tests: it
//! hands each connection the code under test opens (with its request path)
//! to the test, which then speaks the venue's protocol on it.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::wait::WAIT;

pub type Ws = WebSocketStream<TcpStream>;

pub struct MockServer {
    pub url: String,
    conns: mpsc::Receiver<(String, Ws)>,
}

impl MockServer {
    pub async fn start() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock server");
        let url = format!("ws://{}", listener.local_addr().expect("local addr"));
        let (tx, conns) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut path = String::new();
                    #[allow(clippy::result_large_err)]
                    let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                              resp| {
                        path = req.uri().to_string();
                        Ok(resp)
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await {
                        let _ = tx.send((path, ws)).await;
                    }
                });
            }
        });
        MockServer { url, conns }
    }

    /// The next connection opened, with its request path.
    pub async fn accept(&mut self) -> (String, Ws) {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("nothing connected to the mock server")
            .expect("mock server stopped")
    }
}

/// The next text frame from the peer, as JSON.
pub async fn recv_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the peer sent nothing")
            .expect("connection closed")
            .expect("read error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).expect("the peer sent invalid JSON");
        }
    }
}

pub async fn send(ws: &mut Ws, text: impl Into<String>) {
    ws.send(Message::text(text.into()))
        .await
        .expect("mock send");
}
