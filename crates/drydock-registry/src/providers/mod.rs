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
//! * `X__FILE=/path` variables must be resolved (replaced by the file's
//!   content) before [`providers_from_env`] reads them, and What's Up Docker's
//!   `WUD_REGISTRY_*` names turned into `DD_REGISTRY_*` ones: the server's
//!   configuration does both, once, for every variable.
//! * Anonymous instances named `public` exist by default for hub, ghcr, lscr,
//!   quay, gcr, gar, ecr (`public.ecr.aws` only) and codeberg; a default is
//!   dropped when a credentialed instance of the same type is configured.
//!
//! The AWS ECR token exchange is prepared here without network access:
//! [`Provider::ecr_token_request`] builds the SigV4-signed
//! `GetAuthorizationToken` request and [`parse_ecr_token_response`] decodes
//! the answer into Basic credentials.

mod ecr;
mod env;
mod provider;
#[cfg(test)]
mod tests;

pub use ecr::parse_ecr_token_response;
pub use env::providers_from_env;
pub use provider::{
    ParseProviderKindError, Provider, ProviderAuth, ProviderError, ProviderKind, SignedRequest,
    TlsOptions, pick,
};
