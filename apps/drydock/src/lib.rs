//! drydock's server, API and CLI, behind the `drydock` binary.
//!
//! The binary only parses its arguments and runs one of the [`cli`] commands; everything else
//! (configuration, wiring, the HTTP API) lives here, private to the crate. The library target
//! exists so that the fuzz targets in `fuzz/` can reach the configuration parser and the API's
//! request bodies through [`fuzzing`]; it is not an interface for other programs.

mod api;
pub mod cli;
mod config;
mod list_cache;
mod openapi;
mod state;

#[doc(hidden)]
pub mod fuzzing;
