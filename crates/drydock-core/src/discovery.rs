//! From what an engine says about a container to what drydock watches: labels, the image
//! reference, the digest to compare, the link.
//!
//! [`LabelSettings`] is the one reader of a container's labels: drydock's `dd.*` names, What's Up
//! Docker's `wud.*` accepted as aliases (users migrate with their labels; `dd.*` wins when both are
//! set), and the `com.docker.compose.*` labels Docker Compose sets. Everything else in drydock
//! takes its fields instead of looking labels up itself.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::image_ref::{ImageRefError, ImageReference, is_image_id};
use crate::rules::{RuleError, RuleSource, TagRules};
use crate::version::Version;

/// The label Docker Compose sets to the comma-separated list of the project's compose files.
pub const COMPOSE_CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
/// The label Docker Compose sets to the project's working directory.
pub const COMPOSE_WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
/// The label Docker Compose sets to the service a container belongs to.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label Docker Compose sets to the project a container belongs to.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// What a container's labels ask of drydock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSettings {
    /// `dd.watch`: watch this container or not (overrides the watcher's default).
    pub watch: Option<bool>,
    /// `dd.watch.digest`: compare digests or not.
    pub watch_digest: Option<bool>,
    /// `dd.tag.include`, `dd.tag.exclude`, `dd.tag.transform`, `dd.tag.family`, as written.
    pub tag_rules: RuleSource,
    /// `dd.link.template`.
    pub link_template: Option<String>,
    /// `dd.display.name`.
    pub display_name: Option<String>,
    /// `dd.display.icon`.
    pub display_icon: Option<String>,
    /// `dd.notification.include` (legacy `dd.trigger.include`).
    pub notification_include: Option<String>,
    /// `dd.notification.exclude` (legacy `dd.trigger.exclude`).
    pub notification_exclude: Option<String>,
    /// `dd.action.include`: the action triggers that update this container automatically.
    pub action_include: Option<String>,
    /// `dd.action.exclude`: the action triggers that never update it automatically.
    pub action_exclude: Option<String>,
    /// `dd.action.auto`: the action triggers whose `AUTO=onauto` applies to it.
    pub action_auto: Option<String>,
    /// `dd.registry.lookup.image`: another image to ask the registry about.
    pub lookup_image: Option<String>,
    /// `dd.hook.pre`: a shell command run before an update.
    pub hook_pre: Option<String>,
    /// `dd.hook.post`: a shell command run after a successful update.
    pub hook_post: Option<String>,
    /// `dd.hook.timeout`: how long a hook may run (milliseconds; unreadable values count as unset).
    pub hook_timeout: Option<Duration>,
    /// `dd.hook.pre.abort`: whether a failing pre-hook aborts the update (unset: it does).
    pub hook_pre_abort: Option<bool>,
    /// The compose service the container belongs to (`com.docker.compose.service`).
    pub compose_service: Option<String>,
    /// The compose project (`com.docker.compose.project`).
    pub compose_project: Option<String>,
    /// The compose files it was started from: `dd.compose.file`, else the files Docker Compose
    /// recorded, relative ones joined to the project's working directory (see [`compose_files`]).
    pub compose_files: Vec<String>,
}

impl LabelSettings {
    /// Reads the labels. Values are trimmed; empty values count as unset; `dd.*` wins over `wud.*`,
    /// and the newer names over the legacy ones.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use drydock_core::discovery::LabelSettings;
    ///
    /// let labels = BTreeMap::from([
    ///     ("wud.tag.include".to_owned(), r"^\d+\.\d+\.\d+$".to_owned()),
    ///     ("dd.watch".to_owned(), "TRUE".to_owned()),
    ///     ("wud.trigger.include".to_owned(), "ntfy.one".to_owned()),
    /// ]);
    /// let settings = LabelSettings::read(&labels);
    /// assert_eq!(settings.watch, Some(true));
    /// assert_eq!(settings.tag_rules.include.as_deref(), Some(r"^\d+\.\d+\.\d+$"));
    /// assert_eq!(settings.notification_include.as_deref(), Some("ntfy.one"));
    /// ```
    pub fn read(labels: &BTreeMap<String, String>) -> Self {
        let get = |names: &[&str]| -> Option<String> {
            names.iter().find_map(|name| {
                ["dd.", "wud."].iter().find_map(|prefix| {
                    labels
                        .get(&format!("{prefix}{name}"))
                        .map(|v| v.trim())
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                })
            })
        };
        let flag = |names: &[&str]| get(names).and_then(|v| parse_bool(&v));
        let plain = |name: &str| {
            labels
                .get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            watch: flag(&["watch"]),
            watch_digest: flag(&["watch.digest"]),
            tag_rules: RuleSource {
                include: get(&["tag.include"]),
                exclude: get(&["tag.exclude"]),
                transform: get(&["tag.transform"]),
                family: get(&["tag.family"]),
            },
            link_template: get(&["link.template"]),
            display_name: get(&["display.name"]),
            display_icon: get(&["display.icon"]),
            notification_include: get(&["notification.include", "trigger.include"]),
            notification_exclude: get(&["notification.exclude", "trigger.exclude"]),
            action_include: get(&["action.include"]),
            action_exclude: get(&["action.exclude"]),
            action_auto: get(&["action.auto"]),
            lookup_image: get(&["registry.lookup.image", "registry.lookup.url"]),
            hook_pre: get(&["hook.pre"]),
            hook_post: get(&["hook.post"]),
            hook_timeout: get(&["hook.timeout"])
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis),
            hook_pre_abort: flag(&["hook.pre.abort"]),
            compose_service: plain(COMPOSE_SERVICE_LABEL),
            compose_project: plain(COMPOSE_PROJECT_LABEL),
            compose_files: compose_files(
                get(&["compose.file"])
                    .or_else(|| plain(COMPOSE_CONFIG_FILES_LABEL))
                    .as_deref(),
                plain(COMPOSE_WORKING_DIR_LABEL).as_deref(),
            ),
        }
    }

    /// Whether the container is watched, given the watcher's `WATCHBYDEFAULT`.
    pub fn is_watched(&self, watch_by_default: bool) -> bool {
        self.watch.unwrap_or(watch_by_default)
    }

    /// The container's tag rules, compiled: the only way drydock builds [`TagRules`] from labels.
    ///
    /// # Errors
    ///
    /// [`RuleError`] naming the rule and its text when a regex, the transform or the family mode
    /// cannot be used.
    pub fn compile_tag_rules(&self) -> Result<TagRules, RuleError> {
        self.tag_rules.compile()
    }

    /// The image to ask the registry about: `dd.registry.lookup.image` when set, else `image`.
    ///
    /// # Errors
    ///
    /// [`ImageRefError`] when the label does not name an image reference.
    pub fn lookup(&self, image: &ImageReference) -> Result<ImageReference, ImageRefError> {
        match &self.lookup_image {
            Some(other) => other.parse(),
            None => Ok(image.clone()),
        }
    }
}

/// A compose project's files from a comma-separated `list`: entries trimmed, empty ones and repeats
/// dropped, the order kept; relative paths joined to `working_dir` with `/` (a leading `./`
/// dropped), absolute ones (`/…`, `C:\…`, `\\…`) kept. Pure string handling: nothing is read
/// from disk.
///
/// ```
/// use drydock_core::discovery::compose_files;
///
/// assert_eq!(
///     compose_files(Some("compose.yaml, ./override.yaml,/etc/x.yaml"), Some("/srv/app/")),
///     ["/srv/app/compose.yaml", "/srv/app/override.yaml", "/etc/x.yaml"]
/// );
/// assert!(compose_files(None, Some("/srv")).is_empty());
/// ```
pub fn compose_files(list: Option<&str>, working_dir: Option<&str>) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    let mut files: Vec<String> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let path = match working_dir {
            Some(dir) if !is_absolute(entry) => join(dir, entry),
            _ => entry.to_owned(),
        };
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || path.starts_with("\\\\")
        || (bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && matches!(bytes[2], b'\\' | b'/'))
}

fn join(dir: &str, path: &str) -> String {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let dir = dir.trim_end_matches('/');
    format!("{dir}/{path}")
}

/// `true`/`false` in any case, and the usual synonyms.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A container's image, resolved to what drydock asks the registry about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference, with the tag drydock compares (the digest, when running by digest).
    pub reference: ImageReference,
    /// The tag compared (`latest` when the container named none).
    pub tag: String,
    /// The registry digest the local image was pulled by, for this repository.
    pub repo_digest: Option<String>,
    /// The container runs a digest, not a tag: there is no tag to compare.
    pub pinned_by_digest: bool,
    /// The image was built or loaded locally (no registry digest): the registry is not asked.
    pub local: bool,
}

/// Why a container's image cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The container runs an image id, and the image has no tags or digests to name it by.
    #[error("Cannot get a reliable tag for this image [{image}]")]
    NoReliableTag {
        /// The container's image field.
        image: String,
    },
    /// The image reference does not parse.
    #[error("image {image}: {source}")]
    Reference {
        /// The reference as the engine gave it.
        image: String,
        /// Why it does not parse.
        source: ImageRefError,
    },
}

/// Resolves the image a container runs, the way drydock does: a container started from an image
/// id or by digest is named by the image's first repository tag; with no tag at all, by its
/// registry digest (watched by digest only); `repo:tag@digest` keeps its tag.
///
/// ```
/// use drydock_core::discovery::resolve_image;
///
/// let resolved = resolve_image(
///     "nginx:1.25",
///     &["nginx:1.25".to_owned()],
///     &[format!("nginx@sha256:{}", "2b".repeat(32))],
/// )
/// .unwrap();
/// assert_eq!(resolved.reference.to_string(), "docker.io/library/nginx:1.25");
/// assert_eq!(resolved.tag, "1.25");
/// assert!(resolved.repo_digest.is_some());
/// ```
pub fn resolve_image(
    container_image: &str,
    repo_tags: &[String],
    repo_digests: &[String],
) -> Result<ResolvedImage, DiscoveryError> {
    let parse = |image: &str| {
        ImageReference::parse(image).map_err(|source| DiscoveryError::Reference {
            image: image.to_owned(),
            source,
        })
    };
    let first_tag = || repo_tags.iter().find(|t| !t.ends_with("<none>:<none>"));
    let (reference, pinned) = if is_image_id(container_image) {
        match (first_tag(), repo_digests.first()) {
            (Some(tag), _) => (parse(tag)?, false),
            (None, Some(digest)) => (parse(digest)?, true),
            (None, None) => {
                return Err(DiscoveryError::NoReliableTag {
                    image: container_image.to_owned(),
                });
            }
        }
    } else {
        let reference = parse(container_image)?;
        match (reference.tag(), reference.digest()) {
            // `repo@sha256:…`: name it by a tag of the same repository if the image has one.
            (None, Some(_)) => {
                let tagged = repo_tags
                    .iter()
                    .filter_map(|t| ImageReference::parse(t).ok())
                    .find(|t| {
                        t.repository_path() == reference.repository_path() && t.tag().is_some()
                    });
                match tagged {
                    Some(tagged) => (tagged, false),
                    None => (reference, true),
                }
            }
            _ => (reference, false),
        }
    };
    let repo_digest = repo_digests.iter().find_map(|d| {
        let parsed = ImageReference::parse(d).ok()?;
        (parsed.repository_path() == reference.repository_path())
            .then(|| parsed.digest().map(str::to_owned))
            .flatten()
    });
    let tag = if pinned {
        reference.digest().unwrap_or("latest").to_owned()
    } else {
        reference.tag_or_latest().to_owned()
    };
    Ok(ResolvedImage {
        reference,
        tag,
        repo_digest,
        pinned_by_digest: pinned,
        local: repo_digests.is_empty(),
    })
}

/// Renders a `dd.link.template` for a tag: `${original}` (also `${raw}`), `${transformed}`,
/// `${major}`, `${minor}`, `${patch}`, `${prerelease}`. Unknown placeholders are left as written.
///
/// ```
/// use drydock_core::discovery::render_link;
///
/// let link = render_link("https://example.com/releases/v${major}.${minor}.${patch}", "1.25.3", "1.25.3");
/// assert_eq!(link, "https://example.com/releases/v1.25.3");
/// ```
pub fn render_link(template: &str, original: &str, transformed: &str) -> String {
    let version = Version::parse(transformed);
    let number = |i: usize| {
        version
            .as_ref()
            .and_then(|v| v.numbers().nth(i))
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let prerelease = version
        .as_ref()
        .and_then(Version::prerelease)
        .map(|p| p.split(['.', '-']).next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = match after[..end].trim() {
            "original" | "raw" => Some(original.to_owned()),
            "transformed" => Some(transformed.to_owned()),
            "major" => Some(number(0)),
            "minor" => Some(number(1)),
            "patch" => Some(number(2)),
            "prerelease" => Some(prerelease.clone()),
            _ => None,
        };
        match value {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:2b1358a6e3f0bbcb1a8e3d7c0e9b1f4a5d6c7b8a9f0e1d2c3b4a5968778695a4";

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn compose_files_from_docker_compose_labels() {
        let l = labels(&[
            (
                COMPOSE_CONFIG_FILES_LABEL,
                "/srv/app/compose.yaml, ./override.yml,,sub/x.yaml",
            ),
            (COMPOSE_WORKING_DIR_LABEL, "/srv/app/"),
        ]);
        assert_eq!(
            LabelSettings::read(&l).compose_files,
            [
                "/srv/app/compose.yaml",
                "/srv/app/override.yml",
                "/srv/app/sub/x.yaml"
            ]
        );
        let l = labels(&[(COMPOSE_CONFIG_FILES_LABEL, "compose.yaml")]);
        assert_eq!(LabelSettings::read(&l).compose_files, ["compose.yaml"]);
        let l = labels(&[
            (
                COMPOSE_CONFIG_FILES_LABEL,
                r"C:\app\compose.yaml,D:/x.yml,\\host\share\c.yml",
            ),
            (COMPOSE_WORKING_DIR_LABEL, r"C:\app"),
        ]);
        assert_eq!(
            LabelSettings::read(&l).compose_files,
            [r"C:\app\compose.yaml", "D:/x.yml", r"\\host\share\c.yml"]
        );
        assert!(
            LabelSettings::read(&labels(&[(COMPOSE_WORKING_DIR_LABEL, "/srv")]))
                .compose_files
                .is_empty()
        );
        assert!(
            LabelSettings::read(&labels(&[(COMPOSE_CONFIG_FILES_LABEL, " , ")]))
                .compose_files
                .is_empty()
        );
    }

    #[test]
    fn the_override_label_wins() {
        let base = [
            (COMPOSE_CONFIG_FILES_LABEL, "/srv/app/compose.yaml"),
            (COMPOSE_WORKING_DIR_LABEL, "/srv/app"),
        ];
        let mut l = labels(&base);
        l.insert("dd.compose.file".into(), "deploy/prod.yaml".into());
        l.insert("wud.compose.file".into(), "/wud.yaml".into());
        assert_eq!(
            LabelSettings::read(&l).compose_files,
            ["/srv/app/deploy/prod.yaml"]
        );
        l.insert("dd.compose.file".into(), "  ".into());
        assert_eq!(LabelSettings::read(&l).compose_files, ["/wud.yaml"]);
        l.remove("wud.compose.file");
        assert_eq!(
            LabelSettings::read(&l).compose_files,
            ["/srv/app/compose.yaml"]
        );
        let l = labels(&[("dd.compose.file", "/a.yml,/a.yml,/b.yml")]);
        assert_eq!(LabelSettings::read(&l).compose_files, ["/a.yml", "/b.yml"]);
    }

    #[test]
    fn compose_service_from_its_label() {
        let service = |pairs: &[(&str, &str)]| LabelSettings::read(&labels(pairs)).compose_service;
        assert_eq!(
            service(&[(COMPOSE_SERVICE_LABEL, " web ")]).as_deref(),
            Some("web")
        );
        assert_eq!(service(&[(COMPOSE_SERVICE_LABEL, "")]), None);
        assert_eq!(service(&[]), None);
    }

    #[test]
    fn labels_dd_wins_over_wud_and_new_names_over_legacy() {
        let labels: BTreeMap<String, String> = [
            ("dd.watch", "false"),
            ("wud.watch", "true"),
            ("wud.tag.exclude", "rc"),
            ("dd.trigger.include", "ntfy.old"),
            ("dd.notification.include", "ntfy.new"),
            ("dd.watch.digest", "maybe"),
            ("dd.link.template", "  "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = LabelSettings::read(&labels);
        assert_eq!(s.watch, Some(false));
        assert_eq!(s.tag_rules.exclude.as_deref(), Some("rc"));
        assert_eq!(s.notification_include.as_deref(), Some("ntfy.new"));
        assert_eq!(
            s.watch_digest, None,
            "an unreadable boolean counts as unset"
        );
        assert_eq!(s.link_template, None);
        assert!(!s.is_watched(true));
        assert!(LabelSettings::default().is_watched(true));
        assert!(!LabelSettings::default().is_watched(false));
    }

    #[test]
    fn images_by_tag_by_digest_by_id_and_local() {
        let tagged = resolve_image(
            "127.0.0.1:5000/acme/app:1.0.0",
            &strings(&["127.0.0.1:5000/acme/app:1.0.0"]),
            &strings(&[&format!("127.0.0.1:5000/acme/app@{DIGEST}")]),
        )
        .unwrap();
        assert_eq!(tagged.tag, "1.0.0");
        assert_eq!(tagged.repo_digest.as_deref(), Some(DIGEST));
        assert!(!tagged.local && !tagged.pinned_by_digest);

        // Started by digest, the image also tagged: named by the tag.
        let by_digest_tagged = resolve_image(
            &format!("127.0.0.1:5000/acme/app@{DIGEST}"),
            &strings(&["127.0.0.1:5000/acme/app:1.0.0"]),
            &strings(&[&format!("127.0.0.1:5000/acme/app@{DIGEST}")]),
        )
        .unwrap();
        assert_eq!(by_digest_tagged.tag, "1.0.0");

        // Started by digest, no tag: the digest is all there is.
        let by_digest = resolve_image(
            &format!("127.0.0.1:5000/acme/app@{DIGEST}"),
            &[],
            &strings(&[&format!("127.0.0.1:5000/acme/app@{DIGEST}")]),
        )
        .unwrap();
        assert!(by_digest.pinned_by_digest);
        assert_eq!(by_digest.tag, DIGEST);

        // Hybrid keeps its tag.
        let hybrid = resolve_image(&format!("nginx:1.25@{DIGEST}"), &[], &[]).unwrap();
        assert_eq!(hybrid.tag, "1.25");

        // Started from an image id.
        let by_id = resolve_image(DIGEST, &strings(&["nginx:1.25"]), &[]).unwrap();
        assert_eq!(by_id.reference.to_string(), "docker.io/library/nginx:1.25");
        assert!(by_id.local, "no registry digest: built or loaded locally");
        assert_eq!(
            resolve_image(DIGEST, &[], &[]),
            Err(DiscoveryError::NoReliableTag {
                image: DIGEST.to_owned()
            })
        );

        // No tag means latest; a digest of another repository is not ours.
        let untagged =
            resolve_image("nginx", &[], &strings(&[&format!("other/app@{DIGEST}")])).unwrap();
        assert_eq!(untagged.tag, "latest");
        assert_eq!(untagged.repo_digest, None);
        assert!(matches!(
            resolve_image("UPPER/Case", &[], &[]),
            Err(DiscoveryError::Reference { .. })
        ));
    }

    #[test]
    fn link_templates() {
        assert_eq!(
            render_link(
                "https://x/${original}/${transformed}/${prerelease}",
                "v2.0.0-rc.1",
                "2.0.0-rc.1"
            ),
            "https://x/v2.0.0-rc.1/2.0.0-rc.1/rc"
        );
        assert_eq!(
            render_link("${unknown} ${major", "1", "1"),
            "${unknown} ${major"
        );
        assert_eq!(render_link("${major}.${minor}", "latest", "latest"), ".");
    }
}
