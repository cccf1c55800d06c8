use chrono::{TimeZone, Utc};
use drydock_core::model::{Container, ContainerStatus};
use drydock_core::notification::{OutboxEntry, OutboxStatus};
use drydock_core::operation::{AuditEntry, AuditStatus, Backup, Operation, Phase};
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{CandidateKey, Store};

use super::Must;

/// Checks the [`Store`] contract against an empty `store`.
///
/// # Panics
///
/// When the store breaks a promise of the port; the message names it.
pub async fn store_contract(store: &dyn Store) {
    let mut a = Container {
        id: "contract-a".into(),
        name: "alpha".into(),
        watcher: "local".into(),
        status: ContainerStatus::Running,
        ..Container::default()
    };
    let b = Container {
        id: "contract-b".into(),
        name: "beta".into(),
        ..a.clone()
    };
    assert!(
        store.containers().await.must("containers").is_empty(),
        "a new store holds no containers"
    );
    store.save_container(&b).await.must("save_container");
    store.save_container(&a).await.must("save_container");
    let ids: Vec<String> = store
        .containers()
        .await
        .must("containers")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        ids,
        ["contract-a", "contract-b"],
        "containers() is ordered by id"
    );

    a.update_available = true;
    a.labels.insert("dd.watch".into(), "true".into());
    store.save_container(&a).await.must("save_container");
    let got = store.container("contract-a").await.must("container");
    assert_eq!(
        got.as_ref(),
        Some(&a),
        "save_container replaces, and reads back equal"
    );
    assert_eq!(store.container("nope").await.must("container"), None);

    assert!(store.remove_container("contract-a").await.must("remove"));
    assert!(
        !store.remove_container("contract-a").await.must("remove"),
        "removing twice reports the second time as absent"
    );
    assert_eq!(store.container("contract-a").await.must("container"), None);

    let empty = store.policy("local/alpha").await.must("policy");
    assert!(empty.is_empty(), "an unknown identity has an empty policy");
    let policy = UpdatePolicy {
        skip_tags: vec!["2.0.0".into()],
        snooze_until: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single(),
        ..UpdatePolicy::default()
    };
    store
        .save_policy("local/alpha", &policy)
        .await
        .must("save_policy");
    assert_eq!(store.policy("local/alpha").await.must("policy"), policy);
    store
        .save_policy("local/alpha", &UpdatePolicy::default())
        .await
        .must("save_policy");
    assert!(store.policy("local/alpha").await.must("policy").is_empty());

    assert!(
        !store
            .announced("ntfy.one|local/alpha|2.0.0")
            .await
            .must("announced")
    );
    store
        .record_announced("ntfy.one|local/alpha|2.0.0")
        .await
        .must("record_announced");
    assert!(
        store
            .announced("ntfy.one|local/alpha|2.0.0")
            .await
            .must("announced"),
        "an announcement is remembered"
    );
    assert!(
        !store
            .announced("ntfy.one|local/alpha|2.1.0")
            .await
            .must("announced"),
        "per key"
    );

    let at = Utc
        .with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut entry = OutboxEntry {
        id: "0001-ntfy.one".into(),
        trigger: "ntfy.one".into(),
        title: "t".into(),
        body: "b".into(),
        containers: vec!["contract-b".into()],
        once_keys: vec!["k".into()],
        status: OutboxStatus::Pending,
        attempts: 0,
        last_error: None,
        created: at,
        updated: at,
    };
    store.save_outbox(&entry).await.must("save_outbox");
    let later = OutboxEntry {
        id: "0002-ntfy.one".into(),
        ..entry.clone()
    };
    store.save_outbox(&later).await.must("save_outbox");
    entry.status = OutboxStatus::DeadLetter;
    entry.attempts = 5;
    entry.last_error = Some("HTTP 503".into());
    store.save_outbox(&entry).await.must("save_outbox");
    let outbox = store.outbox().await.must("outbox");
    assert_eq!(outbox.len(), 2, "an entry is replaced, not duplicated");
    assert_eq!(outbox[0], entry, "oldest first, read back equal");
    assert_eq!(outbox[1].id, "0002-ntfy.one");

    let key = CandidateKey {
        identity: "local/alpha".into(),
        value: "2.0.0".into(),
    };
    let (Some(t1), Some(t2), Some(t0)) = (
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).single(),
    ) else {
        panic!("fixed dates are valid");
    };
    assert_eq!(
        store.record_first_seen(&key, t1).await.must("first_seen"),
        t1
    );
    assert_eq!(
        store.record_first_seen(&key, t2).await.must("first_seen"),
        t1,
        "a later sighting keeps the first time"
    );
    assert_eq!(
        store.record_first_seen(&key, t0).await.must("first_seen"),
        t0,
        "an earlier time wins"
    );
    let other = CandidateKey {
        value: "2.1.0".into(),
        ..key
    };
    assert_eq!(
        store.record_first_seen(&other, t2).await.must("first_seen"),
        t2
    );
    journal_contract(store).await;
}

/// Operations are replaced by id and listed oldest first; backups can be removed; audit entries
/// are kept in order.
async fn journal_contract(store: &dyn Store) {
    let mut op = Operation::new("op-2", "web", "old", "a:1", "a:2", "web-old-1", true);
    let first = Operation {
        id: "op-1".into(),
        ..op.clone()
    };
    store.save_operation(&op).await.must("save_operation");
    store.save_operation(&first).await.must("save_operation");
    op.phase = Phase::Created;
    op.new_id = Some("new".into());
    store.save_operation(&op).await.must("save_operation");
    let ops = store.operations().await.must("operations");
    assert_eq!(ops.len(), 2, "saving again replaces the record");
    assert_eq!(ops[0].id, "op-1", "oldest first");
    assert_eq!(ops[1], op, "the journal keeps every field");
    assert!(
        store
            .remove_operation("op-1")
            .await
            .must("remove_operation")
    );
    assert!(
        !store
            .remove_operation("op-1")
            .await
            .must("remove_operation")
    );
    assert_eq!(
        store.operations().await.must("operations"),
        vec![op.clone()]
    );

    let backup = Backup {
        id: "b-1".into(),
        container_id: "old".into(),
        container_name: "web".into(),
        image_name: "a".into(),
        image_tag: "1".into(),
        image_digest: Some("sha256:00".into()),
        retained_as: Some("a:dd-backup-1".into()),
        timestamp: op.started,
        trigger_name: "docker.local".into(),
    };
    store.save_backup(&backup).await.must("save_backup");
    assert_eq!(store.backups().await.must("backups"), vec![backup]);
    assert!(store.remove_backup("b-1").await.must("remove_backup"));
    assert!(!store.remove_backup("b-1").await.must("remove_backup"));
    assert!(store.backups().await.must("backups").is_empty());

    let entry = AuditEntry {
        id: "a-1".into(),
        timestamp: op.started,
        action: "update-applied".into(),
        actor: "auto".into(),
        container_name: "web".into(),
        from_version: Some("1".into()),
        to_version: Some("2".into()),
        trigger_name: Some("docker.local".into()),
        status: AuditStatus::Success,
        details: None,
    };
    let second = AuditEntry {
        id: "a-2".into(),
        ..entry.clone()
    };
    store.append_audit(&second).await.must("append_audit");
    store.append_audit(&entry).await.must("append_audit");
    let log = store.audit().await.must("audit");
    assert_eq!(log, vec![entry.clone(), second], "oldest first");
    assert!(store.remove_audit("a-2").await.must("remove_audit"));
    assert_eq!(store.audit().await.must("audit"), vec![entry]);
}
