//! Prometheus metrics at `GET /metrics` (never authenticated, as notary's): requests by route
//! and status with their latency, updates accepted and rejected by reason, and the database
//! pool. Route names are notary's operation names, so dashboards built for it keep working.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use chrono::{DateTime, Utc};

use super::routes::Route;
use crate::storage::SharedStore;

/// Every metric the server exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    updates: IntCounterVec,
    pool: IntGaugeVec,
    mirror_deadline: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "notarium_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "notarium_http_request_duration_seconds",
                "Time to answer a request, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let updates = IntCounterVec::new(
            Opts::new(
                "notarium_updates_total",
                "Updates (POST …/_trust/tuf/) by result and, when rejected, the reason",
            ),
            &["result", "reason"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "notarium_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )
        .expect("valid metric");
        let mirror_deadline = IntGaugeVec::new(
            Opts::new(
                "notarium_mirror_deadline_seconds",
                "Seconds until the copied timestamp of a mirrored repository expires (negative: \
                 expired); clients refuse it after that unless it was handed over",
            ),
            &["gun"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(updates.clone()),
            Box::new(pool.clone()),
            Box::new(mirror_deadline.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Metrics {
            registry,
            requests,
            latency,
            updates,
            pool,
            mirror_deadline,
        }
    }

    /// Counts one answered request.
    pub(super) fn observe(&self, route: &'static str, status: StatusCode, took: Duration) {
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(took.as_secs_f64());
    }

    /// Counts one update: accepted (empty reason) or rejected with notary's reason.
    pub(super) fn update(&self, accepted: bool, reason: &str) {
        let result = if accepted { "accepted" } else { "rejected" };
        self.updates.with_label_values(&[result, reason]).inc();
    }

    /// The registry, for other parts (the admission webhook) to add their metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition, with the pool and the mirrored repositories' deadlines read now.
    pub(super) async fn render(&self, store: &SharedStore, now: DateTime<Utc>) -> Response {
        if let Some((open, idle)) = store.pool_state() {
            self.pool.with_label_values(&["open"]).set(i64::from(open));
            self.pool.with_label_values(&["idle"]).set(idle as i64);
        }
        // Handed-over repositories leave the gauge; a failed read leaves it as it was.
        if let Ok(list) = crate::mirror::deadlines(store).await {
            self.mirror_deadline.reset();
            for (mirror, deadline) in list {
                if let Some(deadline) = deadline {
                    self.mirror_deadline
                        .with_label_values(&[mirror.gun.as_str()])
                        .set((deadline - now).num_seconds());
                }
            }
        }
        self.render_plain()
    }

    /// The text exposition of what is registered (no database to read).
    pub(super) fn render_plain(&self) -> Response {
        let mut body = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut body)
            .is_err()
        {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }
}

/// notary's operation name of a route (docs/protocol.md §1.1), the `route` label.
pub(super) fn route_name(route: &Route) -> &'static str {
    match route {
        Route::Base => "Base",
        Route::Health => "Health",
        Route::Update { .. } => "UpdateTUF",
        Route::Delete { .. } => "DeleteTUF",
        Route::RoleByChecksum { .. } => "GetRoleByHash",
        Route::RoleByVersion { .. } => "GetRoleByVersion",
        Route::Role { .. } => "GetRole",
        Route::GetKey { .. } => "GetKey",
        Route::RotateKey { .. } => "RotateKey",
        Route::Changefeed { .. } | Route::GlobalChangefeed => "Changefeed",
        Route::Verify => "Verify",
        Route::Admission(crate::admission::Hook::Mutate) => "AdmissionMutate",
        Route::Admission(crate::admission::Hook::Validate) => "AdmissionValidate",
        Route::NotFound => "NotFound",
        Route::MethodNotAllowed => "MethodNotAllowed",
    }
}
