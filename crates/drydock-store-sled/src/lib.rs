//! drydock's [`Store`] port on [sled](https://docs.rs/sled/0.34.7), an embedded database.
//!
//! Records are JSON in nine trees: `containers` (by id), `policies` (by container identity),
//! `first_seen` (by identity and candidate), `announced` (`ONCE` keys of delivered
//! notifications), `outbox` (notifications pending, delivered or dead-lettered), `operations`
//! (the update journal), `backups` (image backups), `audit` (the audit log), and `meta`
//! (the schema version). New trees are created empty when an older store is opened. A write returns only
//! after sled has flushed it to disk, so an acknowledged write survives a crash of the process.
//! Opening a store written by a newer drydock is refused rather than guessed at.
//!
//! # Example
//!
//! ```
//! use drydock_core::ports::Store;
//! use drydock_store_sled::SledStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("drydock-doc-{}", std::process::id()));
//! let store = SledStore::open(&dir).unwrap();
//! assert!(store.containers().await.unwrap().is_empty());
//! # drop(store);
//! # std::fs::remove_dir_all(&dir).ok();
//! # });
//! ```

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::model::Container;
use drydock_core::notification::OutboxEntry;
use drydock_core::operation::{AuditEntry, Backup, Operation};
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{CandidateKey, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The record format this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// sled could not open the directory (permissions, lock held by another drydock, damage).
    #[error("cannot open the store at {path}: {reason}")]
    Sled {
        /// The store directory.
        path: PathBuf,
        /// sled's explanation.
        reason: String,
    },
    /// The store was written by a newer drydock.
    #[error(
        "the store at {path} has schema version {found}; this drydock reads up to {SCHEMA_VERSION}: upgrade drydock or restore a backup"
    )]
    NewerSchema {
        /// The store directory.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// The schema version record is unreadable.
    #[error("the store at {path} has an unreadable schema version")]
    BadSchema {
        /// The store directory.
        path: PathBuf,
    },
}

/// A [`Store`] in a sled database directory.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    containers: sled::Tree,
    policies: sled::Tree,
    first_seen: sled::Tree,
    announced: sled::Tree,
    outbox: sled::Tree,
    operations: sled::Tree,
    backups: sled::Tree,
    audit: sled::Tree,
    path: PathBuf,
}

/// sled's page cache, in bytes. Its default (1 GiB) lets the cache grow with every rewrite of
/// the same few thousand records: the full soak's RSS rose by a quarter over 5,000 cycles. The
/// store holds a few MB, so a small cache costs little.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl SledStore {
    /// Opens (creating if needed) the store in `path`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] naming the path when sled cannot open it (another process holds it, say) or
    /// its schema is unreadable or newer than this version's.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref().to_path_buf();
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            // Writes are flushed explicitly before they are acknowledged; the background flush
            // only bounds what a crash between two writes could lose.
            .flush_every_ms(Some(1000));
        Self::with_config(config, path)
    }

    /// A store of its own in a temporary directory, removed when the store is dropped: the real
    /// adapter for one-off runs (`drydock check`, `drydock explain`) that must not touch, or wait
    /// for, a running server's store.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when sled cannot create the temporary store.
    pub fn temporary() -> Result<Self, OpenError> {
        let config = sled::Config::new()
            .temporary(true)
            .cache_capacity(CACHE_BYTES);
        let path = config.path.clone();
        Self::with_config(config, path)
    }

    fn with_config(config: sled::Config, path: PathBuf) -> Result<Self, OpenError> {
        let sled_error = |e: sled::Error| OpenError::Sled {
            path: path.clone(),
            reason: e.to_string(),
        };
        let db = config.open().map_err(sled_error)?;
        let meta = db.open_tree("meta").map_err(sled_error)?;
        match meta.get(SCHEMA_KEY).map_err(sled_error)? {
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())
                    .map_err(sled_error)?;
                db.flush().map_err(sled_error)?;
            }
            Some(raw) => {
                let found: u32 = std::str::from_utf8(&raw)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| OpenError::BadSchema { path: path.clone() })?;
                if found > SCHEMA_VERSION {
                    return Err(OpenError::NewerSchema { path, found });
                }
            }
        }
        Ok(Self {
            containers: db.open_tree("containers").map_err(sled_error)?,
            policies: db.open_tree("policies").map_err(sled_error)?,
            first_seen: db.open_tree("first_seen").map_err(sled_error)?,
            announced: db.open_tree("announced").map_err(sled_error)?,
            outbox: db.open_tree("outbox").map_err(sled_error)?,
            operations: db.open_tree("operations").map_err(sled_error)?,
            backups: db.open_tree("backups").map_err(sled_error)?,
            audit: db.open_tree("audit").map_err(sled_error)?,
            db,
            path,
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(|e| self.error(e))
    }

    fn error(&self, e: sled::Error) -> StoreError {
        store_error(&self.path, &e)
    }

    /// Makes every write so far durable. sled's own `flush_async` was seen to stall forever under
    /// many concurrent callers, so the blocking flush runs on tokio's blocking pool instead.
    async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Unavailable {
                reason: format!("flush task: {e}"),
            })?
            .map(|_| ())
            .map_err(|e| self.error(e))
    }
}

/// A sled failure as the port's error, naming the store. After any I/O error sled refuses every
/// later write until the database is opened again, so a full disk needs free space *and* a
/// restart: the message says so.
fn store_error(path: &Path, e: &sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if disk_full(io) => StoreError::Full {
            reason: format!(
                "no space left for the store at {} ({e}); the write was not saved, and writes are refused until drydock is restarted with space free",
                path.display()
            ),
        },
        _ => StoreError::Unavailable {
            reason: format!("the store at {}: {e}", path.display()),
        },
    }
}

/// sled hands every caller after the first a copy of the error that stopped it, which keeps the
/// kind but not the OS error code: the kind is what is checked.
fn disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(key: &[u8], raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

/// Inserts a JSON record and makes it durable.
async fn put<T: Serialize>(
    store: &SledStore,
    tree: &sled::Tree,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let value = encode(key, value)?;
    tree.insert(key.as_bytes(), value)
        .map_err(|e| store.error(e))?;
    store.flush().await
}

/// Removes a record and makes the removal durable; returns whether it was stored.
async fn remove(store: &SledStore, tree: &sled::Tree, key: &str) -> Result<bool, StoreError> {
    let removed = tree.remove(key.as_bytes()).map_err(|e| store.error(e))?;
    store.flush().await?;
    Ok(removed.is_some())
}

/// Every readable record of a tree in key order; an unreadable one is logged and skipped (never
/// deleted), so one damaged record does not hide the others.
fn all<T: DeserializeOwned>(
    store: &SledStore,
    tree: &sled::Tree,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (key, raw) = item.map_err(|e| store.error(e))?;
        match decode(&key, &raw) {
            Ok(value) => out.push(value),
            Err(e) => tracing::error!(error = %e, "skipping an unreadable {what}"),
        }
    }
    Ok(out)
}

fn first_seen_key(candidate: &CandidateKey) -> Vec<u8> {
    // Identities and values cannot contain NUL, so it separates them unambiguously.
    let mut key = candidate.identity.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(candidate.value.as_bytes());
    key
}

#[async_trait]
impl Store for SledStore {
    async fn save_container(&self, container: &Container) -> Result<(), StoreError> {
        let value = encode(&container.id, container)?;
        self.containers
            .insert(container.id.as_bytes(), value)
            .map_err(|e| self.error(e))?;
        self.flush().await
    }

    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError> {
        match self
            .containers
            .get(id.as_bytes())
            .map_err(|e| self.error(e))?
        {
            Some(raw) => decode(id.as_bytes(), &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Every readable container. An unreadable record is logged and left in place (never
    /// deleted): one damaged record must not stop watching and the API for all the others.
    async fn containers(&self) -> Result<Vec<Container>, StoreError> {
        let mut containers = Vec::new();
        for entry in self.containers.iter() {
            let (key, raw) = entry.map_err(|e| self.error(e))?;
            match decode(&key, &raw) {
                Ok(container) => containers.push(container),
                Err(e) => tracing::error!(error = %e, "skipping an unreadable stored container"),
            }
        }
        Ok(containers)
    }

    async fn remove_container(&self, id: &str) -> Result<bool, StoreError> {
        remove(self, &self.containers, id).await
    }

    async fn policy(&self, identity: &str) -> Result<UpdatePolicy, StoreError> {
        match self
            .policies
            .get(identity.as_bytes())
            .map_err(|e| self.error(e))?
        {
            Some(raw) => decode(identity.as_bytes(), &raw),
            None => Ok(UpdatePolicy::default()),
        }
    }

    async fn save_policy(&self, identity: &str, policy: &UpdatePolicy) -> Result<(), StoreError> {
        if policy.is_empty() {
            self.policies
                .remove(identity.as_bytes())
                .map_err(|e| self.error(e))?;
        } else {
            let value = encode(identity, policy)?;
            self.policies
                .insert(identity.as_bytes(), value)
                .map_err(|e| self.error(e))?;
        }
        self.flush().await
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let value = encode(&entry.id, entry)?;
        self.outbox
            .insert(entry.id.as_bytes(), value)
            .map_err(|e| self.error(e))?;
        self.flush().await
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = Vec::new();
        for item in self.outbox.iter() {
            let (key, raw) = item.map_err(|e| self.error(e))?;
            match decode(&key, &raw) {
                Ok(entry) => entries.push(entry),
                Err(e) => tracing::error!(error = %e, "skipping an unreadable outbox entry"),
            }
        }
        Ok(entries)
    }

    async fn save_operation(&self, operation: &Operation) -> Result<(), StoreError> {
        put(self, &self.operations, &operation.id, operation).await
    }

    async fn operations(&self) -> Result<Vec<Operation>, StoreError> {
        all(self, &self.operations, "operation")
    }

    async fn save_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        put(self, &self.backups, &backup.id, backup).await
    }

    async fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        all(self, &self.backups, "backup")
    }

    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError> {
        remove(self, &self.backups, id).await
    }

    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError> {
        remove(self, &self.operations, id).await
    }

    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError> {
        remove(self, &self.audit, id).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        put(self, &self.audit, &entry.id, entry).await
    }

    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        all(self, &self.audit, "audit entry")
    }

    async fn announced(&self, key: &str) -> Result<bool, StoreError> {
        self.announced
            .contains_key(key.as_bytes())
            .map_err(|e| self.error(e))
    }

    async fn record_announced(&self, key: &str) -> Result<(), StoreError> {
        self.announced
            .insert(key.as_bytes(), &[])
            .map_err(|e| self.error(e))?;
        self.flush().await
    }

    async fn record_first_seen(
        &self,
        candidate: &CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let key = first_seen_key(candidate);
        // The steady state: the candidate was seen in an earlier cycle. Nothing to write, so no
        // flush either (a flush per container per cycle was most of a cycle's store work).
        if let Some(raw) = self.first_seen.get(&key).map_err(|e| self.error(e))?
            && let Ok(old) = decode::<DateTime<Utc>>(&key, &raw)
            && old <= at
        {
            return Ok(old);
        }
        let mut earliest = at;
        // Compare-and-swap so concurrent sightings keep the earliest.
        let updated = self
            .first_seen
            .fetch_and_update(&key, |old| {
                let old_time = old.and_then(|raw| decode::<DateTime<Utc>>(&[], raw).ok());
                let keep = match old_time {
                    Some(t) if t <= at => t,
                    _ => at,
                };
                serde_json::to_vec(&keep).ok()
            })
            .map_err(|e| self.error(e))?;
        if let Some(old) = updated.and_then(|raw| decode::<DateTime<Utc>>(&key, &raw).ok()) {
            earliest = earliest.min(old);
        }
        self.flush().await?;
        Ok(earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named_even_in_the_copy_sled_hands_later_callers() {
        let path = Path::new("/var/lib/drydock");
        let enospc = sled::Error::Io(std::io::Error::from_raw_os_error(28));
        // Every write after the first failure gets a clone: the OS code is gone, the kind stays.
        for error in [enospc.clone(), enospc] {
            match store_error(path, &error) {
                StoreError::Full { reason } => {
                    assert!(reason.contains("/var/lib/drydock"), "{reason}");
                    assert!(reason.contains("restarted"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let denied = sled::Error::Io(std::io::Error::from_raw_os_error(13));
        assert!(matches!(
            store_error(path, &denied),
            StoreError::Unavailable { .. }
        ));
    }
}
