//! What the HTTP dissector hands over: transactions ([`Txn`]), complete or half, and what went
//! wrong with them ([`Outcome`], [`Missing`], [`Problem`]).

use crate::emit::HttpView;

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// `httparse` rejected a request head.
    #[error("invalid request head: {0}")]
    Request(httparse::Error),
    /// `httparse` rejected a response head.
    #[error("invalid response head: {0}")]
    Response(httparse::Error),
    /// The head did not end within the configured limit.
    #[error("header block longer than {0} bytes")]
    HeadTooLong(usize),
    /// A chunk-size line that is not hexadecimal.
    #[error("bad chunk size")]
    ChunkSize,
    /// Chunk data not followed by CRLF.
    #[error("missing CRLF after chunk data")]
    ChunkEnd,
    /// A Content-Length that is not a number.
    #[error("bad Content-Length")]
    ContentLength,
}

/// Why the other half of a transaction is missing, as far as the stream shows; the flow's end
/// adds the rest (reset, close, timeout, ICMP error, capture end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Nothing more came before the stream ended.
    StreamEnd,
    /// A gap in the stream swallowed it.
    Lost,
    /// The capture began after it.
    MidStream,
    /// More requests were outstanding than the dissector keeps.
    Overflow,
}

/// What became of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Request and response both seen.
    Complete,
    /// A request without a response.
    NoResponse(Missing),
    /// A response without a request.
    NoRequest(Missing),
    /// Invalid payload from the client (`true`) or the server.
    Parser(Problem, bool),
    /// The stream of the client (`true`) or the server ended inside a message; bytes missing
    /// from a body of known length.
    Eof(bool, Option<u64>),
}

/// One transaction, borrowed from the dissector's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Txn<'a> {
    /// Time of the request (of the response when there is no request), µs.
    pub ts_us: i64,
    /// The fields seen.
    pub view: HttpView<'a>,
    /// Complete, half, or broken.
    pub outcome: Outcome,
}
