//! What a watch asks the registry about one container, and how it chooses the tag: decided in one
//! place for a watch cycle and for `explain`, so that the two always agree.

use std::sync::Arc;

use drydock_core::discovery::{LabelSettings, ResolvedImage, resolve_image};
use drydock_core::image_ref::{ImageReference, is_image_id};
use drydock_core::ports::{ContainerRuntime, ContainerSummary, ImageDetails};
use drydock_core::rules::TagRules;
use drydock_core::selection::{Selection, select};
use drydock_core::version::Version;

use crate::cycle::Cycle;

/// One container's question to the registry.
pub(crate) struct Lookup {
    /// The engine's view of the container's image.
    pub(crate) details: ImageDetails,
    /// The image as drydock names it, and the tag it compares.
    pub(crate) resolved: ResolvedImage,
    /// The container's tag rules, compiled once per cycle.
    pub(crate) rules: Arc<TagRules>,
    /// The image asked about: the container's, or its `dd.registry.lookup.image`.
    pub(crate) image: ImageReference,
    /// The installed tag as compared (transformed).
    pub(crate) transformed: String,
    /// Whether the installed tag reads as a version.
    pub(crate) semver: bool,
    /// Whether the digest of the installed tag is compared.
    pub(crate) watch_digest: bool,
}

impl Lookup {
    /// Whether the cycle asks for the tag list: only a version, or a container with an include
    /// rule, can move to another tag.
    pub(crate) fn wants_tags(&self) -> bool {
        self.semver || self.rules.has_include()
    }
}

/// Works out what to ask the registry about the container `summary`. `Err` is the container's
/// error message.
pub(crate) async fn lookup(
    runtime: &dyn ContainerRuntime,
    summary: &ContainerSummary,
    labels: &LabelSettings,
    cycle: &Cycle<'_>,
) -> Result<Lookup, String> {
    let image_key = if summary.image_id.is_empty() {
        summary.image.as_str()
    } else {
        summary.image_id.as_str()
    };
    let details = cycle
        .inspect_image(runtime, image_key)
        .await
        .map_err(|e| format!("inspecting the image: {e}"))?;
    // When the tag a container was created from has moved to a newer image, engines list the
    // container by image id; the container's own configuration still names the reference.
    let mut created_from = summary.image.clone();
    if is_image_id(&created_from)
        && let Ok(spec) = runtime.inspect_container(&summary.id).await
        && !spec.image.is_empty()
        && !is_image_id(&spec.image)
    {
        created_from = spec.image;
    }
    let resolved = resolve_image(&created_from, &details.repo_tags, &details.repo_digests)
        .map_err(|e| e.to_string())?;
    let rules = cycle
        .rules(&labels.tag_rules)
        .map_err(|e| format!("container labels: {e}"))?;
    let image = labels
        .lookup(&resolved.reference)
        .map_err(|e| format!("dd.registry.lookup.image: {e}"))?;
    let transformed = rules.transform(&resolved.tag).into_owned();
    let watch_digest = labels
        .watch_digest
        .unwrap_or(!resolved.tag.is_empty() && resolved.tag != "unknown");
    Ok(Lookup {
        semver: Version::parse(&transformed).is_some(),
        details,
        resolved,
        rules,
        image,
        transformed,
        watch_digest,
    })
}

/// The tag selection for `lookup` given the repository's tags (`None`: not asked), once per cycle
/// for every container with the same repository, installed tag and rules.
pub(crate) fn selection(
    cycle: &Cycle<'_>,
    lookup: &Lookup,
    tags: Option<&[String]>,
) -> Arc<Selection> {
    let key = (
        lookup.image.repository_path(),
        lookup.resolved.tag.clone(),
        tags.is_some(),
        lookup.rules.clone(),
    );
    cycle.selection(key, || {
        select(
            &lookup.resolved.tag,
            tags.unwrap_or_default(),
            &lookup.rules,
        )
    })
}
