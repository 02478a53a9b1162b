//! The HTTP server: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
//! (`/metrics`) and customer look-ups (`GET /customers/{customer_id}`). Handlers only read shared state; none holds a lock across
//! an `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::engine::Engine;

/// What the service shares with the HTTP handlers.
pub struct Shared {
    /// The engine, locked briefly by the processing loop and by look-ups.
    pub engine: Mutex<Engine>,
    /// True once state is restored and the broker answered; false while the broker is unreachable.
    pub ready: Arc<AtomicBool>,
    /// The broker list in use (the embedded broker's address in embedded mode).
    pub bootstrap_servers: String,
}

impl Shared {
    /// Runs `read` with the engine locked (a poisoned lock still holds the last good state).
    pub fn with_engine<T>(&self, read: impl FnOnce(&mut Engine) -> T) -> T {
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&mut engine)
    }
}

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics))
        .route("/customers/{customer_id}", get(customer))
        .with_state(shared)
}

async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::handle().render(),
    )
        .into_response()
}

async fn readiness(State(shared): State<Arc<Shared>>) -> Response {
    let ready = shared.ready.load(Ordering::Relaxed);
    let (customers, model_version) =
        shared.with_engine(|engine| (engine.customer_count(), engine.model().version.to_string()));
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

async fn customer(State(shared): State<Arc<Shared>>, Path(customer_id): Path<String>) -> Response {
    match shared.with_engine(|engine| engine.view(&customer_id, None, true)) {
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
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
