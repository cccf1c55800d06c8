//! `/api/containers`: the Container API, as the seed specifies it.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use drydock_actions::{UpdateError, Updater};
use drydock_core::model::Container;
use drydock_core::operation::AuditStatus;
use drydock_core::policy::PolicyChange;
use drydock_core::ports::{LogOptions, RuntimeError};
use drydock_watch::PolicyChangeError;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, State};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // One resource per path, so that a known path asked with another method answers 405 with
    // `Allow` (actix's resource default) instead of falling through to the 404 of unknown routes.
    cfg.service(web::resource("/api/containers").route(web::get().to(list)));
    cfg.service(web::resource("/api/containers/").route(web::get().to(list)));
    cfg.service(web::resource("/api/containers/watch").route(web::post().to(watch_all)));
    cfg.service(
        web::resource("/api/containers/{id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete)),
    );
    cfg.service(web::resource("/api/containers/{id}/triggers").route(web::get().to(triggers)));
    cfg.service(
        web::resource("/api/containers/{id}/triggers/{kind}/{name}")
            .route(web::post().to(run_trigger)),
    );
    cfg.service(
        web::resource("/api/containers/{id}/triggers/{kind}/{name}/{agent}")
            .route(web::post().to(run_trigger_agent)),
    );
    cfg.service(web::resource("/api/containers/{id}/watch").route(web::post().to(watch_one)));
    cfg.service(web::resource("/api/containers/{id}/update").route(web::post().to(update)));
    cfg.service(
        web::resource("/api/containers/{id}/update-policy").route(web::patch().to(update_policy)),
    );
    cfg.service(
        web::resource("/api/containers/{id}/vulnerabilities").route(web::get().to(vulnerabilities)),
    );
    cfg.service(web::resource("/api/containers/{id}/scan").route(web::post().to(scan)));
    cfg.service(web::resource("/api/containers/{id}/sbom").route(web::get().to(sbom)));
    cfg.service(web::resource("/api/containers/{id}/logs").route(web::get().to(logs)));
    cfg.service(web::resource("/api/containers/{id}/start").route(web::post().to(start)));
    cfg.service(web::resource("/api/containers/{id}/stop").route(web::post().to(stop)));
    cfg.service(web::resource("/api/containers/{id}/restart").route(web::post().to(restart)));
    cfg.service(web::resource("/api/containers/{id}/preview").route(web::post().to(preview)));
    cfg.service(web::resource("/api/containers/{id}/backups").route(web::get().to(backups)));
    cfg.service(web::resource("/api/containers/{id}/rollback").route(web::post().to(rollback)));
}

async fn find(state: &State, id: &str) -> ApiResult<Container> {
    state
        .store
        .container(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found("Container not found"))
}

/// Containers parked by an update in progress (`web-old-1700000000000`) are not listed: the
/// container under its own name is.
fn listed(mut containers: Vec<Container>) -> Vec<Container> {
    containers.retain(|c| !drydock_core::operation::is_parked_name(&c.name));
    containers
}

async fn list(request: actix_web::HttpRequest, state: State) -> ApiResult<HttpResponse> {
    let store = &state.store;
    let encoded = state
        .container_list
        .get(|| async { store.containers().await.map(listed) })
        .await
        .map_err(ApiError::store)?;
    let gzip = crate::list_cache::accepts_gzip(
        request
            .headers()
            .get(actix_web::http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/json")
        .insert_header((actix_web::http::header::VARY, "Accept-Encoding"));
    Ok(if gzip {
        response
            .insert_header((actix_web::http::header::CONTENT_ENCODING, "gzip"))
            .body(encoded.gzip.clone())
    } else {
        response.body(encoded.json.clone())
    })
}

async fn watch_all(state: State) -> ApiResult<HttpResponse> {
    let (containers, mut failed) = state.watch_all().await.map_err(ApiError::store)?;
    if !failed.is_empty() {
        // A watcher that could not list its engine's containers checked none of them: answering
        // the stored list with a 200 would pass the last results off as fresh.
        let message = failed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let status = ApiError::watch(failed.remove(0)).status;
        return Err(ApiError::new(status, format!("watch failed: {message}")));
    }
    Ok(HttpResponse::Ok().json(listed(containers)))
}

async fn get(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(find(&state, &id).await?))
}

async fn watch_one(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let watcher = state
        .watcher_of(&container)
        .ok_or_else(|| ApiError::not_found(format!("watcher {} not found", container.watcher)))?;
    match watcher.watch_one(&container.id).await {
        Ok(container) => Ok(HttpResponse::Ok().json(container)),
        Err(drydock_watch::WatchError::NotFound(_)) => {
            Err(ApiError::not_found("Container not found"))
        }
        Err(e) => Err(ApiError::watch(e)),
    }
}

async fn run_trigger_agent(
    state: State,
    path: web::Path<(String, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, kind, name, _agent) = path.into_inner();
    run_trigger(state, web::Path::from((id, kind, name))).await
}

async fn triggers(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let list: Vec<serde_json::Value> = state
        .notifications
        .applicable(&container)
        .map(|t| t.describe())
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

async fn run_trigger(
    state: State,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, kind, name) = path.into_inner();
    let container = find(&state, &id).await?;
    let trigger = state
        .notifications
        .find(&kind, &name)
        .ok_or_else(|| ApiError::not_found("Trigger not found"))?;
    super::delivered(state.notifications.send_now(trigger, container).await)
}

fn require_actions(state: &State) -> ApiResult<()> {
    if state.config.feature_container_actions {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Container actions are disabled (DD_SERVER_FEATURE_CONTAINERACTIONS=false)",
        ))
    }
}

/// The Docker action trigger that updates a container; 404 as the seed says when none is
/// configured for its watcher.
fn updater<'a>(state: &'a State, container: &Container) -> ApiResult<&'a std::sync::Arc<Updater>> {
    state.updaters.for_container(container).ok_or_else(|| {
        ApiError::not_found(format!(
            "Docker trigger not found for watcher {}: configure DD_ACTION_DOCKER_{{NAME}}_* to enable updates",
            container.watcher
        ))
    })
}

/// The API answer for a failed update or rollback.
fn update_error(error: UpdateError) -> ApiError {
    match error {
        UpdateError::NotFound { .. } => ApiError::not_found("Container not found"),
        UpdateError::NothingToDo { .. } => {
            ApiError::bad_request("No update available for this container")
        }
        UpdateError::NoBackup { .. } => ApiError::not_found(error.to_string()),
        UpdateError::Busy { .. } | UpdateError::Refused { .. } => {
            ApiError::new(StatusCode::CONFLICT, error.to_string())
        }
        UpdateError::ShuttingDown { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
        UpdateError::Store(e) => ApiError::store(e),
        other => ApiError::internal(other),
    }
}

/// After a recreation: forget the old container's record and watch the new one, so the answer
/// shows the container as it is now.
async fn refreshed(state: &State, old: &Container, new_id: &str) -> ApiResult<Container> {
    let watcher = state
        .watcher_of(old)
        .ok_or_else(|| ApiError::not_found(format!("watcher {} not found", old.watcher)))?;
    if new_id != old.id {
        state
            .store
            .remove_container(&old.id)
            .await
            .map_err(ApiError::store)?;
    }
    watcher.watch_one(new_id).await.map_err(ApiError::watch)
}

async fn update(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    require_actions(&state)?;
    if !container.update_available && !container.update_kind.is_update() {
        return Err(ApiError::bad_request(
            "No update available for this container",
        ));
    }
    let updater = updater(&state, &container)?;
    let outcome = updater
        .update(&container, "api")
        .await
        .map_err(update_error)?;
    let updated = refreshed(&state, &container, &outcome.container_id).await?;
    Ok(HttpResponse::Ok().json(updated))
}

async fn preview(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let updater = updater(&state, &container)?;
    let preview = updater.preview(&container).await.map_err(update_error)?;
    Ok(HttpResponse::Ok().json(json!({
        "containerName": preview.container_name,
        "currentImage": preview.current_image,
        "newImage": preview.new_image,
        "updateKind": container.update_kind,
        "isRunning": preview.is_running,
        "networks": preview.networks,
        "pull": preview.pull,
        "hooks": preview.hooks,
        "configuration": preview.settings,
    })))
}

async fn backups(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let backups = drydock_actions::backups_of(state.store.as_ref(), &container.name)
        .await
        .map_err(ApiError::store)?;
    Ok(HttpResponse::Ok().json(backups))
}

/// The body of `POST /rollback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RollbackBody {
    backup_id: Option<String>,
}

async fn rollback(
    state: State,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    require_actions(&state)?;
    let backup_id = read_rollback_body(&body)?;
    let updater = updater(&state, &container)?;
    let outcome = updater
        .rollback(&container.id, backup_id.as_deref(), "api")
        .await
        .map_err(update_error)?;
    let restored = refreshed(&state, &container, &outcome.container_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("Container {} rolled back to {}", container.name, outcome.operation.to_image),
        "backup": outcome.backup,
        "result": restored,
    })))
}

/// The body of `PATCH /update-policy`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyBody {
    action: Option<String>,
    days: Option<serde_json::Value>,
    snooze_until: Option<String>,
}

impl PolicyBody {
    /// The change this body names, or a 400 naming what is wrong with it.
    fn change(self) -> ApiResult<PolicyChange> {
        let action = self.action.ok_or_else(|| {
            ApiError::bad_request(
                "action is required: skip-current, clear-skips, snooze, unsnooze or clear",
            )
        })?;
        Ok(match action.as_str() {
            "skip-current" => PolicyChange::SkipCurrent,
            "clear-skips" => PolicyChange::ClearSkips,
            "unsnooze" => PolicyChange::Unsnooze,
            "clear" => PolicyChange::Clear,
            "snooze" => match (self.days, self.snooze_until) {
                (Some(days), None) => {
                    // JSON has one number type: `7.0` is as whole a number as `7`.
                    let days = days
                        .as_u64()
                        .or_else(|| {
                            days.as_f64()
                                .filter(|d| {
                                    d.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(d)
                                })
                                .map(|d| d as u64)
                        })
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| {
                            ApiError::bad_request("days must be a whole number of days")
                        })?;
                    PolicyChange::SnoozeDays(days)
                }
                (None, Some(until)) => {
                    PolicyChange::SnoozeUntil(until.parse::<DateTime<Utc>>().map_err(|_| {
                        ApiError::bad_request("snoozeUntil must be an ISO 8601 date-time")
                    })?)
                }
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request("give days or snoozeUntil, not both"));
                }
                (None, None) => {
                    return Err(ApiError::bad_request("snooze needs days or snoozeUntil"));
                }
            },
            other => {
                return Err(ApiError::bad_request(format!(
                    "action `{other}` is not one of: skip-current, clear-skips, snooze, unsnooze, clear"
                )));
            }
        })
    }
}

/// A `PATCH /update-policy` body, as its handler reads it (and the API fuzz target with it): a
/// JSON content type, the JSON, then the change it names; anything wrong is a 400.
pub(crate) fn read_policy_body(content_type: Option<&str>, json: &[u8]) -> ApiResult<PolicyChange> {
    let essence = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if !essence.is_some_and(|t| t == "application/json" || t.ends_with("+json")) {
        return Err(ApiError::bad_request(
            "invalid JSON body: the content type is not application/json",
        ));
    }
    serde_json::from_slice::<PolicyBody>(json)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
        .change()
}

/// A `POST /rollback` body, as its handler reads it: the backup it names, or none for an empty
/// (or blank) body. A body that is there must say which backup: a malformed one is refused
/// rather than read as "the newest backup", which would restore another image than the one
/// asked for.
pub(crate) fn read_rollback_body(json: &[u8]) -> ApiResult<Option<String>> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<RollbackBody>(json)
        .map(|body| body.backup_id)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn update_policy(
    request: actix_web::HttpRequest,
    state: State,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let change = read_policy_body(content_type, &body)?;
    let watcher = state
        .watcher_of(&container)
        .ok_or_else(|| ApiError::not_found(format!("watcher {} not found", container.watcher)))?;
    match watcher.change_policy(&container, change).await {
        Ok(container) => Ok(HttpResponse::Ok().json(container)),
        Err(PolicyChangeError::Invalid(e)) => Err(ApiError::bad_request(e.to_string())),
        Err(PolicyChangeError::Store(e)) => Err(ApiError::store(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn vulnerabilities(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    find(&state, &id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "not-scanned",
        "summary": { "unknown": 0, "low": 0, "medium": 0, "high": 0, "critical": 0 },
        "vulnerabilities": [],
    })))
}

async fn scan(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    find(&state, &id).await?;
    Err(ApiError::bad_request(
        "Security scanner is not configured (DD_SECURITY_SCANNER)",
    ))
}

#[derive(Debug, Deserialize)]
struct SbomQuery {
    format: Option<String>,
}

async fn sbom(
    state: State,
    id: web::Path<String>,
    query: web::Query<SbomQuery>,
) -> ApiResult<HttpResponse> {
    find(&state, &id).await?;
    if let Some(format) = &query.format
        && !["spdx-json", "cyclonedx-json"].contains(&format.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "format `{format}` is not one of: spdx-json, cyclonedx-json"
        )));
    }
    Err(ApiError::bad_request(
        "Security scanner is not configured (DD_SECURITY_SCANNER)",
    ))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    tail: Option<String>,
    since: Option<String>,
    timestamps: Option<String>,
}

async fn logs(
    state: State,
    id: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    let tail = match query.tail.as_deref() {
        None => 100,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| *t <= 10_000)
            .ok_or_else(|| ApiError::bad_request("tail must be a whole number from 0 to 10000"))?,
    };
    let since = match query.since.as_deref() {
        None => None,
        // A time past the end of every log is valid: it selects nothing.
        Some(s) => Some(
            super::whole_number("since", s)
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
                .map_err(|_| ApiError::bad_request("since must be a Unix time in seconds"))?,
        )
        .filter(|s| *s > 0),
    };
    let timestamps = match query.timestamps.as_deref() {
        None => true,
        Some(t) => drydock_core::discovery::parse_bool(t)
            .ok_or_else(|| ApiError::bad_request("timestamps must be true or false"))?,
    };
    let watcher = state
        .watcher_of(&container)
        .ok_or_else(|| ApiError::not_found(format!("watcher {} not found", container.watcher)))?;
    let options = LogOptions {
        tail: Some(tail),
        since,
        timestamps,
    };
    match watcher
        .runtime()
        .container_logs(&container.id, &options)
        .await
    {
        Ok(logs) => Ok(HttpResponse::Ok().json(json!({ "logs": logs }))),
        Err(RuntimeError::NotFound { .. }) => Err(ApiError::not_found("Container not found")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

#[derive(Clone, Copy)]
enum Lifecycle {
    Start,
    Stop,
    Restart,
}

async fn lifecycle(state: State, id: String, op: Lifecycle) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    require_actions(&state)?;
    let watcher = state
        .watcher_of(&container)
        .ok_or_else(|| ApiError::not_found(format!("watcher {} not found", container.watcher)))?;
    let runtime = watcher.runtime();
    let timeout = Duration::from_secs(10);
    let (result, verb, action) = match op {
        Lifecycle::Start => (
            runtime.start_container(&container.id).await,
            "started",
            "container-start",
        ),
        Lifecycle::Stop => (
            runtime.stop_container(&container.id, timeout).await,
            "stopped",
            "container-stop",
        ),
        Lifecycle::Restart => (
            runtime.restart_container(&container.id, timeout).await,
            "restarted",
            "container-restart",
        ),
    };
    let (status, details) = match &result {
        Ok(()) => (AuditStatus::Success, None),
        Err(e) => (AuditStatus::Error, Some(e.to_string())),
    };
    state.audit(action, &container.name, status, details).await;
    match result {
        Ok(()) => {}
        Err(RuntimeError::NotFound { .. }) => {
            return Err(ApiError::not_found("Container not found"));
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    // Reflect the new state now rather than when the engine's event arrives.
    let mut refreshed = container.clone();
    if let Ok(spec) = runtime.inspect_container(&container.id).await {
        refreshed.status = spec.status;
        if refreshed != container {
            state
                .store
                .save_container(&refreshed)
                .await
                .map_err(ApiError::store)?;
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("Container {} {verb}", container.name),
        "result": refreshed,
    })))
}

async fn start(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    lifecycle(state, id.into_inner(), Lifecycle::Start).await
}

async fn stop(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    lifecycle(state, id.into_inner(), Lifecycle::Stop).await
}

async fn restart(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    lifecycle(state, id.into_inner(), Lifecycle::Restart).await
}

async fn delete(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let container = find(&state, &id).await?;
    if !state.config.feature_delete {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Deleting containers is disabled (DD_SERVER_FEATURE_DELETE=false)",
        ));
    }
    // Deleting forgets the container in drydock's store; the engine's container is untouched.
    state
        .store
        .remove_container(&container.id)
        .await
        .map_err(ApiError::store)?;
    state
        .audit(
            "container-removed",
            &container.name,
            AuditStatus::Info,
            None,
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
