//! bollard's errors as the port's [`RuntimeError`].

use std::time::Duration;

use bollard::errors::Error;
use drydock_core::ports::RuntimeError;

/// What a failed call was about, for the error's message.
pub(crate) struct Call<'a> {
    /// The call, as [`RuntimeError::Rejected`] names it (`start container`).
    pub(crate) call: &'a str,
    /// The object, as [`RuntimeError::NotFound`] names it (`container web`).
    pub(crate) what: String,
    /// The request timeout in force, for [`RuntimeError::Timeout`].
    pub(crate) timeout: Duration,
}

impl Call<'_> {
    /// Maps `error`: 404 → `NotFound`, 409 → `Conflict`, transport failures → `Unavailable`,
    /// timeouts → `Timeout`, anything else → `Rejected`.
    pub(crate) fn error(&self, error: Error) -> RuntimeError {
        match error {
            Error::DockerResponseServerError {
                status_code: 404, ..
            } => RuntimeError::NotFound {
                what: self.what.clone(),
            },
            Error::DockerResponseServerError {
                status_code: 409,
                message,
            } => RuntimeError::Conflict {
                what: format!("{}: {}", self.what, message.trim()),
            },
            Error::DockerResponseServerError {
                status_code,
                message,
            } => RuntimeError::Rejected {
                call: self.describe(),
                reason: format!("HTTP {status_code}: {}", message.trim()),
            },
            Error::RequestTimeoutError => RuntimeError::Timeout {
                after: self.timeout,
            },
            Error::DockerStreamError { error } => RuntimeError::Rejected {
                call: self.describe(),
                reason: error,
            },
            Error::JsonDataError { message, .. } => RuntimeError::Rejected {
                call: self.describe(),
                reason: format!("unexpected answer from the engine: {message}"),
            },
            Error::JsonSerdeError { err } => RuntimeError::Rejected {
                call: self.describe(),
                reason: format!("unexpected answer from the engine: {err}"),
            },
            error @ (Error::HyperResponseError { .. }
            | Error::HyperLegacyError { .. }
            | Error::IOError { .. }
            | Error::SocketNotFoundError(_)) => RuntimeError::Unavailable {
                reason: error.to_string(),
            },
            other => RuntimeError::Rejected {
                call: self.describe(),
                reason: other.to_string(),
            },
        }
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.call, self.what)
    }
}

/// Whether `error` says the engine could not be reached (as opposed to refusing the call).
pub(crate) fn is_transport(error: &Error) -> bool {
    matches!(
        error,
        Error::HyperResponseError { .. }
            | Error::HyperLegacyError { .. }
            | Error::IOError { .. }
            | Error::SocketNotFoundError(_)
            | Error::RequestTimeoutError
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call<'static> {
        Call {
            call: "start container",
            what: "container web".into(),
            timeout: Duration::from_secs(7),
        }
    }

    fn server(status_code: u16, message: &str) -> Error {
        Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn maps_status_codes() {
        assert_eq!(
            call().error(server(404, "No such container: web")),
            RuntimeError::NotFound {
                what: "container web".into()
            }
        );
        assert!(matches!(
            call().error(server(409, "name in use")),
            RuntimeError::Conflict { what } if what.contains("name in use")
        ));
        assert!(matches!(
            call().error(server(500, "boom")),
            RuntimeError::Rejected { call, reason }
                if call.contains("start container") && reason.contains("boom")
        ));
        assert_eq!(
            call().error(Error::RequestTimeoutError),
            RuntimeError::Timeout {
                after: Duration::from_secs(7)
            }
        );
        assert!(matches!(
            call().error(Error::SocketNotFoundError("/nope.sock".into())),
            RuntimeError::Unavailable { .. }
        ));
        assert!(matches!(
            call().error(Error::DockerStreamError {
                error: "manifest unknown".into()
            }),
            RuntimeError::Rejected { reason, .. } if reason == "manifest unknown"
        ));
    }
}
