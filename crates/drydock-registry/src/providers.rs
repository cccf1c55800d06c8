//! Registry providers: which registry an image lives on, and how to log in to it.
//!
//! drydock talks to many registries (Docker Hub, GHCR, Quay, ECR, self-hosted
//! Harbor or Gitea, …). Each needs slightly different handling: a different
//! endpoint than the image's host (Docker Hub), a token service on another
//! host (Docker Hub, GitLab, Quay), or credentials of a special shape (Quay's
//! `namespace+account`, Google's `_json_key`, ECR's signed token exchange).
//! This module turns the `DD_REGISTRY_{TYPE}_{NAME}_{KEY}` environment
//! variables into a list of [`Provider`]s, and answers, for an image, which
//! provider serves it ([`pick`]), where to send requests
//! ([`Provider::endpoint`]) and where credentials may go
//! ([`Provider::auth_hosts`]).
//!
//! Configuration is validated up front and strictly: unknown registry types,
//! unknown keys, half-configured credentials and malformed values are errors
//! that name the offending variable, so a typo cannot silently downgrade a
//! registry to anonymous access. Error messages and `Debug` output never
//! contain secret values: passwords and tokens are held in [`Secret`].
//!
//! # Configuration
//!
//! * `DD_REGISTRY_{TYPE}_{NAME}_{KEY}=value` configures instance `{name}` of
//!   provider `{type}` (see [`ProviderKind`]); `DD_REGISTRY_{TYPE}_{NAME}=""`
//!   declares an instance with no keys. Types and keys are case-insensitive,
//!   names are lower-cased and must match `[a-z0-9]+` (`_` separates keys).
//!   An empty value counts as unset.
//! * `WUD_REGISTRY_*` variables are read as aliases of the same `DD_REGISTRY_*`
//!   variable; when both are set, the `DD_` one wins.
//! * `X__FILE=/path` variables are replaced by the file's content with
//!   [`resolve_file_variables`], which callers run before [`providers_from_env`].
//! * Anonymous instances named `public` exist by default for hub, ghcr, lscr,
//!   quay, gcr, gar, ecr (`public.ecr.aws` only) and codeberg; a default is
//!   dropped when a credentialed instance of the same type is configured.
//!
//! The AWS ECR token exchange is prepared here without network access:
//! [`Provider::ecr_token_request`] builds the SigV4-signed
//! `GetAuthorizationToken` request and [`parse_ecr_token_response`] decodes
//! the answer into Basic credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use drydock_core::image_ref::ImageReference;
use reqwest::Url;

use crate::secret::Secret;

/// Prefix of the registry configuration variables.
const DD_PREFIX: &str = "DD_REGISTRY_";
/// Prefix of the legacy (What's up Docker) registry variables read as aliases.
const WUD_PREFIX: &str = "WUD_REGISTRY_";
/// Suffix of the variables whose value is a path to read the real value from.
const FILE_SUFFIX: &str = "__FILE";
/// Largest file [`resolve_file_variables`] reads, in bytes.
const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Name of the default anonymous instances.
const DEFAULT_NAME: &str = "public";
/// Name of the providers made by [`Provider::anonymous_for`].
const ANONYMOUS_NAME: &str = "anonymous";
/// The registry host of Docker Hub images.
const HUB_HOST: &str = "docker.io";
/// Where Docker Hub's registry API is served.
const HUB_ENDPOINT: &str = "https://registry-1.docker.io";
/// Docker Hub's token service.
const HUB_AUTH_HOST: &str = "auth.docker.io";
/// Quay's token service (`https://quay.io/v2/auth`), also used for Quay images on other hosts.
const QUAY_AUTH_HOST: &str = "quay.io";
/// The GitLab registry used when `URL` is not set.
const GITLAB_DEFAULT_URL: &str = "https://registry.gitlab.com";
/// The GitLab instance issuing registry tokens when `AUTHURL` is not set.
const GITLAB_DEFAULT_AUTH_URL: &str = "https://gitlab.com";
/// The Basic user name sent with a GitLab token. GitLab checks access tokens
/// whatever the user name; `oauth2` also makes OAuth tokens work.
const GITLAB_USERNAME: &str = "oauth2";
/// Codeberg's fixed registry URL.
const CODEBERG_URL: &str = "https://codeberg.org";
/// The host of the public ECR gallery, served anonymously.
const ECR_PUBLIC_HOST: &str = "public.ecr.aws";
/// The Basic user name that makes Google registries read the password as a service-account key.
const GOOGLE_JSON_KEY_USER: &str = "_json_key";
/// `X-Amz-Target` of the ECR `GetAuthorizationToken` call.
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// Content type of ECR API calls.
const ECR_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The SigV4 service name of the ECR API.
const ECR_SIGNING_NAME: &str = "ecr";
/// The `ProviderAuth` returned where a provider's credentials do not apply.
static ANONYMOUS: ProviderAuth = ProviderAuth::Anonymous;

/// Keys every provider type accepts: TLS settings.
const TLS_KEYS: &[&str] = &["CAFILE", "INSECURE", "CLIENTCERT", "CLIENTKEY"];

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
    const DEFAULT_PUBLIC: [Self; 8] = [
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
    fn own_keys(self) -> &'static [&'static str] {
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
    fn accepted_keys(self) -> &'static str {
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
    fn accepts(self, key: &str) -> bool {
        self.own_keys().contains(&key) || TLS_KEYS.contains(&key)
    }

    /// Whether instances of this type must have a `URL` key.
    fn requires_url(self) -> bool {
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
const KIND_NAMES: &str = "hub, ghcr, lscr, quay, gitlab, ecr, gcr, gar, acr, gitea, forgejo, \
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

/// Why the registry configuration, a `__FILE` variable or an ECR exchange is invalid.
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

    /// A `__FILE` variable's file cannot be used.
    #[error("{variable}: {reason}")]
    File {
        /// The `__FILE` variable.
        variable: String,
        /// What is wrong with the file.
        reason: String,
    },

    /// Both `X` and `X__FILE` are set.
    #[error("both {variable} and {file_variable} are set; set only one of them")]
    Ambiguous {
        /// The plain variable.
        variable: String,
        /// The `__FILE` variable.
        file_variable: String,
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

    /// The AWS SigV4-signed `GetAuthorizationToken` request for this ECR
    /// provider at `now`, or `None` for other kinds.
    ///
    /// The request is `POST https://api.ecr.{region}.amazonaws.com/` with
    /// headers `X-Amz-Target:
    /// AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken` and
    /// `Content-Type: application/x-amz-json-1.1` and body `{}`, signed for
    /// service `ecr` in the provider's region.
    ///
    /// The answer goes to [`parse_ecr_token_response`].
    ///
    /// # Errors
    ///
    /// [`ProviderError::EcrSigning`] when the request cannot be signed (a
    /// region that does not form a valid URL, for a hand-built provider).
    pub fn ecr_token_request(
        &self,
        now: SystemTime,
    ) -> Result<Option<SignedRequest>, ProviderError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};

        let ProviderAuth::Ecr {
            access_key_id,
            secret_access_key,
            region,
        } = &self.auth
        else {
            return Ok(None);
        };
        let signing_error = |reason: String| ProviderError::EcrSigning {
            provider: self.id(),
            reason,
        };

        let url = format!("https://api.ecr.{region}.amazonaws.com/");
        let body = "{}";
        let headers = [
            ("Content-Type", ECR_CONTENT_TYPE),
            ("X-Amz-Target", ECR_TARGET),
        ];
        let identity = aws_credential_types::Credentials::new(
            access_key_id.as_str(),
            secret_access_key.expose(),
            None,
            None,
            "drydock",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(ECR_SIGNING_NAME)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing_error(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| signing_error(e.to_string()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| signing_error(e.to_string()))?
            .into_parts();

        let mut signed_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        signed_headers.extend(
            instructions
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned())),
        );
        Ok(Some(SignedRequest {
            method: "POST".to_owned(),
            url,
            headers: signed_headers,
            body: body.to_owned(),
        }))
    }
}

/// All providers configured in `env`, plus the anonymous defaults.
///
/// Reads `DD_REGISTRY_*` and, as aliases, `WUD_REGISTRY_*` (`DD_` wins on
/// conflict). The anonymous `public` instances of hub, ghcr, lscr, quay, gcr,
/// gar, ecr (`public.ecr.aws` only) and codeberg exist by default; a default
/// is dropped when a credentialed instance of the same kind is configured,
/// or when an instance named `public` of that kind is.
///
/// Other variables in `env` are ignored. Run [`resolve_file_variables`]
/// first: a remaining `…__FILE` registry variable is an error. The result is
/// sorted by kind, then name.
///
/// # Errors
///
/// The first problem found, in variable order: an unknown type or key, an
/// invalid name, a missing required key, or an invalid value.
pub fn providers_from_env(env: &BTreeMap<String, String>) -> Result<Vec<Provider>, ProviderError> {
    let mut declarations: BTreeMap<(ProviderKind, String), Declaration> = BTreeMap::new();
    for prefix in [DD_PREFIX, WUD_PREFIX] {
        for (variable, value) in env {
            let Some(rest) = variable.strip_prefix(prefix) else {
                continue;
            };
            let (kind, name, key) = split_variable(variable, rest)?;
            let declaration = declarations
                .entry((kind, name.clone()))
                .or_insert_with(|| Declaration::new(kind, name));
            let entry = Entry {
                variable: variable.clone(),
                value: value.clone(),
            };
            // DD_ variables come first, so an alias never replaces one.
            match key {
                None => {
                    declaration.bare.get_or_insert(entry);
                }
                Some(key) => {
                    declaration.keys.entry(key).or_insert(entry);
                }
            }
        }
    }

    let mut providers = declarations
        .values()
        .map(Declaration::parse)
        .collect::<Result<Vec<_>, _>>()?;
    for kind in ProviderKind::DEFAULT_PUBLIC {
        let configured = providers.iter().any(|provider| {
            provider.kind == kind && (provider.is_credentialed() || provider.name == DEFAULT_NAME)
        });
        if !configured {
            providers.push(default_public(kind));
        }
    }
    providers.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(providers)
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

/// Replaces each `X__FILE=/path` by `X=<file content, trailing whitespace trimmed>`.
///
/// The file must be a regular file of at most 1 MiB holding UTF-8 text; a
/// file readable by group or others is logged as a warning. Variables not
/// ending in `__FILE` are kept as they are.
///
/// # Errors
///
/// [`ProviderError::File`] naming the variable (never the content) when the
/// file is missing, unreadable, not a regular file, too large or not UTF-8;
/// [`ProviderError::Ambiguous`] when both `X` and `X__FILE` are set.
pub fn resolve_file_variables(
    env: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut resolved = BTreeMap::new();
    let mut file_variables = Vec::new();
    for (variable, value) in env {
        match variable.strip_suffix(FILE_SUFFIX) {
            Some(target) if !target.is_empty() => {
                file_variables.push((target.to_owned(), variable, value));
            }
            _ => {
                resolved.insert(variable, value);
            }
        }
    }
    for (target, file_variable, path) in file_variables {
        if resolved.contains_key(&target) {
            return Err(ProviderError::Ambiguous {
                variable: target,
                file_variable,
            });
        }
        let content = read_secret_file(&file_variable, Path::new(&path))?;
        resolved.insert(target, content);
    }
    Ok(resolved)
}

/// Decodes the ECR `GetAuthorizationToken` response into (username, password, expiry).
///
/// The body is
/// `{"authorizationData":[{"authorizationToken":"<base64 user:pass>","expiresAt":<epoch seconds>, …}]}`;
/// only the first entry is read.
///
/// `expires_at` is `None` when the response has no `expiresAt`.
///
/// # Errors
///
/// [`ProviderError::EcrResponse`] when the body is not JSON of that shape,
/// the token is not base64 of `user:password`, or `expiresAt` is not a
/// representable time. The message never includes the token.
pub fn parse_ecr_token_response(
    body: &str,
) -> Result<(String, Secret, Option<DateTime<Utc>>), ProviderError> {
    let invalid = |reason: &str| ProviderError::EcrResponse {
        reason: reason.to_owned(),
    };
    let json: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        // Only the position: serde_json's messages may quote the input.
        ProviderError::EcrResponse {
            reason: format!(
                "not JSON (error at line {} column {})",
                e.line(),
                e.column()
            ),
        }
    })?;
    let data = json
        .get("authorizationData")
        .and_then(serde_json::Value::as_array)
        .and_then(|data| data.first())
        .ok_or_else(|| invalid("authorizationData is missing or empty"))?;
    let token = data
        .get("authorizationToken")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid("authorizationToken is missing or not a string"))?;
    let decoded = BASE64
        .decode(token.trim())
        .map_err(|_| invalid("authorizationToken is not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| invalid("authorizationToken is not UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .filter(|(username, _)| !username.is_empty())
        .ok_or_else(|| invalid("authorizationToken is not of the form user:password"))?;
    let expires_at = match data.get("expiresAt") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            value
                .as_f64()
                .and_then(epoch_seconds_to_time)
                .ok_or_else(|| invalid("expiresAt is not a time in epoch seconds"))?,
        ),
    };
    Ok((username.to_owned(), Secret::new(password), expires_at))
}

/// A variable's name and value. No `Debug`: the value may be a secret.
struct Entry {
    /// The variable as written (`DD_…` or `WUD_…`).
    variable: String,
    /// Its value.
    value: String,
}

/// The variables of one provider instance, gathered before parsing.
struct Declaration {
    /// The provider type.
    kind: ProviderKind,
    /// The lower-case instance name.
    name: String,
    /// `DD_REGISTRY_{TYPE}_{NAME}` itself, if set.
    bare: Option<Entry>,
    /// The keys (upper case) and their variables.
    keys: BTreeMap<String, Entry>,
}

impl Declaration {
    /// An instance with no variables yet.
    fn new(kind: ProviderKind, name: String) -> Self {
        Self {
            kind,
            name,
            bare: None,
            keys: BTreeMap::new(),
        }
    }

    /// The provider id, `kind.name`.
    fn id(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }

    /// The canonical variable name for `key`, for messages about missing keys.
    fn variable(&self, key: &str) -> String {
        format!(
            "{DD_PREFIX}{}_{}_{key}",
            self.kind.as_str().to_ascii_uppercase(),
            self.name.to_ascii_uppercase()
        )
    }

    /// The variable for `key`, unless unset or empty.
    fn get(&self, key: &str) -> Option<&Entry> {
        self.keys.get(key).filter(|entry| !entry.value.is_empty())
    }

    /// A [`ProviderError::Missing`] for `keys` (alternatives).
    fn missing(&self, keys: &[&str], requirement: &'static str) -> ProviderError {
        let key = keys
            .iter()
            .map(|key| self.variable(key))
            .collect::<Vec<_>>()
            .join(" or ");
        ProviderError::Missing {
            provider: self.id(),
            key,
            requirement,
        }
    }

    /// The values of `keys` when all are set, `None` when none is, and an
    /// error naming the first missing one otherwise.
    fn all_or_none<const N: usize>(
        &self,
        keys: [&str; N],
        requirement: &'static str,
    ) -> Result<Option<[&Entry; N]>, ProviderError> {
        let entries = keys.map(|key| self.get(key));
        if entries.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut found = Vec::with_capacity(N);
        for (key, entry) in keys.into_iter().zip(entries) {
            match entry {
                Some(entry) => found.push(entry),
                None => return Err(self.missing(&[key], requirement)),
            }
        }
        Ok(found.try_into().ok())
    }

    /// Validates the variables and builds the provider.
    fn parse(&self) -> Result<Provider, ProviderError> {
        if let Some((key, entry)) = self.keys.iter().find(|(key, _)| !self.kind.accepts(key)) {
            let variable = entry.variable.clone();
            return Err(if key.ends_with(FILE_SUFFIX) {
                ProviderError::Invalid {
                    variable,
                    reason: "__FILE variables must be resolved before registries are configured"
                        .to_owned(),
                }
            } else {
                ProviderError::UnknownKey {
                    variable,
                    key: key.clone(),
                    accepted: self.kind.accepted_keys(),
                }
            });
        }
        if let Some(bare) = self.bare.as_ref().filter(|bare| !bare.value.is_empty()) {
            return Err(ProviderError::Invalid {
                variable: bare.variable.clone(),
                reason: format!(
                    "must be empty (it declares an instance); set its keys as {}_{{KEY}}",
                    bare.variable
                ),
            });
        }

        let mut url = None;
        let mut auth_url = None;
        let auth = match self.kind {
            ProviderKind::Hub => self.login_auth(&["PASSWORD", "TOKEN"])?,
            ProviderKind::Ghcr | ProviderKind::Lscr => {
                match self.all_or_none(["USERNAME", "TOKEN"], "USERNAME and TOKEN go together")? {
                    Some([username, token]) => basic(&username.value, &token.value),
                    None => ProviderAuth::Anonymous,
                }
            }
            ProviderKind::Quay => match self.all_or_none(
                ["NAMESPACE", "ACCOUNT", "TOKEN"],
                "NAMESPACE, ACCOUNT and TOKEN go together",
            )? {
                Some([namespace, account, token]) => basic(
                    &format!("{}+{}", namespace.value, account.value),
                    &token.value,
                ),
                None => ProviderAuth::Anonymous,
            },
            ProviderKind::Gitlab => {
                let token = self
                    .get("TOKEN")
                    .ok_or_else(|| self.missing(&["TOKEN"], "a GitLab registry needs a TOKEN"))?;
                url = Some(self.optional_url("URL", GITLAB_DEFAULT_URL)?);
                auth_url = Some(self.optional_url("AUTHURL", GITLAB_DEFAULT_AUTH_URL)?);
                basic(GITLAB_USERNAME, &token.value)
            }
            ProviderKind::Ecr => match self.all_or_none(
                ["ACCESSKEYID", "SECRETACCESSKEY", "REGION"],
                "ACCESSKEYID, SECRETACCESSKEY and REGION go together",
            )? {
                Some([access_key_id, secret_access_key, region]) => ProviderAuth::Ecr {
                    access_key_id: access_key_id.value.clone(),
                    secret_access_key: Secret::new(secret_access_key.value.as_str()),
                    region: parse_region(region)?,
                },
                None => ProviderAuth::Anonymous,
            },
            ProviderKind::Gcr | ProviderKind::Gar => match self.all_or_none(
                ["CLIENTEMAIL", "PRIVATEKEY"],
                "CLIENTEMAIL and PRIVATEKEY go together",
            )? {
                Some([client_email, private_key]) => {
                    let key = serde_json::json!({
                        "type": "service_account",
                        "client_email": client_email.value,
                        "private_key": private_key.value,
                    });
                    basic(GOOGLE_JSON_KEY_USER, &key.to_string())
                }
                None => ProviderAuth::Anonymous,
            },
            ProviderKind::Acr => {
                let requirement = "an Azure registry needs CLIENTID and CLIENTSECRET";
                let client_id = self
                    .get("CLIENTID")
                    .ok_or_else(|| self.missing(&["CLIENTID"], requirement))?;
                let client_secret = self
                    .get("CLIENTSECRET")
                    .ok_or_else(|| self.missing(&["CLIENTSECRET"], requirement))?;
                basic(&client_id.value, &client_secret.value)
            }
            ProviderKind::Codeberg => {
                url = Some(CODEBERG_URL.to_owned());
                self.login_auth(&["PASSWORD"])?
            }
            ProviderKind::Gitea
            | ProviderKind::Forgejo
            | ProviderKind::Harbor
            | ProviderKind::Nexus
            | ProviderKind::Artifactory
            | ProviderKind::Custom => {
                debug_assert!(self.kind.requires_url());
                let entry = self
                    .get("URL")
                    .ok_or_else(|| self.missing(&["URL"], "this registry type needs a URL"))?;
                url = Some(parse_url(entry)?);
                self.login_auth(&["PASSWORD"])?
            }
        };

        Ok(Provider {
            kind: self.kind,
            name: self.name.clone(),
            url,
            auth_url,
            auth,
            tls: self.tls()?,
        })
    }

    /// `LOGIN` with one of `password_keys`, or `AUTH` (base64 `login:password`), or nothing.
    fn login_auth(&self, password_keys: &[&'static str]) -> Result<ProviderAuth, ProviderError> {
        let login = self.get("LOGIN");
        let passwords: Vec<&Entry> = password_keys
            .iter()
            .filter_map(|key| self.get(key))
            .collect();
        if let Some(auth) = self.get("AUTH") {
            if let Some(other) = login.or(passwords.first().copied()) {
                return Err(ProviderError::Invalid {
                    variable: other.variable.clone(),
                    reason: format!(
                        "cannot be combined with {}; set one or the other",
                        auth.variable
                    ),
                });
            }
            return decode_docker_auth(auth);
        }
        match (login, passwords.as_slice()) {
            (None, []) => Ok(ProviderAuth::Anonymous),
            (Some(login), [password]) => Ok(basic(&login.value, &password.value)),
            (Some(_), []) => Err(self.missing(password_keys, "LOGIN needs a password")),
            (None, _) => Err(self.missing(&["LOGIN"], "a password needs a LOGIN")),
            (Some(_), [first, second, ..]) => Err(ProviderError::Invalid {
                variable: second.variable.clone(),
                reason: format!(
                    "cannot be combined with {}; set one or the other",
                    first.variable
                ),
            }),
        }
    }

    /// The normalised URL of `key`, or `default` when unset.
    fn optional_url(&self, key: &str, default: &str) -> Result<String, ProviderError> {
        match self.get(key) {
            Some(entry) => parse_url(entry),
            None => Ok(default.to_owned()),
        }
    }

    /// The TLS keys.
    fn tls(&self) -> Result<TlsOptions, ProviderError> {
        let insecure = match self.get("INSECURE") {
            Some(entry) => parse_bool(entry)?,
            None => false,
        };
        let (client_cert, client_key) = match self.all_or_none(
            ["CLIENTCERT", "CLIENTKEY"],
            "CLIENTCERT and CLIENTKEY go together",
        )? {
            Some([cert, key]) => (
                Some(PathBuf::from(&cert.value)),
                Some(PathBuf::from(&key.value)),
            ),
            None => (None, None),
        };
        Ok(TlsOptions {
            ca_file: self.get("CAFILE").map(|entry| PathBuf::from(&entry.value)),
            insecure,
            client_cert,
            client_key,
        })
    }
}

/// Splits `rest` (the variable without its prefix) into type, name and key.
fn split_variable(
    variable: &str,
    rest: &str,
) -> Result<(ProviderKind, String, Option<String>), ProviderError> {
    let mut parts = rest.splitn(3, '_');
    let kind_text = parts.next().unwrap_or_default();
    let kind = kind_text
        .parse::<ProviderKind>()
        .map_err(|_| ProviderError::UnknownKind {
            variable: variable.to_owned(),
            kind: kind_text.to_owned(),
        })?;
    let name = parts.next().unwrap_or_default().to_ascii_lowercase();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(ProviderError::InvalidName {
            variable: variable.to_owned(),
        });
    }
    let key = parts.next().map(str::to_ascii_uppercase);
    Ok((kind, name, key))
}

/// The anonymous default instance of `kind`.
fn default_public(kind: ProviderKind) -> Provider {
    Provider {
        kind,
        name: DEFAULT_NAME.to_owned(),
        url: (kind == ProviderKind::Codeberg).then(|| CODEBERG_URL.to_owned()),
        auth_url: None,
        auth: ProviderAuth::Anonymous,
        tls: TlsOptions::default(),
    }
}

/// Basic credentials.
fn basic(username: &str, password: &str) -> ProviderAuth {
    ProviderAuth::Basic {
        username: username.to_owned(),
        password: Secret::new(password),
    }
}

/// Decodes an `AUTH` value: base64 of `login:password`, as in Docker's `config.json`.
fn decode_docker_auth(entry: &Entry) -> Result<ProviderAuth, ProviderError> {
    let invalid = || ProviderError::Invalid {
        variable: entry.variable.clone(),
        reason: "expected the base64 encoding of login:password".to_owned(),
    };
    let decoded = BASE64.decode(entry.value.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    match decoded.split_once(':') {
        Some((login, password)) if !login.is_empty() => Ok(basic(login, password)),
        _ => Err(invalid()),
    }
}

/// Parses a `true`/`false` value (any case).
fn parse_bool(entry: &Entry) -> Result<bool, ProviderError> {
    let value = entry.value.trim();
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ProviderError::Invalid {
            variable: entry.variable.clone(),
            reason: "expected true or false".to_owned(),
        })
    }
}

/// Validates an AWS region name (`us-east-1`).
fn parse_region(entry: &Entry) -> Result<String, ProviderError> {
    let region = entry.value.trim();
    let valid = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && !region.ends_with('-');
    if valid {
        Ok(region.to_owned())
    } else {
        Err(ProviderError::Invalid {
            variable: entry.variable.clone(),
            reason: "expected an AWS region such as us-east-1".to_owned(),
        })
    }
}

/// Parses and normalises a registry URL.
fn parse_url(entry: &Entry) -> Result<String, ProviderError> {
    let invalid = |reason: &str| ProviderError::Invalid {
        variable: entry.variable.clone(),
        reason: format!("{reason}; expected a URL such as https://registry.example.com:5443"),
    };
    // `Url`'s messages describe the problem without quoting the input.
    let url =
        Url::parse(entry.value.trim()).map_err(|e| invalid(&format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the URL must not contain credentials (use LOGIN and PASSWORD)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    normalise_url(&url).ok_or_else(|| invalid("the URL has no host"))
}

/// `scheme://host[:port][/path]`, without trailing `/` and `/v2`.
fn normalise_url(url: &Url) -> Option<String> {
    let authority = authority(url)?;
    let path = url.path().trim_end_matches('/');
    let path = path
        .strip_suffix("/v2")
        .unwrap_or(path)
        .trim_end_matches('/');
    Some(format!("{}://{authority}{path}", url.scheme()))
}

/// `host[:port]` of `url`, the port only when not the scheme's default.
fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Whether the registry at `url` is the one at `host` (lower-case) and `port`.
fn url_serves(url: &str, host: &str, port: Option<u16>) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    url.host_str()
        .is_some_and(|url_host| url_host.eq_ignore_ascii_case(host))
        && (port == url.port() || port == url.port_or_known_default())
}

/// Splits `host[:port]` (host possibly a bracketed IPv6 address).
/// An unparsable port counts as none.
fn split_host_port(registry: &str) -> (&str, Option<u16>) {
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
fn is_domain_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

/// Whether `host` is a private ECR registry, `<account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
fn is_private_ecr_host(host: &str) -> bool {
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
fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `https://{registry}`, or `http://{registry}` for loopback hosts.
fn default_endpoint(registry: &str) -> String {
    let (host, _) = split_host_port(registry);
    let scheme = if is_loopback(host) { "http" } else { "https" };
    format!("{scheme}://{registry}")
}

/// Converts epoch seconds (with fraction) to a time, if representable.
fn epoch_seconds_to_time(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() || seconds.abs() > 1e15 {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().clamp(0.0, 999_999_999.0);
    // Both values are range-checked above, so the casts are exact.
    DateTime::from_timestamp(whole as i64, nanos as u32)
}

/// Reads the value of a `__FILE` variable.
fn read_secret_file(variable: &str, path: &Path) -> Result<String, ProviderError> {
    let error = |reason: String| ProviderError::File {
        variable: variable.to_owned(),
        reason,
    };
    if path.as_os_str().is_empty() {
        return Err(error("the path is empty".to_owned()));
    }
    let shown = path.display();
    // Check before opening: opening a FIFO or device could block.
    let metadata =
        std::fs::metadata(path).map_err(|e| error(format!("cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        return Err(error(format!("{shown} is not a regular file")));
    }
    if metadata.len() > MAX_FILE_SIZE {
        return Err(error(format!("{shown} is larger than 1 MiB")));
    }
    warn_if_shared(variable, path, &metadata);
    let file = std::fs::File::open(path).map_err(|e| error(format!("cannot read {shown}: {e}")))?;
    let mut content = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut content)
        .map_err(|e| error(format!("cannot read {shown}: {e}")))?;
    if content.len() as u64 > MAX_FILE_SIZE {
        return Err(error(format!("{shown} is larger than 1 MiB")));
    }
    let text =
        String::from_utf8(content).map_err(|_| error(format!("{shown} is not UTF-8 text")))?;
    Ok(text.trim_end().to_owned())
}

/// Warns when a secret file is readable by group or others.
#[cfg(unix)]
fn warn_if_shared(variable: &str, path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt as _;
    if metadata.permissions().mode() & 0o044 != 0 {
        tracing::warn!(
            variable,
            path = %path.display(),
            "secret file is readable by group or others; consider chmod 600"
        );
    }
}

/// Permissions are not checked on this platform.
#[cfg(not(unix))]
fn warn_if_shared(_variable: &str, _path: &Path, _metadata: &std::fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn wud_aliases_with_dd_winning() {
        let providers = parse(&[
            ("WUD_REGISTRY_HUB_PRIVATE_LOGIN", "wud-login"),
            ("WUD_REGISTRY_HUB_PRIVATE_PASSWORD", "wud-pw"),
            ("DD_REGISTRY_HUB_PRIVATE_PASSWORD", "dd-pw"),
            ("WUD_REGISTRY_GHCR_OLD_USERNAME", "u"),
            ("WUD_REGISTRY_GHCR_OLD_TOKEN", "t"),
        ]);
        assert_eq!(
            basic_of(find(&providers, "hub.private")),
            ("wud-login", "dd-pw")
        );
        assert_eq!(basic_of(find(&providers, "ghcr.old")), ("u", "t"));
        // Errors name the variable actually set.
        let e = parse_err(&[("WUD_REGISTRY_HUB_X_INSECURE", "nope")]);
        assert_invalid(&e, "WUD_REGISTRY_HUB_X_INSECURE");
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

    // ---- __FILE ----

    /// A unique temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "drydock-providers-{label}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn file(&self, name: &str, content: &[u8]) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            path.to_string_lossy().into_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_variables_are_resolved() {
        let dir = TempDir::new("resolve");
        let password = dir.file("password", b"canary-secret-9f3b\n\n");
        let resolved = resolve_file_variables(env(&[
            ("DD_REGISTRY_HUB_X_LOGIN", "me"),
            ("DD_REGISTRY_HUB_X_PASSWORD__FILE", &password),
            ("__FILE", "kept"),
        ]))
        .unwrap();
        assert_eq!(
            resolved,
            env(&[
                ("DD_REGISTRY_HUB_X_LOGIN", "me"),
                ("DD_REGISTRY_HUB_X_PASSWORD", CANARY),
                ("__FILE", "kept"),
            ])
        );
        let providers = providers_from_env(&resolved).unwrap();
        assert_eq!(basic_of(find(&providers, "hub.x")), ("me", CANARY));
    }

    #[test]
    fn file_variable_errors_name_the_variable_not_the_content() {
        let dir = TempDir::new("errors");
        let big = dir.file("big", &vec![b'a'; (MAX_FILE_SIZE + 1) as usize]);
        let binary = dir.file("binary", &[0xff, 0xfe, b'c']);
        let good = dir.file("good", CANARY.as_bytes());
        let missing = dir.0.join("missing").to_string_lossy().into_owned();
        let directory = dir.0.to_string_lossy().into_owned();

        for path in [&big, &binary, &missing, &directory, &String::new()] {
            let e = resolve_file_variables(env(&[("DD_X__FILE", path.as_str())])).unwrap_err();
            assert!(
                matches!(&e, ProviderError::File { variable, .. } if variable == "DD_X__FILE"),
                "{e:?}"
            );
            assert!(e.to_string().starts_with("DD_X__FILE: "), "{e}");
        }

        let e =
            resolve_file_variables(env(&[("DD_X__FILE", &good), ("DD_X", "inline")])).unwrap_err();
        assert_eq!(
            e,
            ProviderError::Ambiguous {
                variable: "DD_X".to_owned(),
                file_variable: "DD_X__FILE".to_owned()
            }
        );
        assert!(e.to_string().contains("DD_X ") && e.to_string().contains("DD_X__FILE"));
        assert!(!e.to_string().contains(CANARY));

        // Exactly 1 MiB is accepted.
        let limit = dir.file("limit", &vec![b'b'; MAX_FILE_SIZE as usize]);
        let resolved = resolve_file_variables(env(&[("DD_Y__FILE", &limit)])).unwrap();
        assert_eq!(resolved["DD_Y"].len(), MAX_FILE_SIZE as usize);
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
        let prefix = prop_oneof![
            Just("DD_REGISTRY_"),
            Just("WUD_REGISTRY_"),
            Just("DD_"),
            Just("")
        ];
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
            // Keys may end with __FILE; the random paths are relative and do not exist.
            let _ = resolve_file_variables(env);
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
}
