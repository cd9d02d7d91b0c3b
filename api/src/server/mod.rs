//! The HTTP API behind `faultline serve`: entries by KFL, read-only SQL, KFL checks, live
//! streams (Server-Sent Events and WebSocket), an error summary, capture uploads, Prometheus
//! metrics, a health check and an OpenAPI document, over one shared [`AppState`].
//!
//! Extension points: [`routes`] is the API as a `Router<AppState>`; [`app`] merges it with
//! more routes (the dashboard, reports) and adds the layers every route shares (bearer token,
//! metrics, body limit) before binding the state. [`serve`] runs an app on a listener until a
//! shutdown signal, ending live streams first so the shutdown does not wait on them.
//!
//! Errors are JSON `{error, message, position?}` ([`ApiError`]); the status codes are listed in
//! the README's "Server" section and in the OpenAPI document.

mod auth;
pub mod dashboard;
mod entries;
mod error;
mod format;
mod ingest;
mod kfl;
mod live;
mod metrics;
mod openapi;
mod params;
mod pcap;
mod sql;
mod state;
mod summary;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;
pub use format::Format;
pub use metrics::Metrics;
pub use state::{AppState, Limits, ServerConfig};

/// The ingest service's job queue, which the server's state holds (re-exported for its users).
pub use crate::service::{IngestJob, IngestQueue, IngestSource, IngestStatus, JobState};

/// The API routes, without state or shared layers: merge more routes into it (without a
/// fallback of their own: unknown paths get the API's JSON 404), then hand the result to
/// [`app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .fallback(not_found)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::handler))
        .route("/api/openapi.json", get(openapi::handler))
        .route("/api/entries", get(entries::list))
        .route("/api/entries/{id}", get(entries::one))
        .route("/api/kfl/check", post(kfl::check))
        .route("/api/sql", post(sql::run))
        .route("/api/live", get(live::handler))
        .route("/api/errors/summary", get(summary::handler))
        .route("/api/pcap", get(pcap::handler))
        .route(
            "/api/ingest",
            post(ingest::upload)
                .get(ingest::list)
                // The upload streams its body to disk under its own limit.
                .layer(DefaultBodyLimit::disable()),
        )
}

/// `routes()` merged with `extra`, behind the bearer token (all but `/healthz`), request
/// metrics and the request body limit, bound to `state`.
pub fn app(state: AppState, extra: Router<AppState>) -> Router {
    let limits = state.config().limits;
    routes()
        .merge(extra)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track_requests,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes; live streams end first (they are
/// cancelled through the state), then the server waits for the other requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cancel = state.shutdown_token();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            cancel.cancel();
        })
        .await
}

/// Unknown paths: a JSON 404 like every other error.
async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

/// `GET /healthz`: 200 `ok` while the server runs (no token needed).
async fn healthz() -> &'static str {
    "ok"
}
