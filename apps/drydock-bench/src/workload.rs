//! The workload: repositories with realistic tag lists pushed straight to the test registry
//! (through its HTTP API: thousands of tags through `docker push` would take an hour), and
//! running containers on the real engine whose images are pulled through the proxy.
//!
//! Everything is deterministic and idempotent: a repository whose tags are all there is skipped,
//! a container that exists is kept, so a larger run reuses what a smaller one made.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::docker;

const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const INDEX: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Every repository's namespace in the registry.
const NAMESPACE: &str = "drydock-bench";
/// The tag every container runs: the oldest, so an update is always there to find.
pub(crate) const CURRENT: &str = "1.0.0";

/// One repository of the workload.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    /// `drydock-bench/r0007`.
    pub(crate) name: String,
    /// Its tags, in push order.
    pub(crate) tags: Vec<String>,
    /// Whether each tag is a two-platform index (one repository in ten).
    pub(crate) multi_platform: bool,
}

/// The `index`-th repository: 20 to 300 tags, semver and not.
pub(crate) fn repo(index: usize) -> Repo {
    let count = 20 + (index * 97) % 281;
    let mut tags = Vec::with_capacity(count);
    let mut k = 0usize;
    while tags.len() < count {
        let version = format!("{}.{}.{}", 1 + k / 40, (k / 8) % 5, k % 8);
        tags.push(version.clone());
        if k % 7 == 3 {
            tags.push(format!("{version}-rc.1"));
        }
        if k % 11 == 5 {
            tags.push(format!("{version}-alpine"));
        }
        if k % 13 == 7 {
            tags.push(format!(
                "sha-{:07x}",
                (index * 7919 + k * 104_729) & 0xfff_ffff
            ));
        }
        if k % 17 == 9 {
            tags.push(format!("2025.{:02}.{:02}", 1 + k % 12, 1 + k % 28));
        }
        k += 1;
    }
    tags.truncate(count.saturating_sub(3));
    tags.extend(["latest", "stable", "edge"].map(String::from));
    Repo {
        name: format!("{NAMESPACE}/r{index:04}"),
        tags,
        multi_platform: index.is_multiple_of(10),
    }
}

/// The registry's HTTP API, for pushing.
#[derive(Debug)]
pub(crate) struct Registry {
    base: String,
    http: reqwest::Client,
}

/// The base image every tag shares its layer with.
#[derive(Debug)]
pub(crate) struct Base {
    layer: Value,
    config: Value,
}

fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Registry {
    pub(crate) fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().build()?,
        })
    }

    async fn tags(&self, name: &str) -> anyhow::Result<BTreeSet<String>> {
        let response = self
            .http
            .get(format!("{}/v2/{name}/tags/list?n=10000", self.base))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(BTreeSet::new());
        }
        let body: Value = response.error_for_status()?.json().await?;
        Ok(body["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Pushes the base image (a static busybox that sleeps) with `docker push`, once, and reads
    /// back its layer descriptor and config.
    pub(crate) async fn base(&self) -> anyhow::Result<Base> {
        let name = format!("{NAMESPACE}/base");
        if !self.tags(&name).await?.contains("1") {
            let host = self.base.trim_start_matches("http://");
            docker::import_busybox(&format!("{host}/{name}:1")).await?;
        }
        let manifest: Value = self
            .http
            .get(format!("{}/v2/{name}/manifests/1", self.base))
            .header("Accept", MANIFEST)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let layer = manifest["layers"][0].clone();
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .context("the base manifest has no config digest")?;
        let config: Value = self
            .http
            .get(format!("{}/v2/{name}/blobs/{config_digest}", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(Base { layer, config })
    }

    async fn upload(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
        let digest = digest_of(&bytes);
        let start = self
            .http
            .post(format!("{}/v2/{name}/blobs/uploads/", self.base))
            .send()
            .await?
            .error_for_status()?;
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("blob upload without a Location")?;
        let url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_owned()
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        self.http
            .put(format!("{url}{separator}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?
            .error_for_status()?;
        Ok(digest)
    }

    async fn mount(&self, name: &str, digest: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!(
                "{}/v2/{name}/blobs/uploads/?mount={digest}&from={NAMESPACE}/base",
                self.base
            ))
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!(
                "mounting the base layer into {name} answered {}",
                response.status()
            );
        }
        Ok(())
    }

    async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(String, usize)> {
        let digest = digest_of(&body);
        let size = body.len();
        self.http
            .put(format!("{}/v2/{name}/manifests/{reference}", self.base))
            .header("Content-Type", media_type)
            .body(body)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("pushing {name}:{reference}"))?;
        Ok((digest, size))
    }

    /// One platform's image of `name:tag`, with its own config (so each tag's content differs).
    async fn image(
        &self,
        base: &Base,
        repo: &Repo,
        tag: &str,
        arch: &str,
    ) -> anyhow::Result<(String, usize)> {
        let mut config = base.config.clone();
        config["architecture"] = json!(arch);
        if arch == "arm64" {
            config["variant"] = json!("v8");
        }
        config["config"]["Labels"] = json!({ "org.drydock.bench": format!("{}:{tag}", repo.name) });
        let config = serde_json::to_vec(&config)?;
        let config_size = config.len();
        let config_digest = self.upload(&repo.name, config).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": { "mediaType": CONFIG, "size": config_size, "digest": config_digest },
            "layers": [base.layer],
        });
        let reference = if repo.multi_platform {
            // Pushed by digest: only the index carries the tag.
            let bytes = serde_json::to_vec(&manifest)?;
            digest_of(&bytes)
        } else {
            tag.to_owned()
        };
        self.put_manifest(
            &repo.name,
            &reference,
            MANIFEST,
            serde_json::to_vec(&manifest)?,
        )
        .await
    }

    async fn push_tag(&self, base: &Base, repo: &Repo, tag: &str) -> anyhow::Result<()> {
        if !repo.multi_platform {
            self.image(base, repo, tag, "amd64").await?;
            return Ok(());
        }
        let mut manifests = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let (digest, size) = self.image(base, repo, tag, arch).await?;
            let mut platform = json!({ "architecture": arch, "os": "linux" });
            if let Some(variant) = variant {
                platform["variant"] = json!(variant);
            }
            manifests.push(json!({
                "mediaType": MANIFEST, "size": size, "digest": digest, "platform": platform,
            }));
        }
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
        self.put_manifest(&repo.name, tag, INDEX, serde_json::to_vec(&index)?)
            .await?;
        Ok(())
    }

    /// Makes sure every tag of `repo` is in the registry; returns how many were pushed.
    pub(crate) async fn ensure(&self, base: &Base, repo: &Repo) -> anyhow::Result<usize> {
        let present = self.tags(&repo.name).await?;
        let missing: Vec<&String> = repo.tags.iter().filter(|t| !present.contains(*t)).collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let layer = base.layer["digest"]
            .as_str()
            .context("the base layer has no digest")?;
        self.mount(&repo.name, layer).await?;
        let pushed = missing.len();
        stream::iter(missing)
            .map(|tag| self.push_tag(base, repo, tag))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_hold_20_to_300_tags_of_mixed_shapes() {
        for index in 0..400 {
            let repo = repo(index);
            let count = repo.tags.len();
            assert!((20..=300).contains(&count), "r{index}: {count} tags");
            let unique: BTreeSet<&String> = repo.tags.iter().collect();
            assert_eq!(unique.len(), count, "r{index} repeats a tag");
            assert!(repo.tags.contains(&CURRENT.to_owned()));
            assert!(repo.tags.iter().any(|t| t == "latest"));
        }
        let all: Vec<String> = (0..200).flat_map(|i| repo(i).tags).collect();
        assert!(all.iter().any(|t| t.ends_with("-rc.1")));
        assert!(all.iter().any(|t| t.starts_with("sha-")));
        assert!(all.iter().any(|t| t.starts_with("2025.")));
        let multi = (0..200).filter(|i| repo(*i).multi_platform).count();
        assert_eq!(multi, 20, "one repository in ten is multi-platform");
    }
}
