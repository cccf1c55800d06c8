//! One watch cycle of a Docker engine, printed: the watch service (`drydock-watch`) over the
//! Docker adapter, the registry adapter and a sled store, wired by hand the way the server wires
//! them.
//!
//! `watch_once [store directory]`: the engine is `DD_WATCHER_LOCAL_SOCKET` (or
//! `/var/run/docker.sock`), registry credentials come from `DD_REGISTRY_*`; without a store
//! directory the store is temporary. Exits 0 when every container was checked, 2 otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use drydock_docker::{ConnectionConfig, DockerRuntime};
use drydock_registry::providers::providers_from_env;
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_store_sled::SledStore;
use drydock_watch::{SystemClock, Watcher, WatcherSettings};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(2),
        Err(e) => {
            eprintln!("watch_once: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the cycle; returns how many containers could not be checked.
async fn run() -> Result<usize, Box<dyn std::error::Error>> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let store = match std::env::args().nth(1) {
        Some(path) => SledStore::open(path)?,
        None => SledStore::temporary()?,
    };
    let connection = ConnectionConfig::from_watcher_env("local", &env)?;
    let watcher = Watcher::new(
        WatcherSettings::from_env("local", &env)?,
        Arc::new(DockerRuntime::open(&connection).await?),
        Arc::new(RegistryClient::new(
            providers_from_env(&env)?,
            ClientOptions::default(),
        )),
        Arc::new(store),
        Arc::new(SystemClock),
    );
    let report = watcher.watch_all().await?;
    for container in &report.containers {
        let available = match (&container.error, container.update_available) {
            (Some(error), _) => format!("error: {}", error.message),
            (None, true) => format!(
                "{} ({})",
                container.update_kind.remote_value.as_deref().unwrap_or("?"),
                container.update_kind.level()
            ),
            (None, false) => "up to date".to_owned(),
        };
        println!(
            "{:<30} {}:{:<20} {available}",
            container.name, container.image.name, container.image.tag.value
        );
    }
    println!(
        "{} containers, {} updates, {} errors",
        report.containers.len(),
        report.updates,
        report.errors
    );
    Ok(report.errors)
}
