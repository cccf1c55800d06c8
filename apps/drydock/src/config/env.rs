//! The environment as drydock reads it, once for every variable: What's Up Docker's `WUD_X` read
//! as `DD_X` (a `DD_X` that is set wins), and `X__FILE=/path` replaced by `X=<the file's text>`
//! (Docker secrets). Everything after this sees `DD_*` names only.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

/// Suffix of the variables whose value is a path to read the real value from.
const FILE_SUFFIX: &str = "__FILE";
/// Largest file a `__FILE` variable may name, in bytes.
const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// The `DD_*` variables, with where each aliased one came from.
#[derive(Debug, Default)]
pub(crate) struct Environment {
    /// `DD_*` variables only, `__FILE` ones resolved.
    pub(crate) vars: BTreeMap<String, String>,
    /// `DD_X` → the `WUD_X` it was read from.
    aliases: BTreeMap<String, String>,
}

impl Environment {
    /// Reads `raw` (the process environment, or a test's).
    pub(crate) fn read(raw: BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut vars = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for (key, value) in &raw {
            if key.starts_with("DD_") {
                vars.insert(key.clone(), value.clone());
            }
        }
        for (key, value) in &raw {
            if let Some(rest) = key.strip_prefix("WUD_") {
                let dd = format!("DD_{rest}");
                if !vars.contains_key(&dd) {
                    vars.insert(dd.clone(), value.clone());
                    aliases.insert(dd, key.clone());
                }
            }
        }
        let mut env = Self { vars, aliases };
        env.resolve_files()
            .map_err(|e| anyhow::anyhow!(env.as_set(&format!("{e:#}"))))?;
        Ok(env)
    }

    /// Whether any variable was given with What's Up Docker's name.
    pub(crate) fn uses_wud_names(&self) -> bool {
        !self.aliases.is_empty()
    }

    /// `message` with every aliased variable named as the user set it (`WUD_…`).
    pub(crate) fn as_set(&self, message: &str) -> String {
        if self.aliases.is_empty() {
            return message.to_owned();
        }
        let mut out = String::with_capacity(message.len());
        let mut word = String::new();
        let is_name = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
        for c in message.chars().chain(std::iter::once('\0')) {
            if is_name(c) {
                word.push(c);
                continue;
            }
            out.push_str(self.aliases.get(&word).unwrap_or(&word));
            word.clear();
            if c != '\0' {
                out.push(c);
            }
        }
        out
    }

    /// Replaces each `X__FILE=/path` by `X=<file content, trailing whitespace trimmed>`.
    fn resolve_files(&mut self) -> anyhow::Result<()> {
        let files: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| k.len() > FILE_SUFFIX.len() && k.ends_with(FILE_SUFFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (file_variable, path) in files {
            let target = file_variable[..file_variable.len() - FILE_SUFFIX.len()].to_owned();
            if self.vars.contains_key(&target) {
                bail!("both {target} and {file_variable} are set; set only one of them");
            }
            let content = read_secret_file(&file_variable, Path::new(&path))?;
            self.vars.remove(&file_variable);
            if let Some(alias) = self.aliases.remove(&file_variable) {
                self.aliases.insert(
                    target.clone(),
                    alias[..alias.len() - FILE_SUFFIX.len()].to_owned(),
                );
            }
            self.vars.insert(target, content);
        }
        Ok(())
    }
}

/// Reads the value of a `__FILE` variable: a regular file of at most 1 MiB of UTF-8 text. Errors
/// name the variable and the path, never the content.
fn read_secret_file(variable: &str, path: &Path) -> anyhow::Result<String> {
    if path.as_os_str().is_empty() {
        bail!("{variable}: the path is empty");
    }
    let shown = path.display();
    // Check before opening: opening a FIFO or device could block.
    let metadata =
        std::fs::metadata(path).with_context(|| format!("{variable}: cannot read {shown}"))?;
    if !metadata.is_file() {
        bail!("{variable}: {shown} is not a regular file");
    }
    if metadata.len() > MAX_FILE_SIZE {
        bail!("{variable}: {shown} is larger than 1 MiB");
    }
    warn_if_shared(variable, path, &metadata);
    let file =
        std::fs::File::open(path).with_context(|| format!("{variable}: cannot read {shown}"))?;
    let mut content = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut content)
        .with_context(|| format!("{variable}: cannot read {shown}"))?;
    if content.len() as u64 > MAX_FILE_SIZE {
        bail!("{variable}: {shown} is larger than 1 MiB");
    }
    let text = String::from_utf8(content)
        .map_err(|_| anyhow::anyhow!("{variable}: {shown} is not UTF-8 text"))?;
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

    const CANARY: &str = "canary-secret-9f3b";

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A unique temporary directory, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(label: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "drydock-config-{label}-{}-{}",
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
    fn wud_names_are_aliases_and_dd_wins() {
        let e = Environment::read(env(&[
            ("WUD_REGISTRY_HUB_PRIVATE_LOGIN", "wud-login"),
            ("WUD_REGISTRY_HUB_PRIVATE_PASSWORD", "wud-pw"),
            ("DD_REGISTRY_HUB_PRIVATE_PASSWORD", "dd-pw"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(
            e.vars,
            env(&[
                ("DD_REGISTRY_HUB_PRIVATE_LOGIN", "wud-login"),
                ("DD_REGISTRY_HUB_PRIVATE_PASSWORD", "dd-pw"),
            ])
        );
        assert!(e.uses_wud_names());
        // Messages name the variable the user set.
        assert_eq!(
            e.as_set("DD_REGISTRY_HUB_PRIVATE_LOGIN (and DD_REGISTRY_HUB_PRIVATE_PASSWORD): x"),
            "WUD_REGISTRY_HUB_PRIVATE_LOGIN (and DD_REGISTRY_HUB_PRIVATE_PASSWORD): x"
        );
        assert!(
            !Environment::read(env(&[("DD_X", "1")]))
                .unwrap()
                .uses_wud_names()
        );
    }

    #[test]
    fn file_variables_are_resolved() {
        let dir = TempDir::new("resolve");
        let password = dir.file("password", format!("{CANARY}\n\n").as_bytes());
        let e = Environment::read(env(&[
            ("DD_REGISTRY_HUB_X_LOGIN", "me"),
            ("WUD_REGISTRY_HUB_X_PASSWORD__FILE", &password),
            ("__FILE", "not drydock's"),
        ]))
        .unwrap();
        assert_eq!(
            e.vars,
            env(&[
                ("DD_REGISTRY_HUB_X_LOGIN", "me"),
                ("DD_REGISTRY_HUB_X_PASSWORD", CANARY),
            ])
        );
        assert_eq!(
            e.as_set("DD_REGISTRY_HUB_X_PASSWORD"),
            "WUD_REGISTRY_HUB_X_PASSWORD"
        );
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
            let e = Environment::read(env(&[("DD_X__FILE", path.as_str())])).unwrap_err();
            assert!(format!("{e:#}").starts_with("DD_X__FILE: "), "{e:#}");
        }
        let e = Environment::read(env(&[("WUD_X__FILE", &big)])).unwrap_err();
        assert!(format!("{e:#}").starts_with("WUD_X__FILE: "), "{e:#}");
        let e = Environment::read(env(&[("DD_X__FILE", &good), ("DD_X", "inline")])).unwrap_err();
        let message = format!("{e:#}");
        assert!(
            message.contains("DD_X ") && message.contains("DD_X__FILE"),
            "{message}"
        );
        assert!(!message.contains(CANARY));
        // Exactly 1 MiB is accepted.
        let limit = dir.file("limit", &vec![b'b'; MAX_FILE_SIZE as usize]);
        let e = Environment::read(env(&[("DD_Y__FILE", &limit)])).unwrap();
        assert_eq!(e.vars["DD_Y"].len(), MAX_FILE_SIZE as usize);
    }
}
