//! The web dashboard served at `/`: one page (KFL box with inline error positions, a live
//! entries table, a detail pane, an errors-over-time chart, favourites, wall mode) built from
//! plain HTML, CSS and JavaScript embedded in the binary, so `faultline serve` needs no files
//! and no front-end build.
//!
//! The KFL box completes field names from the schema's KFL field map, inlined as JSON.
//!
//! The stylesheet and script are inlined into the page when it is served: with `--token` the
//! page is opened as `/?access_token=…`, and separate asset requests would carry no token. The
//! page reads `?q=` (and `?access_token=`, `?wall=1`) itself, so nothing from the request
//! reaches the HTML.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use super::state::AppState;

/// The page skeleton, with placeholders for the stylesheet and the script.
const INDEX_HTML: &str = include_str!("dashboard/index.html");
/// The dashboard's stylesheet.
const STYLE_CSS: &str = include_str!("dashboard/style.css");
/// The dashboard's script: its parts, concatenated in order into one script with one scope.
const APP_JS: &str = concat!(
    include_str!("dashboard/core.js"),
    include_str!("dashboard/kfl_box.js"),
    include_str!("dashboard/entries.js"),
    include_str!("dashboard/panels.js"),
    include_str!("dashboard/app.js"),
);
/// Where `index.html` takes the stylesheet.
const STYLE_SLOT: &str = "/*@STYLE@*/";
/// Where `index.html` takes the script.
const SCRIPT_SLOT: &str = "//@SCRIPT@";
/// Where `index.html` takes the KFL fields (a JSON array of `{path, doc}`).
const FIELDS_SLOT: &str = "/*@FIELDS@*/";

/// The page with its assets inlined, assembled once.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    assemble(INDEX_HTML, STYLE_CSS, APP_JS).replacen(FIELDS_SLOT, &kfl_fields_json(), 1)
});

/// The KFL paths and their one-line docs, for completion in the KFL box. `<` is escaped so
/// the JSON cannot end its `<script>` element.
fn kfl_fields_json() -> String {
    let fields: Vec<serde_json::Value> = faultline_schemas::fields()
        .iter()
        .map(|f| serde_json::json!({ "path": f.path, "doc": f.doc }))
        .collect();
    serde_json::Value::Array(fields)
        .to_string()
        .replace('<', "\\u003c")
}

/// The dashboard's routes (`GET /`), to merge into the API with [`super::app`].
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(index))
}

/// `GET /`: the dashboard page. The token may be in its URL, so the page sends no referrer.
async fn index() -> impl IntoResponse {
    (
        [
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(PAGE.as_str()),
    )
}

/// `html` with its style and script slots filled.
fn assemble(html: &str, css: &str, js: &str) -> String {
    html.replacen(STYLE_SLOT, css, 1)
        .replacen(SCRIPT_SLOT, js, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_both_assets() {
        assert!(INDEX_HTML.contains(STYLE_SLOT) && INDEX_HTML.contains(SCRIPT_SLOT));
        assert!(!PAGE.contains(STYLE_SLOT) && !PAGE.contains(SCRIPT_SLOT));
        assert!(!PAGE.contains(FIELDS_SLOT) && PAGE.contains(&kfl_fields_json()));
        assert!(PAGE.contains(STYLE_CSS.trim()) && PAGE.contains(APP_JS.trim()));
    }

    #[test]
    fn assets_cannot_close_their_elements_early() {
        assert!(!STYLE_CSS.contains("</style"));
        assert!(!APP_JS.contains("</script"));
    }

    #[test]
    fn kfl_fields_are_json_with_every_path() {
        let json = kfl_fields_json();
        assert!(!json.contains('<'));
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.len(), faultline_schemas::fields().len());
        assert!(parsed.iter().any(|f| f["path"] == "response.status"));
    }

    #[test]
    fn assemble_fills_each_slot_once() {
        let page = assemble(
            "<style>/*@STYLE@*/</style><script>//@SCRIPT@</script>",
            "a{}",
            "f()",
        );
        assert_eq!(page, "<style>a{}</style><script>f()</script>");
    }
}
