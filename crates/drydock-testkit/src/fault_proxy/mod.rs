//! A fault-injecting HTTP proxy in front of a real registry, on loopback, for tests that run whole
//! watch cycles against registries that misbehave.
//!
//! The proxy forwards the distribution API to an upstream registry (`127.0.0.1:5000` in the test
//! environment) and, per [`Rule`], answers some repositories' requests with a [`Fault`] instead:
//! a status (`429` with or without `Retry-After`, `5xx`), a connection reset, silence, a body at
//! one byte per second, truncated JSON, the wrong `Content-Type`, a huge tag list, a `Link` header
//! that loops, a failing token endpoint. Requests for other repositories pass through untouched,
//! so in one watch cycle some containers meet the fault and the others must not notice.
//!
//! It can also be the registry's token realm ([`FaultProxy::require_token`]): it then challenges
//! every `/v2/` request with `Bearer realm="…/token"` and issues opaque tokens itself, which is
//! how a token endpoint's failure is injected. With [`FaultProxy::start_tls`] the same port also
//! speaks TLS (the first byte tells which), with a certificate the caller chose — for instance one
//! that does not name the host ([`TlsIdentity::for_dns_name`]).
//!
//! The proxy runs on its own thread and runtime, so its tasks never count among the tasks of the
//! test's runtime, and stops when dropped. It records each request it served (see
//! [`FaultProxy::requests`]), including how many body bytes it managed to send, so a test can tell
//! how much of a huge answer a client actually read.

mod huge;
mod proxy;
mod rules;
mod serve;
#[cfg(test)]
mod tests;
mod tls;

pub use proxy::FaultProxy;
pub use rules::{Fault, ProxyRequest, Rule};
pub use tls::TlsIdentity;
