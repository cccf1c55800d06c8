//! The real registries: the port's contract in three auth setups and fail-closed auth. (The
//! request budget of a watch cycle is the top-level `registry_cycle` suite's.)

use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{Registry, RegistryError};
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_testkit::contract::{IndexFixture, RegistryFixture, registry_contract};

use crate::support::{Providers as _, Setup, linux, unique};

fn image(setup: Setup, repo: &str) -> ImageReference {
    format!("{}/{repo}", setup.host()).parse().unwrap()
}

async fn contract_on(setup: Setup) {
    let repo = format!("contract/{}", unique("app"));
    let amd64 = linux("amd64", None);
    let mut tags = Vec::new();
    for tag in ["1.0.0", "1.1.0"] {
        let (digest, _) = setup.push_image(&repo, tag, &amd64).await;
        tags.push((tag.to_owned(), digest));
    }
    let platforms = [
        linux("amd64", None),
        linux("arm64", Some("v8")),
        linux("arm", Some("v7")),
    ];
    let (index_digest, children) = setup.push_index(&repo, "2.0.0", &platforms).await;
    let fixture = RegistryFixture {
        image: image(setup, &repo),
        tags,
        missing: image(setup, &format!("contract/{}", unique("missing"))),
        index: Some(IndexFixture {
            tag: "2.0.0".into(),
            digest: index_digest,
            children: platforms.iter().cloned().zip(children).collect(),
            absent: linux("s390x", None),
        }),
    };
    let client = RegistryClient::new(setup.providers(), ClientOptions::default());
    registry_contract(&client, &fixture).await;
}

#[tokio::test]
async fn contract_anonymous_http() {
    contract_on(Setup::Anonymous).await;
}

#[tokio::test]
async fn contract_basic_auth_over_tls_with_a_custom_ca() {
    contract_on(Setup::Basic).await;
}

#[tokio::test]
async fn contract_bearer_tokens() {
    contract_on(Setup::Token).await;
}

#[tokio::test]
async fn the_config_blob_is_read() {
    let setup = Setup::Anonymous;
    let repo = format!("config/{}", unique("app"));
    setup
        .push_image(&repo, "3.2.1", &linux("arm64", Some("v8")))
        .await;
    let client = RegistryClient::new(Vec::new(), ClientOptions::default());
    let image = image(setup, &repo);
    let manifest = client
        .platform_manifest(&image, "3.2.1", &linux("arm64", Some("v8")))
        .await
        .unwrap();
    let config = client
        .image_config(&image, &manifest.config_digest)
        .await
        .unwrap();
    assert_eq!(
        (config.os.as_str(), config.architecture.as_str()),
        ("linux", "arm64")
    );
    assert_eq!(config.variant.as_deref(), Some("v8"));
    assert_eq!(
        config.created.map(|c| c.to_rfc3339()),
        Some("2026-11-27T10:00:00+00:00".into())
    );
    assert_eq!(config.labels["org.opencontainers.image.version"], "3.2.1");
}

#[tokio::test]
async fn without_credentials_a_private_registry_is_unauthorized() {
    let repo = format!("private/{}", unique("app"));
    Setup::Basic
        .push_image(&repo, "1.0.0", &linux("amd64", None))
        .await;
    // Only the CA, no credentials.
    let mut env = Setup::Basic.env();
    env.remove("DD_REGISTRY_CUSTOM_BASIC_LOGIN");
    env.remove("DD_REGISTRY_CUSTOM_BASIC_PASSWORD");
    let providers = drydock_registry::providers::providers_from_env(&env).unwrap();
    let client = RegistryClient::new(providers, ClientOptions::default());
    let result = client.list_tags(&image(Setup::Basic, &repo)).await;
    assert!(
        matches!(result, Err(RegistryError::Unauthorized { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn refused_credentials_never_fall_back_to_anonymous() {
    let repo = format!("private/{}", unique("app"));
    Setup::Token
        .push_image(&repo, "1.0.0", &linux("amd64", None))
        .await;
    let mut env = Setup::Token.env();
    env.insert(
        "DD_REGISTRY_CUSTOM_TOKEN_PASSWORD".into(),
        "wrong-password".into(),
    );
    let providers = drydock_registry::providers::providers_from_env(&env).unwrap();
    let client = RegistryClient::new(providers, ClientOptions::default());
    let result = client.list_tags(&image(Setup::Token, &repo)).await;
    match result {
        Err(RegistryError::Unauthorized { repository, .. }) => assert!(repository.contains(&repo)),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let message = format!("{:?}", client.list_tags(&image(Setup::Token, &repo)).await);
    assert!(
        !message.contains("wrong-password"),
        "a secret leaked: {message}"
    );
}
