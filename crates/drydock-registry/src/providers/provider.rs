//! Providers and what they answer for an image: which one serves it, its endpoint, where its
//! credentials may go.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use drydock_core::image_ref::ImageReference;
use reqwest::Url;

use crate::secret::Secret;

/// Prefix of the registry configuration variables.
pub(super) const DD_PREFIX: &str = "DD_REGISTRY_";
/// Suffix of the variables whose value is a path to read the real value from.
pub(super) const FILE_SUFFIX: &str = "__FILE";
/// Name of the default anonymous instances.
pub(super) const DEFAULT_NAME: &str = "public";
/// Name of the providers made by [`Provider::anonymous_for`].
pub(super) const ANONYMOUS_NAME: &str = "anonymous";
/// The registry host of Docker Hub images.
pub(super) const HUB_HOST: &str = "docker.io";
/// Where Docker Hub's registry API is served.
pub(super) const HUB_ENDPOINT: &str = "https://registry-1.docker.io";
/// Docker Hub's token service.
pub(super) const HUB_AUTH_HOST: &str = "auth.docker.io";
/// Quay's token service (`https://quay.io/v2/auth`), also used for Quay images on other hosts.
pub(super) const QUAY_AUTH_HOST: &str = "quay.io";
/// The GitLab registry used when `URL` is not set.
pub(super) const GITLAB_DEFAULT_URL: &str = "https://registry.gitlab.com";
/// The GitLab instance issuing registry tokens when `AUTHURL` is not set.
pub(super) const GITLAB_DEFAULT_AUTH_URL: &str = "https://gitlab.com";
/// The Basic user name sent with a GitLab token. GitLab checks access tokens
/// whatever the user name; `oauth2` also makes OAuth tokens work.
pub(super) const GITLAB_USERNAME: &str = "oauth2";
/// Codeberg's fixed registry URL.
pub(super) const CODEBERG_URL: &str = "https://codeberg.org";
/// The host of the public ECR gallery, served anonymously.
pub(super) const ECR_PUBLIC_HOST: &str = "public.ecr.aws";
/// The Basic user name that makes Google registries read the password as a service-account key.
pub(super) const GOOGLE_JSON_KEY_USER: &str = "_json_key";

/// The `ProviderAuth` returned where a provider's credentials do not apply.
static ANONYMOUS: ProviderAuth = ProviderAuth::Anonymous;

/// Keys every provider type accepts: TLS settings.
pub(super) const TLS_KEYS: &[&str] = &["CAFILE", "INSECURE", "CLIENTCERT", "CLIENTKEY"];

/// Registry provider types, as named in `DD_REGISTRY_{TYPE}_{NAME}_*`.
///
/// [`FromStr`] accepts the lower-case names below in any case;
/// [`ProviderKind::as_str`] and [`Display`](fmt::Display) give them back in
/// lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// `hub`: Docker Hub (`docker.io`).
    Hub,
    /// `ghcr`: GitHub Container Registry (`ghcr.io`).
    Ghcr,
    /// `lscr`: LinuxServer.io's registry (`lscr.io`), served by GHCR.
    Lscr,
    /// `quay`: Quay (`quay.io`).
    Quay,
    /// `gitlab`: a GitLab container registry (`registry.gitlab.com` by default).
    Gitlab,
    /// `ecr`: AWS Elastic Container Registry (private and `public.ecr.aws`).
    Ecr,
    /// `gcr`: Google Container Registry (`gcr.io`).
    Gcr,
    /// `gar`: Google Artifact Registry (`*-docker.pkg.dev`).
    Gar,
    /// `acr`: Azure Container Registry (`*.azurecr.io`).
    Acr,
    /// `gitea`: a self-hosted Gitea package registry.
    Gitea,
    /// `forgejo`: a self-hosted Forgejo package registry.
    Forgejo,
    /// `codeberg`: Codeberg's Forgejo registry (`codeberg.org`).
    Codeberg,
    /// `harbor`: a Harbor registry.
    Harbor,
    /// `nexus`: a Sonatype Nexus Docker repository.
    Nexus,
    /// `artifactory`: a JFrog Artifactory Docker repository.
    Artifactory,
    /// `custom`: any other registry implementing the distribution API.
    Custom,
}

impl ProviderKind {
    /// Every provider type, in declaration order.
    pub const ALL: [Self; 16] = [
        Self::Hub,
        Self::Ghcr,
        Self::Lscr,
        Self::Quay,
        Self::Gitlab,
        Self::Ecr,
        Self::Gcr,
        Self::Gar,
        Self::Acr,
        Self::Gitea,
        Self::Forgejo,
        Self::Codeberg,
        Self::Harbor,
        Self::Nexus,
        Self::Artifactory,
        Self::Custom,
    ];

    /// The types that have an anonymous `public` instance by default.
    pub(super) const DEFAULT_PUBLIC: [Self; 8] = [
        Self::Hub,
        Self::Ghcr,
        Self::Lscr,
        Self::Quay,
        Self::Gcr,
        Self::Gar,
        Self::Ecr,
        Self::Codeberg,
    ];

    /// The lower-case name used in variable names: `"hub"`, `"ghcr"`, ….
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hub => "hub",
            Self::Ghcr => "ghcr",
            Self::Lscr => "lscr",
            Self::Quay => "quay",
            Self::Gitlab => "gitlab",
            Self::Ecr => "ecr",
            Self::Gcr => "gcr",
            Self::Gar => "gar",
            Self::Acr => "acr",
            Self::Gitea => "gitea",
            Self::Forgejo => "forgejo",
            Self::Codeberg => "codeberg",
            Self::Harbor => "harbor",
            Self::Nexus => "nexus",
            Self::Artifactory => "artifactory",
            Self::Custom => "custom",
        }
    }

    /// The keys of this type besides [`TLS_KEYS`].
    pub(super) fn own_keys(self) -> &'static [&'static str] {
        match self {
            Self::Hub => &["LOGIN", "PASSWORD", "TOKEN", "AUTH"],
            Self::Ghcr | Self::Lscr => &["USERNAME", "TOKEN"],
            Self::Quay => &["NAMESPACE", "ACCOUNT", "TOKEN"],
            Self::Gitlab => &["TOKEN", "URL", "AUTHURL"],
            Self::Ecr => &["ACCESSKEYID", "SECRETACCESSKEY", "REGION"],
            Self::Gcr | Self::Gar => &["CLIENTEMAIL", "PRIVATEKEY"],
            Self::Acr => &["CLIENTID", "CLIENTSECRET"],
            Self::Codeberg => &["LOGIN", "PASSWORD", "AUTH"],
            Self::Gitea
            | Self::Forgejo
            | Self::Harbor
            | Self::Nexus
            | Self::Artifactory
            | Self::Custom => &["URL", "LOGIN", "PASSWORD", "AUTH"],
        }
    }

    /// All accepted keys, as listed in [`ProviderError::UnknownKey`].
    pub(super) fn accepted_keys(self) -> &'static str {
        match self {
            Self::Hub => "LOGIN, PASSWORD, TOKEN, AUTH, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Ghcr | Self::Lscr => "USERNAME, TOKEN, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Quay => "NAMESPACE, ACCOUNT, TOKEN, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Gitlab => "TOKEN, URL, AUTHURL, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Ecr => {
                "ACCESSKEYID, SECRETACCESSKEY, REGION, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY"
            }
            Self::Gcr | Self::Gar => {
                "CLIENTEMAIL, PRIVATEKEY, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY"
            }
            Self::Acr => "CLIENTID, CLIENTSECRET, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Codeberg => "LOGIN, PASSWORD, AUTH, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
            Self::Gitea
            | Self::Forgejo
            | Self::Harbor
            | Self::Nexus
            | Self::Artifactory
            | Self::Custom => "URL, LOGIN, PASSWORD, AUTH, CAFILE, INSECURE, CLIENTCERT, CLIENTKEY",
        }
    }

    /// Whether `key` (upper case) is a configuration key of this type.
    pub(super) fn accepts(self, key: &str) -> bool {
        self.own_keys().contains(&key) || TLS_KEYS.contains(&key)
    }

    /// Whether instances of this type must have a `URL` key.
    pub(super) fn requires_url(self) -> bool {
        matches!(
            self,
            Self::Gitea
                | Self::Forgejo
                | Self::Harbor
                | Self::Nexus
                | Self::Artifactory
                | Self::Custom
        )
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`ProviderKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown registry type {kind:?}; expected one of {}", KIND_NAMES)]
pub struct ParseProviderKindError {
    /// The rejected type name.
    pub kind: String,
}

/// The accepted type names, for error messages.
pub(super) const KIND_NAMES: &str = "hub, ghcr, lscr, quay, gitlab, ecr, gcr, gar, acr, gitea, forgejo, \
                          codeberg, harbor, nexus, artifactory, custom";

impl FromStr for ProviderKind {
    type Err = ParseProviderKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseProviderKindError { kind: s.to_owned() })
    }
}

/// One configured registry provider instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider type.
    pub kind: ProviderKind,
    /// The instance name, lower-case (`public`, `private`, `mine`).
    pub name: String,
    /// The configured base URL without trailing `/` and without `/v2`
    /// (`https://registry.example.com:5443`). Always set for gitea, forgejo,
    /// harbor, nexus, artifactory and custom; `https://registry.gitlab.com` by
    /// default for gitlab; `https://codeberg.org` for codeberg; `None` for the
    /// others, which serve the image's own host.
    pub url: Option<String>,
    /// GitLab only: the base URL of the instance issuing registry tokens
    /// (`AUTHURL`, `https://gitlab.com` by default). `None` for other types.
    pub auth_url: Option<String>,
    /// The credentials, if any.
    pub auth: ProviderAuth,
    /// TLS settings for every request to this registry.
    pub tls: TlsOptions,
}

/// How drydock authenticates to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAuth {
    /// No credentials: anonymous token flow only.
    Anonymous,
    /// Username and password (or token used as password) sent to the
    /// registry's token endpoint or as Basic.
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// AWS ECR: exchanged for Basic credentials through ECR GetAuthorizationToken.
    Ecr {
        /// The AWS access key ID.
        access_key_id: String,
        /// The AWS secret access key.
        secret_access_key: Secret,
        /// The AWS region whose ECR API issues the token (`us-east-1`).
        region: String,
    },
}

/// TLS settings of a provider (`CAFILE`, `INSECURE`, `CLIENTCERT`, `CLIENTKEY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (warned about on every request).
    pub insecure: bool,
    /// A PEM client certificate for mutual TLS; set together with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

/// An HTTP request ready to send, produced by [`Provider::ecr_token_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The HTTP method (`POST`).
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Headers to send, signature included. `Host` is not listed: it was
    /// signed as the URL's host, which is what HTTP clients send.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: String,
}

/// Why the registry configuration or an ECR exchange is invalid.
///
/// Messages name the variable concerned and what it accepts, and never
/// include a configured value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// `DD_REGISTRY_{TYPE}_…` names no known provider type.
    #[error(
        "{variable}: unknown registry type {kind:?}; expected one of {}",
        KIND_NAMES
    )]
    UnknownKind {
        /// The variable.
        variable: String,
        /// The type as written in the variable name.
        kind: String,
    },

    /// The key after the instance name is not one the type accepts.
    #[error("{variable}: unknown key {key:?}; this registry type accepts {accepted}")]
    UnknownKey {
        /// The variable.
        variable: String,
        /// The key as written in the variable name.
        key: String,
        /// The keys the type accepts.
        accepted: &'static str,
    },

    /// A required key is missing.
    #[error("registry {provider}: {key} is missing ({requirement})")]
    Missing {
        /// The provider id (`gitlab.mine`).
        provider: String,
        /// The missing variable, or alternatives (`DD_REGISTRY_GITLAB_MINE_TOKEN`).
        key: String,
        /// What the type requires.
        requirement: &'static str,
    },

    /// A value is malformed or conflicts with another variable.
    #[error("{variable}: {reason}")]
    Invalid {
        /// The variable.
        variable: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// The instance name is missing or not `[a-z0-9]+`.
    #[error(
        "{variable}: invalid registry instance name; expected DD_REGISTRY_{{TYPE}}_{{NAME}}[_{{KEY}}] \
         with a name of letters and digits only"
    )]
    InvalidName {
        /// The variable.
        variable: String,
    },

    /// The ECR token request could not be signed.
    #[error("registry {provider}: cannot sign the ECR GetAuthorizationToken request: {reason}")]
    EcrSigning {
        /// The provider id.
        provider: String,
        /// Why signing failed.
        reason: String,
    },

    /// The ECR GetAuthorizationToken response is not what AWS documents.
    #[error("invalid ECR GetAuthorizationToken response: {reason}")]
    EcrResponse {
        /// What is wrong with it.
        reason: String,
    },
}

impl Provider {
    /// The provider's id, `"{kind}.{name}"` (`"hub.public"`).
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }

    /// Whether the provider has credentials.
    #[must_use]
    pub fn is_credentialed(&self) -> bool {
        !matches!(self.auth, ProviderAuth::Anonymous)
    }

    /// Whether this provider serves `image`, judged on the image's registry host.
    ///
    /// Docker Hub: `docker.io` and `*.docker.io`. ghcr, lscr, quay, gcr:
    /// that domain or a subdomain of it. gar: `*-docker.pkg.dev`. acr:
    /// `*.azurecr.io`. ecr: `public.ecr.aws`, and with credentials also
    /// `*.dkr.ecr.*.amazonaws.com`. Types with a URL (gitlab, codeberg, the
    /// self-hosted ones): the image host and port equal the URL's, with the
    /// scheme's default port standing for no port.
    #[must_use]
    pub fn matches(&self, image: &ImageReference) -> bool {
        let (host, port) = split_host_port(image.registry());
        let host = host.to_ascii_lowercase();
        match self.kind {
            ProviderKind::Hub => is_domain_or_subdomain(&host, HUB_HOST),
            ProviderKind::Ghcr => is_domain_or_subdomain(&host, "ghcr.io"),
            ProviderKind::Lscr => is_domain_or_subdomain(&host, "lscr.io"),
            ProviderKind::Quay => is_domain_or_subdomain(&host, "quay.io"),
            ProviderKind::Gcr => is_domain_or_subdomain(&host, "gcr.io"),
            ProviderKind::Gar => host
                .strip_suffix("-docker.pkg.dev")
                .is_some_and(|prefix| !prefix.is_empty()),
            ProviderKind::Acr => host
                .strip_suffix(".azurecr.io")
                .is_some_and(|prefix| !prefix.is_empty()),
            ProviderKind::Ecr => {
                host == ECR_PUBLIC_HOST || (self.is_credentialed() && is_private_ecr_host(&host))
            }
            ProviderKind::Gitlab
            | ProviderKind::Codeberg
            | ProviderKind::Gitea
            | ProviderKind::Forgejo
            | ProviderKind::Harbor
            | ProviderKind::Nexus
            | ProviderKind::Artifactory
            | ProviderKind::Custom => self
                .url
                .as_deref()
                .is_some_and(|url| url_serves(url, &host, port)),
        }
    }

    /// The base URL drydock talks to for `image`, without `/v2`.
    ///
    /// Docker Hub: `https://registry-1.docker.io`. Types with a URL: the URL.
    /// Others: `https://{image host}`, except that a loopback host
    /// (`localhost`, `127.0.0.0/8`, `[::1]`, any port) gets `http://`, as
    /// Docker treats loopback registries as insecure by default.
    #[must_use]
    pub fn endpoint(&self, image: &ImageReference) -> String {
        if self.kind == ProviderKind::Hub {
            return HUB_ENDPOINT.to_owned();
        }
        if let Some(url) = &self.url {
            return url.clone();
        }
        default_endpoint(image.registry())
    }

    /// Hosts (no scheme) besides the registry itself to which credentials
    /// may be sent when a `WWW-Authenticate` realm points there.
    ///
    /// Docker Hub: `auth.docker.io`; GitLab: the host of `AUTHURL`
    /// (`gitlab.com` by default); Quay: `quay.io`; others: none.
    #[must_use]
    pub fn auth_hosts(&self) -> Vec<String> {
        match self.kind {
            ProviderKind::Hub => vec![HUB_AUTH_HOST.to_owned()],
            ProviderKind::Quay => vec![QUAY_AUTH_HOST.to_owned()],
            ProviderKind::Gitlab => {
                let auth_url = self.auth_url.as_deref().unwrap_or(GITLAB_DEFAULT_AUTH_URL);
                Url::parse(auth_url)
                    .ok()
                    .and_then(|url| authority(&url))
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// The credentials to use for `image`: the provider's, except for
    /// `public.ecr.aws` images, which are always pulled anonymously (ECR
    /// credentials are only valid for private ECR registries).
    #[must_use]
    pub fn auth_for(&self, image: &ImageReference) -> &ProviderAuth {
        let (host, _) = split_host_port(image.registry());
        if self.kind == ProviderKind::Ecr && host.eq_ignore_ascii_case(ECR_PUBLIC_HOST) {
            &ANONYMOUS
        } else {
            &self.auth
        }
    }

    /// The credential a Docker engine pulls `image` with (`X-Registry-Auth`: base64url of
    /// `{"username", "password", "serveraddress"}`), for Basic credentials only: ECR tokens are
    /// exchanged by the registry client, and the engine's own credential store (or an anonymous
    /// pull) covers the rest.
    #[must_use]
    pub fn engine_credential(&self, image: &ImageReference) -> Option<String> {
        use base64::Engine as _;
        match self.auth_for(image) {
            ProviderAuth::Basic { username, password } => {
                let doc = serde_json::json!({
                    "username": username,
                    "password": password.expose(),
                    "serveraddress": image.registry(),
                });
                Some(base64::engine::general_purpose::URL_SAFE.encode(doc.to_string()))
            }
            _ => None,
        }
    }

    /// An anonymous provider for an image no configured provider matches.
    ///
    /// It is named `anonymous`, has kind `custom` and the URL
    /// [`endpoint`](Self::endpoint) would give (`https://{host}`, or
    /// `http://{host}` for loopback hosts), so it [`matches`](Self::matches)
    /// the image. Docker Hub images get an anonymous `hub` provider instead,
    /// so that Docker Hub's endpoint and token service are used.
    #[must_use]
    pub fn anonymous_for(image: &ImageReference) -> Self {
        let (kind, url) = if image.is_docker_hub() {
            (ProviderKind::Hub, None)
        } else {
            let endpoint = default_endpoint(image.registry());
            let url = Url::parse(&endpoint)
                .ok()
                .and_then(|url| normalise_url(&url))
                .unwrap_or(endpoint);
            (ProviderKind::Custom, Some(url))
        };
        Self {
            kind,
            name: ANONYMOUS_NAME.to_owned(),
            url,
            auth_url: None,
            auth: ProviderAuth::Anonymous,
            tls: TlsOptions::default(),
        }
    }
}

/// The provider for an image: among those that match, credentialed first,
/// then by instance name.
///
/// `None` if nothing matches; the caller then uses an anonymous generic
/// provider, [`Provider::anonymous_for`].
///
/// Remaining ties (same name, different kinds) go by kind, so the choice
/// never depends on the slice's order.
#[must_use]
pub fn pick<'a>(providers: &'a [Provider], image: &ImageReference) -> Option<&'a Provider> {
    providers
        .iter()
        .filter(|provider| provider.matches(image))
        .min_by(|a, b| {
            b.is_credentialed()
                .cmp(&a.is_credentialed())
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.kind.cmp(&b.kind))
        })
}

/// `scheme://host[:port][/path]`, without trailing `/` and `/v2`.
pub(super) fn normalise_url(url: &Url) -> Option<String> {
    let authority = authority(url)?;
    let path = url.path().trim_end_matches('/');
    let path = path
        .strip_suffix("/v2")
        .unwrap_or(path)
        .trim_end_matches('/');
    Some(format!("{}://{authority}{path}", url.scheme()))
}

/// `host[:port]` of `url`, the port only when not the scheme's default.
pub(super) fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Whether the registry at `url` is the one at `host` (lower-case) and `port`.
pub(super) fn url_serves(url: &str, host: &str, port: Option<u16>) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    url.host_str()
        .is_some_and(|url_host| url_host.eq_ignore_ascii_case(host))
        && (port == url.port() || port == url.port_or_known_default())
}

/// Splits `host[:port]` (host possibly a bracketed IPv6 address).
/// An unparsable port counts as none.
pub(super) fn split_host_port(registry: &str) -> (&str, Option<u16>) {
    let port_start = if registry.starts_with('[') {
        registry
            .find(']')
            .and_then(|end| registry[end + 1..].strip_prefix(':').map(|_| end + 1))
    } else {
        registry.rfind(':')
    };
    match port_start {
        Some(colon) => (&registry[..colon], registry[colon + 1..].parse().ok()),
        None => (registry, None),
    }
}

/// Whether `host` is `domain` or one of its subdomains.
pub(super) fn is_domain_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

/// Whether `host` is a private ECR registry, `<account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
pub(super) fn is_private_ecr_host(host: &str) -> bool {
    let Some(rest) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    rest.rsplit_once('.').is_some_and(|(account, region)| {
        !region.is_empty()
            && account
                .strip_suffix(".dkr.ecr")
                .is_some_and(|account| !account.is_empty())
    })
}

/// Whether the registry host is a loopback address or `localhost`.
pub(super) fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `https://{registry}`, or `http://{registry}` for loopback hosts.
pub(super) fn default_endpoint(registry: &str) -> String {
    let (host, _) = split_host_port(registry);
    let scheme = if is_loopback(host) { "http" } else { "https" };
    format!("{scheme}://{registry}")
}
