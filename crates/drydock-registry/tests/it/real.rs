//! The real registries: the port's contract in three auth setups, fail-closed auth, and the
//! request budget of a watch cycle.

use std::sync::atomic::Ordering;

use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{Registry, RegistryError};
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_testkit::contract::{IndexFixture, RegistryFixture, registry_contract};
use drydock_watch::CycleCache;

use crate::support::{Setup, basic_user, issuer, linux, unique};

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
    assert!(!message.contains(&basic_user()) || !message.contains("password"));
}

/// One watch cycle over 50 repositories × 2 tags, each (repository, tag) used by two containers:
/// one tag list per repository, one HEAD per (repository, tag), no manifest GET, tokens at most
/// one per scope (fewer with the multi-scope prefetch); the next cycle needs no token at all.
#[tokio::test]
async fn a_cycle_asks_each_question_once() {
    let setup = Setup::Token;
    let prefix = unique("budget");
    let mut images = Vec::new();
    for r in 0..50 {
        let repo = format!("{prefix}/app{r}");
        for tag in ["1.0.0", "1.1.0"] {
            setup.push_image(&repo, tag, &linux("amd64", None)).await;
        }
        images.push(image(setup, &repo));
    }
    let client = RegistryClient::new(setup.providers(), ClientOptions::default());
    let tokens_before = issuer().requests.load(Ordering::SeqCst);
    run_cycle(&client, &images).await;
    let first_tokens = issuer().requests.load(Ordering::SeqCst) - tokens_before;
    let log = setup.requests_mentioning(&prefix);
    let count = |method: &str, part: &str| {
        log.iter()
            .filter(|(m, uri)| m == method && uri.contains(part))
            .count()
    };
    assert_eq!(
        count("GET", "/tags/list"),
        50,
        "one tag list per repository"
    );
    assert_eq!(
        count("HEAD", "/manifests/"),
        100,
        "one HEAD per (repository, tag)"
    );
    assert_eq!(
        count("GET", "/manifests/"),
        0,
        "no manifest GET in a watch cycle"
    );
    assert!(
        first_tokens <= 50,
        "{first_tokens} token requests for 50 scopes"
    );
    assert_eq!(first_tokens, 2, "50 scopes in multi-scope requests of 25");

    let tokens_before = issuer().requests.load(Ordering::SeqCst);
    run_cycle(&client, &images).await;
    let log = setup.requests_mentioning(&prefix);
    let count = |method: &str, part: &str| {
        log.iter()
            .filter(|(m, uri)| m == method && uri.contains(part))
            .count()
    };
    assert_eq!(count("GET", "/tags/list"), 100);
    assert_eq!(count("HEAD", "/manifests/"), 200);
    assert_eq!(count("GET", "/manifests/"), 0);
    assert_eq!(
        issuer().requests.load(Ordering::SeqCst) - tokens_before,
        0,
        "tokens are reused"
    );
    let stats = client.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].manifest_gets, 0);
    assert_eq!(stats[0].tag_lists, 100);
}

/// A first cycle that does not prefetch, as the server's does: every request goes out before the
/// token challenge is known, and each 401 sends its caller for a token. It stays within one token
/// per scope. (The race in which a late 401 threw away a token fetched meanwhile is rare here;
/// `client::tests::a_401_drops_a_scopes_token_only_when_that_token_was_sent` pins the rule.)
#[tokio::test]
async fn a_first_cycle_without_prefetch_fetches_one_token_per_scope() {
    let setup = Setup::Token;
    let prefix = unique("noprefetch");
    let mut images = Vec::new();
    for r in 0..20 {
        let repo = format!("{prefix}/app{r}");
        for tag in ["1.0.0", "1.1.0"] {
            setup.push_image(&repo, tag, &linux("amd64", None)).await;
        }
        images.push(image(setup, &repo));
    }
    // The issuer serves every test of this binary: count only requests for these scopes.
    let ours = || {
        let scopes = issuer().scopes.lock().unwrap();
        scopes
            .iter()
            .filter(|asked| asked.iter().any(|scope| scope.contains(&prefix)))
            .count()
    };
    for round in 0..3 {
        let client = RegistryClient::new(setup.providers(), ClientOptions::default());
        let tokens_before = ours();
        ask_concurrently(&client, &images).await;
        let tokens = ours() - tokens_before;
        assert!(
            tokens <= images.len(),
            "round {round}: {tokens} token requests for {} scopes",
            images.len()
        );
    }
}

/// What a watch cycle asks: for each of two containers per (repository, tag), the tag list and the
/// tag's digest, concurrently, through one cycle cache.
async fn run_cycle(client: &RegistryClient, images: &[ImageReference]) {
    client.prefetch_tokens(images).await;
    ask_concurrently(client, images).await;
}

/// A cycle's questions without the prefetch.
async fn ask_concurrently(client: &RegistryClient, images: &[ImageReference]) {
    let cache = CycleCache::new(client);
    let mut calls = Vec::new();
    for image in images {
        for tag in ["1.0.0", "1.1.0", "1.0.0", "1.1.0"] {
            let cache = &cache;
            calls.push(async move {
                cache.list_tags(image).await.unwrap();
                cache.manifest_digest(image, tag).await.unwrap();
            });
        }
    }
    futures_join_all(calls).await;
}

/// A minimal join_all, to keep the dev-dependencies small.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    std::future::poll_fn(move |cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
