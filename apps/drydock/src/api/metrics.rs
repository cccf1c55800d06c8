//! `GET /metrics`: Prometheus text, with drydock's names or What's Up Docker's (`DD_COMPAT`).

use actix_web::HttpResponse;
use drydock_metrics::{Snapshot, TriggerCounts};

use super::{ApiError, ApiResult, State};

/// Prometheus text exposition.
pub(super) async fn metrics(state: State) -> ApiResult<HttpResponse> {
    if !state.config.prometheus_enabled {
        return Err(ApiError::not_found(
            "metrics are disabled (DD_PROMETHEUS_ENABLED=false)",
        ));
    }
    let containers = state.store.containers().await.map_err(ApiError::store)?;
    let watchers: Vec<&str> = state
        .watchers
        .iter()
        .map(|w| w.settings().name.as_str())
        .collect();
    let triggers: Vec<TriggerCounts<'_>> = state
        .notifications
        .triggers()
        .iter()
        .map(|t| TriggerCounts {
            kind: &t.settings().id.kind,
            name: &t.settings().id.name,
            success: t.delivered(),
            error: t.failed(),
        })
        .collect();
    let cycles = state
        .cycles
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let registries = state.registry.stats();
    let snapshot = Snapshot {
        containers: &containers,
        watchers: &watchers,
        cycles: &cycles,
        registries: &registries,
        triggers: &triggers,
        uptime: state.started.elapsed(),
        stranded: state.updaters.stranded().await.len(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(drydock_metrics::render(&snapshot, state.config.compat)))
}
