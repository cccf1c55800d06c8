//! The OpenAPI 3 description of the API, built with utoipa from the one table of routes
//! (`routes.json`: each route's method, path, summary, answers, whether it needs credentials,
//! its bodies and query parameters) and the JSON Schemas of its bodies (`components.json`).
//! Both are data, embedded in the binary; the guard reads the same table for the public routes,
//! and tests walk it.
//!
//! A container's schema leaves absent optional fields out rather than `null`, except
//! `updateKind`'s values, `null` when there is no update (OpenAPI 3.1 is JSON Schema 2020-12:
//! `null` is a type, not `nullable`).

use std::sync::LazyLock;

use serde::Deserialize;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema,
};

/// One route of the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Route {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) summary: String,
    /// Status codes the route answers, with what they mean. Protected routes also answer 429
    /// (too many failed logins) and the store's failures ([`STORE_ANSWERS`]), added by
    /// [`document`].
    pub(crate) responses: Vec<(u16, String)>,
    /// Whether it answers without credentials.
    #[serde(default)]
    pub(crate) public: bool,
    /// The schema of the success body, by component name.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// The media type of the success body.
    #[serde(default = "json_media")]
    pub(crate) media: String,
    /// The request body's schema, by component name.
    #[serde(default)]
    pub(crate) request: Option<String>,
    /// Whether the request body must be there.
    #[serde(default)]
    pub(crate) request_required: bool,
    /// Query parameters.
    #[serde(default)]
    pub(crate) query: Vec<Query>,
}

/// A query parameter of a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    pub(crate) name: String,
    pub(crate) schema: serde_json::Value,
    pub(crate) description: String,
}

fn json_media() -> String {
    "application/json".to_owned()
}

/// What every protected route may answer besides its own list: its store failing.
/// (`ApiError::store`; a read never finds the disk full, so `GET`s do not list 507.)
const STORE_ANSWERS: &[(u16, &str)] = &[
    (500, "drydock's store holds a record it cannot read"),
    (503, "drydock's store cannot be reached"),
    (507, "drydock's store's disk is full: nothing was written"),
];

/// What every protected route answers to an address with too many failed logins.
const THROTTLED: (u16, &str) = (
    429,
    "Too many failed logins from this address: retry after `Retry-After` seconds",
);

/// Every route of the API. The table is drydock's own, embedded: a unit test reads it, so a
/// broken one never ships; were it unreadable anyway, no route would be public (fail closed).
pub(crate) static ROUTES: LazyLock<Vec<Route>> =
    LazyLock::new(|| serde_json::from_str(include_str!("routes.json")).unwrap_or_default());

/// The components of the document, by name: JSON Schemas. Every one must survive utoipa's schema
/// type whole (a unit test checks), so nothing a client relies on is silently dropped.
static COMPONENTS: LazyLock<serde_json::Map<String, serde_json::Value>> =
    LazyLock::new(|| serde_json::from_str(include_str!("components.json")).unwrap_or_default());

fn schema(json: &str) -> RefOr<Schema> {
    serde_json::from_str(json).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

fn schema_of(value: &serde_json::Value) -> RefOr<Schema> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(schema(r#"{"type":"string"}"#))
        .description(Some(description))
        .build()
}

fn json_content(component: &str) -> utoipa::openapi::content::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(component)))
        .build()
}

/// The OpenAPI document.
pub(crate) fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in ROUTES.iter() {
        let method = match route.method.as_str() {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            "patch" => HttpMethod::Patch,
            "delete" => HttpMethod::Delete,
            _ => HttpMethod::Put,
        };
        let extra = STORE_ANSWERS
            .iter()
            .filter(|(code, _)| *code != 507 || route.method != "get")
            .chain([&THROTTLED])
            .filter(|_| !route.public)
            .filter(|(code, _)| route.responses.iter().all(|(own, _)| own != code))
            .map(|(code, description)| (*code, (*description).to_owned()));
        let mut responses = ResponsesBuilder::new();
        for (code, description) in route.responses.iter().cloned().chain(extra) {
            let mut response = ResponseBuilder::new().description(description);
            if let (Some(body), 200..=299) = (&route.body, code) {
                response = response.content(&route.media, json_content(body));
            } else if code >= 400 {
                response = response.content("application/json", json_content("Error"));
            }
            // Headers the guard always sends with these answers.
            response = match code {
                401 => response.header(
                    "WWW-Authenticate",
                    string_header("`Basic realm=\"drydock\"`"),
                ),
                429 => response.header(
                    "Retry-After",
                    string_header("Seconds until the address may log in again"),
                ),
                _ => response,
            };
            responses = responses.response(code.to_string(), response.build());
        }
        let mut operation = OperationBuilder::new()
            .summary(Some(route.summary.as_str()))
            .operation_id(Some(format!(
                "{}{}",
                route.method,
                route.path.replace(['/', '{', '}', '.', '-'], "_")
            )))
            .responses(responses.build());
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(schema(r#"{"type":"string"}"#)))
                        .build(),
                );
            }
        }
        for query in &route.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(&query.name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(query.description.as_str()))
                    .schema(Some(schema_of(&query.schema)))
                    .build(),
            );
        }
        if let Some(request) = &route.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(request))
                    .required(Some(if route.request_required {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .build(),
            ));
        }
        if !route.public {
            operation = operation.security(SecurityRequirement::new("basic", Vec::<String>::new()));
        }
        paths = paths.path(&route.path, PathItem::new(method, operation.build()));
    }
    let mut components = ComponentsBuilder::new();
    for (name, json) in COMPONENTS.iter() {
        components = components.schema(name, schema_of(json));
    }
    let components = components
        .security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("drydock")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utoipa's schema type drops what it does not model (it dropped `nullable`, so the document
    /// said `localValue` was a string while drydock sends `null`): every component must come out
    /// of the document exactly as written.
    #[test]
    fn the_tables_are_read_whole() {
        let routes: Vec<Route> = serde_json::from_str(include_str!("routes.json"))
            .unwrap_or_else(|e| panic!("routes.json: {e}"));
        assert_eq!(routes.len(), ROUTES.len());
        assert!(routes.len() > 30);
        let components: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("components.json"))
                .unwrap_or_else(|e| panic!("components.json: {e}"));
        assert_eq!(components.len(), COMPONENTS.len());
        assert!(ROUTES.iter().any(|r| r.public && r.path == "/health"));
    }

    #[test]
    fn every_component_survives_whole() {
        let document = serde_json::to_value(document()).unwrap();
        for (name, written) in COMPONENTS.iter() {
            assert_eq!(
                &document["components"]["schemas"][name], written,
                "{name} changed on its way into the document"
            );
        }
        for route in ROUTES.iter() {
            for query in &route.query {
                let served = &document["paths"][&route.path][&route.method]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == query.name.as_str())
                    .unwrap()["schema"];
                assert_eq!(*served, query.schema, "{} {}", route.path, query.name);
            }
        }
    }

    #[test]
    fn every_referenced_component_exists() {
        for route in ROUTES.iter() {
            for component in route.body.iter().chain(route.request.iter()) {
                assert!(
                    COMPONENTS.contains_key(component),
                    "{}: {component}",
                    route.path
                );
            }
        }
    }
}
