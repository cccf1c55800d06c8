//! `GET /api/containers` from a cache: dashboards poll it every few seconds, and with a thousand
//! containers decoding the store and encoding the JSON (about 900 kB) on every request would
//! cost milliseconds each. The answer only changes when a container is written, so the store is
//! wrapped to count those writes, and the encoded list (plain and gzip) is kept until the count
//! moves.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::web::Bytes;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::model::Container;
use drydock_core::notification::OutboxEntry;
use drydock_core::operation::{AuditEntry, Backup, Operation};
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{CandidateKey, Store, StoreError};

/// A [`Store`] that counts container writes; everything else passes through.
pub(crate) struct CountingStore {
    inner: Arc<dyn Store>,
    generation: Arc<AtomicU64>,
}

/// The encoded container list, valid while the store's write count is unchanged.
#[derive(Debug)]
pub(crate) struct ListCache {
    generation: Arc<AtomicU64>,
    cached: Mutex<Option<Arc<Encoded>>>,
}

/// One encoding of the list.
#[derive(Debug)]
pub(crate) struct Encoded {
    generation: u64,
    /// The JSON.
    pub(crate) json: Bytes,
    /// The same JSON, gzip-compressed.
    pub(crate) gzip: Bytes,
}

/// Wraps `store`; the cache it returns goes stale with every container write through it.
pub(crate) fn counting(store: Arc<dyn Store>) -> (Arc<dyn Store>, ListCache) {
    let generation = Arc::new(AtomicU64::new(0));
    let store = CountingStore {
        inner: store,
        generation: generation.clone(),
    };
    let cache = ListCache {
        generation,
        cached: Mutex::new(None),
    };
    (Arc::new(store), cache)
}

impl ListCache {
    /// The encoded list: the cached one if no container was written since, else `build`'s.
    pub(crate) async fn get<F>(&self, build: F) -> Result<Arc<Encoded>, StoreError>
    where
        F: AsyncFnOnce() -> Result<Vec<Container>, StoreError>,
    {
        // Read before building: a write that lands meanwhile leaves the entry stale, never the
        // reverse.
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(cached) = self.lock().as_ref()
            && cached.generation == generation
        {
            return Ok(cached.clone());
        }
        let containers = match build().await {
            Ok(containers) => containers,
            // A store that cannot be read now (sled refuses reads that need the disk after a
            // write failed on a full one) still leaves the last list it gave: serve that.
            Err(e) => match self.lock().as_ref() {
                Some(stale) => {
                    tracing::warn!(error = %e, "container list served from before a store failure");
                    return Ok(stale.clone());
                }
                None => return Err(e),
            },
        };
        let json = serde_json::to_vec(&containers).map_err(|e| StoreError::Unavailable {
            reason: format!("encoding the container list: {e}"),
        })?;
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 8),
            flate2::Compression::fast(),
        );
        // Writing to a Vec cannot fail.
        let gzip = encoder
            .write_all(&json)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let encoded = Arc::new(Encoded {
            generation,
            json: Bytes::from(json),
            gzip: Bytes::from(gzip),
        });
        *self.lock() = Some(encoded.clone());
        Ok(encoded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Encoded>>> {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CountingStore {
    fn written(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn save_container(&self, container: &Container) -> Result<(), StoreError> {
        let saved = self.inner.save_container(container).await;
        // Counted after the write, failed or not (a failed write may still have landed).
        self.written();
        saved
    }

    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError> {
        self.inner.container(id).await
    }

    async fn containers(&self) -> Result<Vec<Container>, StoreError> {
        self.inner.containers().await
    }

    async fn remove_container(&self, id: &str) -> Result<bool, StoreError> {
        let removed = self.inner.remove_container(id).await;
        self.written();
        removed
    }

    async fn policy(&self, identity: &str) -> Result<UpdatePolicy, StoreError> {
        self.inner.policy(identity).await
    }

    async fn save_policy(&self, identity: &str, policy: &UpdatePolicy) -> Result<(), StoreError> {
        self.inner.save_policy(identity, policy).await
    }

    async fn announced(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.announced(key).await
    }

    async fn record_announced(&self, key: &str) -> Result<(), StoreError> {
        self.inner.record_announced(key).await
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.inner.save_outbox(entry).await
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox().await
    }

    async fn save_operation(&self, operation: &Operation) -> Result<(), StoreError> {
        self.inner.save_operation(operation).await
    }

    async fn operations(&self) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations().await
    }

    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_operation(id).await
    }

    async fn save_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        self.inner.save_backup(backup).await
    }

    async fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        self.inner.backups().await
    }

    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_backup(id).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.inner.append_audit(entry).await
    }

    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit().await
    }

    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_audit(id).await
    }

    async fn record_first_seen(
        &self,
        candidate: &CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.inner.record_first_seen(candidate, at).await
    }
}

/// Whether the client takes gzip (`Accept-Encoding: gzip`, not refused with `q=0`).
pub(crate) fn accepts_gzip(header: Option<&str>) -> bool {
    header.is_some_and(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_testkit::InMemoryStore;

    fn container(id: &str) -> Container {
        Container {
            id: id.to_owned(),
            name: id.to_owned(),
            ..Container::default()
        }
    }

    #[tokio::test]
    async fn the_list_is_encoded_again_only_after_a_container_write() {
        let (store, cache) = counting(Arc::new(InMemoryStore::new()));
        store.save_container(&container("a")).await.unwrap();
        let builds = AtomicU64::new(0);
        let build = || async {
            builds.fetch_add(1, Ordering::SeqCst);
            store.containers().await
        };
        let first = cache.get(build).await.unwrap();
        let again = cache.get(build).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(first.json, again.json);
        // A policy write does not change the list; a container write does.
        store
            .save_policy("local/a", &UpdatePolicy::default())
            .await
            .unwrap();
        cache.get(build).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        store.save_container(&container("b")).await.unwrap();
        let fresh = cache.get(build).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        let listed: Vec<Container> = serde_json::from_slice(&fresh.json).unwrap();
        assert_eq!(listed.len(), 2);
        store.remove_container("a").await.unwrap();
        let after_removal = cache.get(build).await.unwrap();
        let listed: Vec<Container> = serde_json::from_slice(&after_removal.json).unwrap();
        assert_eq!(listed.len(), 1);
    }

    #[tokio::test]
    async fn the_gzip_encoding_holds_the_same_json() {
        let (store, cache) = counting(Arc::new(InMemoryStore::new()));
        store.save_container(&container("a")).await.unwrap();
        let encoded = cache.get(|| store.containers()).await.unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&encoded.gzip[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(plain, encoded.json);
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("deflate, br")));
        assert!(!accepts_gzip(Some("gzipx")));
        assert!(!accepts_gzip(None));
    }
}
