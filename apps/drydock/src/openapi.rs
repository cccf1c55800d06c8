//! The OpenAPI 3 description of the API, built with utoipa from [`ROUTES`], the one table of
//! routes, their answers and whether they need credentials. Tests walk the same table.

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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) summary: &'static str,
    /// Status codes the route answers, with what they mean. Protected routes also answer 429
    /// (too many failed logins) and the store's failures ([`STORE_ANSWERS`]), added by
    /// [`document`].
    pub(crate) responses: &'static [(u16, &'static str)],
    /// Whether it answers without credentials.
    pub(crate) public: bool,
    /// The schema of the success body, by component name.
    pub(crate) body: Option<&'static str>,
    /// The media type of the success body.
    pub(crate) media: &'static str,
    /// The request body's schema, by component name.
    pub(crate) request: Option<&'static str>,
    /// Whether the request body must be there.
    pub(crate) request_required: bool,
    /// Query parameters: name, JSON schema, description.
    pub(crate) query: &'static [(&'static str, &'static str, &'static str)],
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
        media: "application/json",
        request: None,
        request_required: false,
        query: &[],
    }
}

const NOT_FOUND: (u16, &str) = (404, "Container not found");
const UNAUTHORIZED: (u16, &str) = (401, "Authentication required");
const BAD_QUERY: (u16, &str) = (400, "Invalid query parameter");

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

/// Every route of the API.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        public: true,
        body: Some("Health"),
        ..route(
            "get",
            "/health",
            "Health; 503 with the reason when no authentication is configured",
            &[(200, "Healthy"), (503, "Not ready")],
        )
    },
    Route {
        public: true,
        body: Some("App"),
        ..route(
            "get",
            "/api/app",
            "drydock's name and version",
            &[(200, "Name and version")],
        )
    },
    Route {
        public: true,
        body: Some("Document"),
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
    Route {
        body: Some("TriggerList"),
        ..route(
            "get",
            "/api/containers/{id}/triggers",
            "Triggers that apply to the container",
            &[(200, "Bare array of triggers"), UNAUTHORIZED, NOT_FOUND],
        )
    },
    Route {
        body: Some("Empty"),
        ..route(
            "post",
            "/api/containers/{id}/triggers/{type}/{name}",
            "Run a trigger for the container",
            &[
                (200, "{}"),
                UNAUTHORIZED,
                (404, "Container or trigger not found"),
                (500, "Delivery failed"),
            ],
        )
    },
    Route {
        body: Some("Container"),
        ..route(
            "post",
            "/api/containers/{id}/watch",
            "Watch one container now",
            &[(200, "The container"), UNAUTHORIZED, NOT_FOUND],
        )
    },
    Route {
        body: Some("Container"),
        ..route(
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
        )
    },
    Route {
        body: Some("Container"),
        request: Some("PolicyChange"),
        request_required: true,
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
    Route {
        body: Some("Vulnerabilities"),
        ..route(
            "get",
            "/api/containers/{id}/vulnerabilities",
            "Latest vulnerability scan",
            &[
                (200, "Scan result, `not-scanned` until one runs"),
                UNAUTHORIZED,
                NOT_FOUND,
            ],
        )
    },
    route(
        "post",
        "/api/containers/{id}/scan",
        "Scan the container's image",
        &[(400, "No scanner configured"), UNAUTHORIZED, NOT_FOUND],
    ),
    Route {
        query: &[(
            "format",
            r#"{"type":"string","enum":["spdx-json","cyclonedx-json"]}"#,
            "SBOM format (default spdx-json)",
        )],
        ..route(
            "get",
            "/api/containers/{id}/sbom",
            "SBOM of the container's image",
            &[
                (400, "Bad format, or no scanner configured"),
                UNAUTHORIZED,
                NOT_FOUND,
            ],
        )
    },
    Route {
        body: Some("Logs"),
        query: &[
            (
                "tail",
                r#"{"type":"integer","minimum":0,"maximum":10000}"#,
                "Lines from the end of the log (default 100)",
            ),
            (
                "since",
                r#"{"type":"integer","minimum":0}"#,
                "Only lines after this Unix time in seconds (default 0: all)",
            ),
            (
                "timestamps",
                r#"{"type":"boolean"}"#,
                "Prefix each line with its time (default true)",
            ),
        ],
        ..route(
            "get",
            "/api/containers/{id}/logs",
            "Container logs (`tail`, `since`, `timestamps`)",
            &[
                (200, "{ logs }"),
                (400, "Invalid query"),
                UNAUTHORIZED,
                NOT_FOUND,
            ],
        )
    },
    Route {
        body: Some("Lifecycle"),
        ..route(
            "post",
            "/api/containers/{id}/start",
            "Start the container",
            &[
                (200, "{ message, result }"),
                UNAUTHORIZED,
                (403, "Container actions are disabled"),
                NOT_FOUND,
            ],
        )
    },
    Route {
        body: Some("Lifecycle"),
        ..route(
            "post",
            "/api/containers/{id}/stop",
            "Stop the container",
            &[
                (200, "{ message, result }"),
                UNAUTHORIZED,
                (403, "Container actions are disabled"),
                NOT_FOUND,
            ],
        )
    },
    Route {
        body: Some("Lifecycle"),
        ..route(
            "post",
            "/api/containers/{id}/restart",
            "Restart the container",
            &[
                (200, "{ message, result }"),
                UNAUTHORIZED,
                (403, "Container actions are disabled"),
                NOT_FOUND,
            ],
        )
    },
    Route {
        body: Some("Preview"),
        ..route(
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
        )
    },
    Route {
        body: Some("BackupList"),
        ..route(
            "get",
            "/api/containers/{id}/backups",
            "Image backups, newest first",
            &[(200, "Bare array of backups"), UNAUTHORIZED, NOT_FOUND],
        )
    },
    Route {
        body: Some("Rollback"),
        request: Some("RollbackRequest"),
        ..route(
            "post",
            "/api/containers/{id}/rollback",
            "Roll back to a backup (body `{ backupId }`, optional: the newest by default)",
            &[
                (200, "{ message, backup, result }"),
                (400, "The body is not `{ backupId }`"),
                UNAUTHORIZED,
                (403, "Container actions are disabled"),
                (404, "Container, Docker trigger or backup not found"),
                (409, "Another update of the container is in progress"),
                (500, "The rollback failed; the container runs as before"),
            ],
        )
    },
    Route {
        body: Some("ComponentList"),
        ..route(
            "get",
            "/api/watchers",
            "Configured watchers",
            &[(200, "Bare array"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("ComponentList"),
        ..route(
            "get",
            "/api/registries",
            "Configured registries (secrets masked)",
            &[(200, "Bare array"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("TriggerList"),
        ..route(
            "get",
            "/api/triggers",
            "Configured triggers (secrets masked)",
            &[(200, "Bare array"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("Empty"),
        request: Some("Container"),
        ..route(
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
        )
    },
    Route {
        body: Some("OperationPage"),
        ..route(
            "get",
            "/api/update-operations",
            "Update journal, newest first (`active`: operations not finished)",
            &[(200, "{ data, total, active }"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("AuditPage"),
        query: &[
            (
                "offset",
                r#"{"type":"integer","minimum":0}"#,
                "Entries to skip (default 0)",
            ),
            (
                "limit",
                r#"{"type":"integer","minimum":0}"#,
                "Entries to return, 1 to 200 (default 50; out of range is clamped)",
            ),
            (
                "action",
                r#"{"type":"string"}"#,
                "Only these actions (comma-separated)",
            ),
            (
                "container",
                r#"{"type":"string"}"#,
                "Only this container name",
            ),
        ],
        ..route(
            "get",
            "/api/audit",
            "Audit log, newest first (query `offset`, `limit`, `action`, `container`)",
            &[
                (200, "{ data, total, limit, offset, hasMore }"),
                BAD_QUERY,
                UNAUTHORIZED,
            ],
        )
    },
    Route {
        body: Some("OutboxPage"),
        query: &[(
            "status",
            r#"{"type":"string","enum":["pending","delivered","dead-letter"]}"#,
            "Only messages in this state",
        )],
        ..route(
            "get",
            "/api/notifications/outbox",
            "Notification outbox (`status`: pending, delivered, dead-letter)",
            &[
                (200, "{ data, total, counts }"),
                (400, "Invalid status"),
                UNAUTHORIZED,
            ],
        )
    },
    Route {
        body: Some("StoreConfiguration"),
        ..route(
            "get",
            "/api/store",
            "Store configuration",
            &[(200, "{ configuration }"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("LogConfiguration"),
        ..route(
            "get",
            "/api/log",
            "Log configuration",
            &[(200, "{ level }"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("Text"),
        media: "text/event-stream",
        ..route(
            "get",
            "/api/events",
            "Server-sent events: dd:container-added, -updated, -removed, dd:update-available",
            &[(200, "text/event-stream"), UNAUTHORIZED],
        )
    },
    Route {
        body: Some("Text"),
        media: "text/plain",
        ..route(
            "get",
            "/metrics",
            "Prometheus metrics",
            &[
                (200, "Prometheus text format"),
                UNAUTHORIZED,
                (404, "Metrics are disabled (DD_PROMETHEUS_ENABLED=false)"),
            ],
        )
    },
];

/// A container as the Container API serialises it. Absent optional fields are left out rather
/// than `null`, except `updateKind`'s values, `null` when there is no update. (OpenAPI 3.1 is JSON
/// Schema 2020-12: `null` is a type, not `nullable`.)
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
      "localValue": {"type": ["string", "null"]}, "remoteValue": {"type": ["string", "null"]},
      "semverDiff": {"type": ["string", "null"], "enum": ["major", "minor", "patch", "prerelease", "unknown", null]}}},
    "error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "status": {"type": "string", "enum": ["created", "running", "paused", "restarting", "removing", "exited", "dead", "unknown"]},
    "updatePolicy": {"type": "object", "properties": {
      "skipTags": {"type": "array", "items": {"type": "string"}},
      "skipDigests": {"type": "array", "items": {"type": "string"}},
      "snoozeUntil": {"type": "string", "format": "date-time"},
      "maturityMode": {"type": "string", "enum": ["all", "mature"]},
      "maturityMinAgeDays": {"type": "integer", "minimum": 0, "maximum": 4294967295}}}
  }
}"#;

/// `PATCH /update-policy`: a snooze needs `days` or `snoozeUntil`, not both; the other actions
/// take neither (and ignore them if sent).
const POLICY_SCHEMA: &str = r#"{
  "oneOf": [
    {"type": "object", "required": ["action"], "properties": {
      "action": {"type": "string", "enum": ["skip-current", "clear-skips", "unsnooze", "clear"]}}},
    {"type": "object", "required": ["action", "days"], "properties": {
      "action": {"type": "string", "enum": ["snooze"]},
      "days": {"type": "integer", "minimum": 1, "maximum": 365}}},
    {"type": "object", "required": ["action", "snoozeUntil"], "properties": {
      "action": {"type": "string", "enum": ["snooze"]},
      "snoozeUntil": {"type": "string", "format": "date-time"}}}
  ]
}"#;

/// A configured component (watcher, registry, trigger): its configuration with secrets masked.
const COMPONENT_SCHEMA: &str = r#"{
  "type": "object", "required": ["id", "type", "name", "configuration"],
  "properties": {
    "id": {"type": "string"}, "type": {"type": "string"}, "name": {"type": "string"},
    "configuration": {"type": "object"}
  }
}"#;

const OPERATION_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "kind", "containerName", "oldId", "fromImage", "toImage", "phase", "trigger", "started", "updated"],
  "properties": {
    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["update", "rollback"]},
    "containerName": {"type": "string"}, "oldId": {"type": "string"}, "newId": {"type": ["string", "null"]},
    "fromImage": {"type": "string"}, "toImage": {"type": "string"}, "parkedName": {"type": "string"},
    "wasRunning": {"type": "boolean"},
    "phase": {"type": "string", "enum": ["queued", "pulling", "renaming", "creating", "created", "stopping-old",
      "starting-new", "health-gate", "committed", "succeeded", "rolled-back", "failed"]},
    "reason": {"type": ["string", "null"]}, "trigger": {"type": "string"},
    "started": {"type": "string", "format": "date-time"}, "updated": {"type": "string", "format": "date-time"}
  }
}"#;

const AUDIT_SCHEMA: &str = r#"{
  "type": "object", "required": ["id", "timestamp", "action", "actor", "containerName", "status"],
  "properties": {
    "id": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
    "action": {"type": "string"}, "actor": {"type": "string"}, "containerName": {"type": "string"},
    "fromVersion": {"type": "string"}, "toVersion": {"type": "string"}, "triggerName": {"type": "string"},
    "status": {"type": "string", "enum": ["success", "error", "info"]}, "details": {"type": "string"}
  }
}"#;

const BACKUP_SCHEMA: &str = r#"{
  "type": "object", "required": ["id", "containerId", "containerName", "imageName", "imageTag", "timestamp", "triggerName"],
  "properties": {
    "id": {"type": "string"}, "containerId": {"type": "string"}, "containerName": {"type": "string"},
    "imageName": {"type": "string"}, "imageTag": {"type": "string"}, "imageDigest": {"type": ["string", "null"]},
    "retainedAs": {"type": ["string", "null"]}, "timestamp": {"type": "string", "format": "date-time"},
    "triggerName": {"type": "string"}
  }
}"#;

const OUTBOX_SCHEMA: &str = r#"{
  "type": "object", "required": ["id", "trigger", "title", "body", "containers", "status", "attempts", "created", "updated"],
  "properties": {
    "id": {"type": "string"}, "trigger": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"},
    "containers": {"type": "array", "items": {"type": "string"}},
    "onceKeys": {"type": "array", "items": {"type": "string"}},
    "status": {"type": "string", "enum": ["pending", "delivered", "dead-letter"]},
    "attempts": {"type": "integer", "minimum": 0}, "lastError": {"type": ["string", "null"]},
    "created": {"type": "string", "format": "date-time"}, "updated": {"type": "string", "format": "date-time"}
  }
}"#;

/// The components of the document: name and JSON Schema. Every one must survive utoipa's schema
/// type whole (a unit test checks), so nothing a client relies on is silently dropped.
const COMPONENTS: &[(&str, &str)] = &[
    ("Container", CONTAINER_SCHEMA),
    (
        "ContainerList",
        r##"{"type":"array","items":{"$ref":"#/components/schemas/Container"}}"##,
    ),
    ("PolicyChange", POLICY_SCHEMA),
    (
        "RollbackRequest",
        r#"{"type":"object","properties":{"backupId":{"type":"string"}}}"#,
    ),
    (
        "Error",
        r#"{"type":"object","required":["error"],"properties":{"error":{"type":"string"}}}"#,
    ),
    ("Empty", r#"{"type":"object"}"#),
    ("Text", r#"{"type":"string"}"#),
    (
        "Health",
        r#"{"type":"object","properties":{"uptime":{"type":"integer","minimum":0},"status":{"type":"string"},"reason":{"type":"string"}}}"#,
    ),
    (
        "App",
        r#"{"type":"object","required":["name","version"],"properties":{"name":{"type":"string"},"version":{"type":"string"}}}"#,
    ),
    (
        "Document",
        r#"{"type":"object","required":["openapi","info","paths"],"properties":{"openapi":{"type":"string"},"info":{"type":"object"},"paths":{"type":"object"}}}"#,
    ),
    ("Component", COMPONENT_SCHEMA),
    (
        "ComponentList",
        r##"{"type":"array","items":{"$ref":"#/components/schemas/Component"}}"##,
    ),
    (
        "TriggerList",
        r##"{"type":"array","items":{"$ref":"#/components/schemas/Component"}}"##,
    ),
    (
        "Vulnerabilities",
        r#"{"type":"object","required":["status","summary","vulnerabilities"],"properties":{"status":{"type":"string"},"summary":{"type":"object","additionalProperties":{"type":"integer","minimum":0}},"vulnerabilities":{"type":"array"}}}"#,
    ),
    (
        "Logs",
        r#"{"type":"object","required":["logs"],"properties":{"logs":{"type":"string"}}}"#,
    ),
    (
        "Lifecycle",
        r##"{"type":"object","required":["message","result"],"properties":{"message":{"type":"string"},"result":{"$ref":"#/components/schemas/Container"}}}"##,
    ),
    (
        "Preview",
        r#"{"type":"object","required":["containerName","currentImage","newImage","updateKind","isRunning","networks","pull","hooks","configuration"],"properties":{"containerName":{"type":"string"},"currentImage":{"type":"string"},"newImage":{"type":"string"},"updateKind":{"type":"object"},"isRunning":{"type":"boolean"},"networks":{"type":"array","items":{"type":"string"}},"pull":{"type":"boolean"},"hooks":{"type":"array","items":{"type":"string"}},"configuration":{"type":"object","additionalProperties":{"type":"string"}}}}"#,
    ),
    ("Backup", BACKUP_SCHEMA),
    (
        "BackupList",
        r##"{"type":"array","items":{"$ref":"#/components/schemas/Backup"}}"##,
    ),
    (
        "Rollback",
        r##"{"type":"object","required":["message","backup","result"],"properties":{"message":{"type":"string"},"backup":{"$ref":"#/components/schemas/Backup"},"result":{"$ref":"#/components/schemas/Container"}}}"##,
    ),
    ("Operation", OPERATION_SCHEMA),
    (
        "OperationPage",
        r##"{"type":"object","required":["data","total","active"],"properties":{"data":{"type":"array","items":{"$ref":"#/components/schemas/Operation"}},"total":{"type":"integer","minimum":0},"active":{"type":"integer","minimum":0}}}"##,
    ),
    ("AuditEntry", AUDIT_SCHEMA),
    (
        "AuditPage",
        r##"{"type":"object","required":["data","total","limit","offset","hasMore"],"properties":{"data":{"type":"array","items":{"$ref":"#/components/schemas/AuditEntry"}},"total":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1,"maximum":200},"offset":{"type":"integer","minimum":0},"hasMore":{"type":"boolean"}}}"##,
    ),
    ("OutboxEntry", OUTBOX_SCHEMA),
    (
        "OutboxPage",
        r##"{"type":"object","required":["data","total","counts"],"properties":{"data":{"type":"array","items":{"$ref":"#/components/schemas/OutboxEntry"}},"total":{"type":"integer","minimum":0},"counts":{"type":"object","required":["pending","delivered","deadLetter"],"properties":{"pending":{"type":"integer","minimum":0},"delivered":{"type":"integer","minimum":0},"deadLetter":{"type":"integer","minimum":0}}}}}"##,
    ),
    (
        "StoreConfiguration",
        r#"{"type":"object","required":["configuration"],"properties":{"configuration":{"type":"object","required":["path"],"properties":{"path":{"type":"string"}}}}}"#,
    ),
    (
        "LogConfiguration",
        r#"{"type":"object","required":["level"],"properties":{"level":{"type":"string","enum":["error","warn","info","debug","trace"]}}}"#,
    ),
];

fn schema(json: &str) -> RefOr<Schema> {
    serde_json::from_str(json).unwrap_or_else(|_| RefOr::T(Schema::default()))
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
    for route in ROUTES {
        let method = match route.method {
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
            .filter(|(code, _)| route.responses.iter().all(|(own, _)| own != code));
        let mut responses = ResponsesBuilder::new();
        for (code, description) in route.responses.iter().chain(extra) {
            let mut response = ResponseBuilder::new().description(*description);
            if let (Some(body), 200..=299) = (route.body, code) {
                response = response.content(route.media, json_content(body));
            } else if *code >= 400 {
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
        for (name, json, description) in route.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*description))
                    .schema(Some(schema(json)))
                    .build(),
            );
        }
        if let Some(request) = route.request {
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
        paths = paths.path(route.path, PathItem::new(method, operation.build()));
    }
    let mut components = ComponentsBuilder::new();
    for (name, json) in COMPONENTS {
        components = components.schema(*name, schema(json));
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
    fn every_component_survives_whole() {
        let document = serde_json::to_value(document()).unwrap();
        for (name, json) in COMPONENTS {
            let written: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            assert_eq!(
                document["components"]["schemas"][name], written,
                "{name} changed on its way into the document"
            );
        }
        for route in ROUTES {
            for (name, json, _) in route.query {
                let written: serde_json::Value = serde_json::from_str(json).unwrap();
                let served = &document["paths"][route.path][route.method]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == *name)
                    .unwrap()["schema"];
                assert_eq!(*served, written, "{} {name}", route.path);
            }
        }
    }

    #[test]
    fn every_referenced_component_exists() {
        let names: Vec<&str> = COMPONENTS.iter().map(|(n, _)| *n).collect();
        for route in ROUTES {
            for component in route.body.iter().chain(route.request.iter()) {
                assert!(names.contains(component), "{}: {component}", route.path);
            }
        }
    }
}
