//! `DD_REGISTRY_{TYPE}_{NAME}_{KEY}` variables read into providers, strictly: every unknown type or
//! key, half-configured credential and malformed value is an error naming the variable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Url;

use super::provider::*;
use crate::secret::Secret;

/// All providers configured in `env`, plus the anonymous defaults.
///
/// Reads `DD_REGISTRY_*` (a caller that accepts What's Up Docker's `WUD_REGISTRY_*` names
/// turns them into these first). The anonymous `public` instances of hub, ghcr, lscr, quay, gcr,
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
    for (variable, value) in env {
        let Some(rest) = variable.strip_prefix(DD_PREFIX) else {
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
        match key {
            None => {
                declaration.bare.get_or_insert(entry);
            }
            Some(key) => {
                declaration.keys.entry(key).or_insert(entry);
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

/// A variable's name and value. No `Debug`: the value may be a secret.
pub(super) struct Entry {
    /// The variable as written.
    pub(super) variable: String,
    /// Its value.
    pub(super) value: String,
}

/// The variables of one provider instance, gathered before parsing.
pub(super) struct Declaration {
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
pub(super) fn split_variable(
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
pub(super) fn default_public(kind: ProviderKind) -> Provider {
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
pub(super) fn basic(username: &str, password: &str) -> ProviderAuth {
    ProviderAuth::Basic {
        username: username.to_owned(),
        password: Secret::new(password),
    }
}

/// Decodes an `AUTH` value: base64 of `login:password`, as in Docker's `config.json`.
pub(super) fn decode_docker_auth(entry: &Entry) -> Result<ProviderAuth, ProviderError> {
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
pub(super) fn parse_bool(entry: &Entry) -> Result<bool, ProviderError> {
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
pub(super) fn parse_region(entry: &Entry) -> Result<String, ProviderError> {
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
pub(super) fn parse_url(entry: &Entry) -> Result<String, ProviderError> {
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
