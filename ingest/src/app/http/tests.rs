use super::*;

/// What a test checks of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    req_size: Option<u64>,
    resp_size: Option<u64>,
    outcome: Outcome,
}

#[derive(Default)]
struct Run {
    conn: HttpConn,
    seen: Vec<Seen>,
    headers: Vec<(String, String)>,
}

impl Run {
    fn new() -> Self {
        Run {
            conn: HttpConn::new(HttpLimits::default()),
            ..Run::default()
        }
    }

    fn sink<'s>(
        seen: &'s mut Vec<Seen>,
        headers: &'s mut Vec<(String, String)>,
    ) -> impl FnMut(Txn<'_>) + 's {
        move |t: Txn<'_>| {
            if let Some(hs) = t.view.response_headers {
                headers.extend(hs.iter().map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                }));
            }
            seen.push(Seen {
                method: t.view.method.map(str::to_owned),
                path: t.view.path.map(str::to_owned),
                status: t.view.status,
                req_size: t.view.request_size,
                resp_size: t.view.response_size,
                outcome: t.outcome,
            });
        }
    }

    fn client(&mut self, bytes: &[u8]) -> &mut Self {
        {
            let mut out = Self::sink(&mut self.seen, &mut self.headers);
            self.conn.data(true, bytes, 1_000, &mut out);
        }
        self
    }

    fn server(&mut self, bytes: &[u8]) -> &mut Self {
        {
            let mut out = Self::sink(&mut self.seen, &mut self.headers);
            self.conn.data(false, bytes, 5_000, &mut out);
        }
        self
    }

    fn gap(&mut self, client: bool, len: u64) -> &mut Self {
        {
            let mut out = Self::sink(&mut self.seen, &mut self.headers);
            self.conn.gap(client, len, 1_000, &mut out);
        }
        self
    }

    fn end(&mut self) -> Vec<Seen> {
        {
            let mut out = Self::sink(&mut self.seen, &mut self.headers);
            self.conn.end(&mut out);
        }
        std::mem::take(&mut self.seen)
    }

    fn outcomes(&mut self) -> Vec<Outcome> {
        self.end().into_iter().map(|s| s.outcome).collect()
    }
}

const GET: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n";
const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn request_response_pair_with_sizes_and_elapsed() {
    let mut r = Run::new();
    let mut conn = HttpConn::new(HttpLimits::default());
    let mut got = Vec::new();
    conn.data(true, GET, 1_000, &mut |t| {
        got.push((t.view.method.map(str::to_owned), t.view.elapsed_ms))
    });
    conn.data(false, OK5, 3_500_000, &mut |t| {
        assert_eq!(t.view.host, Some("example.org"));
        assert_eq!(t.view.status_text, Some("OK"));
        got.push((t.view.method.map(str::to_owned), t.view.elapsed_ms));
    });
    assert_eq!(got, [(Some("GET".to_owned()), Some(3499))]);
    let seen = r.client(GET).server(OK5).end();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].req_size, Some(GET.len() as u64));
    assert_eq!(seen[0].resp_size, Some(OK5.len() as u64));
    assert_eq!(seen[0].outcome, Outcome::Complete);
    assert_eq!(seen[0].path.as_deref(), Some("/a?x=1"));
}

#[test]
fn heads_split_byte_by_byte_and_pipelined() {
    let mut r = Run::new();
    let two = [GET, GET].concat();
    for b in two.chunks(1) {
        r.client(b);
    }
    let resp = [OK5, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"].concat();
    for b in resp.chunks(3) {
        r.server(b);
    }
    let seen = r.end();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].status, Some(200));
    assert_eq!(seen[1].status, Some(404));
    assert!(seen.iter().all(|s| s.outcome == Outcome::Complete));
}

#[test]
fn chunked_body_and_post_body() {
    let mut r = Run::new();
    let post = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let seen = r.client(post).server(resp).end();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].req_size, Some(post.len() as u64));
    assert_eq!(seen[0].resp_size, Some(resp.len() as u64));
    assert_eq!(seen[0].outcome, Outcome::Complete);
}

#[test]
fn head_request_and_interim_responses() {
    let mut r = Run::new();
    let head = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    let seen = r.client(head).server(resp).client(GET).server(OK5).end();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.outcome == Outcome::Complete));
}

#[test]
fn body_until_close_ends_with_the_stream() {
    let mut r = Run::new();
    let resp = b"HTTP/1.0 200 OK\r\n\r\nall of it";
    let seen = r.client(GET).server(resp).end();
    assert_eq!(seen[0].outcome, Outcome::Complete);
    assert_eq!(seen[0].resp_size, Some(resp.len() as u64));
}

#[test]
fn unanswered_request_and_unrequested_response() {
    let mut r = Run::new();
    assert_eq!(
        r.client(GET).outcomes(),
        [Outcome::NoResponse(Missing::StreamEnd)]
    );
    let mut r = Run::new();
    assert_eq!(
        r.server(OK5).outcomes(),
        [Outcome::NoRequest(Missing::StreamEnd)]
    );
    let mut r = Run::new();
    r.conn.mid_stream(true);
    r.conn.mid_stream(false);
    assert_eq!(
        r.server(b"ello").server(OK5).outcomes(),
        [Outcome::NoRequest(Missing::MidStream)]
    );
}

#[test]
fn response_cut_short_is_unexpected_eof() {
    let mut r = Run::new();
    let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    assert_eq!(
        r.client(GET).server(cut).outcomes(),
        [Outcome::Eof(false, Some(7))]
    );
    let mut r = Run::new();
    assert_eq!(
        r.client(b"GET / HTTP/1.1\r\nHo").outcomes(),
        [Outcome::Eof(true, None)]
    );
}

#[test]
fn garbage_is_a_parser_error_and_the_stream_resynchronises() {
    let mut r = Run::new();
    let bad = b"\x16\x03\x01 not http\r\n\r\n";
    let seen = r
        .client(bad)
        .server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let seen = seen.client(GET).server(OK5).end();
    let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
    assert!(
        matches!(outcomes[0], Outcome::Parser(Problem::Request(_), true)),
        "{outcomes:?}"
    );
    assert_eq!(seen[0].status, Some(400), "the 400 answers the bad request");
    assert_eq!(outcomes[1], Outcome::Complete);
    assert_eq!(seen.len(), 2);
    let mut r = Run::new();
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(
        r.client(GET).server(resp).outcomes(),
        [Outcome::Parser(Problem::ChunkSize, false)]
    );
}

#[test]
fn each_gap_is_one_lost_message_even_back_to_back() {
    let mut r = Run::new();
    r.client(&[GET, GET, GET].concat());
    let seen = r
        .gap(false, OK5.len() as u64)
        .gap(false, OK5.len() as u64)
        .server(OK5)
        .end();
    let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::NoResponse(Missing::Lost),
            Outcome::NoResponse(Missing::Lost),
            Outcome::Complete
        ]
    );
}

#[test]
fn resynchronising_finds_a_start_split_across_chunks() {
    // After a gap, the next response arrives in 2-byte pieces: "HT", "TP", "/1", ...
    for piece in [1, 2, 3, 6, 7, 8] {
        let mut r = Run::new();
        r.client(&[GET, GET].concat()).gap(false, 40);
        for part in OK5.chunks(piece) {
            r.server(part);
        }
        let outcomes: Vec<_> = r.end().iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::NoResponse(Missing::Lost), Outcome::Complete],
            "pieces of {piece}"
        );
    }
    // A request after garbage from the client, in the same piece, split after its line
    // start: found (the one response answers the garbage's slot, as a server would).
    let mut r = Run::new();
    r.client(b"\x16\x03\x01junk\r\nGE")
        .client(&GET[2..])
        .server(OK5);
    let seen = r.end();
    let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Parser(Problem::Request(httparse::Error::Token), true),
            Outcome::NoResponse(Missing::StreamEnd)
        ]
    );
    assert_eq!(seen[1].path.as_deref(), Some("/a?x=1"));
}

#[test]
fn a_response_to_a_lost_request_may_have_no_body() {
    // The capture missed a HEAD request: its response announces 5 bytes and carries none;
    // the next response, in small pieces, follows its head. Then the same with a real body,
    // also in small pieces.
    const HEAD_RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    for piece in [1, 3, 7, 40] {
        let mut r = Run::new();
        r.gap(true, 30).client(GET).server(HEAD_RESP);
        for part in OK5.chunks(piece) {
            r.server(part);
        }
        let outcomes: Vec<_> = r.end().iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::NoRequest(Missing::Lost), Outcome::Complete],
            "pieces of {piece}"
        );
        let mut r = Run::new();
        r.gap(true, 30).client(GET);
        for part in [OK5, OK5].concat().chunks(piece) {
            r.server(part);
        }
        let seen = r.end();
        let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::NoRequest(Missing::Lost), Outcome::Complete],
            "pieces of {piece}"
        );
        assert_eq!(
            seen[0].resp_size,
            Some(OK5.len() as u64),
            "the body counted"
        );
    }
}

#[test]
fn gap_swallowing_a_response_leaves_its_request_unanswered() {
    let mut r = Run::new();
    r.client(&[GET, GET, GET].concat());
    let seen = r.gap(false, OK5.len() as u64).server(OK5).server(OK5).end();
    let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::NoResponse(Missing::Lost),
            Outcome::Complete,
            Outcome::Complete
        ]
    );
}

#[test]
fn gap_inside_a_body_is_absorbed_and_a_lost_request_is_noted() {
    let mut r = Run::new();
    r.client(GET)
        .server(&OK5[..OK5.len() - 3])
        .gap(false, 2)
        .server(b"o");
    assert_eq!(r.end()[0].outcome, Outcome::Complete);
    let mut r = Run::new();
    r.gap(true, 50).server(OK5);
    assert_eq!(r.outcomes(), [Outcome::NoRequest(Missing::Lost)]);
}

#[test]
fn headers_are_handed_over_and_upgrade_stops_parsing() {
    let mut r = Run::new();
    let up = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    let seen = r.client(GET).server(up).client(b"\x81\x85garbage").end();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].outcome, Outcome::Complete);
    assert_eq!(r.headers, [("Upgrade".to_owned(), "websocket".to_owned())]);
}

#[test]
fn pipelining_beyond_the_limit_gives_up_the_oldest() {
    let mut r = Run::new();
    r.conn = HttpConn::new(HttpLimits {
        max_pending: 2,
        ..HttpLimits::default()
    });
    r.client(&[GET, GET, GET].concat());
    let outcomes = r.outcomes();
    assert_eq!(outcomes[0], Outcome::NoResponse(Missing::Overflow));
    assert_eq!(outcomes.len(), 3);
}

#[test]
fn reset_keeps_the_dissector_usable() {
    let mut r = Run::new();
    r.client(GET);
    r.conn.reset(HttpLimits::default());
    assert!(r.server(OK5).outcomes() == [Outcome::NoRequest(Missing::StreamEnd)]);
}

/// Request and response body prefixes of the transactions, fed in `piece`-byte pieces.
fn bodies(prefix: usize, client: &[u8], server: &[u8], piece: usize) -> Vec<(String, String)> {
    let mut conn = HttpConn::new(HttpLimits {
        body_prefix: prefix,
        ..HttpLimits::default()
    });
    let mut got = Vec::new();
    let mut out = |t: Txn<'_>| {
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or(b"-")).into_owned();
        got.push((text(t.view.request_body), text(t.view.response_body)));
    };
    for b in client.chunks(piece) {
        conn.data(true, b, 1_000, &mut out);
    }
    for b in server.chunks(piece) {
        conn.data(false, b, 2_000, &mut out);
    }
    conn.end(&mut out);
    got
}

const POST: &[u8] = b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n{\"id\":1234}";
const CHUNKED: &[u8] =
    b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nerror:\r\n9;x=y\r\n disk ful\r\n1\r\nl\r\n0\r\n\r\n";

#[test]
fn body_prefixes_are_cut_at_the_limit_in_any_piece_size() {
    for piece in [1, 7, 1000] {
        let got = bodies(8, POST, OK5, piece);
        assert_eq!(
            got,
            [("{\"id\":12".into(), "hello".into())],
            "piece {piece}"
        );
        let got = bodies(256, POST, OK5, piece);
        assert_eq!(got, [("{\"id\":1234}".into(), "hello".into())]);
    }
}

#[test]
fn chunked_bodies_are_decoded_before_the_cut() {
    for piece in [1, 5, 1000] {
        let got = bodies(13, GET, CHUNKED, piece);
        assert_eq!(got, [("-".into(), "error: disk f".into())], "piece {piece}");
        let got = bodies(100, GET, CHUNKED, piece);
        assert_eq!(got, [("-".into(), "error: disk full".into())]);
    }
}

#[test]
fn a_zero_prefix_keeps_no_body_and_pipelined_bodies_stay_apart() {
    assert_eq!(bodies(0, POST, OK5, 1000), [("-".into(), "-".into())]);
    let ok2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno";
    let client = [POST, GET, POST].concat();
    let server = [OK5, &ok2[..], OK5].concat();
    let got = bodies(4, &client, &server, 1000);
    let want = [("{\"id", "hell"), ("-", "no"), ("{\"id", "hell")];
    assert_eq!(got.len(), 3);
    for ((rq, rs), (wq, ws)) in got.iter().zip(want) {
        assert_eq!((rq.as_str(), rs.as_str()), (wq, ws));
    }
    // A request with no response keeps its body too.
    assert_eq!(bodies(4, POST, b"", 1000), [("{\"id".into(), "-".into())]);
}
