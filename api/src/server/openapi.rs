//! `GET /api/openapi.json`: the API described in OpenAPI 3.1, written by hand beside the
//! routes (a test checks that every route of [`super::routes`] is in it).

use axum::Json;
use serde_json::{Value, json};

/// `GET /api/openapi.json`.
pub async fn handler() -> Json<Value> {
    Json(document())
}

fn param(name: &str, about: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": about,
            "schema": { "type": "string" } })
}

fn path_param(name: &str, about: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": about,
            "schema": { "type": "string" } })
}

fn error_responses(codes: &[&str]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                json!({ "description": status_text(c),
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
            )
        })
        .collect()
}

fn status_text(code: &str) -> &'static str {
    match code {
        "400" => "invalid KFL (with position), invalid SQL or a malformed parameter",
        "401" => "missing or wrong bearer token",
        "404" => "not found",
        "406" => "no supported format in Accept",
        "413" => "request body over its limit",
        "503" => "uploads off, ingest queue full, no packet recorder, or shutting down",
        "504" => "the query ran past the time limit",
        "500" => "the run failed",
        "507" => "the query ran past the memory limit, or the result has too many rows",
        _ => "error",
    }
}

fn with_errors(ok: Value, codes: &[&str]) -> Value {
    with_errors_as("200", ok, codes)
}

fn with_errors_as(status: &str, ok: Value, codes: &[&str]) -> Value {
    let mut responses = error_responses(codes);
    responses.insert(status.into(), ok);
    Value::Object(responses)
}

fn table_result() -> Value {
    json!({
        "description": "the rows, in the format chosen by `format=` or Accept",
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Table" } },
            "application/x-ndjson": { "schema": { "type": "string" } },
            "text/csv": { "schema": { "type": "string" } },
            "application/vnd.apache.arrow.stream": { "schema": { "type": "string", "format": "binary" } }
        }
    })
}

fn json_ok(about: &str) -> Value {
    json!({ "description": about, "content": { "application/json": { "schema": { "type": "object" } } } })
}

/// The OpenAPI document.
pub fn document() -> Value {
    let query_errors = ["400", "401", "406", "504", "507"];
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "faultline",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Network errors from packet captures as a queryable time series: \
                            KFL and SQL queries, live streams, error summaries, uploads."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer",
                            "description": "when the server has --token; also accepted as `access_token=` in the query" }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "description": "invalid_kfl, invalid_sql, bad_request, unauthorized, not_found, not_acceptable, payload_too_large, timeout, memory_limit, result_too_large, unavailable, internal" },
                        "message": { "type": "string" },
                        "position": { "type": "object", "properties": {
                            "line": { "type": "integer" }, "column": { "type": "integer" },
                            "start": { "type": "integer" }, "end": { "type": "integer" } } },
                        "help": { "type": "string" }
                    }
                },
                "Table": {
                    "type": "object",
                    "properties": {
                        "columns": { "type": "array", "items": { "type": "object", "properties": {
                            "name": { "type": "string" }, "type": { "type": "string" }, "nullable": { "type": "boolean" } } } },
                        "rows": { "type": "array", "items": { "type": "object" } },
                        "row_count": { "type": "integer" }
                    }
                }
            }
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/": { "get": { "summary": "the web dashboard; `?q=` applies a KFL filter, `?wall=1` opens wall mode",
                "parameters": [ param("q", "KFL filter to apply"), param("wall", "1: full-screen wall mode"),
                                param("access_token", "the bearer token, for a browser") ],
                "responses": with_errors(json!({ "description": "the page",
                    "content": { "text/html": { "schema": { "type": "string" } } } }), &["401"]) } },
            "/healthz": { "get": { "summary": "liveness; never needs the token", "security": [],
                "responses": { "200": { "description": "ok" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics (OpenMetrics text)",
                "responses": with_errors(json!({ "description": "metrics" }), &["401"]) } },
            "/api/openapi.json": { "get": { "summary": "this document",
                "responses": with_errors(json_ok("OpenAPI 3.1"), &["401"]) } },
            "/api/entries": { "get": {
                "summary": "entries matching a KFL filter",
                "parameters": [
                    param("q", "KFL filter (empty: all)"),
                    param("from", "inclusive start: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], µs, now-24h"),
                    param("to", "exclusive end, same forms"),
                    param("limit", "most rows (default 1000)"),
                    param("order", "asc (default) or desc"),
                    param("format", "json, ndjson, csv or arrow (overrides Accept)")
                ],
                "responses": with_errors(table_result(), &query_errors) } },
            "/api/entries/{id}": { "get": {
                "summary": "one entry with every column, and its flow",
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": with_errors(json_ok("{entry, flow, pcap} (pcap: whether /api/pcap has the flow's packets)"), &["400", "401", "404"]) } },
            "/api/kfl/check": { "post": {
                "summary": "parse and check KFL: tree, warnings with positions, equivalent SQL",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["q"], "properties": { "q": { "type": "string" } } } } } },
                "responses": with_errors(json_ok("{valid, tree, outline, warnings, limit, condition, sql}"), &["400", "401", "413"]) } },
            "/api/sql": { "post": {
                "summary": "one read-only SQL query over entries, flows and the views",
                "parameters": [ param("format", "json, ndjson, csv or arrow (overrides Accept)") ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["sql"], "properties": { "sql": { "type": "string" } } } } } },
                "responses": with_errors(table_result(), &["400", "401", "406", "413", "504", "507"]) } },
            "/api/live": { "get": {
                "summary": "new matching entries: Server-Sent Events (events ready, entry, lagged, error), or WebSocket on upgrade",
                "parameters": [ param("q", "KFL filter") ],
                "responses": with_errors(json!({ "description": "an event stream",
                    "content": { "text/event-stream": { "schema": { "type": "string" } } } }), &["400", "401"]) } },
            "/api/errors/summary": { "get": {
                "summary": "error counts by kind per bucket, top destinations and sources, error rate per service",
                "parameters": [ param("from", "start (default: first error)"), param("to", "end (default: after the last error)"),
                                param("bucket", "1m, 5m, 1h, 1d… (default: about 60 buckets)"),
                                param("parts", "comma-separated parts to compute: buckets (with totals), top_destinations, top_sources, services (default: all)") ],
                "responses": with_errors(json_ok("{from, to, bucket_seconds, buckets, totals, top_destinations, top_sources, services}"), &["400", "401", "504", "507"]) } },
            "/api/pcap": { "get": {
                "summary": "the recorded raw packets of the flows of the matching entries, in time order (without q: every packet in the time range)",
                "parameters": [ param("q", "KFL filter over entries (empty: packets by time range)"),
                                param("from", "inclusive start, of entries (of packets without q)"),
                                param("to", "exclusive end, same forms") ],
                "responses": with_errors(json!({ "description": "a capture file; X-Faultline-Packets and X-Faultline-Flows count what was matched",
                    "content": { "application/vnd.tcpdump.pcap": { "schema": { "type": "string", "format": "binary" } },
                                 "application/x-pcapng": { "schema": { "type": "string", "format": "binary" } } } }),
                    &["400", "401", "503", "504", "507"]) } },
            "/api/ingest": {
                "post": {
                    "summary": "upload a pcap or pcapng (optionally gzipped) to ingest",
                    "parameters": [ param("name", "label stored as capture_source"),
                                    param("wait", "false: answer 202 once queued") ],
                    "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": with_errors(json_ok("the finished job"), &["400", "401", "413", "503"])
                },
                "get": { "summary": "recent ingest jobs",
                         "responses": with_errors(json_ok("jobs"), &["401"]) }
            },
            "/api/reports": { "get": {
                "summary": "every scheduled report: schedule, window, formats, next run, stored runs",
                "responses": with_errors(json_ok("{reports: [{name, schedule, window_seconds, formats, keep, next_run, last_run, runs}]}"), &["401"]) } },
            "/api/reports/{name}": { "get": {
                "summary": "a stored run of a report (default: the latest)",
                "parameters": [ path_param("name", "the report's name"),
                                param("run", "a run id from the listing (default: the latest)"),
                                param("format", "json (default), csv or html") ],
                "responses": with_errors(json!({ "description": "the run's file",
                    "content": { "application/json": { "schema": { "type": "object" } },
                                 "text/csv": { "schema": { "type": "string" } },
                                 "text/html": { "schema": { "type": "string" } } } }), &["400", "401", "404"]) } },
            "/api/reports/{name}/run": { "post": {
                "summary": "run a report now; its files are stored like a scheduled run's",
                "parameters": [ path_param("name", "the report's name") ],
                "responses": with_errors_as("201", json_ok("{report, run, from, to, files}"), &["400", "401", "404", "500"]) } }
        }
    })
}

/// The paths the route definitions in `sources` register (`.route("<path>", …)`).
#[cfg(test)]
fn routed_paths(sources: &[&str]) -> Vec<String> {
    let mut paths = Vec::new();
    for source in sources {
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            if let Some(path) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                paths.push(path.to_owned());
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files that define routes: the API, the dashboard and the reports.
    const ROUTE_SOURCES: [&str; 3] = [
        include_str!("mod.rs"),
        include_str!("dashboard.rs"),
        include_str!("../reports/api.rs"),
    ];

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let routed = routed_paths(&ROUTE_SOURCES);
        assert!(routed.len() >= 14, "{routed:?}");
        let doc = document();
        let documented = doc["paths"].as_object().unwrap();
        for path in &routed {
            assert!(
                documented.contains_key(path),
                "{path} is not in the OpenAPI document"
            );
        }
        for path in documented.keys() {
            assert!(routed.contains(path), "{path} is documented but not routed");
        }
    }

    #[test]
    fn routed_paths_reads_split_calls() {
        let src = "r.route(\"/a\", get(x))\n .route(\n    \"/b/{id}\",\n post(y))";
        assert_eq!(routed_paths(&[src]), ["/a", "/b/{id}"]);
    }
}
