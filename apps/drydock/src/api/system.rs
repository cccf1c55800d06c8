//! The server's own routes: health, identity, components, the journal, the audit log, OpenAPI.
//! Metrics and events have their own modules.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, ApiResult, State};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // One resource per path, so that a known path asked with another method answers 405 with
    // `Allow` (actix's resource default) instead of falling through to the 404 of unknown routes.
    cfg.service(web::resource("/health").route(web::get().to(health)));
    cfg.service(web::resource("/api/app").route(web::get().to(app)));
    cfg.service(web::resource("/api/watchers").route(web::get().to(watchers)));
    cfg.service(web::resource("/api/registries").route(web::get().to(registries)));
    cfg.service(web::resource("/api/triggers").route(web::get().to(triggers)));
    cfg.service(web::resource("/api/triggers/{type}/{name}").route(web::post().to(test_trigger)));
    cfg.service(web::resource("/api/store").route(web::get().to(store)));
    cfg.service(web::resource("/api/notifications/outbox").route(web::get().to(outbox)));
    cfg.service(web::resource("/api/audit").route(web::get().to(audit)));
    cfg.service(web::resource("/api/update-operations").route(web::get().to(operations)));
    cfg.service(web::resource("/api/log").route(web::get().to(log)));
    cfg.service(web::resource("/api/events").route(web::get().to(super::events::events)));
    cfg.service(web::resource("/api/openapi.json").route(web::get().to(openapi)));
    cfg.service(web::resource("/metrics").route(web::get().to(super::metrics::metrics)));
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
    offset: Option<String>,
    limit: Option<String>,
    action: Option<String>,
    container: Option<String>,
}

/// The audit log, newest first: `{data, total, limit, offset, hasMore}`.
async fn audit(
    state: State,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, super::ApiError> {
    let mut entries = state.store.audit().await.map_err(super::ApiError::store)?;
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
    let offset = query
        .offset
        .as_deref()
        .map(|v| super::whole_number("offset", v))
        .transpose()?
        .map_or(0, |v| usize::try_from(v).unwrap_or(usize::MAX));
    let limit = query
        .limit
        .as_deref()
        .map(|v| super::whole_number("limit", v))
        .transpose()?
        .map_or(50, |v| usize::try_from(v).unwrap_or(usize::MAX))
        .clamp(1, 200);
    let data: Vec<_> = entries.into_iter().skip(offset).take(limit).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "total": total,
        "limit": limit,
        "offset": offset,
        "hasMore": offset.saturating_add(data.len()) < total,
    })))
}

/// The update journal, newest first: `{data, total, active}` (`active`: operations not finished,
/// in progress or waiting for recovery).
async fn operations(state: State) -> Result<HttpResponse, super::ApiError> {
    let mut ops = state
        .store
        .operations()
        .await
        .map_err(super::ApiError::store)?;
    ops.reverse();
    let active = ops.iter().filter(|op| !op.phase.is_terminal()).count();
    // Open operations no update works on: interrupted ones being retried in the background.
    let stranded: Vec<String> = state
        .updaters
        .stranded()
        .await
        .into_iter()
        .map(|op| op.id)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": ops,
        "total": ops.len(),
        "active": active,
        "stranded": stranded,
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
    let list: Vec<serde_json::Value> = state
        .notifications
        .triggers()
        .iter()
        .map(|t| t.describe())
        .collect();
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
    let mut entries = state.store.outbox().await.map_err(ApiError::store)?;
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
    let trigger = state
        .notifications
        .find(&kind, &name)
        .ok_or_else(|| ApiError::not_found("Trigger not found"))?;
    let container: drydock_core::model::Container = if body.is_empty() {
        drydock_notify::sample_container()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body must be a container: {e}")))?
    };
    super::delivered(state.notifications.send_now(trigger, container).await)
}

async fn store(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "configuration": { "path": state.config.store_path.display().to_string() } }))
}

async fn log(state: State) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "level": state.config.log_level }))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
