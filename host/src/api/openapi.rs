//! `GET /api/v1/openapi.json`: the API described in OpenAPI 3.1, written by
//! hand next to the routes so a change to one shows in the other's review.

use axum::Json;
use serde_json::{Value, json};

use super::network::{DEFAULT_RADIUS_M, MAX_RADIUS_M};
use super::runs::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{IMPORT_LIMIT, PREFIX};
use crate::text::{LOGIN_MAX, NAME_MAX, SECRET_MAX, SERVICE_FIELD_MAX, SERVICE_ID_MAX, URL_MAX};

pub async fn document() -> Json<Value> {
    Json(spec())
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn answer(description: &str, body: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": body } } })
}

fn error(description: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{description}") })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn json_body(body: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": body } } })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

// The patterns are in the syntax JSON Schema reads (ECMA-262) and that
// Python's `re` reads alike, so that a tool which generates requests from
// this document sends what the server takes, and only that.

/// Text as `text::check` takes it: something left once Rust's `trim`
/// took the white space (Unicode's White_Space) off, and no character
/// `text::is_unsafe` names (controls, bidi marks and overrides) anywhere.
/// Its length is the field's `maxLength`, in characters as both count it.
const TEXT: &str = concat!(
    r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*",
    r"[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028-\u202f\u205f\u2066-\u2069\u3000]",
    r"[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
);

/// An `api_url` that `integrations::validate_api_url` takes: the store's
/// own pattern, which it holds every address to.
const API_URL: &str = crate::store::integrations::API_URL_FORM;

/// `HH:MM` as `schedule::parse_time` takes it: 24-hour, a one-digit hour
/// or minute taken too, white space around it dropped.
const SYNC_TIME: &str = r"^\s*([01]?[0-9]|2[0-3]):[0-5]?[0-9]\s*$";

fn api_url() -> Value {
    json!({
        "type": "string",
        "pattern": API_URL,
        "maxLength": URL_MAX,
        "description": "Scheme, host and port, as in a browser. mapsync adds /api/v2 itself: a trailing /api/v2 or /api is dropped.",
        "examples": ["https://yourisp.ozmap.com.br:9994"]
    })
}

/// The kinds a body may choose, with the rule `scope::set` holds them to
/// that the list alone decides: splitters are read with their boxes.
fn kinds() -> Value {
    json!({
        "type": "array",
        "items": { "enum": crate::store::scope::SELECTABLE },
        "if": { "contains": { "const": "splitter" } },
        "then": { "contains": { "const": "box" } },
        "description": "The element kinds synchronised; projects are always read. A kind left out is neither read nor removed. Splitters need boxes; with a project_name, clients need properties; poles, boxes and splitters stay while bindings stand on them (409)."
    })
}

/// A body that names a project_name and kinds with clients names
/// properties too: a project's clients are found through its properties.
fn clients_need_properties() -> Value {
    json!({
        "if": {
            "required": ["project_name", "kinds"],
            "properties": {
                "project_name": { "type": "string" },
                "kinds": { "contains": { "const": "client" } }
            }
        },
        "then": { "properties": { "kinds": { "contains": { "const": "property" } } } }
    })
}

/// One service of a JSON import: its fields as text or numbers (ERPs
/// export ids and coordinates as numbers), null as if absent. Their
/// limits (plain text, SERVICE_ID_MAX and SERVICE_FIELD_MAX characters
/// once trimmed) are the import's rules, a bad row each, so they are said
/// in words: a schema's maxLength counts the white space the import drops.
fn import_item() -> Value {
    let field = json!({ "type": ["string", "number", "null"] });
    let properties: serde_json::Map<String, Value> = crate::services::FIELDS
        .iter()
        .map(|name| (name.to_string(), field.clone()))
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id_cliente_servico"],
        "properties": properties
    })
}

fn latitude() -> Value {
    json!({ "type": "number", "minimum": -90, "maximum": 90 })
}

fn longitude() -> Value {
    json!({ "type": "number", "minimum": -180, "maximum": 180 })
}

/// Text of at most `max` characters (see `TEXT`).
fn text(max: usize, description: &str) -> Value {
    json!({ "type": "string", "pattern": TEXT, "maxLength": max, "description": description })
}

pub fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mapsync",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Synchronises an ISP's fibre network from OZmap into a local store, and binds the ISP's services to splitter ports. Every request needs `Authorization: Bearer <token>` (the token `mapsync serve` takes from MAPSYNC_API_TOKEN), this document included. Every refusal has the shape of `Error`. Request bodies are limited to 1 MiB ({} MiB for a services import); unknown fields are refused.", IMPORT_LIMIT >> 20)
        },
        "servers": [{ "url": PREFIX }],
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "The token given to `mapsync serve` in MAPSYNC_API_TOKEN." }
            },
            "responses": {
                "BadRequest": answer("The request is malformed: invalid JSON, an unknown field, a wrong type, a value out of range, or a setting that does not pass validation (the message names it).", schema("Error")),
                "Unauthorized": answer("No bearer token, or not the right one.", schema("Error")),
                "NotFound": answer("No such integration, project, run, box, splitter, service or binding.", schema("Error")),
                "Conflict": answer("The request clashes with the current state (a duplicate name, a port taken or already bound, an integration that still feeds a project, a project already fed by an integration or with none to remove).", schema("Error")),
                "TooLarge": answer("The body is over the limit.", schema("Error")),
                "UnsupportedMediaType": answer("The body's Content-Type is not one this route reads.", schema("Error")),
                "Unprocessable": answer("The request is well-formed but cannot be carried out (an unknown service, splitter or project named in the body, a distribution splitter, a port out of range).", schema("Error")),
                "CheckFailed": answer("The connection test itself could not run.", schema("Error")),
                "Unavailable": answer("mapsync is stopping and takes no new work.", schema("Error"))
            },
            "schemas": schemas()
        }
    })
}

// Split in parts: one `json!` of the whole document is too deep for the
// compiler's macro recursion limit.
fn paths() -> Value {
    merged([integration_paths(), network_paths(), service_paths()])
}

fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut all = serde_json::Map::new();
    for part in parts {
        if let Value::Object(part) = part {
            all.extend(part);
        }
    }
    Value::Object(all)
}

fn integration_paths() -> Value {
    let integration_name = path_param("name", "The integration's name.");
    json!({
        "/integrations": {
            "get": {
                "summary": "List integrations (secrets masked).",
                "responses": {
                    "200": answer("The integrations, by name.", json!({ "type": "array", "items": schema("Integration") })),
                    "401": error("Unauthorized")
                }
            },
            "post": {
                "summary": "Register a platform account.",
                "requestBody": json_body(schema("NewIntegration")),
                "responses": {
                    "201": answer("Added; `Location` names it.", schema("Integration")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "409": error("Conflict"),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType")
                }
            }
        },
        "/integrations/{name}": {
            "parameters": [integration_name],
            "get": {
                "summary": "One integration (secrets masked).",
                "responses": {
                    "200": answer("The integration.", schema("Integration")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            },
            "patch": {
                "summary": "Change an integration's settings or daily sync time.",
                "requestBody": json_body(schema("IntegrationChange")),
                "responses": {
                    "200": answer("The integration as changed.", schema("Integration")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": answer("`kinds` leaves out a kind that the integration's bindings stand on (pole, box, splitter), or, the body naming no project_name, holds client without property while the integration synchronises one OZmap project.", schema("Error")),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType")
                }
            },
            "delete": {
                "summary": "Remove an integration that feeds no project and has no bindings, with what it synchronised.",
                "responses": {
                    "200": answer("Removed.", json!({ "type": "object", "properties": { "removed": { "type": "string" } }, "required": ["removed"] })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": error("Conflict")
                }
            }
        },
        "/integrations/{name}/test": {
            "parameters": [integration_name],
            "post": {
                "summary": "Test the connection: reach the platform, authenticate, read one row. Stores nothing.",
                "responses": {
                    "200": answer("The steps taken; it stops at the first that fails.", schema("ConnectionTest")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "502": error("CheckFailed")
                }
            }
        },
        "/integrations/{name}/link": {
            "parameters": [integration_name],
            "post": {
                "summary": "Link the integration to the one local mapping project it feeds: an existing one, or a new one created for it. It synchronises only while linked. As `mapsync integration link`.",
                "requestBody": json_body(schema("ProjectLink")),
                "responses": {
                    "200": answer("Linked: the integration, with its `project`.", schema("Integration")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": error("Conflict"),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType"),
                    "422": answer("`existing` names no project.", schema("Error"))
                }
            }
        },
        "/integrations/{name}/sync": {
            "parameters": [integration_name],
            "post": {
                "summary": "Start a sync now, in the background.",
                "requestBody": {
                    "required": false,
                    "content": { "application/json": { "schema": schema("SyncOptions") } }
                },
                "responses": {
                    "400": error("BadRequest"),
                    "202": answer("Started; follow it at `status_url`.", schema("Started")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": answer("A sync of this integration is already running (`code` already_running, with its progress), or the integration feeds no project (`code` conflict).", schema("AlreadyRunning")),
                    "413": error("TooLarge"),
                    "503": error("Unavailable")
                }
            }
        },
        "/integrations/{name}/runs": {
            "parameters": [
                integration_name,
                query_param("limit", "How many runs at most.", json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }))
            ],
            "get": {
                "summary": "The integration's sync runs, newest first.",
                "responses": {
                    "200": answer("The runs.", json!({ "type": "array", "items": schema("Run") })),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/runs/{id}": {
            "parameters": [{ "name": "id", "in": "path", "required": true, "description": "The run's id.", "schema": { "type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX } }],
            "get": {
                "summary": "One run, with its live progress while it runs.",
                "responses": {
                    "200": answer("The run.", schema("Run")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/status": {
            "get": {
                "summary": "Each integration's last run and next planned run (America/Sao_Paulo), as `mapsync status --json`.",
                "responses": {
                    "200": answer("One entry per integration: integration, project, sync_time, last_run (a run or null), next_run (RFC 3339 or null).", json!({ "type": "array", "items": { "type": "object" } })),
                    "401": error("Unauthorized")
                }
            }
        }
    })
}

fn network_paths() -> Value {
    json!({
        "/projects": {
            "get": {
                "summary": "The local mapping projects, each with the integration that feeds it.",
                "responses": {
                    "200": answer("The projects, by name.", json!({ "type": "array", "items": schema("Project") })),
                    "401": error("Unauthorized")
                }
            },
            "post": {
                "summary": "Create a local mapping project, as `mapsync project create`.",
                "requestBody": json_body(schema("NewProject")),
                "responses": {
                    "201": answer("Created.", schema("Project")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "409": error("Conflict"),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType")
                }
            }
        },
        "/projects/{name}/integration": {
            "parameters": [path_param("name", "The project's name.")],
            "delete": {
                "summary": "Remove the integration from the project, as `mapsync project remove-integration`: it stops synchronising; the elements it brought stay, counted as no longer synchronised.",
                "responses": {
                    "200": answer("Removed.", json!({ "type": "object", "properties": { "removed": { "type": "string", "description": "The integration's name." }, "project": schema("Project") }, "required": ["removed", "project"] })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": error("Conflict")
                }
            }
        },
        "/boxes": {
            "parameters": [
                query_param("project", "Only boxes of this platform project (its id).", json!({ "type": "string" })),
                {
                    "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "Only boxes within minLng,minLat,maxLng,maxLat (degrees), e.g. `-48.56,-27.60,-48.54,-27.58`. A minLng above maxLng crosses the antimeridian (as in GeoJSON); the latitudes may come in either order.",
                    "schema": {
                        "type": "array",
                        "minItems": 4,
                        "maxItems": 4,
                        "prefixItems": [longitude(), latitude(), longitude(), latitude()]
                    }
                },
                query_param("name", "Only boxes whose name holds this, in any case.", json!({ "type": "string" })),
                query_param("integration", "Only this integration's boxes; by default every integration that feeds a project.", json!({ "type": "string" }))
            ],
            "get": {
                "summary": "Synchronised boxes (CTOs).",
                "responses": {
                    "200": answer("The boxes.", json!({ "type": "array", "items": schema("Box") })),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/boxes/{id}": {
            "parameters": [path_param("id", "The platform's box id.")],
            "get": {
                "summary": "One box with its splitters and their ports.",
                "responses": {
                    "200": answer("The box.", json!({ "allOf": [schema("Box"), { "type": "object", "properties": { "splitters": { "type": "array", "items": schema("Splitter") } } }] })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/splitters/{id}/ports": {
            "parameters": [path_param("id", "The platform's splitter id.")],
            "get": {
                "summary": "A splitter's ports, each with its state and local binding.",
                "responses": {
                    "200": answer("The ports, by number.", json!({ "type": "array", "items": schema("Port") })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/ports/free": {
            "parameters": [
                { "name": "lat", "in": "query", "required": true, "schema": latitude() },
                { "name": "lng", "in": "query", "required": true, "schema": longitude() },
                query_param("radius", "Metres.", json!({ "type": "number", "exclusiveMinimum": 0, "maximum": MAX_RADIUS_M, "default": DEFAULT_RADIUS_M })),
                query_param("integration", "Only this integration's boxes; by default every integration that feeds a project.", json!({ "type": "string" }))
            ],
            "get": {
                "summary": "Boxes within the radius that have a free port on a service splitter, nearest first (haversine). A port bound locally is not free.",
                "responses": {
                    "200": answer("The boxes.", json!({ "type": "array", "items": schema("BoxWithFreePorts") })),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        }
    })
}

fn service_paths() -> Value {
    let service_id = path_param("service", "The service's id_cliente_servico.");
    json!({
        "/services/import": {
            "post": {
                "summary": "Create or update services from the management system's export; a file with any bad row is refused whole.",
                "requestBody": {
                    "required": true,
                    "description": format!("The file's text (at most {} MiB, as for `mapsync services import`): CSV with a header row (`,` or `;`) or a JSON array of objects, with the fields id_cliente_servico (required), name, document, address, lat, lng, pppoe_login, onu_serial, onu_mac, status. An id_cliente_servico may not begin with =, +, - or @ (a spreadsheet would read the codes file's cell as a formula). Every text is plain (no control characters or bidi marks); an id holds at most {} characters, another field {}.", IMPORT_LIMIT >> 20, SERVICE_ID_MAX, SERVICE_FIELD_MAX),
                    "content": {
                        "text/csv": { "schema": { "type": "string" } },
                        "application/json": { "schema": { "type": "array", "items": import_item() } }
                    }
                },
                "parameters": [query_param("report", "`csv`: a refused file is answered with its whole report, every bad row as `at,reason`, as text/csv.", json!({ "enum": ["csv"] }))],
                "responses": {
                    "200": answer("Imported.", schema("ImportSummary")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType"),
                    "422": {
                        "description": "Refused, nothing imported: the file's problem, or its bad rows (`code` invalid_file): the first 100 listed, `bad_rows` counting them all; with `report=csv`, every bad row as CSV.",
                        "content": {
                            "application/json": { "schema": schema("ImportRefused") },
                            "text/csv": { "schema": { "type": "string", "examples": ["at,reason\nline 3,id_cliente_servico is missing\n"] } }
                        }
                    }
                }
            }
        },
        "/services": {
            "get": {
                "summary": "Every service, by id, with the platform client whose code is its id.",
                "responses": {
                    "200": answer("The services.", json!({ "type": "array", "items": schema("Service") })),
                    "401": error("Unauthorized")
                }
            }
        },
        "/services/{id}": {
            "parameters": [path_param("id", "The service's id_cliente_servico.")],
            "get": {
                "summary": "One service.",
                "responses": {
                    "200": answer("The service.", schema("Service")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/bindings": {
            "get": {
                "summary": "Every binding, with its audit trail.",
                "responses": {
                    "200": answer("The bindings, by service.", json!({ "type": "array", "items": schema("Binding") })),
                    "401": error("Unauthorized")
                }
            },
            "post": {
                "summary": "Bind a service to a port of a synchronised service splitter, pending confirmation.",
                "requestBody": json_body(schema("NewBinding")),
                "responses": {
                    "201": answer("Bound (pending); `Location` names it.", schema("Binding")),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized"),
                    "409": error("Conflict"),
                    "413": error("TooLarge"),
                    "415": error("UnsupportedMediaType"),
                    "422": answer("The body names what cannot be bound: no such service (import it first), no such synchronised splitter, a distribution splitter, one whose latest record is invalid or whose integration feeds no project, or a port the splitter does not have.", schema("Error"))
                }
            }
        },
        "/bindings/{service}": {
            "parameters": [service_id],
            "get": {
                "summary": "A service's binding with its audit trail.",
                "responses": {
                    "200": answer("The binding.", schema("Binding")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            },
            "delete": {
                "summary": "Remove the binding; on the platform only a property mapsync created is deleted.",
                "responses": {
                    "200": answer("Unbound.", json!({ "type": "object", "properties": { "service": { "type": "string" }, "unbound": { "const": true } } })),
                    "202": answer("Still bound: the platform has not confirmed the deletion yet; it is retried.", json!({ "type": "object", "properties": { "service": { "type": "string" }, "unbound": { "const": false }, "binding": schema("Binding") } })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/bindings/{service}/confirm": {
            "parameters": [service_id],
            "post": {
                "summary": "Confirm a pending (or failed) binding and push the service's informative data to the platform; for a confirmed binding whose push is queued, try that push now.",
                "responses": {
                    "200": answer("Pushed (`state` pushed) or refused by the platform (`state` failed, with `reason`).", schema("Binding")),
                    "202": answer("Confirmed; the platform could not be reached and the push is retried (`state` confirmed).", schema("Binding")),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": error("Conflict"),
                    "422": answer("The port can no longer take the binding, as a sync since `bind` has it (`field` splitter or port): its splitter is gone, invalid or no longer synchronised, or the port is out of range. Unbind and bind anew.", schema("Error"))
                }
            }
        },
        "/identification": {
            "get": {
                "summary": "Which platform clients are identified by a service's code, and which are not.",
                "responses": {
                    "200": answer("The report.", schema("Identification")),
                    "401": error("Unauthorized")
                }
            }
        },
        "/matches": {
            "parameters": [
                query_param("min_score", "Only suggestions scoring at least this, from 0 to 1.", json!({ "type": "number", "minimum": 0, "maximum": 1, "default": 0.8 }))
            ],
            "get": {
                "summary": "Suggested matches between services no platform client carries the code of and platform clients without a usable code, best first, with score and reasons. Rejected pairs are never suggested again.",
                "responses": {
                    "200": answer("The suggestions.", json!({ "type": "array", "items": schema("Match") })),
                    "400": error("BadRequest"),
                    "401": error("Unauthorized")
                }
            }
        },
        "/matches/{id}/accept": {
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "post": {
                "summary": "This platform client is that service: bind the service to the client's port, confirmed, and send the service's informative data, its code included, to that client (never a new client).",
                "responses": {
                    "200": answer("The match and the binding after the push.", json!({ "type": "object", "properties": { "match": schema("Match"), "binding": { "type": "object" } } })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound"),
                    "409": error("Conflict"),
                    "422": answer("The client's port can no longer take the binding (as for confirm).", schema("Error"))
                }
            }
        },
        "/matches/{id}/reject": {
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "post": {
                "summary": "This platform client is not that service: never suggest the pair again.",
                "responses": {
                    "200": answer("The rejected match.", json!({ "type": "object", "properties": { "match": schema("Match"), "rejected": { "const": true } } })),
                    "401": error("Unauthorized"),
                    "404": error("NotFound")
                }
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "responses": {
                    "200": answer("OpenAPI 3.1.", json!({ "type": "object" })),
                    "401": error("Unauthorized")
                }
            }
        }
    })
}

fn schemas() -> Value {
    merged([
        integration_schemas(),
        run_schemas(),
        network_schemas(),
        service_schemas(),
    ])
}

fn integration_schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "code", "message"],
                    "properties": {
                        "status": { "type": "integer", "description": "The HTTP status, repeated." },
                        "code": {
                            "type": "string",
                            "description": "For programs.",
                            "examples": ["bad_request", "invalid_json", "invalid_body", "unauthorized", "not_found", "method_not_allowed", "conflict", "already_running", "payload_too_large", "unsupported_media_type", "unprocessable", "invalid_file", "check_failed", "unavailable", "internal"]
                        },
                        "message": { "type": "string", "description": "For people: what is wrong and what to do." },
                        "field": { "type": "string", "description": "When the input is refused for one field: its name, as in the request (e.g. api_url, splitter, port)." }
                    }
                }
            }
        },
        "Integration": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string" },
                "api_url": { "type": "string" },
                "api_key": { "type": "string", "description": "Masked." },
                "user": { "type": "string" },
                "password": { "type": "string", "description": "Masked." },
                "project_name": nullable("string"),
                "created_at": { "type": "string", "format": "date-time" },
                "sync_time": { "type": "string", "description": "HH:MM, America/Sao_Paulo." },
                "project": { "type": ["string", "null"], "description": "The local mapping project it feeds." },
                "synchronising": { "type": "boolean" },
                "not_synchronising_because": { "type": ["string", "null"], "description": "Why it does not synchronise (it feeds no project, or was removed from its project), for a person; null when it does. `serve` says the same when it starts." },
                "kinds": { "type": "array", "items": { "enum": ["pole", "box", "splitter", "client", "property"] }, "description": "The element kinds synchronised; projects are always read. A kind left out is neither read nor removed. Splitters need boxes; with a project_name, clients need properties; poles, boxes and splitters stay while bindings stand on them." },
                "max_removal_percent": { "type": "integer", "minimum": 0, "maximum": 100, "description": "A sync whose complete listing would remove more than this share of a kind's stored elements (and at least 10) is held until confirmed with `allow_removals`. 100: never held. Default 20." },
                "full_sync_hours": { "type": "integer", "minimum": 1, "maximum": 8784, "description": "Syncs read only what changed since the last one; one reads every element at least this often, in hours. Default 168 (a week)." },
                "refresh_every": { "type": "integer", "minimum": 0, "maximum": 1440, "description": "While mapsync serves, it reads what changed this often, in minutes, beside the daily sync, so that port states stay fresh all day. Default 15; 0: only the daily sync." },
                "requests_at_once": { "type": "integer", "minimum": 0, "maximum": 16, "description": "Requests a sync keeps under way at once, over all its listings. 0: the default, 12." },
                "requests_per_second": { "type": "integer", "minimum": 0, "maximum": 1000, "description": "At most this many requests a sync starts in any second. 0: no ceiling of its own (the platform's 429 and Retry-After are honoured all the same)." },
                "last_fresh_at": { "type": ["string", "null"], "format": "date-time", "description": "When its last successful sync started reading the platform: what the store shows is the platform of then. Null before the first." },
                "insecure_http": { "type": "boolean", "description": "Its person said a plain http:// address to a public host will do: the key and password travel in clear." }
            }
        },
        "NewIntegration": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name", "api_url", "api_key", "user", "password"],
            "allOf": [clients_need_properties()],
            "properties": {
                "name": { "type": "string", "pattern": TEXT, "maxLength": NAME_MAX, "examples": ["ozmap-centro"] },
                "api_url": api_url(),
                "api_key": text(SECRET_MAX, "An OZmap API key."),
                "user": text(LOGIN_MAX, "An OZmap login allowed to use the API."),
                "password": text(SECRET_MAX, "That login's password."),
                "project_name": { "type": ["string", "null"], "pattern": TEXT, "maxLength": NAME_MAX, "description": "Synchronise only this OZmap project, named exactly; all projects when absent or null." },
                "insecure_http": { "type": "boolean", "default": false, "description": "Take a plain http:// api_url to a public host (the CLI's --insecure-http). Without it such an address is refused, naming https; http:// to loopback or a private address is taken, with a warning in the log." },
                "kinds": kinds(),
                "max_removal_percent": { "type": "integer", "minimum": 0, "maximum": 100, "description": "A sync whose complete listing would remove more than this share of a kind's stored elements (and at least 10) is held until confirmed with `allow_removals`. 100: never held. Default 20." },
                "full_sync_hours": { "type": "integer", "minimum": 1, "maximum": 8784, "description": "Syncs read only what changed since the last one; one reads every element at least this often, in hours. Default 168 (a week)." },
                "refresh_every": { "type": "integer", "minimum": 0, "maximum": 1440, "description": "While mapsync serves, it reads what changed this often, in minutes, beside the daily sync, so that port states stay fresh all day. Default 15; 0: only the daily sync." },
                "requests_at_once": { "type": "integer", "minimum": 0, "maximum": 16, "description": "Requests a sync keeps under way at once, over all its listings. 0: the default, 12." },
                "requests_per_second": { "type": "integer", "minimum": 0, "maximum": 1000, "description": "At most this many requests a sync starts in any second. 0: no ceiling of its own (the platform's 429 and Retry-After are honoured all the same)." }
            }
        },
        "IntegrationChange": {
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "allOf": [clients_need_properties()],
            "properties": {
                "api_url": api_url(),
                "api_key": text(SECRET_MAX, "An OZmap API key."),
                "user": text(LOGIN_MAX, "An OZmap login allowed to use the API."),
                "password": text(SECRET_MAX, "That login's password."),
                "project_name": { "type": ["string", "null"], "pattern": TEXT, "maxLength": NAME_MAX, "description": "null: every project." },
                "insecure_http": { "type": "boolean", "description": "Take (true) or no longer take (false) a plain http:// api_url to a public host." },
                "sync_time": { "type": "string", "pattern": SYNC_TIME, "description": "HH:MM, 24-hour, America/Sao_Paulo.", "examples": ["04:00"] },
                "kinds": kinds(),
                "max_removal_percent": { "type": "integer", "minimum": 0, "maximum": 100, "description": "A sync whose complete listing would remove more than this share of a kind's stored elements (and at least 10) is held until confirmed with `allow_removals`. 100: never held. Default 20." },
                "full_sync_hours": { "type": "integer", "minimum": 1, "maximum": 8784, "description": "Syncs read only what changed since the last one; one reads every element at least this often, in hours. Default 168 (a week)." },
                "refresh_every": { "type": "integer", "minimum": 0, "maximum": 1440, "description": "While mapsync serves, it reads what changed this often, in minutes, beside the daily sync, so that port states stay fresh all day. Default 15; 0: only the daily sync." },
                "requests_at_once": { "type": "integer", "minimum": 0, "maximum": 16, "description": "Requests a sync keeps under way at once, over all its listings. 0: the default, 12." },
                "requests_per_second": { "type": "integer", "minimum": 0, "maximum": 1000, "description": "At most this many requests a sync starts in any second. 0: no ceiling of its own (the platform's 429 and Retry-After are honoured all the same)." }
            }
        },
        "SyncOptions": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "allow_removals": { "type": "boolean", "default": false, "description": "Apply the removals an earlier run held (its report's `held_removals`), once a person checked them." },
                "full": { "type": "boolean", "default": false, "description": "Read every element, not only what changed since the last sync." }
            }
        }
    })
}

fn run_schemas() -> Value {
    json!({
        "ConnectionTest": {
            "type": "object",
            "properties": {
                "ok": { "type": "boolean" },
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "step": { "enum": ["reach the platform", "authenticate", "read one row"] },
                            "ok": { "type": "boolean" },
                            "detail": { "type": "string" }
                        }
                    }
                }
            }
        },
        "Started": {
            "type": "object",
            "properties": { "run_id": { "type": "integer" }, "status_url": { "type": "string" } }
        },
        "Progress": {
            "type": "object",
            "properties": {
                "run_id": { "type": "integer" },
                "integration": { "type": "string" },
                "trigger": { "type": "string" },
                "started_at": { "type": "string" },
                "kind": { "type": ["string", "null"], "description": "The kind being read now." },
                "pages": { "type": "integer" },
                "read": { "type": "object", "additionalProperties": { "type": "integer" } },
                "completed": { "type": "array", "items": { "type": "string" } }
            }
        },
        "AlreadyRunning": {
            "allOf": [schema("Error"), { "type": "object", "properties": { "progress": schema("Progress") } }]
        },
        "Run": {
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "integration": { "type": "string" },
                "trigger": { "type": "string", "examples": ["api", "schedule", "catch-up", "manual"] },
                "started_at": { "type": "string" },
                "ended_at": nullable("string"),
                "outcome": { "enum": ["running", "succeeded", "failed", "interrupted"] },
                "error": nullable("string"),
                "report": { "type": ["object", "null"], "description": "The sync report, as `sync --json` prints it: per kind created, updated, unchanged, removed, invalid and kept; `invalid` records; `incomplete` kinds (listing not trusted, nothing removed) with reasons; `held_removals` (kind, removed, stored) when the removal guard held the run." },
                "progress": schema("Progress")
            }
        }
    })
}

fn network_schemas() -> Value {
    json!({
        "Project": {
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "name": { "type": "string" },
                "created_at": { "type": "string" },
                "integration": nullable("string"),
                "unsynchronised_elements": { "type": "integer" }
            }
        },
        "NewProject": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": { "name": { "type": "string", "pattern": TEXT, "maxLength": NAME_MAX, "examples": ["Centro"] } }
        },
        "ProjectLink": {
            "type": "object",
            "additionalProperties": false,
            "description": "Exactly one of the two.",
            "oneOf": [{ "required": ["existing"] }, { "required": ["new"] }],
            "properties": {
                "existing": { "type": "string", "description": "The name of a project that exists." },
                "new": { "type": "string", "pattern": TEXT, "maxLength": NAME_MAX, "description": "The name of a project to create and link to." }
            }
        },
        "Box": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "kind": { "const": "box" },
                "name": { "type": "string" },
                "integration": { "type": "string" },
                "project": { "type": "string", "description": "The platform's project id." },
                "pole": nullable("string"),
                "lat": { "type": "number" },
                "lng": { "type": "number" },
                "hierarchy_level": nullable("integer"),
                "implanted": nullable("boolean"),
                "box_type": nullable("string")
            }
        },
        "Port": {
            "type": "object",
            "properties": {
                "port": { "type": "integer" },
                "state": { "enum": ["free", "taken", "blocked"] },
                "property": nullable("string"),
                "client_code": nullable("string"),
                "binding": {
                    "type": ["object", "null"],
                    "description": "The local binding to this port, if any.",
                    "properties": { "service": { "type": "string" }, "state": { "type": "string" }, "reason": { "type": ["string", "null"], "description": "Why the platform refused the push, when the binding failed." } }
                }
            }
        },
        "Splitter": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string" },
                "box": { "type": "string" },
                "service": { "type": "boolean", "description": "A service splitter: only these offer ports for binding." },
                "ratio": { "type": "string" },
                "ports": { "type": "array", "items": schema("Port") }
            }
        },
        "BoxWithFreePorts": {
            "allOf": [schema("Box"), {
                "type": "object",
                "properties": {
                    "distance_m": { "type": "number" },
                    "free_ports": {
                        "type": "array",
                        "items": { "type": "object", "properties": { "splitter": { "type": "string" }, "port": { "type": "integer" } } }
                    }
                }
            }]
        }
    })
}

fn service_schemas() -> Value {
    json!({
        "ImportSummary": {
            "type": "object",
            "properties": { "created": { "type": "integer" }, "updated": { "type": "integer" }, "unchanged": { "type": "integer" } }
        },
        "ImportRefused": {
            "allOf": [schema("Error"), {
                "type": "object",
                "properties": {
                    "bad_rows": { "type": "integer", "minimum": 0, "description": "How many rows were bad; `rows` lists at most 100 of them." },
                    "rows": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "at": { "type": ["string", "null"], "examples": ["line 3", "item 2"] },
                                "reason": { "type": "string" }
                            }
                        }
                    }
                }
            }]
        },
        "Service": {
            "type": "object",
            "properties": {
                "id_cliente_servico": { "type": "string" },
                "name": nullable("string"),
                "document": nullable("string"),
                "address": nullable("string"),
                "lat": nullable("number"),
                "lng": nullable("number"),
                "pppoe_login": nullable("string"),
                "onu_serial": nullable("string"),
                "onu_mac": nullable("string"),
                "status": nullable("string"),
                "platform_client_id": nullable("string")
            }
        },
        "NewBinding": {
            "type": "object",
            "additionalProperties": false,
            "required": ["service", "splitter", "port"],
            "properties": {
                "service": { "type": "string", "description": "id_cliente_servico." },
                "splitter": { "type": "string", "description": "The platform's id of a service splitter." },
                "port": { "type": "integer", "minimum": 1, "maximum": u32::MAX, "description": "A port of the splitter, from 1; one it does not have is refused (422)." },
                "move": { "type": "boolean", "default": false, "description": "Move a service that already has a binding. When the platform places it (identified there, or pushed), confirming reconnects that platform property to this port instead of creating one; otherwise only the local port changes. Without it, a service with a binding is refused (409) with the port it has." }
            }
        },
        "Binding": {
            "type": "object",
            "properties": {
                "service": { "type": "string" },
                "integration": { "type": "string" },
                "splitter": { "type": "string" },
                "port": { "type": "integer" },
                "box": nullable("string"),
                "state": { "enum": ["pending", "confirmed", "pushed", "failed", "from-platform"] },
                "reason": nullable("string"),
                "platform_client": nullable("string"),
                "platform_property": nullable("string"),
                "created_property": { "type": "boolean" },
                "moving_property": nullable("string"),
                "created_at": { "type": "string" },
                "updated_at": { "type": "string" },
                "history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": { "at": { "type": "string" }, "state": { "type": "string" }, "detail": nullable("string") }
                    }
                }
            }
        },
        "Match": {
            "type": "object",
            "properties": {
                "id": { "type": "string", "description": "Stable for the same integration, service and client." },
                "integration": { "type": "string" },
                "service": { "type": "string", "description": "id_cliente_servico" },
                "service_name": nullable("string"),
                "client": { "type": "string", "description": "The platform client's id." },
                "client_name": { "type": "string" },
                "score": { "type": "number", "minimum": 0, "maximum": 1 },
                "agreed": { "type": "array", "items": { "enum": ["document", "onu_serial", "pppoe_login", "name"] } },
                "name_similarity": nullable("number"),
                "distance_m": nullable("number"),
                "reasons": { "type": "array", "items": { "type": "string" } },
                "splitter": nullable("string"),
                "port": nullable("integer")
            }
        },
        "Identification": {
            "type": "object",
            "properties": {
                "counts": { "type": "object", "additionalProperties": { "type": "integer" } },
                "identified": { "type": "array", "items": schema("PlatformClient") },
                "clients_without_code": { "type": "array", "items": schema("PlatformClient") },
                "codes_without_service": { "type": "array", "items": schema("PlatformClient") },
                "services_without_client": {
                    "type": "array",
                    "items": { "type": "object", "properties": { "id_cliente_servico": { "type": "string" }, "name": nullable("string") } }
                }
            }
        },
        "PlatformClient": {
            "type": "object",
            "properties": {
                "integration": { "type": "string" },
                "client_id": { "type": "string" },
                "code": nullable("string"),
                "name": { "type": "string" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    /// The document's TEXT takes a string exactly when `text::check` does,
    /// character by character over the planes where controls, bidi marks
    /// and white space are (the `regex` crate reads the pattern as JSON
    /// Schema's tools do).
    #[test]
    fn text_is_what_the_doors_take() {
        let pattern = regex::Regex::new(super::TEXT).unwrap();
        for c in (0..0x3100u32).filter_map(char::from_u32) {
            for value in [c.to_string(), format!("a{c}"), format!("{c}a")] {
                let taken = crate::text::check("x", &value, 10, "").is_ok();
                assert_eq!(pattern.is_match(&value), taken, "{:?}", value);
            }
        }
        assert_eq!(super::API_URL, crate::store::integrations::API_URL_FORM);
    }

    /// Every route the router serves is described with each of its methods,
    /// nothing else is, and every `$ref` points at something that exists.
    /// The routes are read from `router`'s own source, so a route added
    /// there and not here (or the other way round) fails this test.
    #[test]
    fn the_document_is_complete() {
        let spec = super::spec();
        let paths = spec["paths"].as_object().unwrap();
        let served = routes(include_str!("mod.rs"));
        assert!(served.len() > 20, "routes not found in mod.rs: {served:?}");
        let described: std::collections::BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |method| (path.clone(), method.clone()))
            })
            .collect();
        assert_eq!(
            served, described,
            "the router's routes and the document's differ"
        );
        let text = spec.to_string();
        for reference in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = &reference[..reference.find('"').unwrap()];
            let (section, name) = target.split_once('/').unwrap();
            assert!(
                spec["components"][section].get(name).is_some(),
                "dangling $ref {target}"
            );
        }
    }

    /// The (path, method) pairs of `.route("PATH", get(..).post(..))` in
    /// the source of `router`.
    fn routes(source: &str) -> std::collections::BTreeSet<(String, String)> {
        let body = &source[source.find("pub fn router(").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        let mut found = std::collections::BTreeSet::new();
        for part in body.split(".route(").skip(1) {
            let path = part.split('"').nth(1).unwrap();
            // The route's own arguments: up to the parenthesis that closes it.
            let mut depth = 1;
            let end = part
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            let arguments = &part[..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = arguments
                    .match_indices(&format!("{method}("))
                    .any(|(at, _)| {
                        at == 0 || !arguments.as_bytes()[at - 1].is_ascii_alphanumeric()
                    });
                if called {
                    found.insert((path.to_string(), method.to_string()));
                }
            }
        }
        found
    }
}
