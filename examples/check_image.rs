//! Is there an update for this image? The core's tag selection over the registry adapter's tag
//! list, the way drydock decides it, with no engine, store or server.
//!
//! `check_image <image reference> [DD_REGISTRY_* variables in the environment]`; exits 0 when
//! up to date, 1 when an update exists, 2 on an error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use drydock_core::image_ref::ImageReference;
use drydock_core::model::UpdateKind;
use drydock_core::ports::Registry;
use drydock_core::rules::TagRules;
use drydock_core::selection::select;
use drydock_registry::providers::providers_from_env;
use drydock_registry::{ClientOptions, RegistryClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("check_image: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether the image has an update.
async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let reference = std::env::args()
        .nth(1)
        .ok_or("usage: check_image <image reference>")?;
    let image: ImageReference = reference.parse()?;
    // Credentials, if any, the way drydock reads them: DD_REGISTRY_{TYPE}_{NAME}_{KEY}.
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let registry = RegistryClient::new(providers_from_env(&env)?, ClientOptions::default());
    let installed = image.tag_or_latest().to_owned();
    let tags = registry.list_tags(&image).await?;
    let selection = select(&installed, &tags, &TagRules::default());
    let digest = registry.manifest_digest(&image, &installed).await?;
    let kind = UpdateKind::classify(&installed, &selection, false, None, Some(&digest));
    println!("{image}: {} tags, {installed} is {digest}", tags.len());
    match &kind.remote_value {
        Some(tag) => println!("update: {installed} -> {tag} ({})", kind.level()),
        None => println!("up to date"),
    }
    Ok(kind.is_update())
}
