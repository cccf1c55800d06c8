use std::future::poll_fn;
use std::time::Duration;

use super::Must;

use drydock_core::model::ContainerStatus;
use drydock_core::ports::{
    ContainerRuntime, EventStream, LogOptions, RuntimeError, RuntimeEvent, RuntimeEventKind,
};

/// A container a test started on the engine under test.
#[derive(Clone, Debug)]
pub struct RuntimeFixture {
    /// Its id.
    pub id: String,
    /// Its name (unique to the test).
    pub name: String,
    /// The image reference it was created with.
    pub image: String,
    /// A label it carries.
    pub label: (String, String),
    /// A line it wrote to its log.
    pub log_line: String,
}

/// How long the suite waits for an engine event.
const EVENT_WAIT: Duration = Duration::from_secs(10);

async fn next_event(stream: &mut EventStream) -> Option<Result<RuntimeEvent, RuntimeError>> {
    tokio::time::timeout(EVENT_WAIT, poll_fn(|cx| stream.as_mut().poll_next(cx)))
        .await
        .ok()
        .flatten()
}

/// Waits for an event of `kind` about container `id`, skipping others.
async fn expect_event(stream: &mut EventStream, kind: &RuntimeEventKind, id: &str) {
    loop {
        match next_event(stream).await {
            Some(Ok(event)) if &event.kind == kind && event.id == id => return,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("event stream failed while waiting for {kind:?}: {e}"),
            None => panic!("no {kind:?} event for {id} within {EVENT_WAIT:?}"),
        }
    }
}

/// Checks the [`ContainerRuntime`] contract against `runtime`, where the fixture container runs.
/// Leaves the container running under its original name.
///
/// # Panics
///
/// When the engine adapter breaks a promise of the port; the message names it.
pub async fn runtime_contract(runtime: &dyn ContainerRuntime, fixture: &RuntimeFixture) {
    let id = fixture.id.as_str();
    let timeout = Duration::from_secs(5);

    let listed = runtime.list_containers(true).await.must("list_containers");
    let Some(summary) = listed.iter().find(|c| c.id == id) else {
        panic!("list_containers(true) must list {id}");
    };
    assert_eq!(
        summary.name, fixture.name,
        "names are listed without a leading /"
    );
    assert_eq!(summary.status, ContainerStatus::Running);
    assert_eq!(
        summary.labels.get(&fixture.label.0),
        Some(&fixture.label.1),
        "labels are listed"
    );

    let spec = runtime
        .inspect_container(id)
        .await
        .must("inspect_container");
    assert_eq!(spec.id, id);
    assert_eq!(spec.name, fixture.name);
    assert_eq!(
        spec.image, fixture.image,
        "inspect gives the image the container was created with"
    );
    let by_name = runtime
        .inspect_container(&fixture.name)
        .await
        .must("inspect_container by name");
    assert_eq!(by_name.id, id, "containers can be inspected by name");

    let image = runtime
        .inspect_image(&summary.image_id)
        .await
        .must("inspect_image");
    assert_eq!(
        image.id, summary.image_id,
        "inspect_image by id gives that image"
    );

    let mut events = runtime.events().await.must("events");
    runtime
        .stop_container(id, timeout)
        .await
        .must("stop_container");
    expect_event(&mut events, &RuntimeEventKind::Stop, id).await;
    let spec = runtime
        .inspect_container(id)
        .await
        .must("inspect_container");
    assert_eq!(
        spec.status,
        ContainerStatus::Exited,
        "a stopped container is exited"
    );
    let running = runtime.list_containers(false).await.must("list_containers");
    assert!(
        running.iter().all(|c| c.id != id),
        "list_containers(false) omits stopped containers"
    );
    runtime
        .stop_container(id, timeout)
        .await
        .must("stopping a stopped container");

    runtime.start_container(id).await.must("start_container");
    expect_event(&mut events, &RuntimeEventKind::Start, id).await;
    let spec = runtime
        .inspect_container(id)
        .await
        .must("inspect_container");
    assert_eq!(spec.status, ContainerStatus::Running);

    let renamed = format!("{}-renamed", fixture.name);
    runtime
        .rename_container(id, &renamed)
        .await
        .must("rename_container");
    expect_event(&mut events, &RuntimeEventKind::Rename, id).await;
    assert_eq!(
        runtime
            .inspect_container(id)
            .await
            .must("inspect_container")
            .name,
        renamed
    );
    runtime
        .rename_container(id, &fixture.name)
        .await
        .must("rename back");

    let logs = runtime
        .container_logs(
            id,
            &LogOptions {
                tail: Some(100),
                since: None,
                timestamps: false,
            },
        )
        .await
        .must("container_logs");
    assert!(
        logs.contains(&fixture.log_line),
        "logs must contain {:?}, got {logs:?}",
        fixture.log_line
    );

    let missing = runtime
        .inspect_container("drydock-contract-no-such-container")
        .await;
    assert!(
        matches!(missing, Err(RuntimeError::NotFound { .. })),
        "an unknown container is NotFound, got {missing:?}"
    );
    let missing = runtime
        .start_container("drydock-contract-no-such-container")
        .await;
    assert!(
        matches!(missing, Err(RuntimeError::NotFound { .. })),
        "got {missing:?}"
    );
}
