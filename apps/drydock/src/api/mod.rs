//! The HTTP API: the Container API of the seed under `/api/containers`, and the server's own
//! routes. Errors are JSON `{ "error": "..." }` with the right status; bad input is a 400 naming
//! the field, never a 500.

mod containers;
mod events;
mod metrics;
mod system;

pub(crate) use containers::{read_policy_body, read_rollback_body};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use drydock_core::ports::StoreError;
use drydock_watch::WatchError;

use crate::state::AppState;
use drydock_accounts::Verdict;

/// An API error: a status and a message, answered as `{ "error": message }`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    /// A store failure: 507 when its disk is full, 503 when it cannot be reached, 500 for a
    /// record it cannot read.
    pub(crate) fn store(error: StoreError) -> Self {
        Self::new(store_status(&error), error.to_string())
    }

    /// A watch that could not run: the store's status for a store failure, 503 for an engine
    /// that does not answer, 404 for a container the engine does not know.
    pub(crate) fn watch(error: WatchError) -> Self {
        let status = match &error {
            WatchError::Store { source, .. } => store_status(source),
            WatchError::Runtime { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WatchError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::Full { .. } => StatusCode::INSUFFICIENT_STORAGE,
        StoreError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({ "error": self.message }))
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A non-negative whole number from a query parameter. Any size is accepted: an offset or a time
/// past every entry means "nothing", not a bad request, so a value too large for the machine
/// saturates.
pub(crate) fn whole_number(name: &str, value: &str) -> ApiResult<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be a whole number from 0"
        )));
    }
    Ok(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// The answer to a notification sent on request: `{}` once the receiver accepted it, else a 500
/// naming why.
pub(crate) fn delivered(delivery: drydock_notify::Delivery) -> ApiResult<HttpResponse> {
    match delivery {
        drydock_notify::Delivery::Sent { .. } => Ok(HttpResponse::Ok().json(serde_json::json!({}))),
        drydock_notify::Delivery::Dead { error, .. } => Err(ApiError::internal(error)),
    }
}

/// Routes that answer without credentials, as the route table marks them: health checks, the
/// app's identity (dashboards test connections with it) and the API description.
fn is_public(path: &str) -> bool {
    crate::openapi::ROUTES
        .iter()
        .any(|route| route.public && route.path == path)
}

/// Authentication (fail-closed), CORS pre-flights before it, and CORS headers after it.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let origin = state.config.cors_origin.clone();
    if req.method() == actix_web::http::Method::OPTIONS && origin.is_some() {
        let response = HttpResponse::NoContent()
            .insert_header((
                "Access-Control-Allow-Methods",
                "GET, HEAD, PUT, PATCH, POST, DELETE",
            ))
            .insert_header((
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type",
            ))
            .insert_header(("Access-Control-Max-Age", "600"))
            .finish();
        return Ok(with_cors(req.into_response(response), origin.as_deref()));
    }
    let path = req.path().to_owned();
    let protected = !is_public(&path) && (path != "/metrics" || state.config.metrics_auth);
    if protected {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let peer = req.peer_addr().map(|a| a.ip());
        match state.auth.check(authorization.as_deref(), peer).await {
            Verdict::Allowed => {}
            Verdict::Denied => {
                let message = state
                    .auth
                    .closed_reason()
                    .unwrap_or("authentication required");
                let response = HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"drydock\""))
                    .json(serde_json::json!({ "error": message }));
                return Ok(with_cors(req.into_response(response), origin.as_deref()));
            }
            Verdict::Throttled(retry_after) => {
                let seconds = retry_after.as_secs().max(1).to_string();
                let response = HttpResponse::TooManyRequests()
                    .insert_header((header::RETRY_AFTER, seconds))
                    .json(serde_json::json!({ "error": "too many login attempts; retry later" }));
                return Ok(with_cors(req.into_response(response), origin.as_deref()));
            }
        }
    }
    let response = next.call(req).await?.map_into_boxed_body();
    Ok(with_cors(
        json_method_not_allowed(response),
        origin.as_deref(),
    ))
}

/// actix answers a known path asked with another method with an empty 405; every other error of
/// the API is JSON, so this one is too (its `Allow` header kept).
fn json_method_not_allowed(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let (request, old) = response.into_parts();
    let mut answer = HttpResponse::MethodNotAllowed();
    if let Some(allow) = old.headers().get(header::ALLOW) {
        answer.insert_header((header::ALLOW, allow.clone()));
    }
    let allowed = old
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ServiceResponse::new(
        request,
        answer.json(serde_json::json!({
            "error": format!("Method not allowed; this route accepts: {allowed}")
        })),
    )
}

fn with_cors(
    mut response: ServiceResponse<BoxBody>,
    origin: Option<&str>,
) -> ServiceResponse<BoxBody> {
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

async fn route_not_found() -> ApiResult<HttpResponse> {
    Err(ApiError::not_found("Route not found"))
}

/// Registers every route on an actix `App`.
pub(crate) fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(256 * 1024)
                    .error_handler(|err, _| {
                        ApiError::bad_request(format!("invalid JSON body: {err}")).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::bad_request(format!("invalid query: {err}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|err, _| {
                ApiError::bad_request(format!("invalid path: {err}")).into()
            }))
            .configure(system::routes)
            .configure(containers::routes)
            .default_service(web::to(route_not_found));
    }
}

/// Wraps the routes with the guard; used by the server and by tests.
pub(crate) fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .wrap(actix_web::middleware::from_fn(guard))
        .configure(configure(state))
}

/// Shared handle type for handlers.
pub(crate) type State = web::Data<AppState>;
