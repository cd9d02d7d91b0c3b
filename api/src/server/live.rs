//! `GET /api/live?q=<kfl>`: newly ingested entries that match a KFL filter, as Server-Sent
//! Events, or over a WebSocket when the request asks to upgrade.
//!
//! Messages, in order: one `ready` (the subscription is in place: entries appended from now on
//! are delivered), then `entry` (one entry as a JSON object, ids as strings), `lagged`
//! (`{"dropped_rows": n}`: the client fell behind and n matching entries were skipped here)
//! and `error` (the filter failed on a batch; the stream ends). SSE uses these as event
//! names with the JSON as data; WebSocket sends text frames `{"type": …, …}`. A KFL error is
//! a 400 before any stream starts. Streams end when the server shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use faultline_engine::{Subscription, SubscriptionEvent};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::format::ndjson_rows;
use super::kfl::WarningInfo;
use super::metrics::{LiveGuard, Metrics};
use super::params::Params;
use super::state::AppState;

/// Parameters of `GET /api/live`.
#[derive(Debug, Default, Deserialize)]
pub struct LiveParams {
    /// KFL filter; empty or absent: every new entry.
    pub q: Option<String>,
}

/// One message of a live stream.
#[derive(Debug, Clone, PartialEq)]
enum LiveMessage {
    /// The subscription is in place; the JSON carries the KFL warnings.
    Ready(String),
    /// One entry, a JSON object.
    Entry(String),
    /// Matching entries were dropped because the client was slow.
    Lagged(u64),
    /// The filter failed; nothing follows.
    Error(String),
}

impl LiveMessage {
    fn name(&self) -> &'static str {
        match self {
            LiveMessage::Ready(_) => "ready",
            LiveMessage::Entry(_) => "entry",
            LiveMessage::Lagged(_) => "lagged",
            LiveMessage::Error(_) => "error",
        }
    }

    /// The JSON payload (SSE data).
    fn data(&self) -> String {
        match self {
            LiveMessage::Ready(json) | LiveMessage::Entry(json) => json.clone(),
            LiveMessage::Lagged(n) => json!({ "dropped_rows": n }).to_string(),
            LiveMessage::Error(reason) => {
                json!({ "error": "live_filter_failed", "message": reason }).to_string()
            }
        }
    }

    /// The WebSocket text frame: `{"type": name, ...}`.
    fn frame(&self) -> String {
        match self {
            LiveMessage::Entry(json) => format!("{{\"type\":\"entry\",\"entry\":{json}}}"),
            LiveMessage::Ready(json) => format!("{{\"type\":\"ready\",\"ready\":{json}}}"),
            other => {
                let mut v: serde_json::Value =
                    serde_json::from_str(&other.data()).unwrap_or_else(|_| json!({}));
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("type".into(), json!(other.name()));
                }
                v.to_string()
            }
        }
    }
}

/// A subscription turned into messages, ending on shutdown.
struct Feed {
    sub: Subscription,
    pending: VecDeque<LiveMessage>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
    ended: bool,
    _guard: LiveGuard,
}

impl Feed {
    fn new(sub: Subscription, state: &AppState, transport: &'static str) -> Feed {
        let warnings: Vec<WarningInfo> = sub.warnings().iter().map(WarningInfo::from).collect();
        let ready = json!({ "warnings": warnings }).to_string();
        Feed {
            sub,
            pending: VecDeque::from([LiveMessage::Ready(ready)]),
            cancel: state.shutdown_token(),
            metrics: state.metrics().clone(),
            ended: false,
            _guard: state.metrics().live_stream(transport),
        }
    }

    /// The next message, or `None` once the stream is over.
    async fn next(&mut self) -> Option<LiveMessage> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(m);
            }
            if self.ended {
                return None;
            }
            let event = tokio::select! {
                _ = self.cancel.cancelled() => None,
                e = self.sub.next_event() => e,
            };
            match event {
                None => return None,
                Some(e) => self.queue(e),
            }
        }
    }

    fn queue(&mut self, event: SubscriptionEvent) {
        match event {
            SubscriptionEvent::Rows(batch) => match ndjson_rows(&batch) {
                Ok(lines) => self.pending.extend(
                    String::from_utf8_lossy(&lines)
                        .lines()
                        .map(|l| LiveMessage::Entry(l.to_owned())),
                ),
                Err(e) => {
                    self.pending.push_back(LiveMessage::Error(e.to_string()));
                    self.ended = true;
                }
            },
            SubscriptionEvent::Lagged { dropped_rows } => {
                self.metrics.live_lagged(dropped_rows);
                self.pending.push_back(LiveMessage::Lagged(dropped_rows));
            }
            SubscriptionEvent::Failed { reason } => {
                self.pending.push_back(LiveMessage::Error(reason));
                self.ended = true;
            }
        }
    }
}

/// `GET /api/live?q=`: WebSocket if the request upgrades, Server-Sent Events otherwise.
pub async fn handler(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    Params(p): Params<LiveParams>,
) -> Result<Response, ApiError> {
    let kfl = p.q.unwrap_or_default();
    let sub = state
        .engine()
        .subscribe(&kfl, state.config().limits.live_capacity_rows)?;
    Ok(match ws {
        Ok(ws) => {
            let feed = Feed::new(sub, &state, "websocket");
            ws.on_upgrade(move |socket| websocket(socket, feed))
                .into_response()
        }
        Err(_) => sse(Feed::new(sub, &state, "sse")).into_response(),
    })
}

fn sse(feed: Feed) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let m = feed.next().await?;
        Some((Ok(Event::default().event(m.name()).data(m.data())), feed))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Sends the feed's messages as text frames until the feed ends or the client leaves.
async fn websocket(mut socket: WebSocket, mut feed: Feed) {
    loop {
        tokio::select! {
            m = feed.next() => match m {
                Some(m) => {
                    if socket.send(Message::Text(m.frame().into())).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                // The client closed, or the connection broke; pings are answered by the
                // library, other messages from the client are ignored.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_json_with_a_type() {
        let entry = LiveMessage::Entry("{\"id\":\"7\"}".into());
        let v: serde_json::Value = serde_json::from_str(&entry.frame()).unwrap();
        assert_eq!(v["type"], "entry");
        assert_eq!(v["entry"]["id"], "7");
        let lag: serde_json::Value =
            serde_json::from_str(&LiveMessage::Lagged(12).frame()).unwrap();
        assert_eq!(lag, json!({"type": "lagged", "dropped_rows": 12}));
        let err: serde_json::Value =
            serde_json::from_str(&LiveMessage::Error("boom".into()).frame()).unwrap();
        assert_eq!(err["type"], "error");
        assert_eq!(err["message"], "boom");
        assert_eq!(LiveMessage::Lagged(3).data(), "{\"dropped_rows\":3}");
    }
}
