//! The server's own routes: health, identity, components, metrics, events, OpenAPI.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};
use drydock_core::model::{Container, UpdateLevel};
use drydock_watch::WatchEvent;
use futures_util::stream;
use serde_json::json;
use tokio::sync::broadcast;

use super::{ApiError, ApiResult, State};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/api/app", web::get().to(app))
        .route("/api/watchers", web::get().to(watchers))
        .route("/api/registries", web::get().to(registries))
        .route("/api/triggers", web::get().to(triggers))
        .route("/api/triggers/{type}/{name}", web::post().to(test_trigger))
        .route("/api/store", web::get().to(store))
        .route("/api/notifications/outbox", web::get().to(outbox))
        .route("/api/audit", web::get().to(audit))
        .route("/api/log", web::get().to(log))
        .route("/api/events", web::get().to(events))
        .route("/api/openapi.json", web::get().to(openapi))
        .route("/metrics", web::get().to(metrics));
}

async fn health(state: State) -> HttpResponse {
    match state.auth.closed_reason() {
        None => HttpResponse::Ok().json(json!({ "uptime": state.started.elapsed().as_secs() })),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "starting", "reason": reason })),
    }
}

/// The query of `GET /api/audit`.
#[derive(Debug, serde::Deserialize)]
struct AuditQuery {
    offset: Option<usize>,
    limit: Option<usize>,
    action: Option<String>,
    container: Option<String>,
}

/// The audit log, newest first: `{data, total, limit, offset, hasMore}`.
async fn audit(
    state: State,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, super::ApiError> {
    let mut entries = state
        .store
        .audit()
        .await
        .map_err(super::ApiError::internal)?;
    entries.reverse();
    entries.retain(|e| {
        query
            .action
            .as_ref()
            .is_none_or(|a| a.split(',').any(|a| a == e.action))
            && query
                .container
                .as_ref()
                .is_none_or(|c| *c == e.container_name)
    });
    let total = entries.len();
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let data: Vec<_> = entries.into_iter().skip(offset).take(limit).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "total": total,
        "limit": limit,
        "offset": offset,
        "hasMore": offset + data.len() < total,
    })))
}

async fn app() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "name": "drydock", "version": env!("CARGO_PKG_VERSION") }))
}

async fn watchers(state: State) -> HttpResponse {
    let list: Vec<serde_json::Value> = state
        .config
        .watchers
        .iter()
        .map(|(settings, connection)| {
            json!({
                "id": format!("docker.{}", settings.name),
                "type": "docker",
                "name": settings.name,
                "configuration": {
                    "socket": connection.socket.as_ref().map(|s| s.display().to_string()),
                    "host": connection.host,
                    "port": connection.port,
                    "cron": settings.cron.as_str(),
                    "jitter": settings.jitter.as_millis() as u64,
                    "watchbydefault": settings.watch_by_default,
                    "watchall": settings.watch_all,
                    "watchevents": settings.watch_events,
                    "maintenancewindow": settings.maintenance_window.as_ref().map(|w| w.as_str().to_owned()),
                },
            })
        })
        .collect();
    HttpResponse::Ok().json(list)
}

async fn registries(state: State) -> HttpResponse {
    let list: Vec<serde_json::Value> = state
        .config
        .registries
        .iter()
        .map(|provider| {
            let (login, password) = match &provider.auth {
                drydock_registry::providers::ProviderAuth::Anonymous => (None, None),
                drydock_registry::providers::ProviderAuth::Basic { username, .. } => {
                    (Some(username.clone()), Some("[REDACTED]"))
                }
                drydock_registry::providers::ProviderAuth::Ecr { access_key_id, .. } => {
                    (Some(access_key_id.clone()), Some("[REDACTED]"))
                }
            };
            json!({
                "id": provider.id(),
                "type": provider.kind.as_str(),
                "name": provider.name,
                "configuration": { "url": provider.url, "login": login, "password": password },
            })
        })
        .collect();
    HttpResponse::Ok().json(list)
}

async fn triggers(state: State) -> HttpResponse {
    let list: Vec<serde_json::Value> = state.config.triggers.iter().map(|t| t.describe()).collect();
    HttpResponse::Ok().json(list)
}

#[derive(Debug, serde::Deserialize)]
struct OutboxQuery {
    status: Option<String>,
}

/// The notification outbox: pending, delivered and dead-lettered messages, newest first.
async fn outbox(state: State, query: web::Query<OutboxQuery>) -> ApiResult<HttpResponse> {
    use drydock_core::notification::OutboxStatus;
    let wanted = match query.status.as_deref() {
        None => None,
        Some("pending") => Some(OutboxStatus::Pending),
        Some("delivered") => Some(OutboxStatus::Delivered),
        Some("dead-letter") => Some(OutboxStatus::DeadLetter),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status `{other}` is not one of: pending, delivered, dead-letter"
            )));
        }
    };
    let mut entries = state.store.outbox().await.map_err(ApiError::internal)?;
    let count = |s: OutboxStatus| entries.iter().filter(|e| e.status == s).count();
    let counts = json!({
        "pending": count(OutboxStatus::Pending),
        "delivered": count(OutboxStatus::Delivered),
        "deadLetter": count(OutboxStatus::DeadLetter),
    });
    entries.retain(|e| wanted.is_none_or(|w| e.status == w));
    entries.reverse();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": entries, "total": entries.len(), "counts": counts })))
}

/// Sends a test notification through one trigger, now: about the container given as the JSON
/// body, or a sample one. Answers `{}` once the receiver accepted it.
async fn test_trigger(
    state: State,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (kind, name) = path.into_inner();
    let trigger = crate::triggers::find(&state.config.triggers, &kind, &name)
        .ok_or_else(|| ApiError::not_found("Trigger not found"))?;
    let container: drydock_core::model::Container = if body.is_empty() {
        crate::triggers::sample_container()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body must be a container: {e}")))?
    };
    match crate::triggers::send_now(trigger, container, state.store.as_ref()).await {
        drydock_triggers::Delivery::Sent { .. } => Ok(HttpResponse::Ok().json(json!({}))),
        drydock_triggers::Delivery::Dead { error, .. } => Err(ApiError::internal(error)),
    }
}

async fn store(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "configuration": { "path": state.config.store_path.display().to_string() } }))
}

async fn log(state: State) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "level": state.config.log_level }))
}

fn event_frame(event: &WatchEvent) -> String {
    let (name, container) = match event {
        WatchEvent::ContainerAdded(c) => ("dd:container-added", c),
        WatchEvent::ContainerUpdated(c) => ("dd:container-updated", c),
        WatchEvent::ContainerRemoved(c) => ("dd:container-removed", c),
        WatchEvent::UpdateAvailable(c) => ("dd:update-available", c),
    };
    let data = serde_json::to_string(container.as_ref()).unwrap_or_else(|_| "{}".into());
    format!("event: {name}\ndata: {data}\n\n")
}

/// Server-sent events: container added, updated, removed, update available; a heartbeat comment
/// every 15 s keeps proxies from closing the stream.
async fn events(state: State) -> HttpResponse {
    let receiver = state.events.subscribe();
    let body = stream::unfold(receiver, |mut receiver| async move {
        let frame =
            match tokio::time::timeout(std::time::Duration::from_secs(15), receiver.recv()).await {
                Ok(Ok(event)) => event_frame(&event),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    "event: dd:resync-required\ndata: {}\n\n".to_owned()
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Err(_) => ": heartbeat\n\n".to_owned(),
            };
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(frame)), receiver))
    });
    HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(futures_util::StreamExt::chain(
            stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b": connected\n\n"))
            }),
            body,
        ))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// Prometheus text exposition.
async fn metrics(state: State) -> ApiResult<HttpResponse> {
    if !state.config.prometheus_enabled {
        return Err(ApiError::not_found(
            "metrics are disabled (DD_PROMETHEUS_ENABLED=false)",
        ));
    }
    let containers = state.store.containers().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render_metrics(&state, &containers)))
}

fn render_metrics(state: &State, containers: &[Container]) -> String {
    let mut out = String::new();
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let _ = writeln!(out, "# HELP dd_containers Watched containers, by watcher.");
    let _ = writeln!(out, "# TYPE dd_containers gauge");
    for watcher in &state.watchers {
        let name = &watcher.settings().name;
        let count = containers.iter().filter(|c| &c.watcher == name).count();
        let _ = writeln!(out, "dd_containers{{watcher=\"{}\"}} {count}", escape(name));
    }
    let _ = writeln!(
        out,
        "# HELP dd_updates_available Containers with an update available, by kind."
    );
    let _ = writeln!(out, "# TYPE dd_updates_available gauge");
    for level in [
        UpdateLevel::Major,
        UpdateLevel::Minor,
        UpdateLevel::Patch,
        UpdateLevel::Prerelease,
        UpdateLevel::Digest,
        UpdateLevel::Unknown,
    ] {
        let count = containers
            .iter()
            .filter(|c| c.update_available && c.update_kind.level() == level)
            .count();
        let _ = writeln!(out, "dd_updates_available{{kind=\"{level}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP dd_container_errors Containers whose last watch failed."
    );
    let _ = writeln!(out, "# TYPE dd_container_errors gauge");
    let _ = writeln!(
        out,
        "dd_container_errors {}",
        containers.iter().filter(|c| c.error.is_some()).count()
    );
    let _ = writeln!(
        out,
        "# HELP dd_watch_cycle_seconds Duration of watch cycles, by watcher."
    );
    let _ = writeln!(out, "# TYPE dd_watch_cycle_seconds summary");
    let cycles = state
        .cycles
        .by_watcher
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    for (watcher, (count, sum, _)) in &cycles {
        let _ = writeln!(
            out,
            "dd_watch_cycle_seconds_sum{{watcher=\"{}\"}} {sum}",
            escape(watcher)
        );
        let _ = writeln!(
            out,
            "dd_watch_cycle_seconds_count{{watcher=\"{}\"}} {count}",
            escape(watcher)
        );
    }
    let _ = writeln!(
        out,
        "# HELP dd_registry_requests_total Requests sent to registries, by provider and kind."
    );
    let _ = writeln!(out, "# TYPE dd_registry_requests_total counter");
    let stats = state.registry.stats();
    for s in &stats {
        for (kind, value) in [
            ("tags", s.tag_lists),
            ("manifest_head", s.manifest_heads),
            ("manifest_get", s.manifest_gets),
            ("blob", s.blob_gets),
            ("token", s.tokens),
            ("ping", s.pings),
        ] {
            let _ = writeln!(
                out,
                "dd_registry_requests_total{{registry=\"{}\",endpoint=\"{}\",kind=\"{kind}\"}} {value}",
                escape(&s.provider),
                escape(&s.endpoint)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP dd_registry_errors_total Registry calls that failed, by provider."
    );
    let _ = writeln!(out, "# TYPE dd_registry_errors_total counter");
    for s in &stats {
        let _ = writeln!(
            out,
            "dd_registry_errors_total{{registry=\"{}\",endpoint=\"{}\"}} {}",
            escape(&s.provider),
            escape(&s.endpoint),
            s.errors
        );
    }
    let _ = writeln!(
        out,
        "# HELP dd_uptime_seconds Seconds since drydock started."
    );
    let _ = writeln!(out, "# TYPE dd_uptime_seconds gauge");
    let _ = writeln!(
        out,
        "dd_uptime_seconds {}",
        state.started.elapsed().as_secs()
    );
    out
}
