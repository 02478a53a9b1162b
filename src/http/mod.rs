//! The HTTP server: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
//! (`/metrics`) and customer look-ups (`GET /customers/{customer_id}`). Handlers only read shared state; none holds a lock across
//! an `.await`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::engine::PartitionedEngines;

/// What the service shares with the HTTP handlers.
pub struct Shared {
    /// The engines of the partitions held, locked briefly by the processing loop, by the
    /// consumer's rebalances, and by look-ups.
    pub engines: Mutex<PartitionedEngines>,
    /// True once the broker answered; false while it is unreachable.
    pub ready: Arc<AtomicBool>,
    /// True once the group's assignment has been taken on (the assigned partitions' state
    /// restored); false again while a new assignment is being taken on.
    pub partitions_taken: AtomicBool,
    /// Counts the assignments taken on. Messages fetched under an older one are not processed:
    /// each assignment resumes its partitions from the offsets their state reflects.
    pub assignment_generation: AtomicU64,
    /// The broker list in use (the embedded broker's address in embedded mode).
    pub bootstrap_servers: String,
}

impl Shared {
    /// Whether the service is ready: a broker is reachable and the assigned partitions' state is
    /// in memory.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && self.partitions_taken.load(Ordering::Relaxed)
    }

    /// The current assignment generation.
    pub fn assignment_generation(&self) -> u64 {
        self.assignment_generation.load(Ordering::Acquire)
    }

    /// Starts a new assignment generation: messages fetched before it will not be processed.
    pub fn next_assignment_generation(&self) {
        self.assignment_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `read` with the engines locked (a poisoned lock still holds the last good state).
    pub fn with_engines<T>(&self, read: impl FnOnce(&mut PartitionedEngines) -> T) -> T {
        let mut engines = self
            .engines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&mut engines)
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

async fn customer(State(shared): State<Arc<Shared>>, Path(customer_id): Path<String>) -> Response {
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
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
