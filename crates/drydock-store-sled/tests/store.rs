//! The sled store against the Store contract, across reopening, and refusing what it cannot read.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use drydock_core::model::Container;
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{Store, StoreError};
use drydock_store_sled::{OpenError, SledStore};
use drydock_testkit::contract::store_contract;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "drydock-sled-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn keeps_the_store_contract() {
    let dir = TempDir::new("contract");
    store_contract(&SledStore::open(&dir.0).unwrap()).await;
}

#[tokio::test]
async fn what_was_acknowledged_is_there_after_reopening() {
    let dir = TempDir::new("reopen");
    {
        let store = SledStore::open(&dir.0).unwrap();
        let container = Container {
            id: "abc".into(),
            name: "web".into(),
            update_available: true,
            ..Container::default()
        };
        store.save_container(&container).await.unwrap();
        let policy = UpdatePolicy {
            skip_tags: vec!["2.0.0".into()],
            ..UpdatePolicy::default()
        };
        store.save_policy("local/web", &policy).await.unwrap();
    }
    let store = SledStore::open(&dir.0).unwrap();
    let container = store.container("abc").await.unwrap().unwrap();
    assert!(container.update_available);
    assert_eq!(
        store.policy("local/web").await.unwrap().skip_tags,
        ["2.0.0"]
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_a_corrupt_record_is_named() {
    let dir = TempDir::new("schema");
    {
        let db = sled::open(&dir.0).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "99")
            .unwrap();
        db.open_tree("containers")
            .unwrap()
            .insert("bad", "{not json")
            .unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(&dir.0) {
        Err(OpenError::NewerSchema { found: 99, .. }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    {
        let db = sled::open(&dir.0).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "1")
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(&dir.0).unwrap();
    // The damaged record is skipped in the list (the others stay usable), and named when asked for.
    let good = Container {
        id: "good".into(),
        ..Container::default()
    };
    store.save_container(&good).await.unwrap();
    let ids: Vec<String> = store
        .containers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["good"]);
    match store.container("bad").await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "bad"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_drydock_on_the_same_store_is_refused() {
    let dir = TempDir::new("lock");
    let _first = SledStore::open(&dir.0).unwrap();
    let second = SledStore::open(&dir.0);
    assert!(matches!(second, Err(OpenError::Sled { .. })), "{second:?}");
}

/// Regression: with sled's `flush_async`, 200 concurrent writes never completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writes_all_complete_and_persist() {
    let dir = TempDir::new("concurrent");
    let store = std::sync::Arc::new(SledStore::open(&dir.0).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let container = Container {
                id: format!("c{i:03}"),
                ..Container::default()
            };
            store.save_container(&container).await.unwrap();
        }));
    }
    let all = async {
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), all)
        .await
        .expect("writes stalled");
    drop(store);
    let reopened = SledStore::open(&dir.0).unwrap();
    assert_eq!(reopened.containers().await.unwrap().len(), 200);
}
