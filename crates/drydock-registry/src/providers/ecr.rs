//! AWS ECR's token exchange, prepared without network access: the SigV4-signed
//! `GetAuthorizationToken` request, and its answer decoded into Basic credentials.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};

use super::provider::*;
use crate::secret::Secret;

/// `X-Amz-Target` of the ECR `GetAuthorizationToken` call.
pub(super) const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// Content type of ECR API calls.
pub(super) const ECR_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The SigV4 service name of the ECR API.
pub(super) const ECR_SIGNING_NAME: &str = "ecr";

impl Provider {
    /// The AWS SigV4-signed `GetAuthorizationToken` request for this ECR
    /// provider at `now`, or `None` for other kinds.
    ///
    /// The request is `POST https://api.ecr.{region}.amazonaws.com/` with
    /// headers `X-Amz-Target:
    /// AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken` and
    /// `Content-Type: application/x-amz-json-1.1` and body `{}`, signed for
    /// service `ecr` in the provider's region.
    ///
    /// The answer goes to [`parse_ecr_token_response`].
    ///
    /// # Errors
    ///
    /// [`ProviderError::EcrSigning`] when the request cannot be signed (a
    /// region that does not form a valid URL, for a hand-built provider).
    pub fn ecr_token_request(
        &self,
        now: SystemTime,
    ) -> Result<Option<SignedRequest>, ProviderError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};

        let ProviderAuth::Ecr {
            access_key_id,
            secret_access_key,
            region,
        } = &self.auth
        else {
            return Ok(None);
        };
        let signing_error = |reason: String| ProviderError::EcrSigning {
            provider: self.id(),
            reason,
        };

        let url = format!("https://api.ecr.{region}.amazonaws.com/");
        let body = "{}";
        let headers = [
            ("Content-Type", ECR_CONTENT_TYPE),
            ("X-Amz-Target", ECR_TARGET),
        ];
        let identity = aws_credential_types::Credentials::new(
            access_key_id.as_str(),
            secret_access_key.expose(),
            None,
            None,
            "drydock",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(ECR_SIGNING_NAME)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing_error(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| signing_error(e.to_string()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| signing_error(e.to_string()))?
            .into_parts();

        let mut signed_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        signed_headers.extend(
            instructions
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned())),
        );
        Ok(Some(SignedRequest {
            method: "POST".to_owned(),
            url,
            headers: signed_headers,
            body: body.to_owned(),
        }))
    }
}

/// Decodes the ECR `GetAuthorizationToken` response into (username, password, expiry).
///
/// The body is
/// `{"authorizationData":[{"authorizationToken":"<base64 user:pass>","expiresAt":<epoch seconds>, …}]}`;
/// only the first entry is read.
///
/// `expires_at` is `None` when the response has no `expiresAt`.
///
/// # Errors
///
/// [`ProviderError::EcrResponse`] when the body is not JSON of that shape,
/// the token is not base64 of `user:password`, or `expiresAt` is not a
/// representable time. The message never includes the token.
pub fn parse_ecr_token_response(
    body: &str,
) -> Result<(String, Secret, Option<DateTime<Utc>>), ProviderError> {
    let invalid = |reason: &str| ProviderError::EcrResponse {
        reason: reason.to_owned(),
    };
    let json: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        // Only the position: serde_json's messages may quote the input.
        ProviderError::EcrResponse {
            reason: format!(
                "not JSON (error at line {} column {})",
                e.line(),
                e.column()
            ),
        }
    })?;
    let data = json
        .get("authorizationData")
        .and_then(serde_json::Value::as_array)
        .and_then(|data| data.first())
        .ok_or_else(|| invalid("authorizationData is missing or empty"))?;
    let token = data
        .get("authorizationToken")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid("authorizationToken is missing or not a string"))?;
    let decoded = BASE64
        .decode(token.trim())
        .map_err(|_| invalid("authorizationToken is not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| invalid("authorizationToken is not UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .filter(|(username, _)| !username.is_empty())
        .ok_or_else(|| invalid("authorizationToken is not of the form user:password"))?;
    let expires_at = match data.get("expiresAt") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            value
                .as_f64()
                .and_then(epoch_seconds_to_time)
                .ok_or_else(|| invalid("expiresAt is not a time in epoch seconds"))?,
        ),
    };
    Ok((username.to_owned(), Secret::new(password), expires_at))
}

/// Converts epoch seconds (with fraction) to a time, if representable.
pub(super) fn epoch_seconds_to_time(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() || seconds.abs() > 1e15 {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().clamp(0.0, 999_999_999.0);
    // Both values are range-checked above, so the casts are exact.
    DateTime::from_timestamp(whole as i64, nanos as u32)
}
