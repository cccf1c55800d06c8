//! The domain of drydock, a container-image update watcher: plain Rust, no I/O.
//!
//! This crate knows what an image reference is, how registry tags read as versions, which tag a
//! container should move to and why, what kind of update that is, and which policies hold it back.
//! It defines the [`ports`] through which the rest of drydock reaches engines, registries, the store
//! and notification channels, but implements none of them: no runtime, no HTTP, no database. Other
//! tools can embed it as it is.
//!
//! # Example
//!
//! ```
//! use drydock_core::image_ref::ImageReference;
//! use drydock_core::rules::TagRules;
//! use drydock_core::selection::{select, Verdict};
//!
//! let image: ImageReference = "lscr.io/linuxserver/sonarr:4.0.1-ls245".parse().unwrap();
//! let tags = ["4.0.1-ls245", "4.0.1-ls246", "4.0.2-ls250", "4.1.0-ls251", "develop", "5.0.0-rc1-ls1"];
//!
//! let rules = TagRules::builder().transform(r"^(\d+\.\d+\.\d+)-ls(\d+)$ => $1.$2").build().unwrap();
//! let selection = select(image.tag().unwrap_or("latest"), &tags, &rules);
//! assert_eq!(selection.update_tag(), Some("4.1.0-ls251"));
//!
//! // Every tag has a verdict, for `drydock explain`.
//! for (tag, verdict) in selection.explain(&tags) {
//!     if let Verdict::Dropped(reason) = verdict {
//!         println!("{tag}: {reason}");
//!     }
//! }
//! ```
//!
//! # Map
//!
//! - [`image_ref`]: Docker image references, parsed and normalised.
//! - `compat` (with the `serde` feature): What's Up Docker's names, and containers flattened as
//!   MQTT and WUD's metrics carry them.
//! - [`discovery`]: container labels (the one reader of them), the image a container runs, link
//!   templates.
//! - [`version`]: tags read as versions; families and precedence.
//! - [`rules`]: include, exclude, transform and family rules.
//! - [`selection`]: the choice of the update tag, with its trace.
//! - [`model`]: the container model in the Container API's shape.
//! - [`update_kind`]: the update-kind computation (tag, digest, none) and update levels.
//! - [`event`]: what a watch changed, as the services exchange it.
//! - [`notification`]: which trigger announces which update, and the rendered messages.
//! - [`operation`]: journaled container updates, backups, audit entries and crash recovery.
//! - [`policy`]: skips, snooze, maturity and trigger thresholds.
//! - [`template`]: notification templates with safe `${...}` expressions.
//! - [`ports`]: the traits adapters implement.

#[cfg(feature = "serde")]
pub mod compat;
pub mod discovery;
pub mod event;
pub mod image_ref;
pub mod model;
pub mod notification;
pub mod operation;
pub mod policy;
pub mod ports;
pub mod rules;
pub mod selection;
pub mod template;
pub mod update_kind;
pub mod version;
