//! The optional bearer token: when the server has one, every request except `/healthz` must
//! carry it, as `Authorization: Bearer <token>` or, for clients that cannot set headers
//! (a browser's `EventSource` and `WebSocket`), as the `access_token` query parameter.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// Paths that never need the token.
const OPEN_PATHS: [&str; 1] = ["/healthz"];

/// Middleware: refuses requests without the server's token with 401.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.config().token.as_deref() else {
        return next.run(req).await;
    };
    if OPEN_PATHS.contains(&req.uri().path()) || presented(&req).is_some_and(|t| same(&t, expected))
    {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// The token the request carries, if any.
fn presented(req: &Request) -> Option<String> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    from_header.or_else(|| {
        let query = req.uri().query()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    })
}

/// Compares without stopping at the first difference, so the time taken does not tell how
/// much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, auth: Option<&str>) -> Request {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn tokens_from_header_or_query() {
        let got = |uri, auth| presented(&request(uri, auth));
        assert_eq!(got("/x", Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(got("/x", Some("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(got("/x", Some("Basic abc")), None);
        assert_eq!(
            got("/api/live?q=tcp&access_token=t%2B0k", None).as_deref(),
            Some("t+0k")
        );
        assert_eq!(presented(&request("/x", None)), None);
    }

    #[test]
    fn comparison() {
        assert!(same("secret", "secret"));
        assert!(!same("secret", "secreT"));
        assert!(!same("secret", "secret1"));
        assert!(!same("", "x"));
    }
}
