//! The server's own routes: health, identity, components, metrics, events, OpenAPI.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use actix_web::{HttpResponse, web};
use drydock_core::model::{Container, UpdateLevel};
use drydock_watch::WatchEvent;
use futures_util::stream;
use serde_json::json;
use tokio::sync::broadcast;

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
    cfg.service(web::resource("/api/events").route(web::get().to(events)));
    cfg.service(web::resource("/api/openapi.json").route(web::get().to(openapi)));
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
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
    Ok(HttpResponse::Ok().json(json!({ "data": ops, "total": ops.len(), "active": active })))
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
    let containers = state.store.containers().await.map_err(ApiError::store)?;
    let body = match state.config.compat {
        drydock_triggers::Compat::Drydock => render_metrics(&state, &containers),
        drydock_triggers::Compat::Wud => {
            let watchers: Vec<&str> = state
                .watchers
                .iter()
                .map(|w| w.settings().name.as_str())
                .collect();
            let triggers: Vec<TriggerCounts<'_>> = state
                .config
                .triggers
                .iter()
                .map(|t| TriggerCounts {
                    kind: &t.settings.id.kind,
                    name: &t.settings.id.name,
                    success: t.delivered.load(std::sync::atomic::Ordering::Relaxed),
                    error: t.failed.load(std::sync::atomic::Ordering::Relaxed),
                })
                .collect();
            render_wud_metrics(&containers, &watchers, &state.registry.stats(), &triggers)
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// The label names of What's Up Docker's `wud_containers`, exactly (WUD 8.3.1).
const WUD_CONTAINER_LABELS: [&str; 37] = [
    "display_icon",
    "display_name",
    "error_message",
    "exclude_tags",
    "id",
    "image_architecture",
    "image_created",
    "image_digest_repo",
    "image_digest_value",
    "image_digest_watch",
    "image_id",
    "image_name",
    "image_os",
    "image_registry_name",
    "image_registry_url",
    "image_tag_semver",
    "image_tag_value",
    "image_variant",
    "include_tags",
    "labels",
    "link_template",
    "link",
    "name",
    "result_created",
    "result_digest",
    "result_link",
    "result_tag",
    "status",
    "transform_tags",
    "trigger_exclude",
    "trigger_include",
    "update_available",
    "update_kind_kind",
    "update_kind_local_value",
    "update_kind_remote_value",
    "update_kind_semver_diff",
    "watcher",
];

/// One trigger's deliveries, for `wud_trigger_count`.
#[derive(Debug)]
struct TriggerCounts<'a> {
    kind: &'a str,
    name: &'a str,
    success: u64,
    error: u64,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A container's `wud_containers` labels: the flattened container as WUD flattens it, every one
/// of the 37 names (absent ones empty, which Prometheus reads as absent).
fn wud_container_labels(container: &Container) -> Vec<(&'static str, String)> {
    let flat = serde_json::to_value(container)
        .map(|v| drydock_triggers::flatten_container(&v))
        .unwrap_or_default();
    WUD_CONTAINER_LABELS
        .iter()
        .map(|name| {
            let value = match flat.get(*name) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (*name, value)
        })
        .collect()
}

/// `/metrics` with What's Up Docker's names (`DD_COMPAT=wud`), for its Grafana dashboard and
/// alert rules.
fn render_wud_metrics(
    containers: &[Container],
    watchers: &[&str],
    registries: &[drydock_registry::EndpointStats],
    triggers: &[TriggerCounts<'_>],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP wud_containers The watched containers");
    let _ = writeln!(out, "# TYPE wud_containers gauge");
    for container in containers {
        let labels: Vec<String> = wud_container_labels(container)
            .into_iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(&v)))
            .collect();
        let _ = writeln!(out, "wud_containers{{{}}} 1", labels.join(","));
    }
    let _ = writeln!(
        out,
        "# HELP wud_watcher_total The number of watched containers"
    );
    let _ = writeln!(out, "# TYPE wud_watcher_total gauge");
    for watcher in watchers {
        let count = containers.iter().filter(|c| c.watcher == *watcher).count();
        let _ = writeln!(
            out,
            "wud_watcher_total{{type=\"docker\",name=\"{}\"}} {count}",
            escape_label(watcher)
        );
    }
    // One series per provider (`hub.public` is type hub, name public), however many endpoints.
    let mut by_provider: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in registries {
        let entry = by_provider.entry(s.provider.as_str()).or_default();
        entry.0 += s.tag_lookups;
        entry.1 += s.tag_lookup_micros;
    }
    let _ = writeln!(
        out,
        "# HELP wud_registry_response The Registry response time (in second)"
    );
    let _ = writeln!(out, "# TYPE wud_registry_response summary");
    for (provider, (count, micros)) in &by_provider {
        let (kind, name) = provider.split_once('.').unwrap_or((provider, ""));
        let labels = format!(
            "type=\"{}\",name=\"{}\"",
            escape_label(kind),
            escape_label(name)
        );
        let seconds = *micros as f64 / 1_000_000.0;
        let _ = writeln!(out, "wud_registry_response_sum{{{labels}}} {seconds}");
        let _ = writeln!(out, "wud_registry_response_count{{{labels}}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP wud_trigger_count Total count of trigger events"
    );
    let _ = writeln!(out, "# TYPE wud_trigger_count counter");
    for t in triggers {
        for (status, value) in [("success", t.success), ("error", t.error)] {
            let _ = writeln!(
                out,
                "wud_trigger_count{{type=\"{}\",name=\"{}\",status=\"{status}\"}} {value}",
                escape_label(t.kind),
                escape_label(t.name)
            );
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The label names as clients.md §4 lists them for WUD 8.3.1.
    const WUD_LABELS_AS_DOCUMENTED: &str = "display_icon, display_name, error_message, exclude_tags, id, \
        image_architecture, image_created, image_digest_repo, image_digest_value, image_digest_watch, image_id, image_name, image_os, \
        image_registry_name, image_registry_url, image_tag_semver, image_tag_value, image_variant, include_tags, labels, \
        link_template, link, name, result_created, result_digest, result_link, result_tag, status, transform_tags, trigger_exclude, \
        trigger_include, update_available, update_kind_kind, update_kind_local_value, update_kind_remote_value, \
        update_kind_semver_diff, watcher";

    fn labels_of(line: &str) -> Vec<(String, String)> {
        let inner = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
        inner
            .split("\",")
            .map(|pair| {
                let (k, v) = pair.split_once("=\"").unwrap();
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .collect()
    }

    #[test]
    fn wud_metrics_carry_whats_up_dockers_names_and_labels() {
        let mut container = crate::triggers::sample_container();
        container
            .labels
            .insert("com.example.team".into(), "ops".into());
        let stats = [
            drydock_registry::EndpointStats {
                provider: "hub.public".into(),
                endpoint: "https://registry-1.docker.io/".into(),
                tag_lookups: 2,
                tag_lookup_micros: 1_500_000,
                ..drydock_registry::EndpointStats::default()
            },
            drydock_registry::EndpointStats {
                provider: "hub.public".into(),
                endpoint: "https://mirror.example/".into(),
                tag_lookups: 1,
                tag_lookup_micros: 500_000,
                ..drydock_registry::EndpointStats::default()
            },
        ];
        let triggers = [TriggerCounts {
            kind: "ntfy",
            name: "one",
            success: 3,
            error: 1,
        }];
        let text = render_wud_metrics(&[container], &["local"], &stats, &triggers);

        let line = text
            .lines()
            .find(|l| l.starts_with("wud_containers{"))
            .unwrap();
        assert!(line.ends_with("} 1"), "{line}");
        let labels = labels_of(line);
        let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        let documented: Vec<&str> = WUD_LABELS_AS_DOCUMENTED.split(", ").collect();
        assert_eq!(documented.len(), 37);
        assert_eq!(names, documented, "exactly WUD's label names, no labels_*");
        let value = |name: &str| {
            labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(value("name"), "drydock-test");
        assert_eq!(value("watcher"), "local");
        assert_eq!(value("image_name"), "drydock/test");
        assert_eq!(value("image_tag_value"), "1.0.0");
        assert_eq!(value("image_tag_semver"), "true");
        assert_eq!(value("result_tag"), "1.1.0");
        assert_eq!(value("update_available"), "true");
        assert_eq!(value("update_kind_kind"), "tag");
        assert_eq!(value("update_kind_semver_diff"), "minor");
        assert_eq!(value("update_kind_remote_value"), "1.1.0");

        assert!(text.contains("# TYPE wud_watcher_total gauge\n"));
        assert!(text.contains("wud_watcher_total{type=\"docker\",name=\"local\"} 1\n"));
        assert!(text.contains("# TYPE wud_registry_response summary\n"));
        assert!(
            text.contains("wud_registry_response_sum{type=\"hub\",name=\"public\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("wud_registry_response_count{type=\"hub\",name=\"public\"} 3\n"));
        assert!(text.contains("# TYPE wud_trigger_count counter\n"));
        assert!(
            text.contains("wud_trigger_count{type=\"ntfy\",name=\"one\",status=\"success\"} 3\n")
        );
        assert!(
            text.contains("wud_trigger_count{type=\"ntfy\",name=\"one\",status=\"error\"} 1\n")
        );
        assert!(
            !text.lines().any(|l| l.starts_with("dd_")),
            "only WUD's names: {text}"
        );
    }
}
