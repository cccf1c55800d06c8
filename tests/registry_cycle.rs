//! The registry client behind a watch cycle's cache, against the test environment's token
//! registry: each question asked once, the fewest token requests, tokens reused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use drydock_core::image_ref::ImageReference;
use drydock_core::ports::Registry;
use drydock_registry::providers::{Provider, providers_from_env};
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_testkit::engine::unique;
use drydock_testkit::registries::{Setup, issuer, linux};
use drydock_watch::CycleCache;

fn image(setup: Setup, repo: &str) -> ImageReference {
    format!("{}/{repo}", setup.host()).parse().unwrap()
}

fn providers(setup: Setup) -> Vec<Provider> {
    providers_from_env(&setup.env()).unwrap()
}

/// Token requests the issuer answered for scopes of repositories under `prefix`: the issuer
/// serves every test of this binary at once, so its total would count theirs too.
fn token_requests_for(prefix: &str) -> usize {
    issuer()
        .scopes
        .lock()
        .unwrap()
        .iter()
        .filter(|asked| asked.iter().any(|scope| scope.contains(prefix)))
        .count()
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
    let client = RegistryClient::new(providers(setup), ClientOptions::default());
    // The issuer serves every test of this binary: count only requests for these scopes.
    let tokens_before = token_requests_for(&prefix);
    run_cycle(&client, &images).await;
    let first_tokens = token_requests_for(&prefix) - tokens_before;
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

    let tokens_before = token_requests_for(&prefix);
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
        token_requests_for(&prefix) - tokens_before,
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
    for round in 0..3 {
        let client = RegistryClient::new(providers(setup), ClientOptions::default());
        let tokens_before = token_requests_for(&prefix);
        ask_concurrently(&client, &images).await;
        let tokens = token_requests_for(&prefix) - tokens_before;
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
