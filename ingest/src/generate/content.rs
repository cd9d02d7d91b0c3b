//! Application payloads: HTTP/1.1 heads and bodies, DNS messages, NTP, syslog, ping data and the
//! bodies of ICMP router messages. Heads are written into a conversation's text buffer; bodies
//! are described by a [`Body`] and produced on demand, byte ranges at a time, so that large
//! responses cost no memory.

use std::io::Write;

use super::rng::Rng;

/// Kind of a message body; decides Content-Type and the filler bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// No body.
    None,
    /// An HTML page.
    Html,
    /// A JSON document.
    Json,
    /// Opaque binary content (`application/octet-stream`, no dissector to trip over).
    Binary,
    /// Opaque bytes (ESP, traceroute probes).
    Opaque,
}

impl Body {
    fn parts(self) -> (&'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Body::None => (b"", b" ", b""),
            Body::Html => (
                b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Example</title></head>\n<body>\n",
                b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>\n",
                b"</body></html>\n",
            ),
            Body::Json => (
                b"{\"status\":\"ok\",\"items\":[",
                b"{\"id\":1042,\"name\":\"widget\",\"price\":19.99,\"tags\":[\"blue\",\"small\"]},",
                b"{}]}\n",
            ),
            Body::Binary | Body::Opaque => (b"", b"", b""),
        }
    }

    /// The MIME type a server announces for this body.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Body::Html | Body::None => "text/html; charset=utf-8",
            Body::Json => "application/json",
            Body::Binary | Body::Opaque => "application/octet-stream",
        }
    }

    /// Appends bytes `off..off + len` of a body of `total` bytes to `out`.
    pub(crate) fn extend(self, total: u32, off: u32, len: u32, out: &mut Vec<u8>) {
        let (pre, fill, post) = self.parts();
        let (pre_len, post_len) = (pre.len() as u32, post.len() as u32);
        let framed = total >= pre_len + post_len;
        for i in off..off.saturating_add(len).min(total) {
            let b = if framed && i < pre_len {
                pre[i as usize]
            } else if framed && i >= total - post_len {
                post[(i - (total - post_len)) as usize]
            } else if fill.is_empty() {
                // Incompressible-looking bytes, a fixed function of the offset.
                (i.wrapping_mul(2_654_435_761) >> 13) as u8
            } else {
                fill[(i.wrapping_sub(if framed { pre_len } else { 0 }) as usize) % fill.len()]
            };
            out.push(b);
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Writes an HTTP date (`Mon, 01 Jan 2024 00:00:05 GMT`) for `ts_us`.
pub(crate) fn http_date(ts_us: i64, out: &mut Vec<u8>) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let secs = ts_us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize % 12],
        y,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
];
const GET_PATHS: [&str; 10] = [
    "/",
    "/index.html",
    "/api/v1/items?page=2",
    "/api/v1/items/1042",
    "/static/css/site.css",
    "/static/img/logo.png",
    "/login",
    "/health",
    "/api/v1/users/me",
    "/favicon.ico",
];
const POST_PATHS: [&str; 4] = [
    "/api/v1/orders",
    "/api/v1/login",
    "/upload",
    "/api/v1/metrics",
];

/// An HTTP request to script.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    /// POST (with a JSON body) rather than GET.
    pub(crate) post: bool,
    /// Body length for POST.
    pub(crate) body_len: u32,
    /// Ask the server to close after the response.
    pub(crate) close: bool,
}

impl Request {
    /// A plain GET without body that leaves the connection open.
    pub(crate) const GET: Request = Request {
        post: false,
        body_len: 0,
        close: false,
    };

    /// A random request: GET 85 %, POST with 60 B .. 24 KiB 15 %.
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let post = rng.chance(150);
        let body_len = if post { body_size(rng, 60, 24_000) } else { 0 };
        Request {
            post,
            body_len,
            close: false,
        }
    }

    /// Writes the request head; the body (JSON) is `body_len` bytes.
    pub(crate) fn head(&self, host: &str, port: u16, rng: &mut Rng, out: &mut Vec<u8>) {
        let (method, path) = if self.post {
            ("POST", *rng.pick(&POST_PATHS))
        } else {
            ("GET", *rng.pick(&GET_PATHS))
        };
        let _ = write!(out, "{method} {path} HTTP/1.1\r\nHost: {host}");
        if port != 80 {
            let _ = write!(out, ":{port}");
        }
        let _ = write!(
            out,
            "\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate\r\n",
            rng.pick(&USER_AGENTS)
        );
        if self.post {
            let _ = write!(
                out,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                self.body_len
            );
        }
        let conn = if self.close { "close" } else { "keep-alive" };
        let _ = write!(out, "Connection: {conn}\r\n\r\n");
    }
}

/// An HTTP response to script.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Response {
    /// Status code.
    pub(crate) status: u16,
    /// Body kind.
    pub(crate) body: Body,
    /// Content-Length.
    pub(crate) body_len: u32,
    /// `Connection: close`.
    pub(crate) close: bool,
}

impl Response {
    /// A random response: 200 (86 %), 404 (7 %), 500 (4 %), 301 (3 %).
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let status = [200, 404, 500, 301][rng.weighted(&[86, 7, 4, 3])];
        let (body, body_len) = if status == 200 {
            let body = [Body::Html, Body::Json, Body::Binary][rng.weighted(&[45, 35, 20])];
            (body, body_size(rng, 120, 90_000))
        } else {
            (Body::Html, rng.range_u32(150, 600))
        };
        Response {
            status,
            body,
            body_len,
            close: false,
        }
    }

    /// A response large enough to take `segments` MSS-sized segments or more.
    pub(crate) fn large(rng: &mut Rng, segments: u32, mss: u32) -> Self {
        let body_len = segments * mss + rng.range_u32(0, mss * 6);
        Response {
            status: 200,
            body: Body::Binary,
            body_len,
            close: false,
        }
    }

    /// Writes the response head.
    pub(crate) fn head(&self, ts_us: i64, out: &mut Vec<u8>) {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            301 => "Moved Permanently",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let _ = write!(out, "HTTP/1.1 {} {reason}\r\nDate: ", self.status);
        http_date(ts_us, out);
        let _ = write!(
            out,
            "\r\nServer: nginx/1.24.0\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.body.content_type(),
            self.body_len
        );
        if self.status == 301 {
            out.extend_from_slice(b"Location: https://www.example.com/\r\n");
        }
        if self.status == 200 && self.body == Body::Binary {
            out.extend_from_slice(b"Cache-Control: max-age=3600\r\n");
        }
        let conn = if self.close { "close" } else { "keep-alive" };
        let _ = write!(out, "Connection: {conn}\r\n\r\n");
    }
}

/// A skewed size: mostly small, sometimes up to `hi`.
fn body_size(rng: &mut Rng, lo: u32, hi: u32) -> u32 {
    let cap = match rng.weighted(&[60, 30, 10]) {
        0 => (lo * 20).min(hi),
        1 => (hi / 6).max(lo),
        _ => hi,
    };
    rng.range_u32(lo, cap)
}

const NAMES: [&str; 12] = [
    "www.example.com",
    "api.example.com",
    "shop.example.com",
    "static.example.net",
    "cdn.example.net",
    "intranet.corp.example",
    "grafana.corp.example",
    "mail.example.org",
    "time.example.org",
    "login.example.com",
    "updates.example.net",
    "repo.example.org",
];
const BAD_NAMES: [&str; 4] = [
    "wpad.corp.example",
    "www.exmaple.com",
    "nonexistent.example.org",
    "printer.local.example",
];

/// A DNS lookup to script.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dns {
    /// Transaction id.
    pub(crate) id: u16,
    /// Queried name.
    pub(crate) name: &'static str,
    /// AAAA rather than A.
    pub(crate) aaaa: bool,
    /// NXDOMAIN rather than NOERROR with answers.
    pub(crate) nxdomain: bool,
    /// Number of answer records (NOERROR).
    pub(crate) answers: u8,
}

impl Dns {
    /// A random lookup: NXDOMAIN 10 %, AAAA 30 %.
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let nxdomain = rng.chance(100);
        let name = if nxdomain {
            *rng.pick(&BAD_NAMES)
        } else {
            *rng.pick(&NAMES)
        };
        Dns {
            id: rng.below(65_536) as u16,
            name,
            aaaa: rng.chance(300),
            nxdomain,
            answers: 1 + rng.below(2) as u8,
        }
    }

    /// Writes the query message.
    pub(crate) fn query(&self, out: &mut Vec<u8>) {
        self.header(out, 0x0100, 0);
        self.question(out);
    }

    /// Writes the response message.
    pub(crate) fn response(&self, out: &mut Vec<u8>) {
        let (flags, an) = if self.nxdomain {
            (0x8183, 0)
        } else {
            (0x8180, self.answers)
        };
        self.header(out, flags, an);
        self.question(out);
        for i in 0..an {
            out.extend_from_slice(&[0xC0, 0x0C]);
            out.extend_from_slice(&self.qtype().to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0x01, 0x2C]); // class IN, TTL 300
            if self.aaaa {
                out.extend_from_slice(&[
                    0,
                    16,
                    0x20,
                    0x01,
                    0x0D,
                    0xB8,
                    0,
                    0x01,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x10 + i,
                ]);
            } else {
                out.extend_from_slice(&[0, 4, 10, 1, 0, 10 + i]);
            }
        }
    }

    fn qtype(&self) -> u16 {
        if self.aaaa { 28 } else { 1 }
    }

    fn header(&self, out: &mut Vec<u8>, flags: u16, answers: u8) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, answers, 0, 0, 0, 0]);
    }

    fn question(&self, out: &mut Vec<u8>) {
        for label in self.name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&self.qtype().to_be_bytes());
        out.extend_from_slice(&[0, 1]);
    }
}

/// 48-byte NTPv4 client (mode 3) or server (mode 4) packet.
pub(crate) fn ntp(server: bool, ts_us: i64, out: &mut Vec<u8>) {
    let secs = (ts_us.div_euclid(1_000_000) + 2_208_988_800) as u32;
    let frac = ((ts_us.rem_euclid(1_000_000) << 32) / 1_000_000) as u32;
    if server {
        out.extend_from_slice(&[0x24, 2, 6, 0xE9, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 10, 1, 0, 1]);
    } else {
        out.extend_from_slice(&[0x23, 0, 6, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    // Reference, originate and receive timestamps (zero in a client request), then transmit.
    for _ in 0..3 {
        let (s, f) = if server { (secs, frac) } else { (0, 0) };
        out.extend_from_slice(&s.to_be_bytes());
        out.extend_from_slice(&f.to_be_bytes());
    }
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&frac.to_be_bytes());
}

/// A syslog line (RFC 3164 style).
pub(crate) fn syslog(ts_us: i64, host: u8, n: u32, out: &mut Vec<u8>) {
    let secs = ts_us.div_euclid(1_000_000);
    let sod = secs.rem_euclid(86_400);
    let (_, m, d) = civil_from_days(secs.div_euclid(86_400));
    let _ = write!(
        out,
        "<134>{} {d:>2} {:02}:{:02}:{:02} host{host} app[{}]: request served status=200 bytes={} latency_ms={}",
        MONTHS[(m - 1) as usize % 12],
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        1000 + n,
        512 + n * 7,
        3 + n % 40
    );
}

/// Linux `ping` data: 8-byte timestamp then bytes 0x10..0x37 (56 bytes).
pub(crate) fn ping_data(ts_us: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&(ts_us.div_euclid(1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&(ts_us.rem_euclid(1_000_000) as u32).to_le_bytes());
    out.extend(0x10u8..0x38);
}

/// Body of an ICMPv4 router advertisement after the 8-byte header: one address, preference 0.
pub(crate) fn router_advert_v4(router: [u8; 4], out: &mut Vec<u8>) {
    out.extend_from_slice(&router);
    out.extend_from_slice(&[0, 0, 0, 0]);
}

/// Body of an ICMPv6 router advertisement after the 8-byte header: reachable time, retrans
/// timer, source link-layer address, MTU and prefix information options.
pub(crate) fn router_advert_v6(mac: [u8; 6], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(&mac);
    out.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xDC]);
    out.extend_from_slice(&[
        3, 4, 64, 0xC0, 0, 0x27, 0x8D, 0, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
    ]);
    out.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
}

/// A link-layer address option (type 1 source, 2 target) for neighbour discovery.
pub(crate) fn lladdr_option(target: bool, mac: [u8; 6], out: &mut Vec<u8>) {
    out.extend_from_slice(&[if target { 2 } else { 1 }, 1]);
    out.extend_from_slice(&mac);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_is_rfc7231() {
        let mut out = Vec::new();
        http_date(1_704_067_205_000_000, &mut out);
        assert_eq!(out, b"Mon, 01 Jan 2024 00:00:05 GMT");
        out.clear();
        http_date(951_782_400_000_000, &mut out); // leap day 2000
        assert_eq!(out, b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn body_has_exact_length_and_frame() {
        for body in [Body::Html, Body::Json, Body::Binary, Body::Opaque] {
            for total in [0u32, 5, 200, 5000] {
                let mut whole = Vec::new();
                body.extend(total, 0, total, &mut whole);
                assert_eq!(whole.len(), total as usize);
                let mut parts = Vec::new();
                let mut off = 0;
                while off < total {
                    let n = (total - off).min(1460);
                    body.extend(total, off, n, &mut parts);
                    off += n;
                }
                assert_eq!(parts, whole, "{body:?} {total}");
            }
        }
        let mut html = Vec::new();
        Body::Html.extend(500, 0, 500, &mut html);
        assert!(html.starts_with(b"<!DOCTYPE html>") && html.ends_with(b"</body></html>\n"));
    }

    #[test]
    fn dns_messages_are_well_formed() {
        let d = Dns {
            id: 0x1234,
            name: "www.example.com",
            aaaa: true,
            nxdomain: false,
            answers: 2,
        };
        let mut q = Vec::new();
        d.query(&mut q);
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(q.len(), 12 + 17 + 4);
        let mut r = Vec::new();
        d.response(&mut r);
        assert_eq!(r.len(), q.len() + 2 * (12 + 16));
        assert_eq!(r[7], 2);
    }

    #[test]
    fn request_head_ends_with_blank_line() {
        let mut rng = Rng::new(1);
        let mut out = Vec::new();
        Request {
            post: true,
            body_len: 77,
            close: true,
        }
        .head("h.example", 8080, &mut rng, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST /") && s.contains("Host: h.example:8080\r\n"));
        assert!(s.contains("Content-Length: 77\r\n") && s.ends_with("Connection: close\r\n\r\n"));
    }
}
