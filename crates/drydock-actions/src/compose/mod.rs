//! The Docker Compose action: after a container of a compose project is updated through the
//! engine, its compose file is changed to name the new image, on the one `image:` line only
//! ([`patch_image`]), with a backup of the file kept next to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use drydock_core::discovery::LabelSettings;

mod patch;

pub use patch::{ComposeError, Patched, patch_image};

/// Where the compose file of a container is, and whether to keep a backup of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposeOptions {
    /// The compose file to patch when the container's labels name none (`FILE`).
    pub file: Option<PathBuf>,
    /// Keep a copy of the file before each change (`BACKUP`, default true).
    pub backup: bool,
}

/// What a compose file patch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposePatch {
    /// The file changed.
    pub file: PathBuf,
    /// The copy of the file before the change, if one was kept.
    pub backup: Option<PathBuf>,
    /// The line changed (1-based).
    pub line: usize,
}

/// Why the compose file could not be changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposePatchError {
    /// The container is not part of a compose project (no `com.docker.compose.service` label).
    #[error("the container has no com.docker.compose.service label")]
    NotCompose,
    /// No compose file names the service.
    #[error("no compose file defines service {service} (looked at: {looked})")]
    NoFile {
        /// The service.
        service: String,
        /// The files tried.
        looked: String,
    },
    /// The file cannot be read or written.
    #[error("compose file {file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The file's text cannot be patched safely.
    #[error("compose file {file}: {source}")]
    Patch {
        /// The file.
        file: PathBuf,
        /// Why.
        source: ComposeError,
    },
}

/// Changes the compose file of the container with `labels` so its service runs `image`.
///
/// The file is the one the labels name (`dd.compose.file`, else Compose's own
/// `com.docker.compose.project.config_files`), else `options.file`; with several, the first that
/// defines the service. The new text is written to a temporary file and renamed over the old one,
/// so the file is never half-written.
///
/// # Errors
///
/// [`ComposePatchError`] naming the file and what went wrong; the file is then unchanged.
pub async fn patch_compose_file(
    labels: &BTreeMap<String, String>,
    options: &ComposeOptions,
    image: &str,
    stamp: &str,
) -> Result<ComposePatch, ComposePatchError> {
    let labels = LabelSettings::read(labels);
    let service = labels
        .compose_service
        .as_deref()
        .ok_or(ComposePatchError::NotCompose)?;
    let mut candidates: Vec<PathBuf> = labels.compose_files.iter().map(PathBuf::from).collect();
    candidates.extend(options.file.clone());
    let mut last_error = None;
    for file in &candidates {
        let text = match tokio::fs::read_to_string(file).await {
            Ok(text) => text,
            Err(source) => {
                last_error = Some(ComposePatchError::Io {
                    file: file.clone(),
                    source,
                });
                continue;
            }
        };
        let patched = match patch_image(&text, service, image) {
            Ok(patched) => patched,
            // Another file of the project may define the service.
            Err(ComposeError::ServiceNotFound { .. } | ComposeError::NoServices { .. }) => continue,
            Err(source) => {
                return Err(ComposePatchError::Patch {
                    file: file.clone(),
                    source,
                });
            }
        };
        let io = |source| ComposePatchError::Io {
            file: file.clone(),
            source,
        };
        let backup = if options.backup {
            let copy = sibling(file, &format!("drydock-backup-{stamp}"));
            tokio::fs::write(&copy, &text).await.map_err(io)?;
            Some(copy)
        } else {
            None
        };
        let temporary = sibling(file, "drydock-tmp");
        tokio::fs::write(&temporary, &patched.text)
            .await
            .map_err(io)?;
        tokio::fs::rename(&temporary, file).await.map_err(io)?;
        return Ok(ComposePatch {
            file: file.clone(),
            backup,
            line: patched.line,
        });
    }
    Err(last_error.unwrap_or_else(|| ComposePatchError::NoFile {
        service: service.to_owned(),
        looked: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }))
}

/// `dir/compose.yaml` → `dir/compose.yaml.{suffix}`.
fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# the stack\nservices:\n  web:\n    image: registry.local/web:1.0.0  # pinned\n    restart: unless-stopped\n  db:\n    image: registry.local/web:1.0.0\n";

    fn labels(dir: &Path) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("com.docker.compose.service".to_owned(), "web".to_owned()),
            (
                "com.docker.compose.project.config_files".to_owned(),
                "compose.yaml".to_owned(),
            ),
            (
                "com.docker.compose.project.working_dir".to_owned(),
                dir.display().to_string(),
            ),
        ])
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("drydock-compose-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn only_the_image_line_changes_and_a_backup_is_kept() {
        let dir = scratch("patch");
        let file = dir.join("compose.yaml");
        std::fs::write(&file, FILE).unwrap();
        let options = ComposeOptions {
            file: None,
            backup: true,
        };
        let patch = patch_compose_file(&labels(&dir), &options, "registry.local/web:2.0.0", "1")
            .await
            .unwrap();
        assert_eq!(patch.line, 4);
        let after = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            after,
            FILE.replacen("web:1.0.0  # pinned", "web:2.0.0  # pinned", 1)
        );
        assert_eq!(
            std::fs::read_to_string(patch.backup.unwrap()).unwrap(),
            FILE
        );
        assert!(!dir.join("compose.yaml.drydock-tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn failures_name_the_file_and_leave_it_alone() {
        let dir = scratch("fail");
        let options = ComposeOptions::default();
        let missing = patch_compose_file(&labels(&dir), &options, "web:2", "1")
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("compose.yaml"), "{missing}");
        let file = dir.join("compose.yaml");
        let flow = "services:\n  web: {image: web:1}\n";
        std::fs::write(&file, flow).unwrap();
        let refused = patch_compose_file(&labels(&dir), &options, "web:2", "1")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ComposePatchError::Patch { .. }),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), flow);
        assert!(matches!(
            patch_compose_file(&BTreeMap::new(), &options, "web:2", "1").await,
            Err(ComposePatchError::NotCompose)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
