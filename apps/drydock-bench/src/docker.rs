//! The engine side of the workload, through the `docker` CLI of the test environment.

use std::collections::BTreeSet;
use std::process::Stdio;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::process::Command;

/// Runs `docker args…` and returns its standard output; a failure carries its standard error.
pub(crate) async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running docker")?;
    if !output.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Builds an image holding a static busybox (`/bin/sleep`) with `docker import` and pushes it.
pub(crate) async fn import_busybox(reference: &str) -> anyhow::Result<()> {
    let busybox = which("busybox").context("busybox-static is not installed")?;
    let dir = std::env::temp_dir().join(format!("drydock-bench-base-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy(&busybox, dir.join("bin/busybox"))?;
    for applet in ["sh", "sleep"] {
        let link = dir.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link)?;
        }
    }
    let script = format!(
        "tar -C {dir} -c . | docker import -c 'CMD [\"/bin/sleep\",\"86400\"]' - {reference} >/dev/null \
         && docker push -q {reference} >/dev/null",
        dir = dir.display()
    );
    let status = Command::new("sh").arg("-c").arg(&script).status().await?;
    std::fs::remove_dir_all(&dir)?;
    if !status.success() {
        bail!("importing and pushing the base image {reference} failed");
    }
    Ok(())
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Names of the containers labelled `dd.bench=<run>`.
pub(crate) async fn containers(run: &str) -> anyhow::Result<BTreeSet<String>> {
    let filter = format!("label=dd.bench={run}");
    let out = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]).await?;
    Ok(out.lines().map(String::from).collect())
}

/// Pulls each image once (through the proxy), then starts the containers that are missing.
pub(crate) async fn ensure_containers(
    run: &str,
    wanted: &[(String, String)],
) -> anyhow::Result<usize> {
    let existing = containers(run).await?;
    // A smaller run after a kept larger one: the extra containers would be watched too.
    let extra: Vec<&str> = existing
        .iter()
        .filter(|name| !wanted.iter().any(|(w, _)| w == *name))
        .map(String::as_str)
        .collect();
    for chunk in extra.chunks(100) {
        let mut args = vec!["rm", "-f"];
        args.extend(chunk.iter().copied());
        docker(&args).await?;
    }
    let missing: Vec<&(String, String)> = wanted
        .iter()
        .filter(|(name, _)| !existing.contains(name))
        .collect();
    // Containers of a kept run that have stopped since are started again.
    let filter = format!("label=dd.bench={run}");
    let stopped = docker(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
    ])
    .await?;
    let stopped: Vec<&str> = stopped.lines().collect();
    for chunk in stopped.chunks(100) {
        let mut args = vec!["start"];
        args.extend(chunk.iter().copied());
        docker(&args).await?;
    }
    let images: BTreeSet<&String> = missing.iter().map(|(_, image)| image).collect();
    stream::iter(images)
        .map(|image| async move { docker(&["pull", "-q", image]).await.map(drop) })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    let label = format!("dd.bench={run}");
    let started = missing.len();
    stream::iter(missing)
        .map(|(name, image)| {
            let label = label.clone();
            async move {
                docker(&[
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--network",
                    "none",
                    "--label",
                    &label,
                    "--label",
                    "dd.watch=true",
                    image,
                ])
                .await
                .map(drop)
            }
        })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started)
}

/// Removes the run's containers, and its images unless they are kept for the next run.
pub(crate) async fn remove(run: &str, images_of: &str) -> anyhow::Result<()> {
    let names: Vec<String> = containers(run).await?.into_iter().collect();
    for chunk in names.chunks(100) {
        let mut args = vec!["rm", "-f"];
        args.extend(chunk.iter().map(String::as_str));
        docker(&args).await?;
    }
    let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).await?;
    let ours: Vec<&str> = images
        .lines()
        .filter(|i| i.starts_with(images_of))
        .collect();
    for chunk in ours.chunks(100) {
        let mut args = vec!["rmi", "-f"];
        args.extend(chunk.iter().copied());
        docker(&args).await?;
    }
    Ok(())
}
