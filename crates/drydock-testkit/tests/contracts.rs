//! The contract suites run against the in-memory adapters, and catch adapters that break them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{ContainerStatus, Platform};
use drydock_core::ports::{
    ImageConfig, ImageDetails, PlatformManifest, Registry, RegistryError, Severity, Vulnerability,
};
use drydock_testkit::contract::{
    ActionFixture, IndexFixture, NotifierFixture, RegistryFixture, RuntimeFixture, ScannerFixture,
    action_contract, notifier_contract, registry_contract, runtime_contract, scanner_contract,
    store_contract,
};
use drydock_testkit::{
    FakeRuntime, FakeScanner, InMemoryRegistry, InMemoryStore, RecordingAction, RecordingNotifier,
};

fn platform(arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(Into::into),
    }
}

fn seeded_registry() -> (InMemoryRegistry, RegistryFixture) {
    let registry = InMemoryRegistry::new();
    let image: ImageReference = "localhost:5000/contract/app".parse().unwrap();
    let tags = vec![
        ("1.0.0".to_owned(), "sha256:a1".to_owned()),
        ("1.1.0".to_owned(), "sha256:b2".to_owned()),
    ];
    for (tag, digest) in &tags {
        registry.push(&image, tag, digest);
        registry.put_config(&format!("{digest}-config"), ImageConfig::default());
    }
    let children: Vec<(Platform, String)> = vec![
        (platform("amd64", None), "sha256:c-amd64".into()),
        (platform("arm64", Some("v8")), "sha256:c-arm64".into()),
        (platform("arm", Some("v7")), "sha256:c-armv7".into()),
    ];
    registry.push_index(
        &image,
        "2.0.0",
        "sha256:index",
        children
            .iter()
            .map(|(p, d)| {
                let manifest = PlatformManifest {
                    index_digest: None,
                    digest: d.clone(),
                    config_digest: format!("{d}-config"),
                };
                (p.clone(), manifest)
            })
            .collect(),
    );
    let fixture = RegistryFixture {
        image,
        tags,
        missing: "localhost:5000/contract/missing".parse().unwrap(),
        index: Some(IndexFixture {
            tag: "2.0.0".into(),
            digest: "sha256:index".into(),
            children,
            absent: platform("s390x", None),
        }),
    };
    (registry, fixture)
}

#[tokio::test]
async fn in_memory_registry_keeps_the_registry_contract() {
    let (registry, fixture) = seeded_registry();
    registry_contract(&registry, &fixture).await;
}

#[tokio::test]
async fn in_memory_store_keeps_the_store_contract() {
    store_contract(&InMemoryStore::new()).await;
}

#[tokio::test]
async fn fake_runtime_keeps_the_runtime_contract() {
    let runtime = FakeRuntime::new();
    runtime.add_image(ImageDetails {
        id: "sha256:0123".into(),
        repo_tags: vec!["localhost:5000/contract/app:1.0.0".into()],
        ..ImageDetails::default()
    });
    let labels = BTreeMap::from([("dd.test".to_owned(), "contract".to_owned())]);
    let id = runtime.add_container(
        "contract-app",
        "localhost:5000/contract/app:1.0.0",
        labels,
        ContainerStatus::Running,
    );
    runtime.write_logs(&id, &["hello from the contract"]);
    let fixture = RuntimeFixture {
        id,
        name: "contract-app".into(),
        image: "localhost:5000/contract/app:1.0.0".into(),
        label: ("dd.test".into(), "contract".into()),
        log_line: "hello from the contract".into(),
    };
    runtime_contract(&runtime, &fixture).await;
    assert_eq!(
        runtime.container_names(),
        ["contract-app"],
        "left under its own name"
    );
}

/// A registry that loses the last page of tags: the contract must notice.
struct TruncatingRegistry(InMemoryRegistry);

#[async_trait]
impl Registry for TruncatingRegistry {
    async fn list_tags(&self, image: &ImageReference) -> Result<Vec<String>, RegistryError> {
        let mut tags = self.0.list_tags(image).await?;
        tags.pop();
        Ok(tags)
    }
    async fn manifest_digest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError> {
        self.0.manifest_digest(image, reference).await
    }
    async fn platform_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        self.0.platform_manifest(image, reference, platform).await
    }
    async fn image_config(
        &self,
        image: &ImageReference,
        config_digest: &str,
    ) -> Result<ImageConfig, RegistryError> {
        self.0.image_config(image, config_digest).await
    }
}

#[tokio::test]
async fn the_registry_contract_catches_a_lost_tag() {
    let (registry, fixture) = seeded_registry();
    let broken = Arc::new(TruncatingRegistry(registry));
    let outcome =
        tokio::spawn(async move { registry_contract(broken.as_ref(), &fixture).await }).await;
    let panic = outcome.expect_err("the contract must fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("list_tags"),
        "names the broken promise: {message}"
    );
}

#[tokio::test]
async fn the_store_contract_catches_an_unavailable_store() {
    let store = Arc::new(InMemoryStore::new());
    store.set_unavailable(Some("disk full"));
    let outcome = tokio::spawn(async move { store_contract(store.as_ref()).await }).await;
    let panic = outcome.expect_err("the contract must fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("disk full"), "{message}");
}

#[tokio::test]
async fn scripted_failures_and_counts() {
    let (registry, fixture) = seeded_registry();
    registry.fail_next(RegistryError::RateLimited {
        registry: "localhost:5000".into(),
        retry_after: None,
    });
    assert!(matches!(
        registry.list_tags(&fixture.image).await,
        Err(RegistryError::RateLimited { .. })
    ));
    assert_eq!(registry.list_tags(&fixture.image).await.unwrap().len(), 3);
    registry
        .manifest_digest(&fixture.image, "1.0.0")
        .await
        .unwrap();
    let counts = registry.requests();
    assert_eq!(
        (
            counts.tag_lists,
            counts.manifest_heads,
            counts.manifest_gets
        ),
        (2, 1, 0)
    );
}

fn web(update: bool) -> drydock_core::model::Container {
    use drydock_core::model::{Container, Image, KindOfUpdate, UpdateKind};
    Container {
        id: "contract-web".into(),
        name: "web".into(),
        watcher: "local".into(),
        image: Image {
            name: "acme/web".into(),
            ..Image::default()
        },
        update_available: update,
        update_kind: if update {
            UpdateKind {
                kind: KindOfUpdate::Tag,
                local_value: Some("1.0.0".into()),
                remote_value: Some("1.1.0".into()),
                semver_diff: None,
            }
        } else {
            UpdateKind::default()
        },
        ..Container::default()
    }
}

#[tokio::test]
async fn recording_notifier_keeps_the_notifier_contract() {
    let accepting = RecordingNotifier::new("ntfy.up");
    let unreachable = RecordingNotifier::new("ntfy.down");
    unreachable.fail_always(true);
    notifier_contract(NotifierFixture {
        accepting: &accepting,
        unreachable: &unreachable,
        secret: "",
    })
    .await;
    assert_eq!(accepting.delivered().len(), 2);
}

#[tokio::test]
async fn the_notifier_contract_catches_a_channel_that_claims_delivery() {
    let accepting = RecordingNotifier::new("ntfy.up");
    let claims = RecordingNotifier::new("ntfy.down");
    let outcome = tokio::spawn(async move {
        notifier_contract(NotifierFixture {
            accepting: &accepting,
            unreachable: &claims,
            secret: "",
        })
        .await;
    })
    .await;
    let panic = outcome.expect_err("the contract must fail").into_panic();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("unreachable"), "{message}");
}

#[tokio::test]
async fn recording_action_keeps_the_action_contract() {
    let action = RecordingAction::new("docker.local");
    action_contract(ActionFixture {
        action: &action,
        updatable: web(true),
        expected_image: "acme/web:1.1.0".into(),
        current: web(false),
    })
    .await;
    assert_eq!(action.runs().len(), 2);
}

#[tokio::test]
async fn the_action_contract_catches_an_action_that_fails() {
    let action = Arc::new(RecordingAction::new("docker.local"));
    action.set_failure(Some("pull refused"));
    let outcome = tokio::spawn(async move {
        action_contract(ActionFixture {
            action: action.as_ref(),
            updatable: web(true),
            expected_image: "acme/web:1.1.0".into(),
            current: web(false),
        })
        .await;
    })
    .await;
    let panic = outcome.expect_err("the contract must fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("pull refused"), "{message}");
}

fn finding(id: &str) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        severity: Severity::High,
        package: "openssl".into(),
        installed_version: "3.0.1".into(),
        fixed_version: Some("3.0.2".into()),
    }
}

#[tokio::test]
async fn fake_scanner_keeps_the_scanner_contract() {
    let scanner = FakeScanner::new(chrono::DateTime::UNIX_EPOCH);
    let vulnerable: ImageReference = "acme/old:1".parse().unwrap();
    let unscannable: ImageReference = "acme/broken:1".parse().unwrap();
    scanner.set_findings(
        &vulnerable,
        vec![finding("CVE-2024-1"), finding("CVE-2024-2")],
    );
    scanner.set_unscannable(&unscannable);
    scanner_contract(ScannerFixture {
        scanner: &scanner,
        vulnerable: (vulnerable, vec!["CVE-2024-2".into(), "CVE-2024-1".into()]),
        clean: "acme/new:2".parse().unwrap(),
        unscannable: Some(unscannable),
    })
    .await;
}

#[tokio::test]
async fn the_scanner_contract_catches_a_failed_scan_reported_as_clean() {
    // A scanner told nothing about the image answers "no findings": for the image that cannot be
    // scanned, that is the lie the contract refuses.
    let scanner = Arc::new(FakeScanner::new(chrono::DateTime::UNIX_EPOCH));
    let vulnerable: ImageReference = "acme/old:1".parse().unwrap();
    scanner.set_findings(&vulnerable, vec![finding("CVE-2024-1")]);
    let outcome = tokio::spawn(async move {
        scanner_contract(ScannerFixture {
            scanner: scanner.as_ref(),
            vulnerable: (vulnerable, vec!["CVE-2024-1".into()]),
            clean: "acme/new:2".parse().unwrap(),
            unscannable: Some("acme/broken:1".parse().unwrap()),
        })
        .await;
    })
    .await;
    let panic = outcome.expect_err("the contract must fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("must be an error"), "{message}");
}
