//! Pure translations between bollard's models and the port's types.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bollard::auth::DockerCredentials;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary as EngineSummary,
    EndpointSettings, EventMessage, EventMessageTypeEnum, HealthStatusEnum, ImageInspect,
    NetworkingConfig,
};
use chrono::{DateTime, Datelike, Utc};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::ContainerStatus;
use drydock_core::ports::{
    ContainerSpec, ContainerSummary, Health, ImageDetails, RuntimeEvent, RuntimeEventKind,
};

/// The container actions the event stream subscribes to.
pub(crate) const CONTAINER_ACTIONS: &[&str] = &[
    "create",
    "start",
    "restart",
    "stop",
    "die",
    "destroy",
    "rename",
    "pause",
    "unpause",
    "update",
    "health_status",
];

/// The image actions the event stream subscribes to.
pub(crate) const IMAGE_ACTIONS: &[&str] = &["tag", "pull"];

/// Docker's names start with `/`; linked containers have more names (`/web/db`).
fn container_name(names: &[String]) -> String {
    names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .find(|n| !n.contains('/'))
        .or_else(|| names.first().map(|n| n.trim_start_matches('/')))
        .unwrap_or_default()
        .to_owned()
}

fn labels(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

/// A listed container, or `None` for what the port does not list (Podman's infra containers,
/// which have no image).
pub(crate) fn summary(container: EngineSummary) -> Option<ContainerSummary> {
    let image = container.image.unwrap_or_default();
    let id = container.id.unwrap_or_default();
    if image.is_empty() || id.is_empty() {
        return None;
    }
    Some(ContainerSummary {
        id,
        name: container_name(&container.names.unwrap_or_default()),
        image,
        image_id: container.image_id.unwrap_or_default(),
        labels: labels(container.labels),
        status: container.state.map_or(ContainerStatus::Unknown, |state| {
            ContainerStatus::from_engine(state.as_ref())
        }),
    })
}

/// The spec of an inspected container; `document` is the inspect response as JSON.
pub(crate) fn spec(inspect: &ContainerInspectResponse, document: String) -> ContainerSpec {
    let config = inspect.config.as_ref();
    ContainerSpec {
        id: inspect.id.clone().unwrap_or_default(),
        name: inspect
            .name
            .as_deref()
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: config
            .and_then(|c| c.image.clone())
            .or_else(|| inspect.image.clone())
            .unwrap_or_default(),
        status: inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map_or(ContainerStatus::Unknown, |status| {
                ContainerStatus::from_engine(status.as_ref())
            }),
        labels: labels(config.and_then(|c| c.labels.clone())),
        image_id: inspect.image.clone().unwrap_or_default(),
        health: inspect
            .state
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .and_then(|status| match status {
                HealthStatusEnum::STARTING => Some(Health::Starting),
                HealthStatusEnum::HEALTHY => Some(Health::Healthy),
                HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
                HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => None,
            }),
        auto_remove: inspect
            .host_config
            .as_ref()
            .and_then(|h| h.auto_remove)
            .unwrap_or(false),
        document,
    }
}

/// Parses an engine timestamp (RFC 3339); Go's zero time (`0001-01-01T00:00:00Z`) is no time.
pub(crate) fn timestamp(value: &str) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(value.trim()).ok()?;
    (time.year() > 1).then(|| time.with_timezone(&Utc))
}

/// A local image as the port describes it.
pub(crate) fn image_details(image: ImageInspect) -> ImageDetails {
    ImageDetails {
        id: image.id.unwrap_or_default(),
        repo_tags: image.repo_tags.unwrap_or_default(),
        repo_digests: image.repo_digests.unwrap_or_default(),
        os: image.os.unwrap_or_default(),
        architecture: image.architecture.unwrap_or_default(),
        variant: image.variant.filter(|v| !v.is_empty()),
        created: image.created.as_deref().and_then(timestamp),
        labels: labels(image.config.and_then(|c| c.labels)),
    }
}

/// An engine event as the port describes it, or `None` for events it has no use for.
pub(crate) fn event(message: EventMessage) -> Option<RuntimeEvent> {
    let typ = message.typ?;
    let action = message.action.filter(|a| !a.is_empty())?;
    let actor = message.actor.unwrap_or_default();
    let id = actor.id.filter(|id| !id.is_empty())?;
    let kind = match typ {
        EventMessageTypeEnum::CONTAINER => match action.as_str() {
            "create" => RuntimeEventKind::Create,
            "start" => RuntimeEventKind::Start,
            "stop" => RuntimeEventKind::Stop,
            "die" => RuntimeEventKind::Die,
            "destroy" => RuntimeEventKind::Destroy,
            "rename" => RuntimeEventKind::Rename,
            "pause" | "unpause" => RuntimeEventKind::Pause,
            a if a.starts_with("health_status") => RuntimeEventKind::Health,
            _ => RuntimeEventKind::Other(action.clone()),
        },
        EventMessageTypeEnum::IMAGE => match action.as_str() {
            "tag" => RuntimeEventKind::ImageTag,
            "pull" => RuntimeEventKind::ImagePull,
            _ => RuntimeEventKind::Other(action.clone()),
        },
        _ => return None,
    };
    let name = match typ {
        EventMessageTypeEnum::CONTAINER => actor
            .attributes
            .and_then(|mut attributes| attributes.remove("name")),
        _ => None,
    };
    let time = message
        .time_nano
        .filter(|nanos| *nanos > 0)
        .and_then(|nanos| {
            let subsec = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
            DateTime::from_timestamp(nanos.div_euclid(1_000_000_000), subsec)
        })
        .or_else(|| {
            message
                .time
                .filter(|secs| *secs > 0)
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
        });
    Some(RuntimeEvent {
        kind,
        id,
        name,
        time,
    })
}

/// What to ask the engine to pull: the digest when the reference pins one (engines resolve a
/// `name:tag@digest` by its tag), else the tag, `latest` when there is none (an untagged pull
/// would fetch every tag).
pub(crate) fn pull_reference(image: &ImageReference) -> String {
    match image.digest() {
        Some(digest) => format!("{}@{digest}", image.repository_path()),
        None => format!("{}:{}", image.repository_path(), image.tag_or_latest()),
    }
}

/// Decodes an `X-Registry-Auth` value (base64 or base64url of the JSON credential, padded or
/// not). The error never repeats the value.
pub(crate) fn credentials(value: &str) -> Result<DockerCredentials, String> {
    let value = value.trim();
    let json = [URL_SAFE, STANDARD, URL_SAFE_NO_PAD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .ok_or_else(|| "the registry credential is not base64".to_owned())?;
    serde_json::from_slice(&json)
        .map_err(|_| "the registry credential is not an X-Registry-Auth JSON document".to_owned())
}

/// The `Binds` entry's container path (`src:/dst:ro` → `/dst`).
fn bind_destination(bind: &str) -> Option<&str> {
    let mut parts = bind.split(':');
    let first = parts.next()?;
    Some(parts.next().unwrap_or(first))
}

/// Whether `alias` is the short id the engine adds as an alias of container `id`.
fn is_short_id(alias: &str, id: &str) -> bool {
    alias.len() == 12 && id.starts_with(alias)
}

/// `docker inspect` writes links as `/db:/web/db`; creation expects `db:db`.
fn link(inspected: &str) -> String {
    match inspected.split_once(':') {
        Some((name, alias)) => format!(
            "{}:{}",
            name.trim_start_matches('/'),
            alias.rsplit('/').next().unwrap_or(alias)
        ),
        None => inspected.trim_start_matches('/').to_owned(),
    }
}

/// The network a recreation is created on (the one `HostConfig.NetworkMode` names, else the
/// first by name), with the endpoint settings the user gave; `None` for `host`, `none` and
/// `container:` modes.
fn primary_network(
    inspect: &ContainerInspectResponse,
    network_mode: &str,
) -> Option<(String, EndpointSettings)> {
    if network_mode == "host" || network_mode == "none" || network_mode.starts_with("container:") {
        return None;
    }
    let networks = inspect.network_settings.as_ref()?.networks.as_ref()?;
    let name = if networks.contains_key(network_mode) {
        network_mode.to_owned()
    } else if network_mode == "default" && networks.contains_key("bridge") {
        "bridge".to_owned()
    } else {
        networks.keys().min()?.clone()
    };
    let endpoint = networks.get(&name)?;
    let settings = user_endpoint(&name, endpoint, inspect.id.as_deref().unwrap_or_default());
    Some((name, settings))
}

/// The networks a recreated container must be connected to after creation: every network of
/// the inspect document but the primary one, by name, with the user's endpoint settings.
pub(crate) fn secondary_networks(
    spec: &ContainerSpec,
) -> Result<Vec<(String, EndpointSettings)>, String> {
    let inspect: ContainerInspectResponse = serde_json::from_str(&spec.document)
        .map_err(|e| format!("the spec's document is not a Docker inspect document: {e}"))?;
    let network_mode = inspect
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let Some((primary, _)) = primary_network(&inspect, &network_mode) else {
        return Ok(Vec::new());
    };
    let old_id = inspect.id.clone().unwrap_or_default();
    let mut out: Vec<(String, EndpointSettings)> = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| *name != primary)
        .map(|(name, endpoint)| {
            let settings = user_endpoint(&name, &endpoint, &old_id);
            (name, settings)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The endpoint settings the user chose (aliases without the engine's short-id alias, static
/// addresses, links, driver options), without what the engine assigned.
fn user_endpoint(name: &str, endpoint: &EndpointSettings, old_id: &str) -> EndpointSettings {
    let aliases: Vec<String> = endpoint
        .aliases
        .iter()
        .flatten()
        .filter(|a| !a.is_empty() && !is_short_id(a, old_id))
        .cloned()
        .collect();
    EndpointSettings {
        ipam_config: endpoint.ipam_config.clone(),
        links: endpoint.links.clone().filter(|l| !l.is_empty()),
        aliases: (name != "bridge" && !aliases.is_empty()).then_some(aliases),
        driver_opts: endpoint.driver_opts.clone().filter(|o| !o.is_empty()),
        ..EndpointSettings::default()
    }
}

/// The body that recreates the container `spec` describes, running `spec.image`.
///
/// From the inspect document: its `Config` (with the image replaced), its `HostConfig`, and its
/// network: the one `HostConfig.NetworkMode` names, else the first by name, with the aliases the
/// user gave (not the engine's short-id alias) and its IPAM config; none for `host`, `none` and
/// `container:` modes. The engine-generated hostname (the short id) is dropped, and so is any
/// hostname where the network namespace is shared. Anonymous volumes are carried over by name,
/// as binds, so their data survives the recreation.
pub(crate) fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, String> {
    let inspect: ContainerInspectResponse = serde_json::from_str(&spec.document)
        .map_err(|e| format!("the spec's document is not a Docker inspect document: {e}"))?;
    let old_id = inspect.id.clone().unwrap_or_default();
    let short_id = old_id.get(..12).unwrap_or(&old_id);
    let mode = inspect
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let networking_config =
        primary_network(&inspect, &mode).map(|(name, settings)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(name, settings)])),
        });
    let config = inspect.config.unwrap_or_default();
    let mut host_config = inspect.host_config.unwrap_or_default();

    let network_mode = host_config.network_mode.clone().unwrap_or_default();
    let shares_network = network_mode == "host" || network_mode.starts_with("container:");
    let hostname = config
        .hostname
        .filter(|h| !h.is_empty() && !shares_network && h != short_id);
    let domainname = config
        .domainname
        .filter(|d| !d.is_empty() && !network_mode.starts_with("container:"));

    if let Some(links) = host_config.links.as_mut() {
        *links = links.iter().map(|l| link(l)).collect();
    }

    // Anonymous volumes: a `volume` mount whose destination no bind or mount of the host
    // config names. Binding it by name keeps its data.
    let mut covered: HashSet<String> = host_config
        .binds
        .iter()
        .flatten()
        .filter_map(|b| bind_destination(b))
        .map(str::to_owned)
        .collect();
    covered.extend(
        host_config
            .mounts
            .iter()
            .flatten()
            .filter_map(|m| m.target.clone()),
    );
    let anonymous: Vec<String> = inspect
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| {
            let name = m.name.as_deref().filter(|n| !n.is_empty())?;
            let destination = m.destination.as_deref().filter(|d| !d.is_empty())?;
            if covered.contains(destination) {
                return None;
            }
            let read_only = if m.rw == Some(false) { ":ro" } else { "" };
            Some(format!("{name}:{destination}{read_only}"))
        })
        .collect();
    if !anonymous.is_empty() {
        host_config
            .binds
            .get_or_insert_with(Vec::new)
            .extend(anonymous);
    }

    Ok(ContainerCreateBody {
        hostname,
        domainname,
        user: config.user,
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports: config.exposed_ports,
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env: config.env,
        cmd: config.cmd,
        healthcheck: config.healthcheck,
        args_escaped: config.args_escaped,
        image: Some(spec.image.clone()),
        volumes: config.volumes,
        working_dir: config.working_dir,
        entrypoint: config.entrypoint,
        network_disabled: config.network_disabled,
        on_build: config.on_build,
        // The document's labels, with the operation label the updater sets (the only label the
        // domain adds; the previous operation's is replaced).
        labels: match spec.labels.get(drydock_core::operation::OPERATION_LABEL) {
            Some(op) => {
                let mut labels = config.labels.unwrap_or_default();
                labels.insert(
                    drydock_core::operation::OPERATION_LABEL.to_owned(),
                    op.clone(),
                );
                Some(labels)
            }
            None => config.labels,
        },
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        shell: config.shell,
        host_config: Some(host_config),
        networking_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    #[test]
    fn names_lose_their_slash() {
        assert_eq!(container_name(&["/web".into()]), "web");
        assert_eq!(container_name(&["/app/db".into(), "/db".into()]), "db");
        assert_eq!(container_name(&[]), "");
    }

    #[test]
    fn infra_containers_are_skipped() {
        let infra = EngineSummary {
            id: Some("abc".into()),
            image: Some(String::new()),
            ..EngineSummary::default()
        };
        assert_eq!(summary(infra), None);
    }

    #[test]
    fn maps_events() {
        let message = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("health_status: healthy".into()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(HashMap::from([("name".into(), "web".into())])),
            }),
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_123_456_789),
            ..EventMessage::default()
        };
        let event = event(message).unwrap();
        assert_eq!(event.kind, RuntimeEventKind::Health);
        assert_eq!(event.id, "c1");
        assert_eq!(event.name.as_deref(), Some("web"));
        assert_eq!(
            event.time.unwrap().timestamp_nanos_opt(),
            Some(1_700_000_000_123_456_789)
        );

        let pulled = EventMessage {
            typ: Some(EventMessageTypeEnum::IMAGE),
            action: Some("pull".into()),
            actor: Some(EventActor {
                id: Some("nginx:1.25".into()),
                attributes: Some(HashMap::from([("name".into(), "nginx".into())])),
            }),
            time: Some(1_700_000_000),
            ..EventMessage::default()
        };
        let event = super::event(pulled).unwrap();
        assert_eq!(event.kind, RuntimeEventKind::ImagePull);
        assert_eq!(event.name, None);
        assert_eq!(event.time.unwrap().timestamp(), 1_700_000_000);

        assert_eq!(super::event(EventMessage::default()), None);
    }

    #[test]
    fn pulls_by_digest_or_tag() {
        let tagged: ImageReference = "nginx:1.25".parse().unwrap();
        assert_eq!(pull_reference(&tagged), "docker.io/library/nginx:1.25");
        let bare: ImageReference = "127.0.0.1:5000/a/b".parse().unwrap();
        assert_eq!(pull_reference(&bare), "127.0.0.1:5000/a/b:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned: ImageReference = format!("ghcr.io/o/a:1@{digest}").parse().unwrap();
        assert_eq!(pull_reference(&pinned), format!("ghcr.io/o/a@{digest}"));
    }

    #[test]
    fn decodes_registry_auth() {
        let json = r#"{"username":"u","password":"p?>","serveraddress":"ghcr.io"}"#;
        for encoded in [
            URL_SAFE.encode(json),
            STANDARD.encode(json),
            URL_SAFE_NO_PAD.encode(json),
        ] {
            let creds = credentials(&encoded).unwrap();
            assert_eq!(creds.username.as_deref(), Some("u"));
            assert_eq!(creds.password.as_deref(), Some("p?>"));
            assert_eq!(creds.serveraddress.as_deref(), Some("ghcr.io"));
        }
        let err = credentials("not base64 at all!").unwrap_err();
        assert!(!err.contains("not base64 at all"));
        assert!(credentials(&STANDARD.encode("[1]")).is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(
            timestamp("2024-05-01T10:00:00.123456789Z").map(|t| t.timestamp()),
            Some(1_714_557_600)
        );
        assert_eq!(timestamp("yesterday"), None);
    }

    #[test]
    fn links_are_rewritten() {
        assert_eq!(link("/db:/web/database"), "db:database");
        assert_eq!(link("db:db"), "db:db");
    }

    #[test]
    fn create_body_from_a_document() {
        let id = format!("0123456789ab{}", "c".repeat(52));
        let document = serde_json::json!({
            "Id": id,
            "Name": "/web",
            "Config": {
                "Hostname": "0123456789ab",
                "Image": "nginx:1.25",
                "Env": ["A=1"],
                "Cmd": ["nginx"],
                "Labels": {"dd.test": "x"},
                "ExposedPorts": {"80/tcp": {}},
                "Volumes": {"/data": {}}
            },
            "HostConfig": {
                "NetworkMode": "app",
                "Binds": ["/srv:/srv:ro"],
                "Links": ["/db:/web/db"],
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}
            },
            "Mounts": [
                {"Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": false},
                {"Type": "volume", "Name": "vol1", "Destination": "/data", "RW": true}
            ],
            "NetworkSettings": {
                "Networks": {
                    "app": {"Aliases": ["web", "0123456789ab"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}},
                    "zzz": {"Aliases": ["other"]}
                }
            }
        });
        let spec = ContainerSpec {
            image: "nginx:1.26".into(),
            document: document.to_string(),
            ..ContainerSpec::default()
        };
        let body = create_body(&spec).unwrap();
        assert_eq!(body.image.as_deref(), Some("nginx:1.26"));
        assert_eq!(body.hostname, None, "the generated hostname is dropped");
        assert_eq!(body.env, Some(vec!["A=1".to_owned()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_owned()]));
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds,
            Some(vec!["/srv:/srv:ro".to_owned(), "vol1:/data".to_owned()])
        );
        assert_eq!(host.links, Some(vec!["db:db".to_owned()]));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints.len(), 1);
        let app = &endpoints["app"];
        assert_eq!(app.aliases, Some(vec!["web".to_owned()]));
        assert_eq!(
            app.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("10.1.0.5")
        );

        let bad = ContainerSpec {
            document: "{".into(),
            ..ContainerSpec::default()
        };
        assert!(create_body(&bad).is_err());
    }
}
