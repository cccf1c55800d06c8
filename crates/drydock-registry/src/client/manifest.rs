//! Tag lists (every page) and manifests (indexes resolved to a platform), read within their
//! limits.

use std::collections::HashSet;

use drydock_core::image_ref::ImageReference;
use drydock_core::model::Platform;
use drydock_core::ports::RegistryError;
use oci_client::manifest::ImageIndexEntry;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::body::{Body, read_body};
use crate::link::next_link;

use super::state::*;

/// Every manifest type drydock understands. Registries answer a narrower `Accept` with a converted
/// (schema 1) manifest and a different digest, so all four are always sent.
pub(super) const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// How deep indexes may nest before the client gives up.
pub(super) const MAX_INDEX_DEPTH: usize = 3;

#[derive(Deserialize)]
pub(super) struct TagList {
    pub(super) tags: Option<Vec<String>>,
}

/// Just enough of a manifest to tell an index from an image manifest.
#[derive(Deserialize)]
pub(super) struct Versioned {
    #[serde(rename = "mediaType")]
    pub(super) media_type: Option<String>,
    pub(super) manifests: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct ConfigBlob {
    pub(super) created: Option<String>,
    #[serde(default)]
    pub(super) architecture: String,
    #[serde(default)]
    pub(super) os: String,
    pub(super) variant: Option<String>,
    pub(super) config: Option<ConfigSection>,
}

#[derive(Deserialize, Default)]
pub(super) struct ConfigSection {
    #[serde(rename = "Labels")]
    pub(super) labels: Option<std::collections::BTreeMap<String, String>>,
}

impl RegistryClient {
    /// Every page of a repository's tag list.
    pub(super) async fn tags_of(
        &self,
        endpoint: &Endpoint,
        image: &ImageReference,
    ) -> Result<Vec<String>, RegistryError> {
        let scope = pull_scope(image);
        let mut url = endpoint.url(&format!("/v2/{}/tags/list", image.repository()));
        url.set_query(Some("n=1000"));
        let mut tags = Vec::new();
        let mut seen_tags = HashSet::new();
        let mut seen_urls = HashSet::new();
        for _ in 0..self.options.max_tag_pages {
            seen_urls.insert(url.to_string());
            let response = self
                .send(
                    endpoint,
                    Kind::Tags,
                    Method::GET,
                    url.clone(),
                    None,
                    Some(&scope),
                )
                .await?;
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|h| h.to_str().ok())
                .and_then(next_link)
                .and_then(|target| url.join(target).ok())
                // Credentials travel with each page: never to another origin.
                .filter(|next| next.origin() == endpoint.base.origin());
            let body = read_body(
                response,
                self.options.max_body_bytes,
                &self.large_bodies,
                &endpoint.registry,
                self.options.request_timeout,
            )
            .await?;
            let page: TagList = body.json().map_err(|e| RegistryError::InvalidResponse {
                registry: endpoint.registry.clone(),
                reason: format!("tag list of {}: {e}", image.repository()),
            })?;
            let mut added = 0usize;
            for tag in page.tags.unwrap_or_default() {
                if seen_tags.insert(tag.clone()) {
                    tags.push(tag);
                    added += 1;
                }
            }
            if tags.len() > self.options.max_tags {
                return Err(RegistryError::InvalidResponse {
                    registry: endpoint.registry.clone(),
                    reason: format!(
                        "{} lists more than {} tags",
                        image.repository(),
                        self.options.max_tags
                    ),
                });
            }
            // Stop at the last page, on a page that adds nothing (registries that ignore `last`)
            // and on a link that loops back.
            match next {
                Some(next) if added > 0 && !seen_urls.contains(next.as_str()) => url = next,
                _ => return Ok(tags),
            }
        }
        tracing::warn!(
            registry = %endpoint.registry,
            repository = image.repository(),
            pages = self.options.max_tag_pages,
            "tag list truncated at the page limit"
        );
        Ok(tags)
    }

    /// `GET` a manifest by tag or digest; returns its digest and body.
    pub(super) async fn get_manifest(
        &self,
        endpoint: &Endpoint,
        image: &ImageReference,
        reference: &str,
    ) -> Result<(String, Body), RegistryError> {
        let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", image.repository()));
        let scope = pull_scope(image);
        let response = self
            .send(
                endpoint,
                Kind::Manifest,
                Method::GET,
                url,
                Some(MANIFEST_ACCEPT),
                Some(&scope),
            )
            .await?;
        let header = content_digest(response.headers());
        let body = read_body(
            response,
            4 * 1024 * 1024,
            &self.large_bodies,
            &endpoint.registry,
            self.options.request_timeout,
        )
        .await?;
        let computed = body.sha256();
        let digest = match header {
            Some(d) => d,
            None if reference.starts_with("sha256:") => reference.to_owned(),
            None => computed.clone(),
        };
        if digest.starts_with("sha256:") && digest != computed {
            return Err(RegistryError::InvalidResponse {
                registry: endpoint.registry.clone(),
                reason: format!("manifest {reference} does not match its digest {digest}"),
            });
        }
        Ok((digest, body))
    }
}

/// Picks the index entry for a platform: same OS and architecture; then the same variant, or (for
/// a container without one) the entry without a variant; arm64 counts as `v8` when unsaid.
pub(super) fn choose_child<'a>(
    entries: &'a [ImageIndexEntry],
    want: &Platform,
) -> Option<&'a ImageIndexEntry> {
    let normalise = |arch: &str, variant: Option<&str>| -> Option<String> {
        match (arch, variant) {
            ("arm64", None | Some("")) => Some("v8".to_owned()),
            (_, Some("")) | (_, None) => None,
            (_, Some(v)) => Some(v.to_owned()),
        }
    };
    let wanted_variant = normalise(&want.architecture, want.variant.as_deref());
    let candidates: Vec<&ImageIndexEntry> = entries
        .iter()
        .filter(|e| {
            e.platform.as_ref().is_some_and(|p| {
                p.os.to_string() == want.os && p.architecture.to_string() == want.architecture
            })
        })
        .collect();
    let variant_of = |e: &&ImageIndexEntry| {
        e.platform
            .as_ref()
            .and_then(|p| normalise(&p.architecture.to_string(), p.variant.as_deref()))
    };
    candidates
        .iter()
        .find(|e| variant_of(e) == wanted_variant)
        .or_else(|| {
            // A container that does not say its variant takes the first match.
            wanted_variant
                .is_none()
                .then(|| candidates.first())
                .flatten()
        })
        .copied()
}

pub(super) fn content_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| valid_digest(d))
        .map(str::to_owned)
}

pub(super) fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }) || digest.strip_prefix("sha512:").is_some_and(|hex| {
        hex.len() == 128
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
