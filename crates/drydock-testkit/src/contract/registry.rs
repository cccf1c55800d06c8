use drydock_core::image_ref::ImageReference;
use drydock_core::model::Platform;
use drydock_core::ports::{Registry, RegistryError};

/// What a test put into the registry under test.
#[derive(Clone, Debug)]
pub struct RegistryFixture {
    /// A repository holding exactly these tags (plus the index tag, if any).
    pub image: ImageReference,
    /// Its single-platform tags and the manifest digest each points at.
    pub tags: Vec<(String, String)>,
    /// A repository that does not exist in the registry.
    pub missing: ImageReference,
    /// A multi-platform index pushed to `image`, if the registry under test has one.
    pub index: Option<IndexFixture>,
}

/// A multi-platform index in the fixture repository.
#[derive(Clone, Debug)]
pub struct IndexFixture {
    /// The tag pointing at the index.
    pub tag: String,
    /// The index digest.
    pub digest: String,
    /// Each child's platform and manifest digest.
    pub children: Vec<(Platform, String)>,
    /// A platform the index has no child for.
    pub absent: Platform,
}

/// Checks the [`Registry`] contract against `registry`, which must hold `fixture`.
///
/// # Panics
///
/// When the registry breaks a promise of the port; the message names it.
pub async fn registry_contract(registry: &dyn Registry, fixture: &RegistryFixture) {
    let image = &fixture.image;

    let mut listed = match registry.list_tags(image).await {
        Ok(tags) => tags,
        Err(e) => panic!("list_tags({image}) failed: {e}"),
    };
    listed.sort();
    let mut expected: Vec<String> = fixture.tags.iter().map(|(t, _)| t.clone()).collect();
    expected.extend(fixture.index.iter().map(|i| i.tag.clone()));
    expected.sort();
    assert_eq!(
        listed, expected,
        "list_tags({image}) must return every tag, once"
    );

    for (tag, digest) in &fixture.tags {
        match registry.manifest_digest(image, tag).await {
            Ok(got) => assert_eq!(&got, digest, "manifest_digest({image}, {tag})"),
            Err(e) => panic!("manifest_digest({image}, {tag}) failed: {e}"),
        }
        match registry
            .platform_manifest(image, tag, &Platform::default())
            .await
        {
            Ok(m) => {
                assert_eq!(
                    &m.digest, digest,
                    "platform_manifest of a single-platform tag"
                );
                assert_eq!(m.index_digest, None, "a single-platform tag has no index");
                if let Err(e) = registry.image_config(image, &m.config_digest).await {
                    panic!("image_config({image}, {}) failed: {e}", m.config_digest);
                }
            }
            Err(e) => panic!("platform_manifest({image}, {tag}) failed: {e}"),
        }
    }

    let result = registry
        .manifest_digest(image, "drydock-contract-no-such-tag")
        .await;
    assert!(
        matches!(result, Err(RegistryError::NotFound { .. })),
        "an unknown tag must be NotFound, got {result:?}"
    );
    let result = registry.list_tags(&fixture.missing).await;
    assert!(
        matches!(result, Err(RegistryError::NotFound { .. })),
        "an unknown repository must be NotFound, got {result:?}"
    );

    if let Some(index) = &fixture.index {
        match registry.manifest_digest(image, &index.tag).await {
            Ok(got) => assert_eq!(
                got, index.digest,
                "HEAD of an index tag gives the index digest"
            ),
            Err(e) => panic!("manifest_digest({image}, {}) failed: {e}", index.tag),
        }
        for (platform, digest) in &index.children {
            match registry
                .platform_manifest(image, &index.tag, platform)
                .await
            {
                Ok(m) => {
                    assert_eq!(&m.digest, digest, "child chosen for {platform}");
                    assert_eq!(m.index_digest.as_deref(), Some(index.digest.as_str()));
                }
                Err(e) => panic!(
                    "platform_manifest({image}, {}, {platform}) failed: {e}",
                    index.tag
                ),
            }
        }
        let result = registry
            .platform_manifest(image, &index.tag, &index.absent)
            .await;
        assert!(
            matches!(result, Err(RegistryError::PlatformNotFound { .. })),
            "a platform missing from the index must be PlatformNotFound, got {result:?}"
        );
    }
}
