//! [`DockerRuntime`]: the [`ContainerRuntime`] port on bollard.

use std::collections::{BTreeMap, HashMap};
use std::future::poll_fn;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::errors::Error;
use bollard::models::{ImageConfig, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, RenameContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use chrono::{DateTime, Utc};
use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{
    ContainerRuntime, ContainerSpec, ContainerSummary, EventStream, ImageDetails, LogOptions,
    RuntimeError,
};
use futures_core::Stream;

use crate::config::{ConnectionConfig, DEFAULT_SOCKET, Protocol};
use crate::convert;
use crate::error::{Call, is_transport};
use crate::events::Events;
use crate::recreate;

/// The most log text [`ContainerRuntime::container_logs`] returns: 16 MiB.
pub const LOG_LIMIT: usize = 16 * 1024 * 1024;

/// What bollard reads when a TLS file is not configured: no certificates at all.
const NO_FILE: &str = "/dev/null";

/// A Docker Engine API connection (Docker, or Podman's Docker-compatible socket).
///
/// Cheap to clone: clones share the connection settings and the negotiated API version.
/// Every call is bounded by [`ConnectionConfig::timeout`] until the engine starts answering.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
    timeout: Duration,
}

/// Reads the next item of a stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Whole seconds, rounded up, at least one (bollard's timeouts are in seconds).
fn whole_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
        .max(1)
}

/// A stop timeout as the engine's `t` parameter.
fn stop_seconds(timeout: Duration) -> i32 {
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0));
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// The `since` parameter of the events API: seconds and nanoseconds.
fn since(time: DateTime<Utc>) -> String {
    format!("{}.{:09}", time.timestamp(), time.timestamp_subsec_nanos())
}

fn path_str<'a>(path: &'a Path, what: &str) -> Result<&'a str, RuntimeError> {
    path.to_str().ok_or_else(|| RuntimeError::Unavailable {
        reason: format!("the {what} path {} is not valid UTF-8", path.display()),
    })
}

/// A configured TLS file, or one that holds nothing.
fn tls_file(path: Option<&Path>) -> &Path {
    path.unwrap_or_else(|| Path::new(NO_FILE))
}

impl DockerRuntime {
    /// Prepares a connection to the engine `config` describes. Nothing is sent yet: call
    /// [`Self::negotiate`] before the first call (or use [`Self::open`]).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Unavailable`] when the socket does not exist or a TLS file cannot be read.
    pub fn connect(config: &ConnectionConfig) -> Result<Self, RuntimeError> {
        let secs = whole_seconds(config.timeout);
        let call = Call {
            call: "connect",
            what: "engine".into(),
            timeout: config.timeout,
        };
        let docker = match config.address() {
            Some(address) => match config.protocol {
                Protocol::Http => Docker::connect_with_http(&address, secs, API_DEFAULT_VERSION),
                Protocol::Https => {
                    // bollard's TLS needs a process-wide rustls provider; the first one installed
                    // stays, so this is a no-op when the application installed its own.
                    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                    Docker::connect_with_ssl(
                        &address,
                        tls_file(config.key_file.as_deref()),
                        tls_file(config.cert_file.as_deref()),
                        tls_file(config.ca_file.as_deref()),
                        secs,
                        API_DEFAULT_VERSION,
                    )
                }
            },
            None => {
                let socket = config
                    .socket
                    .as_deref()
                    .unwrap_or_else(|| Path::new(DEFAULT_SOCKET));
                Docker::connect_with_socket(path_str(socket, "socket")?, secs, API_DEFAULT_VERSION)
            }
        }
        .map_err(|error| match error {
            Error::SocketNotFoundError(path) => RuntimeError::Unavailable {
                reason: format!("no engine socket at {path}"),
            },
            other if is_transport(&other) => call.error(other),
            other => RuntimeError::Unavailable {
                reason: format!("cannot set up the connection: {other}"),
            },
        })?;
        Ok(Self {
            docker,
            timeout: Duration::from_secs(secs),
        })
    }

    /// [`Self::connect`], then [`Self::negotiate`].
    ///
    /// # Errors
    ///
    /// As those two.
    pub async fn open(config: &ConnectionConfig) -> Result<Self, RuntimeError> {
        let runtime = Self::connect(config)?;
        runtime.negotiate().await?;
        Ok(runtime)
    }

    /// Asks the engine for its API version and lowers the client's to it when older, so one
    /// build talks to Docker 20.10 (API 1.41), current engines and Podman alike.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Unavailable`] or [`RuntimeError::Timeout`] when the engine does not
    /// answer; [`RuntimeError::Rejected`] when it answers without a usable version.
    pub async fn negotiate(&self) -> Result<(), RuntimeError> {
        // Clones share the version, so negotiating one negotiates all.
        self.docker
            .clone()
            .negotiate_version()
            .await
            .map(drop)
            .map_err(|e| self.call("negotiate API version", "engine").error(e))
    }

    /// The API version the client uses (`1.41` after negotiating with Docker 20.10).
    pub fn api_version(&self) -> String {
        let version = self.docker.client_version();
        format!("{}.{}", version.major_version, version.minor_version)
    }

    /// Checks that the engine answers.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Unavailable`] or [`RuntimeError::Timeout`] when it does not.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| self.call("ping", "engine").error(e))
    }

    fn call(&self, call: &'static str, what: impl Into<String>) -> Call<'static> {
        Call {
            call,
            what: what.into(),
            timeout: self.timeout,
        }
    }

    /// The engine's clock, as the `since` of an event subscription. Falls back to this host's
    /// clock less a second when the engine will not say (a socket proxy may forbid `/info`).
    async fn engine_now(&self) -> Result<String, RuntimeError> {
        let engine_time = match self.docker.info().await {
            Ok(info) => info.system_time.as_deref().and_then(convert::timestamp),
            Err(error) if is_transport(&error) => {
                return Err(self.call("subscribe to events", "engine").error(error));
            }
            Err(_) => None,
        };
        Ok(engine_time.map_or_else(
            || {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .saturating_sub(Duration::from_secs(1));
                format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
            },
            since,
        ))
    }

    /// Calls that wait for a container to stop need the stop timeout on top of the usual one.
    /// The configuration an image gives its containers; `None` when the image is gone.
    async fn image_config(&self, image: &str) -> Result<Option<ImageConfig>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(inspect.config.unwrap_or_default())),
            Err(Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self
                .call("inspect image", format!("image {image}"))
                .error(e)),
        }
    }

    fn with_stop_timeout(&self, timeout: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(self.timeout.saturating_add(timeout))
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn list_containers(
        &self,
        include_stopped: bool,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let options = ListContainersOptionsBuilder::new()
            .all(include_stopped)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.call("list containers", "containers").error(e))?;
        Ok(containers
            .into_iter()
            .filter_map(convert::summary)
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerSpec, RuntimeError> {
        let call = self.call("inspect container", format!("container {id}"));
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| call.error(e))?;
        let document = serde_json::to_string(&inspect).map_err(|e| RuntimeError::Rejected {
            call: format!("inspect container {id}"),
            reason: format!("cannot keep the inspect document: {e}"),
        })?;
        Ok(convert::spec(&inspect, document))
    }

    async fn inspect_image(&self, image: &str) -> Result<ImageDetails, RuntimeError> {
        let inspect = self.docker.inspect_image(image).await.map_err(|e| {
            self.call("inspect image", format!("image {image}"))
                .error(e)
        })?;
        Ok(convert::image_details(inspect))
    }

    /// Container events (`create`, `start`, `restart`, `stop`, `die`, `destroy`, `rename`,
    /// `pause`, `unpause`, `update`, `health_status`) and image `tag` and `pull` events, from the
    /// moment of the call on the engine's clock: events the engine emits while the subscription
    /// is being set up are replayed, not lost.
    async fn events(&self) -> Result<EventStream, RuntimeError> {
        let since = self.engine_now().await?;
        let filters = HashMap::from([
            ("type", vec!["container", "image"]),
            (
                "event",
                [convert::CONTAINER_ACTIONS, convert::IMAGE_ACTIONS].concat(),
            ),
        ]);
        let options = EventsOptionsBuilder::new()
            .since(&since)
            .filters(&filters)
            .build();
        let stream = self.docker.events(Some(options));
        Ok(Box::pin(Events::new(
            Box::pin(stream),
            self.call("events", "engine"),
        )))
    }

    /// Pulls `image`: by digest when the reference has one, else by tag (`latest` when none).
    ///
    /// `registry_auth` is the `X-Registry-Auth` value Docker defines: the base64 (or base64url)
    /// encoding of a JSON credential such as `{"username":"…","password":"…","serveraddress":"…"}`
    /// or `{"identitytoken":"…"}`. It is decoded and handed to bollard, which encodes it again.
    async fn pull_image(
        &self,
        image: &ImageReference,
        registry_auth: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let reference = convert::pull_reference(image);
        let credentials = match registry_auth.map(str::trim).filter(|a| !a.is_empty()) {
            Some(auth) => {
                Some(
                    convert::credentials(auth).map_err(|reason| RuntimeError::Rejected {
                        call: format!("pull {reference}"),
                        reason,
                    })?,
                )
            }
            None => None,
        };
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let call = self.call("pull image", format!("image {reference}"));
        let mut progress = Box::pin(self.docker.create_image(Some(options), None, credentials));
        while let Some(item) = next(&mut progress).await {
            item.map_err(|e| call.error(e))?;
        }
        Ok(())
    }

    /// Tags `source` as `target` (its tag, `latest` when it has none; a digest-only target is
    /// rejected).
    async fn tag_image(&self, source: &str, target: &ImageReference) -> Result<(), RuntimeError> {
        let tag = match (target.tag(), target.digest()) {
            (Some(tag), _) => tag,
            (None, Some(_)) => {
                return Err(RuntimeError::Rejected {
                    call: format!("tag {source} as {target}"),
                    reason: "an image cannot be tagged with a digest".into(),
                });
            }
            (None, None) => target.tag_or_latest(),
        };
        let options = TagImageOptionsBuilder::new()
            .repo(&target.repository_path())
            .tag(tag)
            .build();
        self.docker
            .tag_image(source, Some(options))
            .await
            .map_err(|e| self.call("tag image", format!("image {source}")).error(e))
    }

    /// Removes the reference `image` (the image itself once nothing else names it). An image a
    /// container uses is a [`RuntimeError::Conflict`].
    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        let options = RemoveImageOptionsBuilder::new().build();
        self.docker
            .remove_image(image, Some(options), None)
            .await
            .map(drop)
            .map_err(|e| self.call("remove image", format!("image {image}")).error(e))
    }

    /// Recreates the container `spec.document` describes under `name`, running `spec.image`:
    /// its config, host config and first network (see the crate docs for what is adjusted).
    /// A missing image is [`RuntimeError::NotFound`].
    async fn create_container(
        &self,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        let rejected = |reason: String| RuntimeError::Rejected {
            call: format!("create container {name}"),
            reason,
        };
        let mut body = convert::create_body(spec).map_err(rejected)?;
        let networks = convert::secondary_networks(spec).map_err(rejected)?;
        // Leave the old image's defaults to the new image. When the old image is gone, its
        // defaults cannot be told from the user's, so everything is carried over as it was.
        if !spec.image_id.is_empty()
            && let Some(config) = self.image_config(&spec.image_id).await?
        {
            recreate::strip_image_defaults(&mut body, &config);
        }
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let id = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created.id,
            Err(Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(RuntimeError::NotFound {
                    what: format!("image {}", spec.image),
                });
            }
            Err(e) => {
                return Err(self
                    .call("create container", format!("container {name}"))
                    .error(e));
            }
        };
        for (network, endpoint) in networks {
            let request = NetworkConnectRequest {
                container: id.clone(),
                endpoint_config: Some(endpoint),
            };
            if let Err(e) = self.docker.connect_network(&network, request).await {
                let error = self
                    .call("connect network", format!("network {network}"))
                    .error(e);
                // A half-connected container must not stay behind under the user's name.
                let _ = self.remove_container(&id, true).await;
                return Err(error);
            }
        }
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        // A running container answers 304, which bollard counts as success.
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| {
                self.call("start container", format!("container {id}"))
                    .error(e)
            })
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptionsBuilder::new()
            .t(stop_seconds(timeout))
            .build();
        self.with_stop_timeout(timeout)
            .stop_container(id, Some(options))
            .await
            .map_err(|e| {
                self.call("stop container", format!("container {id}"))
                    .error(e)
            })
    }

    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let options = RestartContainerOptionsBuilder::new()
            .t(stop_seconds(timeout))
            .build();
        self.with_stop_timeout(timeout)
            .restart_container(id, Some(options))
            .await
            .map_err(|e| {
                self.call("restart container", format!("container {id}"))
                    .error(e)
            })
    }

    /// Removes a container; its volumes are kept (a recreated container may use them). Removing
    /// a running container without `force` is a [`RuntimeError::Conflict`].
    async fn remove_container(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(force)
            .v(false)
            .build();
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| {
                self.call("remove container", format!("container {id}"))
                    .error(e)
            })
    }

    /// Renames a container; renaming it to the name it has is not an error.
    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), RuntimeError> {
        let options = RenameContainerOptionsBuilder::new().name(new_name).build();
        match self.docker.rename_container(id, options).await {
            Ok(()) => Ok(()),
            Err(Error::DockerResponseServerError {
                status_code: 400,
                message,
            }) if message.contains("same name as its current name") => Ok(()),
            Err(e) => Err(self
                .call("rename container", format!("container {id}"))
                .error(e)),
        }
    }

    /// stdout and stderr as the engine interleaves them, decoded lossily as UTF-8, at most
    /// [`LOG_LIMIT`] bytes (cut after the last whole line that fits).
    async fn container_logs(&self, id: &str, options: &LogOptions) -> Result<String, RuntimeError> {
        let tail = options
            .tail
            .map_or_else(|| "all".to_owned(), |n| n.to_string());
        let since = options
            .since
            .filter(|s| *s > 0)
            .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX));
        let query = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(options.timestamps)
            .tail(&tail)
            .since(since)
            .build();
        let call = self.call("read logs", format!("container {id}"));
        let mut stream = Box::pin(self.docker.logs(id, Some(query)));
        let mut bytes = Vec::new();
        while let Some(chunk) = next(&mut stream).await {
            bytes.extend_from_slice(chunk.map_err(|e| call.error(e))?.as_ref());
            if bytes.len() >= LOG_LIMIT {
                if bytes.len() > LOG_LIMIT {
                    let cut = bytes
                        .get(..LOG_LIMIT)
                        .and_then(|head| head.iter().rposition(|b| *b == b'\n'))
                        .map_or(LOG_LIMIT, |newline| newline + 1);
                    bytes.truncate(cut);
                }
                break;
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn container_settings(&self, id: &str) -> Result<BTreeMap<String, String>, RuntimeError> {
        let spec = self.inspect_container(id).await?;
        let rejected = |reason: String| RuntimeError::Rejected {
            call: format!("describe container {id}"),
            reason,
        };
        let mut body = convert::create_body(&spec).map_err(rejected)?;
        if let Some(config) = self.image_config(&spec.image_id).await? {
            recreate::strip_image_defaults(&mut body, &config);
        }
        let networks = convert::secondary_networks(&spec).map_err(rejected)?;
        recreate::settings(&body, &networks).map_err(rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds(Duration::MAX), u64::MAX);
        assert_eq!(stop_seconds(Duration::ZERO), 0);
        assert_eq!(stop_seconds(Duration::from_millis(100)), 1);
        assert_eq!(stop_seconds(Duration::MAX), i32::MAX);
    }

    #[test]
    fn since_has_nanoseconds() {
        let time = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        assert_eq!(since(time), "1700000000.000000005");
    }

    #[test]
    fn a_missing_socket_is_unavailable() {
        let config = ConnectionConfig {
            socket: Some("/nonexistent/docker.sock".into()),
            ..ConnectionConfig::default()
        };
        let err = DockerRuntime::connect(&config).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Unavailable { reason } if reason.contains("/nonexistent")),
            "{err:?}"
        );
    }
}
