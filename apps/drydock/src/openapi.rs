//! The OpenAPI 3 description of the API, built with utoipa from [`ROUTES`], the one table of
//! routes, their answers and whether they need credentials. Tests walk the same table.

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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) summary: &'static str,
    /// Status codes the route answers, with what they mean.
    pub(crate) responses: &'static [(u16, &'static str)],
    /// Whether it answers without credentials.
    pub(crate) public: bool,
    /// The JSON schema of the success body, by component name.
    pub(crate) body: Option<&'static str>,
    /// The request body's schema, by component name.
    pub(crate) request: Option<&'static str>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    responses: &'static [(u16, &'static str)],
) -> Route {
    Route {
        method,
        path,
        summary,
        responses,
        public: false,
        body: None,
        request: None,
    }
}

const NOT_FOUND: (u16, &str) = (404, "Container not found");
const UNAUTHORIZED: (u16, &str) = (401, "Authentication required");

/// Every route of the API.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        public: true,
        ..route(
            "get",
            "/health",
            "Health; 503 with the reason when no authentication is configured",
            &[(200, "Healthy"), (503, "Not ready")],
        )
    },
    Route {
        public: true,
        ..route(
            "get",
            "/api/app",
            "drydock's name and version",
            &[(200, "Name and version")],
        )
    },
    Route {
        public: true,
        ..route(
            "get",
            "/api/openapi.json",
            "This document",
            &[(200, "OpenAPI 3 document")],
        )
    },
    Route {
        body: Some("ContainerList"),
        ..route(
            "get",
            "/api/containers",
            "All watched containers",
            &[(200, "Bare array of containers"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("ContainerList"),
        ..route(
            "post",
            "/api/containers/watch",
            "Watch every container now",
            &[
                (200, "Bare array of containers"),
                UNAUTHORIZED,
                (503, "A watcher could not list its engine's containers"),
            ],
        )
    },
    Route {
        body: Some("Container"),
        ..route(
            "get",
            "/api/containers/{id}",
            "One container",
            &[(200, "The container"), UNAUTHORIZED, NOT_FOUND],
        )
    },
    route(
        "delete",
        "/api/containers/{id}",
        "Forget a container (DD_SERVER_FEATURE_DELETE)",
        &[
            (204, "Deleted from drydock's store"),
            UNAUTHORIZED,
            (403, "Deleting is disabled"),
            NOT_FOUND,
        ],
    ),
    route(
        "get",
        "/api/containers/{id}/triggers",
        "Triggers that apply to the container",
        &[(200, "Bare array of triggers"), UNAUTHORIZED, NOT_FOUND],
    ),
    route(
        "post",
        "/api/containers/{id}/triggers/{type}/{name}",
        "Run a trigger for the container",
        &[
            (200, "{}"),
            UNAUTHORIZED,
            (404, "Container or trigger not found"),
        ],
    ),
    Route {
        body: Some("Container"),
        ..route(
            "post",
            "/api/containers/{id}/watch",
            "Watch one container now",
            &[(200, "The container"), UNAUTHORIZED, NOT_FOUND],
        )
    },
    route(
        "post",
        "/api/containers/{id}/update",
        "Update the container (DD_SERVER_FEATURE_CONTAINERACTIONS)",
        &[
            (200, "The updated container"),
            (400, "No update available"),
            UNAUTHORIZED,
            (403, "Container actions are disabled"),
            (404, "Container or Docker trigger not found"),
            (409, "Another update of the container is in progress"),
            (
                500,
                "The update failed; the reason says whether it was rolled back",
            ),
        ],
    ),
    Route {
        body: Some("Container"),
        request: Some("PolicyChange"),
        ..route(
            "patch",
            "/api/containers/{id}/update-policy",
            "Skip, snooze or clear the update policy",
            &[
                (200, "The container"),
                (400, "Invalid action or field"),
                UNAUTHORIZED,
                NOT_FOUND,
            ],
        )
    },
    route(
        "get",
        "/api/containers/{id}/vulnerabilities",
        "Latest vulnerability scan",
        &[
            (200, "Scan result, `not-scanned` until one runs"),
            UNAUTHORIZED,
            NOT_FOUND,
        ],
    ),
    route(
        "post",
        "/api/containers/{id}/scan",
        "Scan the container's image",
        &[(400, "No scanner configured"), UNAUTHORIZED, NOT_FOUND],
    ),
    route(
        "get",
        "/api/containers/{id}/sbom",
        "SBOM of the container's image",
        &[
            (400, "Bad format, or no scanner configured"),
            UNAUTHORIZED,
            NOT_FOUND,
        ],
    ),
    route(
        "get",
        "/api/containers/{id}/logs",
        "Container logs (`tail`, `since`, `timestamps`)",
        &[
            (200, "{ logs }"),
            (400, "Invalid query"),
            UNAUTHORIZED,
            NOT_FOUND,
        ],
    ),
    route(
        "post",
        "/api/containers/{id}/start",
        "Start the container",
        &[
            (200, "{ message, result }"),
            UNAUTHORIZED,
            (403, "Container actions are disabled"),
            NOT_FOUND,
        ],
    ),
    route(
        "post",
        "/api/containers/{id}/stop",
        "Stop the container",
        &[
            (200, "{ message, result }"),
            UNAUTHORIZED,
            (403, "Container actions are disabled"),
            NOT_FOUND,
        ],
    ),
    route(
        "post",
        "/api/containers/{id}/restart",
        "Restart the container",
        &[
            (200, "{ message, result }"),
            UNAUTHORIZED,
            (403, "Container actions are disabled"),
            NOT_FOUND,
        ],
    ),
    route(
        "post",
        "/api/containers/{id}/preview",
        "Dry run of an update: changes nothing",
        &[
            (
                200,
                "{ containerName, currentImage, newImage, updateKind, isRunning, networks, pull, hooks, configuration }",
            ),
            (400, "No update available"),
            UNAUTHORIZED,
            (404, "Container or Docker trigger not found"),
        ],
    ),
    route(
        "get",
        "/api/containers/{id}/backups",
        "Image backups, newest first",
        &[(200, "Bare array of backups"), UNAUTHORIZED, NOT_FOUND],
    ),
    route(
        "post",
        "/api/containers/{id}/rollback",
        "Roll back to a backup (body `{ backupId }`, optional: the newest by default)",
        &[
            (200, "{ message, backup, result }"),
            UNAUTHORIZED,
            (403, "Container actions are disabled"),
            (404, "Container, Docker trigger or backup not found"),
            (409, "Another update of the container is in progress"),
            (500, "The rollback failed; the container runs as before"),
        ],
    ),
    route(
        "get",
        "/api/watchers",
        "Configured watchers",
        &[(200, "Bare array"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/api/registries",
        "Configured registries (secrets masked)",
        &[(200, "Bare array"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/api/triggers",
        "Configured triggers (secrets masked)",
        &[(200, "Bare array"), UNAUTHORIZED],
    ),
    route(
        "post",
        "/api/triggers/{type}/{name}",
        "Send a test notification (body: a container, or none for a sample)",
        &[
            (200, "{}"),
            (400, "The body is not a container"),
            UNAUTHORIZED,
            (404, "Trigger not found"),
            (500, "Delivery failed"),
        ],
    ),
    route(
        "get",
        "/api/update-operations",
        "Update journal, newest first (`active`: operations not finished)",
        &[(200, "{ data, total, active }"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/api/audit",
        "Audit log, newest first (query `offset`, `limit`, `action`, `container`)",
        &[
            (200, "{ data, total, limit, offset, hasMore }"),
            UNAUTHORIZED,
        ],
    ),
    route(
        "get",
        "/api/notifications/outbox",
        "Notification outbox (`status`: pending, delivered, dead-letter)",
        &[
            (200, "{ data, total, counts }"),
            (400, "Invalid status"),
            UNAUTHORIZED,
        ],
    ),
    route(
        "get",
        "/api/store",
        "Store configuration",
        &[(200, "{ configuration }"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/api/log",
        "Log configuration",
        &[(200, "{ level }"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/api/events",
        "Server-sent events: dd:container-added, -updated, -removed, dd:update-available",
        &[(200, "text/event-stream"), UNAUTHORIZED],
    ),
    route(
        "get",
        "/metrics",
        "Prometheus metrics",
        &[(200, "Prometheus text format"), UNAUTHORIZED],
    ),
];

const CONTAINER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "name", "watcher", "image", "updateAvailable", "updateKind", "labels", "status"],
  "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "displayName": {"type": "string"},
    "displayIcon": {"type": "string"}, "watcher": {"type": "string"},
    "includeTags": {"type": "string"}, "excludeTags": {"type": "string"}, "transformTags": {"type": "string"},
    "linkTemplate": {"type": "string"}, "link": {"type": "string"},
    "image": {"type": "object", "properties": {
      "id": {"type": "string"},
      "registry": {"type": "object", "properties": {"name": {"type": "string"}, "url": {"type": "string"}}},
      "name": {"type": "string"},
      "tag": {"type": "object", "properties": {"value": {"type": "string"}, "semver": {"type": "boolean"}}},
      "digest": {"type": "object", "properties": {"watch": {"type": "boolean"}, "value": {"type": "string"}, "repo": {"type": "string"}}},
      "architecture": {"type": "string"}, "os": {"type": "string"}, "variant": {"type": "string"},
      "created": {"type": "string", "format": "date-time"}}},
    "result": {"type": "object", "properties": {
      "tag": {"type": "string"}, "digest": {"type": "string"},
      "created": {"type": "string", "format": "date-time"}, "link": {"type": "string"}}},
    "updateAvailable": {"type": "boolean"},
    "updateKind": {"type": "object", "properties": {
      "kind": {"type": "string", "enum": ["tag", "digest", "unknown"]},
      "localValue": {"type": "string", "nullable": true}, "remoteValue": {"type": "string", "nullable": true},
      "semverDiff": {"type": "string", "nullable": true, "enum": ["major", "minor", "patch", "prerelease", "unknown", null]}}},
    "error": {"type": "object", "properties": {"message": {"type": "string"}}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "status": {"type": "string"},
    "updatePolicy": {"type": "object", "properties": {
      "skipTags": {"type": "array", "items": {"type": "string"}},
      "skipDigests": {"type": "array", "items": {"type": "string"}},
      "snoozeUntil": {"type": "string", "format": "date-time"},
      "maturityMode": {"type": "string", "enum": ["all", "mature"]},
      "maturityMinAgeDays": {"type": "integer"}}}
  }
}"#;

const POLICY_SCHEMA: &str = r#"{
  "type": "object", "required": ["action"],
  "properties": {
    "action": {"type": "string", "enum": ["skip-current", "clear-skips", "snooze", "unsnooze", "clear"]},
    "days": {"type": "integer", "minimum": 1, "maximum": 365},
    "snoozeUntil": {"type": "string", "format": "date-time"}
  }
}"#;

fn schema(json: &str) -> RefOr<Schema> {
    serde_json::from_str(json).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

/// The OpenAPI document.
pub(crate) fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        let method = match route.method {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            "patch" => HttpMethod::Patch,
            "delete" => HttpMethod::Delete,
            _ => HttpMethod::Put,
        };
        let mut responses = ResponsesBuilder::new();
        for (code, description) in route.responses {
            let mut response = ResponseBuilder::new().description(*description);
            if let (Some(body), 200) = (route.body, code) {
                response = response.content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(body)))
                        .build(),
                );
            } else if *code >= 400 {
                response = response.content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                );
            }
            responses = responses.response(code.to_string(), response.build());
        }
        let mut operation = OperationBuilder::new()
            .summary(Some(route.summary))
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
        if let Some(request) = route.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(request)))
                            .build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if !route.public {
            operation = operation.security(SecurityRequirement::new("basic", Vec::<String>::new()));
        }
        paths = paths.path(route.path, PathItem::new(method, operation.build()));
    }
    let components = ComponentsBuilder::new()
        .schema("Container", schema(CONTAINER_SCHEMA))
        .schema("ContainerList", schema(r##"{"type":"array","items":{"$ref":"#/components/schemas/Container"}}"##))
        .schema("PolicyChange", schema(POLICY_SCHEMA))
        .schema("Error", schema(r#"{"type":"object","required":["error"],"properties":{"error":{"type":"string"}}}"#))
        .security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)))
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
