//! Entry points for the fuzz targets in `fuzz/` (`config_env`, `api_json`): each runs the same
//! parsing and validation the server runs, without a store, an engine or the network. Not part
//! of drydock's interface; hidden from the documentation.

use std::collections::BTreeMap;

use actix_web::ResponseError as _;
use drydock_core::policy::PolicyChange;

/// Reads a configuration from `env` exactly as start-up does (`Config::from_env`), returning
/// the configuration's `Debug` text (so that two readings can be compared) or the start-up error
/// message with its causes.
///
/// `X__FILE` variables name files to read; callers that fuzz should leave them out, since they
/// are I/O, not parsing.
pub fn config_from_env(env: BTreeMap<String, String>) -> Result<String, String> {
    crate::config::Config::from_env(env)
        .map(|config| format!("{config:?}"))
        .map_err(|e| format!("{e:#}"))
}

/// How the API answers a request body it refuses: the status and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (400 for anything wrong with the body).
    pub status: u16,
    /// The message the client receives as `{"error": message}`.
    pub message: String,
}

impl From<crate::api::ApiError> for Refusal {
    fn from(e: crate::api::ApiError) -> Self {
        Self {
            status: e.status_code().as_u16(),
            message: e.to_string(),
        }
    }
}

/// A `PATCH /api/containers/{id}/update-policy` body sent as `application/json`, read by the
/// function the handler calls before it touches the store.
pub fn policy_body(json: &[u8]) -> Result<PolicyChange, Refusal> {
    crate::api::read_policy_body(Some("application/json"), json).map_err(Refusal::from)
}

/// A `POST /api/containers/{id}/rollback` body, read by the function the handler calls: the
/// backup id it names, `None` for a blank body, a 400 for anything else.
pub fn rollback_body(json: &[u8]) -> Result<Option<String>, Refusal> {
    crate::api::read_rollback_body(json).map_err(Refusal::from)
}
