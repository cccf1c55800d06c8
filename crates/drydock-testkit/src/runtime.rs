use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::ContainerStatus;
use drydock_core::ports::{
    ContainerRuntime, ContainerSpec, ContainerSummary, EventStream, Health, ImageDetails,
    LogOptions, RuntimeError, RuntimeEvent, RuntimeEventKind,
};
use futures_core::Stream;
use tokio::sync::mpsc;

use crate::lock;

/// A container engine held in memory.
///
/// Containers and images are added by the test; every change made through the port emits the
/// event a real engine would. [`FakeRuntime::disconnect`] simulates an engine restart: event
/// streams end and calls fail until [`FakeRuntime::reconnect`].
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    /// Images by id, and references → image id.
    images: HashMap<String, ImageDetails>,
    references: HashMap<String, String>,
    subscribers: Vec<mpsc::UnboundedSender<Result<RuntimeEvent, RuntimeError>>>,
    pulls: Vec<String>,
    next_id: u64,
    down: bool,
    /// Calls that fail, by call name, with how many more times.
    failures: HashMap<&'static str, u32>,
    /// The health a container created from this image reference reports once started.
    image_health: HashMap<String, Health>,
}

#[derive(Debug, Clone)]
struct FakeContainer {
    spec: ContainerSpec,
    image_id: String,
    logs: Vec<String>,
}

impl FakeRuntime {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a local image, reachable by its id and by each of its `repo_tags`.
    pub fn add_image(&self, image: ImageDetails) {
        let mut state = lock(&self.state);
        for reference in &image.repo_tags {
            state.references.insert(reference.clone(), image.id.clone());
        }
        state.images.insert(image.id.clone(), image);
    }

    /// Adds a container running `image` (a reference added with [`Self::add_image`], or any text)
    /// and returns its id. Emits a `create` and, when running, a `start` event.
    pub fn add_container(
        &self,
        name: &str,
        image: &str,
        labels: BTreeMap<String, String>,
        status: ContainerStatus,
    ) -> String {
        let mut state = lock(&self.state);
        let id = state.new_id();
        let image_id = state.references.get(image).cloned().unwrap_or_default();
        let spec = ContainerSpec {
            id: id.clone(),
            name: name.to_owned(),
            image: image.to_owned(),
            status,
            labels,
            image_id: image_id.clone(),
            health: None,
            auto_remove: false,
            document: String::new(),
        };
        state.containers.insert(
            id.clone(),
            FakeContainer {
                spec,
                image_id,
                logs: Vec::new(),
            },
        );
        state.emit(RuntimeEventKind::Create, &id, Some(name));
        if status == ContainerStatus::Running {
            state.emit(RuntimeEventKind::Start, &id, Some(name));
        }
        id
    }

    /// Appends lines to a container's log.
    pub fn write_logs(&self, id: &str, lines: &[&str]) {
        if let Some(c) = lock(&self.state).containers.get_mut(id) {
            c.logs.extend(lines.iter().map(|l| (*l).to_owned()));
        }
    }

    /// Sends an event to every subscriber, as if the engine had.
    pub fn emit(&self, kind: RuntimeEventKind, id: &str, name: Option<&str>) {
        lock(&self.state).emit(kind, id, name);
    }

    /// The engine goes away: event streams end and every call fails until [`Self::reconnect`].
    pub fn disconnect(&self) {
        let mut state = lock(&self.state);
        state.down = true;
        state.subscribers.clear();
    }

    /// The engine is back.
    pub fn reconnect(&self) {
        lock(&self.state).down = false;
    }

    /// Makes the next `times` calls of `call` fail as the engine would refuse them. `call` is the
    /// port method's name without its type (`pull_image`, `create_container`, `start_container`,
    /// `stop_container`, `remove_container`, `rename_container`, `tag_image`).
    pub fn fail(&self, call: &'static str, times: u32) {
        lock(&self.state).failures.insert(call, times);
    }

    /// Containers created from `image` from now on report `health` once started.
    pub fn set_image_health(&self, image: &str, health: Health) {
        lock(&self.state)
            .image_health
            .insert(image.to_owned(), health);
    }

    /// Sets a container's document, which [`ContainerRuntime::container_settings`] reports and a
    /// recreation carries over.
    pub fn set_document(&self, id: &str, document: &str) {
        if let Some(c) = lock(&self.state).containers.get_mut(id) {
            c.spec.document = document.to_owned();
        }
    }

    /// The references pulled so far, in order.
    pub fn pulls(&self) -> Vec<String> {
        lock(&self.state).pulls.clone()
    }

    /// The names of the containers, in id order.
    pub fn container_names(&self) -> Vec<String> {
        lock(&self.state)
            .containers
            .values()
            .map(|c| c.spec.name.clone())
            .collect()
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", self.next_id)
    }

    fn emit(&mut self, kind: RuntimeEventKind, id: &str, name: Option<&str>) {
        let event = RuntimeEvent {
            kind,
            id: id.to_owned(),
            name: name.map(str::to_owned),
            time: None,
        };
        self.subscribers
            .retain(|subscriber| subscriber.send(Ok(event.clone())).is_ok());
    }

    /// Fails when a failure of `call` was requested with [`FakeRuntime::fail`].
    fn injected(&mut self, call: &'static str) -> Result<(), RuntimeError> {
        self.up()?;
        match self.failures.get_mut(call) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(RuntimeError::Rejected {
                    call: call.to_owned(),
                    reason: "injected failure".into(),
                })
            }
            _ => Ok(()),
        }
    }

    fn up(&self) -> Result<(), RuntimeError> {
        if self.down {
            Err(RuntimeError::Unavailable {
                reason: "engine disconnected".into(),
            })
        } else {
            Ok(())
        }
    }

    /// Finds a container by id, id prefix or name.
    fn find(&self, key: &str) -> Result<String, RuntimeError> {
        self.up()?;
        if self.containers.contains_key(key) {
            return Ok(key.to_owned());
        }
        self.containers
            .iter()
            .find(|(id, c)| c.spec.name == key || (key.len() >= 12 && id.starts_with(key)))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("container {key}"),
            })
    }

    fn set_status(&mut self, id: &str, status: ContainerStatus, kind: RuntimeEventKind) {
        if let Some(c) = self.containers.get_mut(id) {
            c.spec.status = status;
            let name = c.spec.name.clone();
            self.emit(kind, id, Some(&name));
        }
    }
}

struct Events(mpsc::UnboundedReceiver<Result<RuntimeEvent, RuntimeError>>);

impl Stream for Events {
    type Item = Result<RuntimeEvent, RuntimeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn list_containers(
        &self,
        include_stopped: bool,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let state = lock(&self.state);
        state.up()?;
        Ok(state
            .containers
            .values()
            .filter(|c| include_stopped || c.spec.status == ContainerStatus::Running)
            .map(|c| ContainerSummary {
                id: c.spec.id.clone(),
                name: c.spec.name.clone(),
                image: c.spec.image.clone(),
                image_id: c.image_id.clone(),
                labels: c.spec.labels.clone(),
                status: c.spec.status,
            })
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerSpec, RuntimeError> {
        let state = lock(&self.state);
        let id = state.find(id)?;
        Ok(state.containers[&id].spec.clone())
    }

    async fn inspect_image(&self, image: &str) -> Result<ImageDetails, RuntimeError> {
        let state = lock(&self.state);
        state.up()?;
        let id = state.references.get(image).map_or(image, String::as_str);
        state
            .images
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("image {image}"),
            })
    }

    async fn events(&self) -> Result<EventStream, RuntimeError> {
        let mut state = lock(&self.state);
        state.up()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        state.subscribers.push(sender);
        Ok(Box::pin(Events(receiver)))
    }

    async fn pull_image(
        &self,
        image: &ImageReference,
        _registry_auth: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("pull_image")?;
        let reference = image.to_string();
        state.pulls.push(reference.clone());
        if !state.references.contains_key(&reference) {
            let id = format!("sha256:{:064x}", state.pulls.len());
            let details = ImageDetails {
                id: id.clone(),
                repo_tags: vec![reference.clone()],
                ..ImageDetails::default()
            };
            state.references.insert(reference, id.clone());
            state.images.insert(id.clone(), details);
            state.emit(RuntimeEventKind::ImagePull, &id, None);
        }
        Ok(())
    }

    async fn tag_image(&self, source: &str, target: &ImageReference) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("tag_image")?;
        let id = state
            .references
            .get(source)
            .cloned()
            .or_else(|| state.images.contains_key(source).then(|| source.to_owned()))
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("image {source}"),
            })?;
        let target = target.to_string();
        state.references.insert(target.clone(), id.clone());
        if let Some(image) = state.images.get_mut(&id) {
            image.repo_tags.push(target);
        }
        state.emit(RuntimeEventKind::ImageTag, &id, None);
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.up()?;
        match state.references.remove(image) {
            Some(_) => Ok(()),
            None => Err(RuntimeError::NotFound {
                what: format!("image {image}"),
            }),
        }
    }

    async fn create_container(
        &self,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("create_container")?;
        if state.containers.values().any(|c| c.spec.name == name) {
            return Err(RuntimeError::Conflict {
                what: format!("container name {name} is already in use"),
            });
        }
        let id = state.new_id();
        let image_id = state
            .references
            .get(&spec.image)
            .cloned()
            .unwrap_or_default();
        let spec = ContainerSpec {
            id: id.clone(),
            name: name.to_owned(),
            status: ContainerStatus::Created,
            image_id: image_id.clone(),
            health: None,
            ..spec.clone()
        };
        state.containers.insert(
            id.clone(),
            FakeContainer {
                spec,
                image_id,
                logs: Vec::new(),
            },
        );
        state.emit(RuntimeEventKind::Create, &id, Some(name));
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("start_container")?;
        let id = state.find(id)?;
        let health = state
            .containers
            .get(&id)
            .and_then(|c| state.image_health.get(&c.spec.image).copied());
        if let (Some(c), Some(health)) = (state.containers.get_mut(&id), health) {
            c.spec.health = Some(health);
        }
        state.set_status(&id, ContainerStatus::Running, RuntimeEventKind::Start);
        Ok(())
    }

    async fn stop_container(&self, id: &str, _timeout: Duration) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("stop_container")?;
        let id = state.find(id)?;
        state.set_status(&id, ContainerStatus::Exited, RuntimeEventKind::Stop);
        Ok(())
    }

    async fn restart_container(&self, id: &str, _timeout: Duration) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        let id = state.find(id)?;
        state.set_status(&id, ContainerStatus::Exited, RuntimeEventKind::Stop);
        state.set_status(&id, ContainerStatus::Running, RuntimeEventKind::Start);
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("remove_container")?;
        let id = state.find(id)?;
        if !force && state.containers[&id].spec.status == ContainerStatus::Running {
            return Err(RuntimeError::Conflict {
                what: format!("container {id} is running; stop it or force the removal"),
            });
        }
        if let Some(c) = state.containers.remove(&id) {
            state.emit(RuntimeEventKind::Destroy, &id, Some(&c.spec.name));
        }
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), RuntimeError> {
        let mut state = lock(&self.state);
        state.injected("rename_container")?;
        let id = state.find(id)?;
        if state
            .containers
            .iter()
            .any(|(other, c)| *other != id && c.spec.name == new_name)
        {
            return Err(RuntimeError::Conflict {
                what: format!("container name {new_name} is already in use"),
            });
        }
        if let Some(c) = state.containers.get_mut(&id) {
            c.spec.name = new_name.to_owned();
        }
        state.emit(RuntimeEventKind::Rename, &id, Some(new_name));
        Ok(())
    }

    async fn container_logs(&self, id: &str, options: &LogOptions) -> Result<String, RuntimeError> {
        let state = lock(&self.state);
        let id = state.find(id)?;
        let logs = &state.containers[&id].logs;
        let skip = options
            .tail
            .map_or(0, |tail| logs.len().saturating_sub(tail as usize));
        let mut out = String::new();
        for line in &logs[skip..] {
            out.push_str(line);
            out.push('\n');
        }
        Ok(out)
    }

    /// The labels and the document, which is all a fake container is configured with.
    async fn container_settings(&self, id: &str) -> Result<BTreeMap<String, String>, RuntimeError> {
        let state = lock(&self.state);
        let id = state.find(id)?;
        let spec = &state.containers[&id].spec;
        let mut settings: BTreeMap<String, String> = spec
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != drydock_core::operation::OPERATION_LABEL)
            .map(|(k, v)| (format!("Config.Labels.{k}"), v.clone()))
            .collect();
        settings.insert("Document".into(), spec.document.clone());
        Ok(settings)
    }
}
