//! drydock's accounts: who may use the API. Users come with argon2id hashes
//! (`DD_AUTH_BASIC_{NAME}_USER` / `_HASH`); an [`Authenticator`] checks each request's
//! `Authorization` header against them, fails closed when nothing is configured, lets anonymous
//! requests in only when that is explicitly confirmed, and locks out an address after repeated
//! failures. No web framework here: the server asks for a [`Verdict`] and answers it.
//!
//! # Example
//!
//! ```
//! use drydock_accounts::{Authenticator, BasicUser, Verdict, hash_password};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let hash = hash_password("s3cret").unwrap();
//! let auth = Authenticator::new(vec![BasicUser::new("admin", &hash).unwrap()], false);
//! // "admin:s3cret" in base64.
//! assert_eq!(auth.check(Some("Basic YWRtaW46czNjcmV0"), None).await, Verdict::Allowed);
//! assert_eq!(auth.check(None, None).await, Verdict::Denied);
//! # });
//! ```

mod authenticator;
mod password;

pub use authenticator::{Authenticator, Verdict};
pub use password::{BasicUser, HashError, UserError, hash_password};
