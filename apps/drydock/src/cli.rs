//! The commands: `serve`, `check`, `explain`, `hash-password`.
// A command-line tool prints its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use drydock_core::model::Container;
use drydock_core::ports::Store;
use drydock_core::selection::{Outcome, Verdict};
use drydock_store_sled::SledStore;
use drydock_watch::WatchError;

use crate::config::Config;
use crate::state::AppState;

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},actix_server=warn,actix_web=warn,sled=warn,hyper=warn,reqwest=warn",
        level = config.log_level
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or `docker logs` gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve() -> anyhow::Result<()> {
    let config = Config::from_process_env().context("configuration")?;
    init_logging(&config);
    if config.wud_names {
        tracing::info!("reading What's Up Docker's WUD_* variables as drydock's DD_* ones");
    }
    for ignored in &config.ignored {
        tracing::warn!("ignored: {ignored}");
    }
    let store = SledStore::open(&config.store_path)?;
    let port = config.port;
    let state = actix_web::web::Data::new(AppState::build(config, Arc::new(store)).await?);
    if let Some(reason) = state.auth.closed_reason() {
        tracing::warn!("the API refuses every request: {reason}");
    }
    // Interrupted updates are finished first (in the background, so the API answers at once);
    // automatic updates start once that is done.
    let updaters = state.updaters.clone();
    let update_events = state.events.subscribe();
    let recovered_state = state.clone();
    let retrying = updaters.clone();
    tokio::spawn(async move {
        retrying
            .retry_stranded(std::time::Duration::from_secs(1))
            .await
    });
    tokio::spawn(async move {
        if updaters.recover().await > 0 {
            // The start-up watch may have seen containers parked mid-update: look again.
            if let Err(e) = recovered_state.watch_all().await {
                tracing::warn!(error = %e, "watch after recovery failed");
            }
        }
        updaters.apply_automatically(update_events).await;
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for watcher in &state.watchers {
        let watcher = watcher.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move { watcher.run(stopped).await });
    }
    tokio::spawn(
        state
            .notifications
            .clone()
            .dispatch(state.events.subscribe()),
    );
    if !state.config.server_enabled {
        tracing::info!("DD_SERVER_ENABLED=false: watching without the HTTP API");
        stop_signal().await?;
        let _ = stop.send(true);
        finish_updates(&state.updaters).await;
        return Ok(());
    }
    let app_state = state.clone();
    // Signals are drydock's: running updates finish before the HTTP server stops (its own
    // handling would drop a request's update after the shutdown timeout).
    let server = actix_web::HttpServer::new(move || crate::api::app(app_state.clone()))
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5);
    let server = match &state.config.tls {
        Some((cert, key)) => server.bind_rustls_0_23(("0.0.0.0", port), tls_config(cert, key)?),
        None => server.bind(("0.0.0.0", port)),
    }
    .with_context(|| format!("cannot listen on port {port} (DD_SERVER_PORT)"))?;
    tracing::info!(port, watchers = state.watchers.len(), "drydock is serving");
    let server = server.run();
    let handle = server.handle();
    let stopping = state.clone();
    tokio::spawn(async move {
        if let Err(e) = stop_signal().await {
            tracing::error!(error = %e, "cannot wait for stop signals; stopping");
        }
        let _ = stop.send(true);
        finish_updates(&stopping.updaters).await;
        handle.stop(true).await;
    });
    server.await.context("HTTP server")?;
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
async fn stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        result = tokio::signal::ctrl_c() => {
            result.context("listening for SIGINT")?;
            tracing::info!("SIGINT: stopping");
        }
    }
    Ok(())
}

/// Accepts no new update and lets the running ones finish, up to their stop and health
/// timeouts: an update is never cut short by a stop (a SIGKILL is what the journal is for).
async fn finish_updates(updaters: &drydock_actions::Updaters) {
    if updaters.is_empty() {
        return;
    }
    let limit = updaters.longest_update();
    tracing::info!(limit = ?limit, "waiting for running updates to finish");
    if !updaters.drain(limit).await {
        tracing::warn!(
            "updates still running at the limit; the next start-up's recovery finishes them"
        );
    }
}

/// The API's TLS configuration from PEM files.
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| anyhow::anyhow!("DD_SERVER_TLS_CERT={}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("DD_SERVER_TLS_KEY={}: {e}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("DD_SERVER_TLS_CERT and DD_SERVER_TLS_KEY do not form a certificate and its key")
}

/// One watch cycle, printed: of every watched container, or of those `only` names (by name, id
/// or id prefix; one that matches none is an error, exit 2).
pub async fn check(json: bool, only: &[String]) -> anyhow::Result<ExitCode> {
    let state = one_off().await?;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "drydock: checking the containers of {} watcher(s)…",
            state.watchers.len()
        );
    }
    let (mut containers, failed) = state.watch_all().await?;
    let mut failed: Vec<String> = failed.iter().map(ToString::to_string).collect();
    if !only.is_empty() {
        // A name, a full id, or an id prefix long enough not to be a name's accident.
        let names = |c: &Container, o: &str| c.name == o || (o.len() >= 4 && c.id.starts_with(o));
        for o in only {
            if !containers.iter().any(|c| names(c, o)) {
                failed.push(format!("no watched container is named {o} or has that id"));
            }
        }
        containers.retain(|c| only.iter().any(|o| names(c, o)));
    }
    for failure in &failed {
        eprintln!("drydock: {failure}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&containers)?);
    } else {
        print_table(&containers);
    }
    let code = if !failed.is_empty() || containers.iter().any(|c| c.error.is_some()) {
        2
    } else if containers.iter().any(|c| c.update_available) {
        1
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

fn print_table(containers: &[Container]) {
    let rows: Vec<[String; 5]> = containers
        .iter()
        .map(|c| {
            let available = c
                .update_kind
                .remote_value
                .clone()
                .filter(|_| c.update_available)
                .unwrap_or_else(|| "up to date".into());
            let kind = if let Some(error) = &c.error {
                format!("error: {}", error.message)
            } else if c.update_available {
                c.update_kind.level().to_string()
            } else {
                String::new()
            };
            [
                c.name.clone(),
                c.image.name.clone(),
                c.image.tag.value.clone(),
                available,
                kind,
            ]
        })
        .collect();
    let header = ["CONTAINER", "IMAGE", "CURRENT", "AVAILABLE", "KIND"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(60));
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// The state of a one-off command: the configuration, and a store of its own, which keeps
/// nothing and never touches (or waits for) a running server's store.
async fn one_off() -> anyhow::Result<AppState> {
    let config = Config::from_process_env().context("configuration")?;
    let store: Arc<dyn Store> = Arc::new(SledStore::temporary()?);
    AppState::build(config, store).await
}

/// Why each tag was or was not offered to one container: the watch's own decision
/// (`Watcher::explain`), printed.
pub async fn explain(name: &str) -> anyhow::Result<()> {
    let state = one_off().await?;
    for watcher in &state.watchers {
        let explanation = match watcher.explain(name).await {
            Ok(explanation) => explanation,
            Err(WatchError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let selection = &explanation.selection;
        println!(
            "container {} ({}), image {}",
            explanation.container, explanation.watcher, explanation.image
        );
        println!(
            "installed tag {} (compared as {}), registry lists {} tags",
            explanation.installed_tag,
            selection.current,
            explanation.tags.len()
        );
        for (tag, verdict) in selection.explain(&explanation.tags) {
            let text = match verdict {
                Verdict::Chosen => "CHOSEN".to_owned(),
                Verdict::Passed => "newer, not the best".to_owned(),
                Verdict::Dropped(reason) => format!("dropped: {reason}"),
            };
            println!("  {tag:<40} {text}");
        }
        match &selection.outcome {
            Outcome::Update { tag, diff, .. } => println!("=> update to {tag} ({diff})"),
            Outcome::UpToDate => println!("=> up to date"),
            Outcome::DigestOnly { .. } => println!("=> not a version: watched by digest only"),
        }
        return Ok(());
    }
    bail!("no container named {name} on any watcher")
}

/// Reads a password from standard input and prints its hash.
pub fn hash_password() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password")?;
    let password = input.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    println!("{}", drydock_accounts::hash_password(password)?);
    Ok(())
}
