//! A real HTTP receiver on loopback for webhooks.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use serde_json::Value;

/// Each webhook received: (webhook-id, body).
type Hooks = Arc<Mutex<Vec<(String, Value)>>>;

/// Starts a receiver that answers 200 to everything; its URL and what it received.
pub async fn webhook_receiver() -> (String, Hooks) {
    let hooks: Hooks = Arc::default();
    let recorded = hooks.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let recorded = recorded.clone();
        async move {
            let id = headers["webhook-id"].to_str().unwrap().to_string();
            recorded
                .lock()
                .unwrap()
                .push((id, serde_json::from_slice(&body).unwrap()));
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hooks)
}
