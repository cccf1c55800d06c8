//! The providers' unit tests: configuration, matching, endpoints, ECR.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::DateTime;
use drydock_core::image_ref::ImageReference;

use super::ecr::*;
use super::env::*;
use super::provider::*;

use crate::secret::Secret;
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

const CANARY: &str = "canary-secret-9f3b";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(pairs: &[(&str, &str)]) -> Vec<Provider> {
    match providers_from_env(&env(pairs)) {
        Ok(providers) => providers,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn parse_err(pairs: &[(&str, &str)]) -> ProviderError {
    match providers_from_env(&env(pairs)) {
        Ok(providers) => panic!("expected an error, got {providers:?}"),
        Err(e) => e,
    }
}

fn find<'a>(providers: &'a [Provider], id: &str) -> &'a Provider {
    providers
        .iter()
        .find(|p| p.id() == id)
        .unwrap_or_else(|| panic!("no provider {id} in {providers:?}"))
}

fn ids(providers: &[Provider]) -> Vec<String> {
    providers.iter().map(Provider::id).collect()
}

fn image(reference: &str) -> ImageReference {
    ImageReference::parse(reference).unwrap()
}

fn basic_of(provider: &Provider) -> (&str, &str) {
    match &provider.auth {
        ProviderAuth::Basic { username, password } => (username, password.expose()),
        other => panic!("expected Basic auth, got {other:?}"),
    }
}

fn assert_missing(error: &ProviderError, variable: &str) {
    match error {
        ProviderError::Missing { key, .. } => assert!(key.contains(variable), "{error}"),
        other => panic!("expected Missing {variable}, got {other:?}"),
    }
    assert!(error.to_string().contains(variable), "{error}");
}

fn assert_invalid(error: &ProviderError, variable: &str) {
    match error {
        ProviderError::Invalid { variable: v, .. } => assert_eq!(v, variable, "{error}"),
        other => panic!("expected Invalid {variable}, got {other:?}"),
    }
    assert!(error.to_string().contains(variable), "{error}");
}

// ---- ProviderKind ----

#[test]
fn kind_names_round_trip() {
    for kind in ProviderKind::ALL {
        assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
        assert_eq!(
            kind.as_str().to_uppercase().parse::<ProviderKind>(),
            Ok(kind)
        );
        assert_eq!(kind.to_string(), kind.as_str());
        assert!(KIND_NAMES.contains(kind.as_str()));
    }
    assert!("docker".parse::<ProviderKind>().is_err());
    assert!("".parse::<ProviderKind>().is_err());
}

#[test]
fn accepted_keys_text_lists_the_accepted_keys() {
    for kind in ProviderKind::ALL {
        let listed: Vec<&str> = kind.accepted_keys().split(", ").collect();
        let expected: Vec<&str> = kind.own_keys().iter().chain(TLS_KEYS).copied().collect();
        assert_eq!(listed, expected, "{kind}");
    }
}

// ---- defaults ----

#[test]
fn anonymous_defaults_exist_without_configuration() {
    let providers = parse(&[("PATH", "/usr/bin"), ("DD_LOG_LEVEL", "debug")]);
    assert_eq!(
        ids(&providers),
        [
            "hub.public",
            "ghcr.public",
            "lscr.public",
            "quay.public",
            "ecr.public",
            "gcr.public",
            "gar.public",
            "codeberg.public"
        ]
    );
    assert!(providers.iter().all(|p| !p.is_credentialed()));
    assert_eq!(
        find(&providers, "codeberg.public").url.as_deref(),
        Some(CODEBERG_URL)
    );
}

#[test]
fn a_credentialed_instance_replaces_the_default() {
    let providers = parse(&[
        ("DD_REGISTRY_HUB_PRIVATE_LOGIN", "me"),
        ("DD_REGISTRY_HUB_PRIVATE_PASSWORD", "pw"),
        ("DD_REGISTRY_GHCR_MIRROR", ""),
    ]);
    let ids = ids(&providers);
    assert!(ids.contains(&"hub.private".to_owned()));
    assert!(!ids.contains(&"hub.public".to_owned()));
    // An anonymous instance does not replace the default.
    assert!(ids.contains(&"ghcr.mirror".to_owned()));
    assert!(ids.contains(&"ghcr.public".to_owned()));
}

#[test]
fn configuring_the_public_name_replaces_the_default() {
    let providers = parse(&[
        ("DD_REGISTRY_QUAY_PUBLIC_NAMESPACE", "ns"),
        ("DD_REGISTRY_QUAY_PUBLIC_ACCOUNT", "bot"),
        ("DD_REGISTRY_QUAY_PUBLIC_TOKEN", "tok"),
        ("DD_REGISTRY_HUB_PUBLIC", ""),
    ]);
    assert_eq!(
        providers
            .iter()
            .filter(|p| p.kind == ProviderKind::Quay)
            .count(),
        1
    );
    assert!(find(&providers, "quay.public").is_credentialed());
    assert_eq!(
        providers
            .iter()
            .filter(|p| p.kind == ProviderKind::Hub)
            .count(),
        1
    );
}

// ---- hub ----

#[test]
fn hub_login_password_token_and_auth() {
    let providers = parse(&[
        ("DD_REGISTRY_HUB_A_LOGIN", "alice"),
        ("DD_REGISTRY_HUB_A_PASSWORD", "pw"),
        ("DD_REGISTRY_HUB_B_LOGIN", "bob"),
        ("DD_REGISTRY_HUB_B_TOKEN", "dckr_pat"),
        ("DD_REGISTRY_HUB_C_AUTH", &BASE64.encode("carol:p:w")),
    ]);
    assert_eq!(basic_of(find(&providers, "hub.a")), ("alice", "pw"));
    assert_eq!(basic_of(find(&providers, "hub.b")), ("bob", "dckr_pat"));
    assert_eq!(basic_of(find(&providers, "hub.c")), ("carol", "p:w"));
    assert_eq!(find(&providers, "hub.a").url, None);
}

#[test]
fn hub_missing_and_invalid() {
    let e = parse_err(&[("DD_REGISTRY_HUB_A_LOGIN", "alice")]);
    assert_missing(&e, "DD_REGISTRY_HUB_A_PASSWORD");
    assert!(e.to_string().contains("DD_REGISTRY_HUB_A_TOKEN"));
    let e = parse_err(&[("DD_REGISTRY_HUB_A_PASSWORD", "pw")]);
    assert_missing(&e, "DD_REGISTRY_HUB_A_LOGIN");
    let e = parse_err(&[("DD_REGISTRY_HUB_A_AUTH", "%%%")]);
    assert_invalid(&e, "DD_REGISTRY_HUB_A_AUTH");
    let e = parse_err(&[("DD_REGISTRY_HUB_A_AUTH", &BASE64.encode("no-colon"))]);
    assert_invalid(&e, "DD_REGISTRY_HUB_A_AUTH");
    let e = parse_err(&[
        ("DD_REGISTRY_HUB_A_LOGIN", "a"),
        ("DD_REGISTRY_HUB_A_AUTH", &BASE64.encode("a:b")),
    ]);
    assert_invalid(&e, "DD_REGISTRY_HUB_A_LOGIN");
    let e = parse_err(&[
        ("DD_REGISTRY_HUB_A_LOGIN", "a"),
        ("DD_REGISTRY_HUB_A_PASSWORD", "b"),
        ("DD_REGISTRY_HUB_A_TOKEN", "c"),
    ]);
    assert_invalid(&e, "DD_REGISTRY_HUB_A_TOKEN");
}

// ---- ghcr, lscr ----

#[test]
fn ghcr_and_lscr_username_and_token() {
    for kind in ["GHCR", "LSCR"] {
        let providers = parse(&[
            (&format!("DD_REGISTRY_{kind}_PRIVATE_USERNAME"), "octocat"),
            (&format!("DD_REGISTRY_{kind}_PRIVATE_TOKEN"), "ghp_x"),
        ]);
        let provider = find(&providers, &format!("{}.private", kind.to_lowercase()));
        assert_eq!(basic_of(provider), ("octocat", "ghp_x"));
        assert!(!ids(&providers).contains(&format!("{}.public", kind.to_lowercase())));

        let e = parse_err(&[(&format!("DD_REGISTRY_{kind}_PRIVATE_USERNAME"), "octocat")]);
        assert_missing(&e, &format!("DD_REGISTRY_{kind}_PRIVATE_TOKEN"));

        let variable = format!("DD_REGISTRY_{kind}_PRIVATE_INSECURE");
        let e = parse_err(&[(&variable, "yes")]);
        assert_invalid(&e, &variable);
    }
}

// ---- quay ----

#[test]
fn quay_robot_account() {
    let providers = parse(&[
        ("DD_REGISTRY_QUAY_ROBOT_NAMESPACE", "acme"),
        ("DD_REGISTRY_QUAY_ROBOT_ACCOUNT", "ci"),
        ("DD_REGISTRY_QUAY_ROBOT_TOKEN", "tok"),
    ]);
    assert_eq!(basic_of(find(&providers, "quay.robot")), ("acme+ci", "tok"));

    let e = parse_err(&[
        ("DD_REGISTRY_QUAY_ROBOT_NAMESPACE", "acme"),
        ("DD_REGISTRY_QUAY_ROBOT_TOKEN", "tok"),
    ]);
    assert_missing(&e, "DD_REGISTRY_QUAY_ROBOT_ACCOUNT");

    let e = parse_err(&[("DD_REGISTRY_QUAY_ROBOT_INSECURE", "1")]);
    assert_invalid(&e, "DD_REGISTRY_QUAY_ROBOT_INSECURE");
}

// ---- gitlab ----

#[test]
fn gitlab_token_with_default_and_custom_urls() {
    let providers = parse(&[
        ("DD_REGISTRY_GITLAB_COM_TOKEN", "glpat"),
        ("DD_REGISTRY_GITLAB_SELF_TOKEN", "glpat2"),
        (
            "DD_REGISTRY_GITLAB_SELF_URL",
            "https://registry.example.com:5050/",
        ),
        (
            "DD_REGISTRY_GITLAB_SELF_AUTHURL",
            "https://git.example.com/",
        ),
    ]);
    let com = find(&providers, "gitlab.com");
    assert_eq!(com.url.as_deref(), Some(GITLAB_DEFAULT_URL));
    assert_eq!(com.auth_hosts(), ["gitlab.com"]);
    let (username, password) = basic_of(com);
    assert!(!username.is_empty());
    assert_eq!(password, "glpat");

    let own = find(&providers, "gitlab.self");
    assert_eq!(
        own.url.as_deref(),
        Some("https://registry.example.com:5050")
    );
    assert_eq!(own.auth_url.as_deref(), Some("https://git.example.com"));
    assert_eq!(own.auth_hosts(), ["git.example.com"]);
}

#[test]
fn gitlab_missing_and_invalid() {
    let e = parse_err(&[("DD_REGISTRY_GITLAB_MINE", "")]);
    assert_missing(&e, "DD_REGISTRY_GITLAB_MINE_TOKEN");
    let e = parse_err(&[(
        "DD_REGISTRY_GITLAB_MINE_URL",
        "https://registry.example.com",
    )]);
    assert_missing(&e, "DD_REGISTRY_GITLAB_MINE_TOKEN");
    let e = parse_err(&[
        ("DD_REGISTRY_GITLAB_MINE_TOKEN", "t"),
        ("DD_REGISTRY_GITLAB_MINE_URL", "ftp://registry.example.com"),
    ]);
    assert_invalid(&e, "DD_REGISTRY_GITLAB_MINE_URL");
    let e = parse_err(&[
        ("DD_REGISTRY_GITLAB_MINE_TOKEN", "t"),
        ("DD_REGISTRY_GITLAB_MINE_AUTHURL", "gitlab.example.com"),
    ]);
    assert_invalid(&e, "DD_REGISTRY_GITLAB_MINE_AUTHURL");
}

// ---- ecr ----

#[test]
fn ecr_access_keys() {
    let providers = parse(&[
        ("DD_REGISTRY_ECR_PRIVATE_ACCESSKEYID", "AKIDEXAMPLE"),
        ("DD_REGISTRY_ECR_PRIVATE_SECRETACCESSKEY", "secret"),
        ("DD_REGISTRY_ECR_PRIVATE_REGION", "eu-west-1"),
    ]);
    let provider = find(&providers, "ecr.private");
    assert_eq!(
        provider.auth,
        ProviderAuth::Ecr {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: Secret::new("secret"),
            region: "eu-west-1".to_owned(),
        }
    );
    assert!(!ids(&providers).contains(&"ecr.public".to_owned()));
}

#[test]
fn ecr_missing_and_invalid() {
    let e = parse_err(&[
        ("DD_REGISTRY_ECR_PRIVATE_ACCESSKEYID", "AKIDEXAMPLE"),
        ("DD_REGISTRY_ECR_PRIVATE_SECRETACCESSKEY", "secret"),
    ]);
    assert_missing(&e, "DD_REGISTRY_ECR_PRIVATE_REGION");
    let e = parse_err(&[
        ("DD_REGISTRY_ECR_PRIVATE_ACCESSKEYID", "AKIDEXAMPLE"),
        ("DD_REGISTRY_ECR_PRIVATE_SECRETACCESSKEY", "secret"),
        ("DD_REGISTRY_ECR_PRIVATE_REGION", "us east/1"),
    ]);
    assert_invalid(&e, "DD_REGISTRY_ECR_PRIVATE_REGION");
}

// ---- gcr, gar ----

#[test]
fn google_service_account_key() {
    for kind in ["GCR", "GAR"] {
        let providers = parse(&[
            (
                &format!("DD_REGISTRY_{kind}_SA_CLIENTEMAIL"),
                "sa@p.iam.gserviceaccount.com",
            ),
            (
                &format!("DD_REGISTRY_{kind}_SA_PRIVATEKEY"),
                "-----BEGIN \"KEY\"-----\n",
            ),
        ]);
        let (username, password) =
            basic_of(find(&providers, &format!("{}.sa", kind.to_lowercase())));
        assert_eq!(username, "_json_key");
        let json: serde_json::Value = serde_json::from_str(password).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "service_account",
                "client_email": "sa@p.iam.gserviceaccount.com",
                "private_key": "-----BEGIN \"KEY\"-----\n",
            })
        );

        let e = parse_err(&[(&format!("DD_REGISTRY_{kind}_SA_CLIENTEMAIL"), "sa@x")]);
        assert_missing(&e, &format!("DD_REGISTRY_{kind}_SA_PRIVATEKEY"));

        let variable = format!("DD_REGISTRY_{kind}_SA_INSECURE");
        assert_invalid(&parse_err(&[(&variable, "maybe")]), &variable);
    }
}

// ---- acr ----

#[test]
fn acr_client_credentials_required() {
    let providers = parse(&[
        ("DD_REGISTRY_ACR_PROD_CLIENTID", "app-id"),
        ("DD_REGISTRY_ACR_PROD_CLIENTSECRET", "s3cr3t"),
    ]);
    assert_eq!(basic_of(find(&providers, "acr.prod")), ("app-id", "s3cr3t"));
    assert!(!ids(&providers).contains(&"acr.public".to_owned()));

    assert_missing(
        &parse_err(&[("DD_REGISTRY_ACR_PROD", "")]),
        "DD_REGISTRY_ACR_PROD_CLIENTID",
    );
    let e = parse_err(&[("DD_REGISTRY_ACR_PROD_CLIENTID", "app-id")]);
    assert_missing(&e, "DD_REGISTRY_ACR_PROD_CLIENTSECRET");
    let e = parse_err(&[
        ("DD_REGISTRY_ACR_PROD_CLIENTID", "app-id"),
        ("DD_REGISTRY_ACR_PROD_CLIENTSECRET", "s3cr3t"),
        ("DD_REGISTRY_ACR_PROD_INSECURE", "on"),
    ]);
    assert_invalid(&e, "DD_REGISTRY_ACR_PROD_INSECURE");
}

// ---- url-configured kinds ----

#[test]
fn self_hosted_kinds_need_a_url() {
    for kind in [
        "GITEA",
        "FORGEJO",
        "HARBOR",
        "NEXUS",
        "ARTIFACTORY",
        "CUSTOM",
    ] {
        let lower = kind.to_lowercase();
        let providers = parse(&[
            (
                &format!("DD_REGISTRY_{kind}_MINE_URL"),
                "https://Registry.Example.com:5443/v2/",
            ),
            (&format!("DD_REGISTRY_{kind}_MINE_LOGIN"), "me"),
            (&format!("DD_REGISTRY_{kind}_MINE_PASSWORD"), "pw"),
            (&format!("DD_REGISTRY_{kind}_OTHER_URL"), "http://10.0.0.2"),
            (
                &format!("DD_REGISTRY_{kind}_OTHER_AUTH"),
                &BASE64.encode("u:p"),
            ),
        ]);
        let mine = find(&providers, &format!("{lower}.mine"));
        assert_eq!(
            mine.url.as_deref(),
            Some("https://registry.example.com:5443")
        );
        assert_eq!(basic_of(mine), ("me", "pw"));
        let other = find(&providers, &format!("{lower}.other"));
        assert_eq!(other.url.as_deref(), Some("http://10.0.0.2"));
        assert_eq!(basic_of(other), ("u", "p"));

        let e = parse_err(&[(&format!("DD_REGISTRY_{kind}_MINE_LOGIN"), "me")]);
        assert_missing(&e, &format!("DD_REGISTRY_{kind}_MINE_URL"));
        let e = parse_err(&[(&format!("DD_REGISTRY_{kind}_MINE"), "")]);
        assert_missing(&e, &format!("DD_REGISTRY_{kind}_MINE_URL"));

        let variable = format!("DD_REGISTRY_{kind}_MINE_URL");
        assert_invalid(&parse_err(&[(&variable, "not a url")]), &variable);
    }
}

#[test]
fn url_normalisation_and_rejection() {
    let url = |value: &str| {
        parse_url(&Entry {
            variable: "DD_REGISTRY_CUSTOM_X_URL".to_owned(),
            value: value.to_owned(),
        })
    };
    assert_eq!(
        url("https://r.example.com").unwrap(),
        "https://r.example.com"
    );
    assert_eq!(
        url("https://r.example.com/").unwrap(),
        "https://r.example.com"
    );
    assert_eq!(
        url("https://r.example.com/v2").unwrap(),
        "https://r.example.com"
    );
    assert_eq!(
        url("https://r.example.com:443/v2/").unwrap(),
        "https://r.example.com"
    );
    assert_eq!(
        url("http://localhost:5000").unwrap(),
        "http://localhost:5000"
    );
    assert_eq!(url("https://[::1]:5000/").unwrap(), "https://[::1]:5000");
    assert_eq!(
        url("https://r.example.com/prefix/v2/").unwrap(),
        "https://r.example.com/prefix"
    );
    assert!(url("ftp://r.example.com").is_err());
    assert!(url("r.example.com").is_err());
    assert!(url("https://user:pw@r.example.com").is_err());
    assert!(url("https://r.example.com/?q=1").is_err());
}

// ---- codeberg ----

#[test]
fn codeberg_has_a_fixed_url() {
    let providers = parse(&[
        ("DD_REGISTRY_CODEBERG_ME_LOGIN", "me"),
        ("DD_REGISTRY_CODEBERG_ME_PASSWORD", "pw"),
    ]);
    let me = find(&providers, "codeberg.me");
    assert_eq!(me.url.as_deref(), Some(CODEBERG_URL));
    assert_eq!(basic_of(me), ("me", "pw"));
    assert!(!ids(&providers).contains(&"codeberg.public".to_owned()));

    let e = parse_err(&[("DD_REGISTRY_CODEBERG_ME_LOGIN", "me")]);
    assert_missing(&e, "DD_REGISTRY_CODEBERG_ME_PASSWORD");
    let e = parse_err(&[("DD_REGISTRY_CODEBERG_ME_AUTH", "not base64!")]);
    assert_invalid(&e, "DD_REGISTRY_CODEBERG_ME_AUTH");
    let e = parse_err(&[("DD_REGISTRY_CODEBERG_ME_URL", "https://example.com")]);
    assert!(
        matches!(e, ProviderError::UnknownKey { ref key, .. } if key == "URL"),
        "{e:?}"
    );
}

// ---- common keys and variable syntax ----

#[test]
fn tls_options_for_every_kind() {
    for kind in ProviderKind::ALL {
        let prefix = format!("DD_REGISTRY_{}_TLS", kind.as_str().to_uppercase());
        let mut pairs = vec![
            (format!("{prefix}_CAFILE"), "/etc/ca.pem".to_owned()),
            (format!("{prefix}_INSECURE"), "TRUE".to_owned()),
            (format!("{prefix}_CLIENTCERT"), "/etc/cert.pem".to_owned()),
            (format!("{prefix}_CLIENTKEY"), "/etc/key.pem".to_owned()),
        ];
        // Satisfy the required keys of each kind.
        let required: &[(&str, &str)] = match kind {
            ProviderKind::Gitlab => &[("TOKEN", "t")],
            ProviderKind::Acr => &[("CLIENTID", "i"), ("CLIENTSECRET", "s")],
            k if k.requires_url() => &[("URL", "https://r.example.com")],
            _ => &[],
        };
        pairs.extend(
            required
                .iter()
                .map(|(k, v)| (format!("{prefix}_{k}"), (*v).to_owned())),
        );
        let env: BTreeMap<String, String> = pairs.into_iter().collect();
        let providers = providers_from_env(&env).unwrap();
        let provider = find(&providers, &format!("{kind}.tls"));
        assert_eq!(
            provider.tls,
            TlsOptions {
                ca_file: Some(PathBuf::from("/etc/ca.pem")),
                insecure: true,
                client_cert: Some(PathBuf::from("/etc/cert.pem")),
                client_key: Some(PathBuf::from("/etc/key.pem")),
            }
        );
    }
    let providers = parse(&[("DD_REGISTRY_HUB_X_INSECURE", "False")]);
    assert!(!find(&providers, "hub.x").tls.insecure);
    let e = parse_err(&[("DD_REGISTRY_HUB_X_CLIENTCERT", "/c.pem")]);
    assert_missing(&e, "DD_REGISTRY_HUB_X_CLIENTKEY");
}

#[test]
fn variable_syntax_errors() {
    let e = parse_err(&[("DD_REGISTRY_DOCKER_X_LOGIN", "a")]);
    assert_eq!(
        e,
        ProviderError::UnknownKind {
            variable: "DD_REGISTRY_DOCKER_X_LOGIN".to_owned(),
            kind: "DOCKER".to_owned()
        }
    );
    assert!(e.to_string().contains("ghcr"));

    let e = parse_err(&[("DD_REGISTRY_HUB_X_USERNAME", "a")]);
    assert!(
        matches!(&e, ProviderError::UnknownKey { variable, key, accepted }
            if variable == "DD_REGISTRY_HUB_X_USERNAME" && key == "USERNAME" && accepted.contains("LOGIN")),
        "{e:?}"
    );
    let e = parse_err(&[("DD_REGISTRY_HUB_X_PASSWORD__FILE", "/run/secrets/pw")]);
    assert_invalid(&e, "DD_REGISTRY_HUB_X_PASSWORD__FILE");

    for variable in [
        "DD_REGISTRY_HUB",
        "DD_REGISTRY_HUB__LOGIN",
        "DD_REGISTRY_HUB_MY-REG_LOGIN",
        "DD_REGISTRY_HUB_é",
    ] {
        let e = parse_err(&[(variable, "")]);
        assert_eq!(
            e,
            ProviderError::InvalidName {
                variable: variable.to_owned()
            }
        );
    }
    let e = parse_err(&[("DD_REGISTRY_HUB_X", "something")]);
    assert_invalid(&e, "DD_REGISTRY_HUB_X");
}

#[test]
fn names_are_lower_cased_and_keys_case_insensitive() {
    let providers = parse(&[
        ("DD_REGISTRY_hub_Private_login", "me"),
        ("DD_REGISTRY_HUB_PRIVATE_PASSWORD", "pw"),
    ]);
    assert_eq!(basic_of(find(&providers, "hub.private")), ("me", "pw"));
}

#[test]
fn empty_values_count_as_unset() {
    let providers = parse(&[
        ("DD_REGISTRY_HUB_X_LOGIN", ""),
        ("DD_REGISTRY_HUB_X_PASSWORD", ""),
    ]);
    assert!(!find(&providers, "hub.x").is_credentialed());
}

// ---- matching, endpoints, pick ----

fn provider(pairs: &[(&str, &str)], id: &str) -> Provider {
    find(&parse(pairs), id).clone()
}

#[test]
fn docker_hub() {
    let hub = default_public(ProviderKind::Hub);
    for reference in [
        "nginx",
        "library/nginx:1.25",
        "docker.io/org/app",
        "index.docker.io/x/y",
    ] {
        let image = image(reference);
        assert!(hub.matches(&image), "{reference}");
        assert_eq!(hub.endpoint(&image), "https://registry-1.docker.io");
    }
    assert!(!hub.matches(&image("ghcr.io/o/a")));
    assert!(!hub.matches(&image("notdocker.io/o/a")));
    assert_eq!(hub.auth_hosts(), ["auth.docker.io"]);
}

#[test]
fn well_known_hosts() {
    let cases: &[(ProviderKind, &str, &[&str])] = &[
        (
            ProviderKind::Ghcr,
            "ghcr.io/o/a",
            &["evilghcr.io/o/a", "ghcr.io.evil.com/o/a"],
        ),
        (
            ProviderKind::Lscr,
            "lscr.io/linuxserver/sonarr",
            &["ghcr.io/o/a"],
        ),
        (ProviderKind::Quay, "quay.io/coreos/etcd", &["notquay.io/x"]),
        (
            ProviderKind::Gcr,
            "eu.gcr.io/p/app",
            &["gcr.io.evil.com/p/app"],
        ),
        (
            ProviderKind::Gar,
            "europe-west1-docker.pkg.dev/p/r/app",
            &["docker.pkg.dev/p/app"],
        ),
        (
            ProviderKind::Codeberg,
            "codeberg.org/forgejo/forgejo",
            &["codeberg.org:8443/x/y"],
        ),
    ];
    for (kind, yes, nos) in cases {
        let p = default_public(*kind);
        let served = image(yes);
        assert!(p.matches(&served), "{kind} {yes}");
        let expected = if *kind == ProviderKind::Codeberg {
            CODEBERG_URL.to_owned()
        } else {
            format!("https://{}", served.registry())
        };
        assert_eq!(p.endpoint(&served), expected);
        for no in *nos {
            assert!(!p.matches(&image(no)), "{kind} {no}");
        }
    }
    assert_eq!(default_public(ProviderKind::Quay).auth_hosts(), ["quay.io"]);
    assert!(default_public(ProviderKind::Ghcr).auth_hosts().is_empty());
}

#[test]
fn acr_matches_azurecr_subdomains() {
    let acr = provider(
        &[
            ("DD_REGISTRY_ACR_X_CLIENTID", "i"),
            ("DD_REGISTRY_ACR_X_CLIENTSECRET", "s"),
        ],
        "acr.x",
    );
    let on_acr = image("myreg.azurecr.io/app");
    assert!(acr.matches(&on_acr));
    assert_eq!(acr.endpoint(&on_acr), "https://myreg.azurecr.io");
    assert!(!acr.matches(&image("azurecr.io.evil.com/app")));
}

#[test]
fn ecr_matches_private_only_with_credentials() {
    let private = image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1");
    let public = image("public.ecr.aws/nginx/nginx");
    let anonymous = default_public(ProviderKind::Ecr);
    assert!(anonymous.matches(&public));
    assert!(!anonymous.matches(&private));
    assert_eq!(anonymous.endpoint(&public), "https://public.ecr.aws");

    let ecr = provider(
        &[
            ("DD_REGISTRY_ECR_X_ACCESSKEYID", "AKID"),
            ("DD_REGISTRY_ECR_X_SECRETACCESSKEY", "s"),
            ("DD_REGISTRY_ECR_X_REGION", "eu-west-1"),
        ],
        "ecr.x",
    );
    assert!(ecr.matches(&private));
    assert!(ecr.matches(&public));
    assert!(!ecr.matches(&image("dkr.ecr.eu-west-1.amazonaws.com/app")));
    assert!(!ecr.matches(&image("s3.eu-west-1.amazonaws.com/app")));
    assert_eq!(
        ecr.endpoint(&private),
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    );
    assert!(matches!(ecr.auth_for(&private), ProviderAuth::Ecr { .. }));
    assert_eq!(ecr.auth_for(&public), &ProviderAuth::Anonymous);
}

#[test]
fn gitlab_matches_its_url_host() {
    let gitlab = provider(&[("DD_REGISTRY_GITLAB_X_TOKEN", "t")], "gitlab.x");
    let on_gitlab = image("registry.gitlab.com/group/project");
    assert!(gitlab.matches(&on_gitlab));
    assert_eq!(gitlab.endpoint(&on_gitlab), "https://registry.gitlab.com");
    assert!(!gitlab.matches(&image("gitlab.com/group/project")));
}

#[test]
fn every_self_hosted_kind_matches_its_url() {
    for kind in [
        "GITEA",
        "FORGEJO",
        "HARBOR",
        "NEXUS",
        "ARTIFACTORY",
        "CUSTOM",
    ] {
        let providers = parse(&[(
            &format!("DD_REGISTRY_{kind}_X_URL"),
            "https://registry.example.com:5443/v2",
        )]);
        let p = find(&providers, &format!("{}.x", kind.to_lowercase()));
        let served = image("registry.example.com:5443/team/app:1.0");
        assert!(p.matches(&served), "{kind}");
        assert_eq!(p.endpoint(&served), "https://registry.example.com:5443");
        assert_eq!(pick(&providers, &served).map(Provider::id), Some(p.id()));
        assert!(
            !p.matches(&image("registry.example.com/team/app")),
            "{kind}"
        );
        assert!(
            !p.matches(&image("registry.example.com:5444/team/app")),
            "{kind}"
        );
        assert!(!p.matches(&image("nginx")), "{kind}");
        assert!(p.auth_hosts().is_empty());
    }
}

#[test]
fn url_kinds_match_host_and_port() {
    let custom = provider(
        &[("DD_REGISTRY_CUSTOM_LOCAL_URL", "http://localhost:5000")],
        "custom.local",
    );
    let on_5000 = image("localhost:5000/app");
    assert!(custom.matches(&on_5000));
    assert!(!custom.matches(&image("localhost:5001/app")));
    assert!(!custom.matches(&image("localhost/app")));
    assert_eq!(custom.endpoint(&on_5000), "http://localhost:5000");

    let loopback_tls = provider(
        &[("DD_REGISTRY_CUSTOM_TLS_URL", "https://127.0.0.1:5001")],
        "custom.tls",
    );
    let on_5001 = image("127.0.0.1:5001/app");
    assert!(loopback_tls.matches(&on_5001));
    assert_eq!(loopback_tls.endpoint(&on_5001), "https://127.0.0.1:5001");

    let harbor = provider(
        &[("DD_REGISTRY_HARBOR_H_URL", "https://Harbor.Example.com")],
        "harbor.h",
    );
    assert!(harbor.matches(&image("harbor.example.com/proj/app")));
    assert!(harbor.matches(&image("harbor.example.com:443/proj/app")));
    assert!(!harbor.matches(&image("harbor.example.com:8443/proj/app")));
    assert!(!harbor.matches(&image("other.example.com/proj/app")));
    assert!(harbor.auth_hosts().is_empty());
}

#[test]
fn loopback_images_without_a_url_use_http() {
    for (reference, endpoint) in [
        ("localhost:5000/app", "http://localhost:5000"),
        ("localhost/app", "http://localhost"),
        ("127.0.0.1:5001/app", "http://127.0.0.1:5001"),
        ("[::1]:5000/app", "http://[::1]:5000"),
        ("registry.local:5000/app", "https://registry.local:5000"),
    ] {
        let image = image(reference);
        let anonymous = Provider::anonymous_for(&image);
        assert_eq!(anonymous.kind, ProviderKind::Custom);
        assert_eq!(anonymous.name, "anonymous");
        assert_eq!(anonymous.endpoint(&image), endpoint, "{reference}");
        assert_eq!(anonymous.url.as_deref(), Some(endpoint));
        assert!(anonymous.matches(&image), "{reference}");
        assert!(!anonymous.is_credentialed());
        assert_eq!(
            default_public(ProviderKind::Ghcr).endpoint(&image),
            endpoint
        );
    }
    let hub = Provider::anonymous_for(&image("nginx"));
    assert_eq!(hub.kind, ProviderKind::Hub);
    assert_eq!(hub.endpoint(&image("nginx")), HUB_ENDPOINT);
}

#[test]
fn split_host_port_handles_ipv6_and_bad_ports() {
    assert_eq!(split_host_port("docker.io"), ("docker.io", None));
    assert_eq!(split_host_port("localhost:5000"), ("localhost", Some(5000)));
    assert_eq!(split_host_port("[::1]:5000"), ("[::1]", Some(5000)));
    assert_eq!(split_host_port("[::1]"), ("[::1]", None));
    assert_eq!(split_host_port("host:99999"), ("host", None));
}

#[test]
fn pick_prefers_credentialed_then_name() {
    let providers = parse(&[
        ("DD_REGISTRY_HUB_ZETA_LOGIN", "z"),
        ("DD_REGISTRY_HUB_ZETA_PASSWORD", "pw"),
        ("DD_REGISTRY_HUB_ALPHA_LOGIN", "a"),
        ("DD_REGISTRY_HUB_ALPHA_PASSWORD", "pw"),
        ("DD_REGISTRY_HUB_AAA", ""),
        ("DD_REGISTRY_GHCR_B", ""),
        ("DD_REGISTRY_GHCR_A", ""),
    ]);
    assert_eq!(
        pick(&providers, &image("nginx"))
            .map(Provider::id)
            .as_deref(),
        Some("hub.alpha")
    );
    assert_eq!(
        pick(&providers, &image("ghcr.io/o/a"))
            .map(Provider::id)
            .as_deref(),
        Some("ghcr.a")
    );
    assert_eq!(pick(&providers, &image("registry.example.com/x")), None);
    let mut reversed = providers.clone();
    reversed.reverse();
    assert_eq!(
        pick(&reversed, &image("nginx"))
            .map(Provider::id)
            .as_deref(),
        Some("hub.alpha")
    );
}

// ---- secrets never leak ----

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let auth = BASE64.encode(format!("user:{CANARY}"));
    let providers = parse(&[
        ("DD_REGISTRY_HUB_A_LOGIN", "me"),
        ("DD_REGISTRY_HUB_A_PASSWORD", CANARY),
        ("DD_REGISTRY_HUB_B_AUTH", &auth),
        ("DD_REGISTRY_GHCR_A_USERNAME", "me"),
        ("DD_REGISTRY_GHCR_A_TOKEN", CANARY),
        ("DD_REGISTRY_QUAY_A_NAMESPACE", "n"),
        ("DD_REGISTRY_QUAY_A_ACCOUNT", "a"),
        ("DD_REGISTRY_QUAY_A_TOKEN", CANARY),
        ("DD_REGISTRY_GITLAB_A_TOKEN", CANARY),
        ("DD_REGISTRY_ECR_A_ACCESSKEYID", "AKID"),
        ("DD_REGISTRY_ECR_A_SECRETACCESSKEY", CANARY),
        ("DD_REGISTRY_ECR_A_REGION", "us-east-1"),
        ("DD_REGISTRY_GCR_A_CLIENTEMAIL", "sa@x"),
        ("DD_REGISTRY_GCR_A_PRIVATEKEY", CANARY),
        ("DD_REGISTRY_ACR_A_CLIENTID", "id"),
        ("DD_REGISTRY_ACR_A_CLIENTSECRET", CANARY),
        ("DD_REGISTRY_CUSTOM_A_URL", "https://r.example.com"),
        ("DD_REGISTRY_CUSTOM_A_LOGIN", "me"),
        ("DD_REGISTRY_CUSTOM_A_PASSWORD", CANARY),
    ]);
    let debug = format!("{providers:?} {providers:#?}");
    assert!(!debug.contains(CANARY));
    assert!(!debug.contains(&auth));
    let request = find(&providers, "ecr.a")
        .ecr_token_request(SystemTime::now())
        .unwrap();
    assert!(!format!("{request:?}").contains(CANARY));

    let failing: &[&[(&str, &str)]] = &[
        &[("DD_REGISTRY_HUB_A_AUTH", CANARY)],
        &[("DD_REGISTRY_HUB_A_PASSWORD", CANARY)],
        &[
            ("DD_REGISTRY_HUB_A_LOGIN", "me"),
            ("DD_REGISTRY_HUB_A_PASSWORD", CANARY),
            ("DD_REGISTRY_HUB_A_TOKEN", CANARY),
        ],
        &[
            ("DD_REGISTRY_HUB_A_AUTH", &auth),
            ("DD_REGISTRY_HUB_A_PASSWORD", CANARY),
        ],
        &[("DD_REGISTRY_HUB_A", CANARY)],
        &[("DD_REGISTRY_HUB_A_INSECURE", CANARY)],
        &[("DD_REGISTRY_HUB_A_NOPE", CANARY)],
        &[("DD_REGISTRY_GHCR_A_TOKEN", CANARY)],
        &[("DD_REGISTRY_QUAY_A_TOKEN", CANARY)],
        &[("DD_REGISTRY_ECR_A_SECRETACCESSKEY", CANARY)],
        &[
            ("DD_REGISTRY_ECR_A_ACCESSKEYID", "a"),
            ("DD_REGISTRY_ECR_A_SECRETACCESSKEY", "s"),
            ("DD_REGISTRY_ECR_A_REGION", &format!("{CANARY}/x")),
        ],
        &[("DD_REGISTRY_GCR_A_PRIVATEKEY", CANARY)],
        &[("DD_REGISTRY_ACR_A_CLIENTSECRET", CANARY)],
        &[("DD_REGISTRY_CUSTOM_A_URL", CANARY)],
        &[(
            "DD_REGISTRY_CUSTOM_A_URL",
            &format!("https://u:{CANARY}@r.example.com"),
        )],
        &[(
            "DD_REGISTRY_CUSTOM_A_URL",
            &format!("https://r.example.com/?token={CANARY}"),
        )],
        &[("DD_REGISTRY_CUSTOM_A_URL", &format!("https://{CANARY}:x"))],
        &[
            ("DD_REGISTRY_GITLAB_A_TOKEN", CANARY),
            ("DD_REGISTRY_GITLAB_A_AUTHURL", CANARY),
        ],
    ];
    for pairs in failing {
        let e = parse_err(pairs);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
    }

    for body in [
        format!("{{\"authorizationData\":[{{\"authorizationToken\":\"{CANARY}\"}}]}}"),
        format!(
            "{{\"authorizationData\":[{{\"authorizationToken\":\"{}\"}}]}}",
            BASE64.encode(CANARY)
        ),
        format!("{{\"authorizationData\":[{{\"authorizationToken\":{CANARY}}}]}}"),
        format!("{{\"authorizationData\":\"{CANARY}\"}}"),
    ] {
        let e = parse_ecr_token_response(&body).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
    }
    let ok = format!(
        "{{\"authorizationData\":[{{\"authorizationToken\":\"{}\"}}]}}",
        BASE64.encode(format!("AWS:{CANARY}"))
    );
    assert!(!format!("{:?}", parse_ecr_token_response(&ok).unwrap()).contains(CANARY));
}

// ---- ECR signing and response ----

/// 2015-08-30T12:36:00Z, the date of AWS's SigV4 examples.
fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn ecr_provider(secret: &str) -> Provider {
    Provider {
        kind: ProviderKind::Ecr,
        name: "private".to_owned(),
        url: None,
        auth_url: None,
        auth: ProviderAuth::Ecr {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: Secret::new(secret),
            region: "us-east-1".to_owned(),
        },
        tls: TlsOptions::default(),
    }
}

fn header<'a>(request: &'a SignedRequest, name: &str) -> &'a str {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {request:?}"))
}

#[test]
fn ecr_token_request_is_signed_deterministically() {
    let provider = ecr_provider("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let request = provider.ecr_token_request(example_time()).unwrap().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://api.ecr.us-east-1.amazonaws.com/");
    assert_eq!(request.body, "{}");
    assert_eq!(header(&request, "X-Amz-Target"), ECR_TARGET);
    assert_eq!(
        header(&request, "Content-Type"),
        "application/x-amz-json-1.1"
    );
    assert_eq!(header(&request, "x-amz-date"), "20150830T123600Z");

    let authorization = header(&request, "authorization");
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecr/aws4_request, SignedHeaders="
        ),
        "{authorization}"
    );
    let signed_headers = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    assert_eq!(signed_headers, "content-type;host;x-amz-date;x-amz-target");
    let signature = authorization.split("Signature=").nth(1).unwrap();
    assert_eq!(signature.len(), 64, "{authorization}");
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    let again = provider.ecr_token_request(example_time()).unwrap().unwrap();
    assert_eq!(again, request);
    let other = ecr_provider("another-secret")
        .ecr_token_request(example_time())
        .unwrap()
        .unwrap();
    assert_ne!(header(&other, "authorization"), authorization);
    let later = provider
        .ecr_token_request(example_time() + Duration::from_secs(1))
        .unwrap()
        .unwrap();
    assert_ne!(header(&later, "authorization"), authorization);
}

#[test]
fn ecr_token_request_is_none_for_other_kinds() {
    assert_eq!(
        default_public(ProviderKind::Ecr).ecr_token_request(example_time()),
        Ok(None)
    );
    assert_eq!(
        default_public(ProviderKind::Hub).ecr_token_request(example_time()),
        Ok(None)
    );
}

#[test]
fn ecr_token_response_is_decoded() {
    let body = format!(
        r#"{{"authorizationData":[{{"authorizationToken":"{}","expiresAt":1700000000.5,"proxyEndpoint":"https://123.dkr.ecr.us-east-1.amazonaws.com"}}]}}"#,
        BASE64.encode("AWS:pass:word")
    );
    let (username, password, expires_at) = parse_ecr_token_response(&body).unwrap();
    assert_eq!(username, "AWS");
    assert_eq!(password.expose(), "pass:word");
    assert_eq!(
        expires_at,
        DateTime::from_timestamp(1_700_000_000, 500_000_000)
    );

    let body = format!(
        r#"{{"authorizationData":[{{"authorizationToken":"{}"}}]}}"#,
        BASE64.encode("AWS:p")
    );
    assert_eq!(parse_ecr_token_response(&body).unwrap().2, None);

    for bad in [
        "",
        "[]",
        r#"{"authorizationData":[]}"#,
        r#"{"authorizationData":[{}]}"#,
        r#"{"authorizationData":[{"authorizationToken":"@@"}]}"#,
        r#"{"authorizationData":[{"authorizationToken":"QVdT","expiresAt":1}]}"#,
        r#"{"authorizationData":[{"authorizationToken":"QVdTOnA=","expiresAt":"soon"}]}"#,
        r#"{"authorizationData":[{"authorizationToken":"QVdTOnA=","expiresAt":1e300}]}"#,
    ] {
        assert!(
            matches!(
                parse_ecr_token_response(bad),
                Err(ProviderError::EcrResponse { .. })
            ),
            "{bad}"
        );
    }
}

// ---- properties ----

fn variable_strategy() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![Just("DD_REGISTRY_"), Just("DD_"), Just("")];
    let kind = prop_oneof![
        proptest::sample::select(ProviderKind::ALL.map(ProviderKind::as_str).to_vec())
            .prop_map(str::to_uppercase),
        "[A-Za-z_]{0,6}",
    ];
    let name = "[a-zA-Z0-9_é-]{0,5}";
    let key = prop_oneof![
        Just(String::new()),
        proptest::sample::select(vec![
            "_LOGIN",
            "_PASSWORD",
            "_TOKEN",
            "_AUTH",
            "_URL",
            "_AUTHURL",
            "_USERNAME",
            "_NAMESPACE",
            "_ACCOUNT",
            "_ACCESSKEYID",
            "_SECRETACCESSKEY",
            "_REGION",
            "_CLIENTEMAIL",
            "_PRIVATEKEY",
            "_CLIENTID",
            "_CLIENTSECRET",
            "_CAFILE",
            "_INSECURE",
            "_CLIENTCERT",
            "_CLIENTKEY",
            "_PASSWORD__FILE",
        ])
        .prop_map(str::to_owned),
        "_[A-Z_]{0,8}",
    ];
    prop_oneof![
        (prefix, kind, name, key).prop_map(|(p, k, n, key)| format!("{p}{k}_{n}{key}")),
        "\\PC{0,24}",
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("true".to_owned()),
        Just("https://r.example.com:5443/v2/".to_owned()),
        Just("http://localhost:5000".to_owned()),
        Just("us-east-1".to_owned()),
        Just(BASE64.encode("user:pw")),
        "\\PC{0,24}",
    ]
}

proptest! {
    #[test]
    fn parsers_never_panic(
        env in proptest::collection::btree_map(variable_strategy(), value_strategy(), 0..10),
        reference in prop_oneof![
            Just("nginx"), Just("localhost:5000/a"), Just("r.example.com:5443/a"),
            Just("[::1]:5000/a"), Just("public.ecr.aws/a/b"), Just("1.dkr.ecr.x.amazonaws.com/a"),
        ],
    ) {
        let image = image(reference);
        if let Ok(providers) = providers_from_env(&env) {
            for provider in &providers {
                let _ = (provider.matches(&image), provider.endpoint(&image), provider.auth_hosts());
                let _ = provider.ecr_token_request(example_time());
                prop_assert!(!provider.name.is_empty());
            }
            let _ = pick(&providers, &image);
        }
        let _ = Provider::anonymous_for(&image);
    }

    #[test]
    fn ecr_response_parser_never_panics(body in "\\PC{0,64}", expires in proptest::num::f64::ANY) {
        let _ = parse_ecr_token_response(&body);
        let with_number = format!(
            r#"{{"authorizationData":[{{"authorizationToken":"QVdTOnA=","expiresAt":{expires}}}]}}"#
        );
        let _ = parse_ecr_token_response(&with_number);
    }

    #[test]
    fn host_helpers_never_panic(registry in "\\PC{0,24}") {
        let (host, _) = split_host_port(&registry);
        let _ = (is_loopback(host), is_private_ecr_host(host), default_endpoint(&registry));
    }
}
