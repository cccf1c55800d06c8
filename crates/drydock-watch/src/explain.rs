//! `explain`: for one container, every tag of the repository its watch asks about, with the
//! verdict the watch gives it. It takes the same steps as a watch cycle ([`crate::plan`]), so the
//! two never disagree.

use std::sync::Arc;

use drydock_core::discovery::LabelSettings;
use drydock_core::image_ref::ImageReference;
use drydock_core::selection::Selection;

use crate::cycle::Cycle;
use crate::plan;
use crate::watcher::{WatchError, Watcher};

/// Why a container has, or has not, an update: the answer of [`Watcher::explain`].
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The container's name.
    pub container: String,
    /// The watcher it runs on.
    pub watcher: String,
    /// The image the registry was asked about (the container's, or `dd.registry.lookup.image`).
    pub image: ImageReference,
    /// The installed tag.
    pub installed_tag: String,
    /// Every tag the registry listed, in its order.
    pub tags: Arc<[String]>,
    /// The selection over those tags: the outcome and each tag's verdict
    /// ([`Selection::explain`]).
    pub selection: Arc<Selection>,
}

impl Watcher {
    /// Explains the tag choice for the container named `name` (or whose id starts with it),
    /// asking the engine and the registry now. Its stored state is not changed.
    ///
    /// # Errors
    ///
    /// [`WatchError::NotFound`] when no container of this watcher has that name or id;
    /// [`WatchError::Runtime`] when the engine cannot list containers;
    /// [`WatchError::Explain`] when the container's image, labels or registry answer cannot be
    /// used (the message is the error a watch would record on it).
    pub async fn explain(&self, name: &str) -> Result<Explanation, WatchError> {
        let listed = self
            .runtime()
            .list_containers(true)
            .await
            .map_err(|source| WatchError::Runtime {
                watcher: self.settings().name.clone(),
                source,
            })?;
        let summary = listed
            .into_iter()
            .find(|c| c.name == name || (!name.is_empty() && c.id.starts_with(name)))
            .ok_or_else(|| WatchError::NotFound(name.to_owned()))?;
        let failed = |reason: String| WatchError::Explain {
            container: summary.name.clone(),
            reason,
        };
        let labels = LabelSettings::read(&summary.labels);
        let cycle = Cycle::new(self.registry().as_ref());
        let lookup = plan::lookup(self.runtime().as_ref(), &summary, &labels, &cycle)
            .await
            .map_err(failed)?;
        // Unlike a cycle, explain always lists the tags: the user asked to see them.
        let tags = cycle
            .registry
            .shared_tags(&lookup.image)
            .await
            .map_err(|e| failed(format!("tag list of {}: {e}", lookup.image.repository())))?;
        let selection = plan::selection(&cycle, &lookup, Some(&tags));
        Ok(Explanation {
            container: summary.name,
            watcher: self.settings().name.clone(),
            image: lookup.image,
            installed_tag: lookup.resolved.tag,
            tags,
            selection,
        })
    }
}
