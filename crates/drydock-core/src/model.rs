//! The container model, in the shape of the Container API.
//!
//! With the `serde` feature these types serialise to exactly the JSON of `GET /api/containers`
//! (camelCase keys; `updateKind` always an object, `result` an object or absent, never `null`),
//! which dashboards such as Homepage, Homarr and the wud-card read.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::policy::UpdatePolicy;
pub use crate::update_kind::{KindOfUpdate, UpdateKind, UpdateLevel};

/// A watched container and what drydock knows about its image's updates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct Container {
    /// The engine's container id.
    pub id: String,
    /// The container name, without Docker's leading `/`.
    pub name: String,
    /// `dd.display.name`, when set.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub display_name: Option<String>,
    /// `dd.display.icon`, when set.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub display_icon: Option<String>,
    /// The watcher (Docker host) this container runs on.
    pub watcher: String,
    /// The include regex (`dd.tag.include`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub include_tags: Option<String>,
    /// The exclude regex (`dd.tag.exclude`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub exclude_tags: Option<String>,
    /// The transform (`dd.tag.transform`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub transform_tags: Option<String>,
    /// The link template (`dd.link.template`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub link_template: Option<String>,
    /// The link template rendered for the installed tag.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub link: Option<String>,
    /// The image the container runs.
    pub image: Image,
    /// What the registry offers, once a watch ran.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub result: Option<UpdateResult>,
    /// Whether an update is available and not suppressed by the update policy.
    pub update_available: bool,
    /// What kind of update is available.
    pub update_kind: UpdateKind,
    /// The last watch error for this container.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub error: Option<ContainerError>,
    /// All the container's labels.
    pub labels: BTreeMap<String, String>,
    /// The engine's state (`running`, `exited`, ...).
    pub status: ContainerStatus,
    /// Skips, snooze and maturity settings.
    pub update_policy: UpdatePolicy,
}

/// The image a container runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct Image {
    /// The local image id (`sha256:` of its config).
    pub id: String,
    /// The registry the image comes from.
    pub registry: RegistryRef,
    /// The repository path (`library/nginx`).
    pub name: String,
    /// The installed tag.
    pub tag: ImageTag,
    /// The digests compared for digest updates.
    pub digest: ImageDigest,
    /// CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Architecture variant (`v7`), when the image has one.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub variant: Option<String>,
    /// When the image was built, from its config.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub created: Option<DateTime<Utc>>,
}

impl Image {
    /// The platform the image runs on, used to pick a child of a multi-platform index.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// The registry an image belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct RegistryRef {
    /// The configured registry that serves it (`hub.public`, `ghcr.private`).
    pub name: String,
    /// The registry's base URL (`https://registry-1.docker.io/v2`).
    pub url: String,
}

/// An image tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct ImageTag {
    /// The tag (`1.25.3`, `latest`).
    pub value: String,
    /// Whether the tag (after the transform) reads as a version.
    pub semver: bool,
}

/// The digests of an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct ImageDigest {
    /// Whether digest changes count as updates.
    pub watch: bool,
    /// The digest compared with the registry's.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub value: Option<String>,
    /// The local image's repository digest (often a multi-platform index digest).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub repo: Option<String>,
}

/// What the registry offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct UpdateResult {
    /// The best tag: the update, or the installed tag when there is none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub tag: Option<String>,
    /// The registry's digest for that tag.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub digest: Option<String>,
    /// When that image was built.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub created: Option<DateTime<Utc>>,
    /// The link template rendered for that tag.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub link: Option<String>,
}

/// The last watch error of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContainerError {
    /// What went wrong, for people.
    pub message: String,
}

/// The engine's container states, as Docker names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped.
    Exited,
    /// Dead.
    Dead,
    /// Anything else.
    #[default]
    #[cfg_attr(feature = "serde", serde(other))]
    Unknown,
}

impl ContainerStatus {
    /// Reads an engine state name; unknown names give [`ContainerStatus::Unknown`].
    pub fn from_engine(state: &str) -> Self {
        match state.to_ascii_lowercase().as_str() {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// The state's name as Docker writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operating system, CPU architecture and optional variant (`linux/arm/v7`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// Architecture variant (`v7`, `v8`).
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "serde"))]
mod json_tests {
    use super::*;

    #[test]
    fn serialises_in_the_container_api_shape() {
        let container = Container {
            id: "31a61a83".into(),
            name: "homeassistant".into(),
            watcher: "local".into(),
            include_tags: Some(r"^\d+\.\d+.\d+$".into()),
            image: Image {
                id: "sha256:d4a6".into(),
                registry: RegistryRef {
                    name: "ecr.private".into(),
                    url: "123456789.dkr.ecr.eu-west-1.amazonaws.com".into(),
                },
                name: "test".into(),
                tag: ImageTag {
                    value: "2021.6.4".into(),
                    semver: true,
                },
                digest: ImageDigest {
                    watch: false,
                    value: None,
                    repo: Some("sha256:ca0e".into()),
                },
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: None,
                created: "2021-06-12T05:33:38.440Z".parse().ok(),
            },
            result: Some(UpdateResult {
                tag: Some("2021.6.5".into()),
                ..UpdateResult::default()
            }),
            update_available: true,
            status: ContainerStatus::Running,
            ..Container::default()
        };
        let json = serde_json::to_value(&container).unwrap();
        assert_eq!(json["includeTags"], r"^\d+\.\d+.\d+$");
        assert_eq!(json["image"]["tag"]["value"], "2021.6.4");
        assert_eq!(json["image"]["tag"]["semver"], true);
        assert_eq!(json["image"]["digest"]["repo"], "sha256:ca0e");
        assert_eq!(json["image"]["digest"]["watch"], false);
        assert_eq!(json["image"]["created"], "2021-06-12T05:33:38.440Z");
        assert_eq!(json["result"]["tag"], "2021.6.5");
        assert_eq!(json["updateAvailable"], true);
        assert_eq!(json["status"], "running");
        // Clients need updateKind as an object with null values when there is no update.
        assert_eq!(
            json["updateKind"],
            serde_json::json!({"kind": "unknown", "localValue": null, "remoteValue": null, "semverDiff": null})
        );
        assert!(json.get("error").is_none());
        let back: Container = serde_json::from_value(json).unwrap();
        assert_eq!(back, container);
    }

    #[test]
    fn a_container_without_result_has_no_result_key() {
        let json = serde_json::to_value(Container::default()).unwrap();
        assert!(
            json.get("result").is_none(),
            "result must be absent, never null"
        );
        assert_eq!(json["updateAvailable"], false);
    }
}
