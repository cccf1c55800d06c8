//! `GET /api/events`: server-sent events of what watches change.

use actix_web::{HttpResponse, web};
use drydock_core::event::WatchEvent;
use futures_util::stream;
use tokio::sync::broadcast;

use super::State;

/// Told to a client that missed events: it re-reads the list.
const RESYNC: &str = "event: dd:resync-required\ndata: {}\n\n";

fn event_frame(event: &WatchEvent) -> String {
    let (name, container) = match event {
        WatchEvent::Missed { .. } => return RESYNC.to_owned(),
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
pub(super) async fn events(state: State) -> HttpResponse {
    let receiver = state.events.subscribe();
    let body = stream::unfold(receiver, |mut receiver| async move {
        let frame =
            match tokio::time::timeout(std::time::Duration::from_secs(15), receiver.recv()).await {
                Ok(Ok(event)) => event_frame(&event),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => RESYNC.to_owned(),
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
