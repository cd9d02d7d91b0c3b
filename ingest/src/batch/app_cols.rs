//! Builders of the application-layer `entries` columns: HTTP, DNS, and the sizes and timing
//! both share. Header names are lower-cased and repeated headers joined with `, ` while
//! appending, so no per-row strings are made.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Int64Builder, MapBuilder, StringBuilder, UInt16Builder, UInt64Builder};
use faultline_schemas::entry_col as ec;

use super::Columns;
use super::entry_cols::NullPad;
use crate::emit::{DnsView, HttpView};

type HeaderMap = MapBuilder<StringBuilder, StringBuilder>;

/// The columns of an `http` entry.
pub(super) struct HttpBuilders {
    method: StringBuilder,
    path: StringBuilder,
    host: StringBuilder,
    req_headers: HeaderMap,
    status: UInt16Builder,
    status_text: StringBuilder,
    resp_headers: HeaderMap,
    req_body: StringBuilder,
    resp_body: StringBuilder,
}

/// The columns of a `dns` entry.
pub(super) struct DnsBuilders {
    name: StringBuilder,
    qtype: StringBuilder,
    rcode: UInt16Builder,
    answers: StringBuilder,
}

/// The columns `http` and `dns` entries share: request and response sizes, elapsed time.
pub(super) struct TxnBuilders {
    req_size: UInt64Builder,
    resp_size: UInt64Builder,
    elapsed: Int64Builder,
}

/// A body prefix as text: valid UTF-8 as is, a multi-byte character cut by the prefix limit
/// dropped, other invalid bytes replaced by U+FFFD.
fn body_text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(b.get(..e.valid_up_to()).unwrap_or_default())
        }
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Appends `headers` as one map row: names lower-cased, values of repeated names joined.
fn append_headers(b: &mut HeaderMap, headers: Option<&[httparse::Header<'_>]>) {
    let Some(headers) = headers else {
        // Appending a null map row cannot fail.
        let _ = b.append(false);
        return;
    };
    for (i, h) in headers.iter().enumerate() {
        let seen = headers[..i]
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(h.name));
        if seen {
            continue;
        }
        let (keys, values) = b.entries();
        for c in h.name.chars() {
            let _ = keys.write_char(c.to_ascii_lowercase());
        }
        keys.append_value("");
        let mut sep = "";
        for same in headers[i..]
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(h.name))
        {
            values.write_str(sep).ok();
            let _ = values.write_str(&String::from_utf8_lossy(same.value));
            sep = ", ";
        }
        values.append_value("");
    }
    let _ = b.append(true);
}

impl HttpBuilders {
    pub(super) fn new(cap: usize) -> Self {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        let map = || MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        Self {
            method: s(),
            path: s(),
            host: s(),
            req_headers: map(),
            status: UInt16Builder::with_capacity(cap),
            status_text: s(),
            resp_headers: map(),
            req_body: s(),
            resp_body: s(),
        }
    }

    pub(super) fn append(&mut self, h: &HttpView<'_>) {
        self.method.append_option(h.method);
        self.path.append_option(h.path);
        self.host.append_option(h.host);
        append_headers(&mut self.req_headers, h.request_headers);
        self.status.append_option(h.status);
        self.status_text.append_option(h.status_text);
        append_headers(&mut self.resp_headers, h.response_headers);
        self.req_body.append_option(h.request_body.map(body_text));
        self.resp_body.append_option(h.response_body.map(body_text));
    }

    pub(super) fn finish(&mut self, cols: &mut Columns) {
        cols.extend([
            (ec::REQUEST_METHOD, Arc::new(self.method.finish()) as _),
            (ec::REQUEST_PATH, Arc::new(self.path.finish()) as _),
            (ec::REQUEST_HOST, Arc::new(self.host.finish()) as _),
            (
                ec::REQUEST_HEADERS,
                Arc::new(self.req_headers.finish()) as _,
            ),
            (ec::RESPONSE_STATUS, Arc::new(self.status.finish()) as _),
            (
                ec::RESPONSE_STATUS_TEXT,
                Arc::new(self.status_text.finish()) as _,
            ),
            (
                ec::RESPONSE_HEADERS,
                Arc::new(self.resp_headers.finish()) as _,
            ),
            (ec::REQUEST_BODY, Arc::new(self.req_body.finish()) as _),
            (ec::RESPONSE_BODY, Arc::new(self.resp_body.finish()) as _),
        ]);
    }
}

impl NullPad for HttpBuilders {
    fn append_nulls(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        for b in [
            &mut self.method,
            &mut self.path,
            &mut self.host,
            &mut self.status_text,
            &mut self.req_body,
            &mut self.resp_body,
        ] {
            b.append_nulls(n);
        }
        self.status.append_nulls(n);
        // Appending null map rows cannot fail.
        let _ = self.req_headers.append_nulls(n);
        let _ = self.resp_headers.append_nulls(n);
    }
}

impl DnsBuilders {
    pub(super) fn new(cap: usize) -> Self {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        Self {
            name: s(),
            qtype: s(),
            rcode: UInt16Builder::with_capacity(cap),
            answers: s(),
        }
    }

    pub(super) fn append(&mut self, d: &DnsView<'_>) {
        self.name.append_option(d.name);
        self.qtype.append_option(d.qtype);
        self.rcode.append_option(d.rcode);
        self.answers.append_option(d.answers);
    }

    pub(super) fn finish(&mut self, cols: &mut Columns) {
        cols.extend([
            (ec::DNS_NAME, Arc::new(self.name.finish()) as _),
            (ec::DNS_TYPE, Arc::new(self.qtype.finish()) as _),
            (ec::DNS_RCODE, Arc::new(self.rcode.finish()) as _),
            (ec::DNS_ANSWERS, Arc::new(self.answers.finish()) as _),
        ]);
    }
}

impl NullPad for DnsBuilders {
    fn append_nulls(&mut self, n: usize) {
        self.name.append_nulls(n);
        self.qtype.append_nulls(n);
        self.rcode.append_nulls(n);
        self.answers.append_nulls(n);
    }
}

impl TxnBuilders {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            req_size: UInt64Builder::with_capacity(cap),
            resp_size: UInt64Builder::with_capacity(cap),
            elapsed: Int64Builder::with_capacity(cap),
        }
    }

    /// Appends request bytes, response bytes and elapsed ms of one transaction.
    pub(super) fn append(&mut self, req: Option<u64>, resp: Option<u64>, elapsed: Option<i64>) {
        self.req_size.append_option(req);
        self.resp_size.append_option(resp);
        self.elapsed.append_option(elapsed);
    }

    pub(super) fn finish(&mut self, cols: &mut Columns) {
        cols.extend([
            (ec::REQUEST_SIZE, Arc::new(self.req_size.finish()) as _),
            (ec::RESPONSE_SIZE, Arc::new(self.resp_size.finish()) as _),
            (ec::ELAPSED_MS, Arc::new(self.elapsed.finish()) as _),
        ]);
    }
}

impl NullPad for TxnBuilders {
    fn append_nulls(&mut self, n: usize) {
        self.req_size.append_nulls(n);
        self.resp_size.append_nulls(n);
        self.elapsed.append_nulls(n);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, MapArray};
    use arrow::datatypes::{UInt16Type, UInt64Type};
    use faultline_schemas::entries_schema;

    use super::*;
    use crate::batch::Batcher;
    use crate::emit::{Emit, EntryBody, EntryHeader, EntryView};
    use crate::sink::MemorySink;

    fn entry(body: EntryBody<'_>) -> EntryView<'_> {
        let header = EntryHeader::new(
            1,
            ("10.0.0.1".parse().unwrap(), Some(40000)),
            ("10.0.0.2".parse().unwrap(), Some(80)),
            6,
            "GET / 200",
        );
        EntryView::new(
            EntryHeader {
                dst_name: Some("web.example"),
                ..header
            },
            body,
        )
    }

    fn map_row(m: &MapArray, i: usize) -> Vec<(String, String)> {
        let row = m.value(i);
        let k = row.column(0).as_string::<i32>();
        let v = row.column(1).as_string::<i32>();
        (0..row.len())
            .map(|j| (k.value(j).to_owned(), v.value(j).to_owned()))
            .collect()
    }

    #[test]
    fn body_text_drops_a_cut_character_and_replaces_bad_bytes() {
        assert_eq!(body_text(b"ok"), "ok");
        // "é" is two bytes; a prefix that ends after the first drops it.
        assert_eq!(body_text(b"caf\xc3"), "caf");
        assert_eq!(body_text(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn http_and_dns_columns() {
        let req = [
            httparse::Header {
                name: "Host",
                value: b"web.example",
            },
            httparse::Header {
                name: "Accept",
                value: b"a",
            },
            httparse::Header {
                name: "ACCEPT",
                value: b"b",
            },
        ];
        let http = HttpView {
            method: Some("GET"),
            path: Some("/"),
            host: Some("web.example"),
            request_headers: Some(&req),
            status: Some(200),
            status_text: Some("OK"),
            response_headers: None,
            request_size: Some(50),
            response_size: Some(700),
            elapsed_ms: Some(12),
            request_body: None,
            response_body: Some("{\"error\":\"caf\u{e9}\"}".as_bytes()),
        };
        let dns = DnsView {
            name: Some("web.example"),
            qtype: Some("A"),
            rcode: Some(0),
            answers: Some("A 10.0.0.2"),
            ..DnsView::default()
        };
        let mut b = Batcher::new(MemorySink::default(), 10);
        b.entry(&entry(EntryBody::Http(http)));
        b.entry(&entry(EntryBody::Dns(dns)));
        b.entry(&entry(EntryBody::Tcp));
        let sink = b.finish().unwrap();
        let batch = &sink.entries[0];
        assert_eq!(batch.schema(), entries_schema());
        let col = |n: &str| batch.column_by_name(n).unwrap();
        let heads = col(ec::REQUEST_HEADERS).as_map();
        assert_eq!(
            map_row(heads, 0),
            [
                ("host".to_owned(), "web.example".to_owned()),
                ("accept".to_owned(), "a, b".to_owned())
            ]
        );
        assert!(heads.is_null(1) && col(ec::RESPONSE_HEADERS).is_null(0));
        let status = col(ec::RESPONSE_STATUS).as_primitive::<UInt16Type>();
        assert_eq!(status.value(0), 200);
        assert!(status.is_null(1));
        let size = col(ec::RESPONSE_SIZE).as_primitive::<UInt64Type>();
        assert_eq!(size.value(0), 700);
        let answers = col(ec::DNS_ANSWERS).as_string::<i32>();
        assert_eq!(answers.value(1), "A 10.0.0.2");
        assert!(answers.is_null(0) && answers.is_null(2));
        let bodies = col(ec::RESPONSE_BODY).as_string::<i32>();
        assert_eq!(bodies.value(0), "{\"error\":\"caf\u{e9}\"}");
        assert!(bodies.is_null(1) && col(ec::REQUEST_BODY).is_null(0));
        let names = col(ec::DST_NAME).as_string::<i32>();
        assert_eq!(names.value(2), "web.example");
    }
}
