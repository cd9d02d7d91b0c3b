//! HTTP/1.x message heads: parsed with `httparse` (a bounded number of headers), what the
//! dissector reads of them (length, body framing, status, HEAD/CONNECT), and where a message
//! starts when the parser resynchronises.

use super::State;
use super::chunked::Chunked;
use super::txn::Problem;

/// Headers parsed per message; more is a parse error.
pub(super) const MAX_HEADERS: usize = 96;

/// Request methods a resynchronising parser looks for at a line start.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// What the dissector needs of a message head, read in the parse that finds its end (so a
/// head is parsed once while streaming, and once more only when its entry is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    /// Length of the head.
    pub(super) len: usize,
    /// Body framing, as if the message has a body.
    pub(super) framing: Result<State, Problem>,
    /// Status code (responses).
    pub(super) code: u16,
    /// `HEAD` request.
    pub(super) is_head: bool,
    /// `CONNECT` request.
    pub(super) is_connect: bool,
}

/// The complete head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub(super) fn parse_head(client: bool, buf: &[u8]) -> Result<Option<Head>, Problem> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if client {
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(len) = req.parse(buf).map_err(Problem::Request)? else {
            return Ok(None);
        };
        let method = req.method.unwrap_or("");
        Ok(Some(Head {
            len,
            framing: framing(req.headers, true),
            code: 0,
            is_head: method == "HEAD",
            is_connect: method == "CONNECT",
        }))
    } else {
        let mut resp = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(len) = resp.parse(buf).map_err(Problem::Response)? else {
            return Ok(None);
        };
        Ok(Some(Head {
            len,
            framing: framing(resp.headers, false),
            code: resp.code.unwrap_or(0),
            is_head: false,
            is_connect: false,
        }))
    }
}

pub(super) fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// How a message's body is framed.
pub(super) fn framing(headers: &[httparse::Header<'_>], request: bool) -> Result<State, Problem> {
    let chunked = headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    });
    if chunked {
        return Ok(State::Chunked(Chunked::default()));
    }
    match header(headers, "content-length") {
        Some(v) => {
            let n = std::str::from_utf8(v.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(Problem::ContentLength)?;
            Ok(if n == 0 { State::Head } else { State::Body(n) })
        }
        None if request => Ok(State::Head),
        None => Ok(State::UntilClose),
    }
}

/// Bytes kept from the end of a chunk while resynchronising: a message start split across
/// chunks (the longest is `CONNECT `, 8 bytes) is found with the byte before it (a request
/// starts a line).
pub(super) const RESYNC_TAIL: usize = 9;

/// Where a request or response starts in `bytes`, for resynchronising.
pub(super) fn message_start(client: bool, bytes: &[u8]) -> Option<usize> {
    if !client {
        return bytes.windows(7).position(|w| w == b"HTTP/1.");
    }
    (0..bytes.len()).find(|&i| {
        (i == 0 || bytes[i - 1] == b'\n') && METHODS.iter().any(|m| bytes[i..].starts_with(m))
    })
}
