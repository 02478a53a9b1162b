//! The HTTP server: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
//! (`/metrics`) and customer look-ups (`GET /customers/{customer_id}`). Handlers lock the
//! service's engines briefly to read them; none holds the lock across an `.await`. The customer
//! look-ups answer only requests that [`CustomerAccess`] admits; probes and metrics are open.

mod access;

pub use access::{AccessError, CustomerAccess, TokenFile};

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::service::Shared;

/// What the handlers read: the service's state and the customer API's access rule.
#[derive(Clone)]
struct HttpState {
    shared: Arc<Shared>,
    access: Arc<CustomerAccess>,
}

/// The routes.
pub fn router(shared: Arc<Shared>, access: Arc<CustomerAccess>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics))
        .route("/customers/{customer_id}", get(customer))
        .with_state(HttpState { shared, access })
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::handle().render(),
    )
        .into_response()
}

async fn readiness(State(HttpState { shared, .. }): State<HttpState>) -> Response {
    let ready = shared.is_ready();
    let (customers, model_version) = shared.with_engines(|engines| {
        (
            engines.customer_count(),
            engines.model().version.to_string(),
        )
    });
    let body = serde_json::json!({
        "ready": ready,
        "bootstrap_servers": shared.bootstrap_servers,
        "customers": customers,
        "model_version": model_version,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn customer(
    State(HttpState { shared, access }): State<HttpState>,
    headers: HeaderMap,
    Path(customer_id): Path<String>,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if !access.admits(authorization) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"healthscore\"")],
            Json(serde_json::json!({"error": "a valid bearer token is required"})),
        )
            .into_response();
    }
    match shared.with_engines(|engines| engines.view(&customer_id, None, true)) {
        Some(view) => Json(view).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "unknown customer", "customer_id": customer_id})),
        )
            .into_response(),
    }
}

/// Serves on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    access: Arc<CustomerAccess>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared, access))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
