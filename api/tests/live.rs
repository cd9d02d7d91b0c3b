//! Live capture on real kernels: each test builds its own network namespaces (client, router,
//! server) joined by veth pairs, runs `faultline capture` on the client's interface, produces
//! one error on purpose and asserts the exact entry is queryable within 2 s of when it is due.
//! Nothing is sent outside the namespaces; they are deleted even when a test fails.
//! Needs root and `ip` (iproute2), `nc` (netcat-openbsd), `ping`, `nft`, `tc` (some tests also
//! `python3`, `curl`, `setpriv`); skipped with a message otherwise, unless `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");
/// How long after an entry is due it must be queryable.
const WITHIN: Duration = Duration::from_secs(2);
const CLIENT_IP: &str = "10.77.0.1";
const SERVER_IP: &str = "10.78.0.2";

/// True when the test can run; prints why not (or panics under CI) otherwise.
fn can_run(test: &str) -> bool {
    can_run_with(test, &[])
}

/// [`can_run`] for a test that also needs the tools `extra`.
fn can_run_with(test: &str, extra: &[&str]) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let missing: Vec<&str> = ["ip", "nc", "ping", "nft", "tc"]
        .iter()
        .chain(extra)
        .copied()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = format!("root: {root}, missing tools: {missing:?}");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} must run in CI: {why}"
    );
    eprintln!("skipping {test}: {why}");
    false
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sh(line: &str) -> Output {
    run(Command::new("sh").args(["-c", line]))
}

/// Three namespaces: client (10.77.0.1) - router - server (10.78.0.2), deleted on drop.
struct Lab {
    client: String,
    router: String,
    server: String,
    /// The client's interface, where the capture runs.
    client_if: String,
    /// The server's interface towards the router.
    server_if: String,
    /// The router's interface towards the client.
    router_client_if: String,
}

impl Lab {
    fn new() -> Lab {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            client: format!("flc{tag}"),
            router: format!("flr{tag}"),
            server: format!("fls{tag}"),
            client_if: format!("flc{tag}"),
            server_if: format!("fls{tag}"),
            router_client_if: format!("rc{tag}"),
        };
        for ns in [&lab.client, &lab.router, &lab.server] {
            sh(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
        }
        let (c, r, s) = (&lab.client, &lab.router, &lab.server);
        let (cif, sif) = (&lab.client_if, &lab.server_if);
        sh(&format!(
            "ip link add {cif} netns {c} type veth peer name rc{tag} netns {r} && \
             ip link add {sif} netns {s} type veth peer name rs{tag} netns {r} && \
             ip -n {c} addr add {CLIENT_IP}/24 dev {cif} && ip -n {c} link set {cif} up && \
             ip -n {r} addr add 10.77.0.2/24 dev rc{tag} && ip -n {r} link set rc{tag} up && \
             ip -n {r} addr add 10.78.0.1/24 dev rs{tag} && ip -n {r} link set rs{tag} up && \
             ip -n {s} addr add {SERVER_IP}/24 dev {sif} && ip -n {s} link set {sif} up && \
             ip -n {c} route add default via 10.77.0.2 && \
             ip -n {s} route add default via 10.78.0.1 && \
             ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1"
        ));
        lab
    }

    /// Runs a shell line in namespace `ns`.
    fn exec(&self, ns: &str, line: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", line])
            .output()
            .unwrap()
    }

    /// Starts a shell line in namespace `ns` in its own process group (killed on drop).
    fn spawn(&self, ns: &str, line: &str, stdout: Stdio) -> Reap {
        Reap(
            Command::new("ip")
                .args(["netns", "exec", ns, "sh", "-c", line])
                .stdout(stdout)
                .process_group(0)
                .spawn()
                .unwrap(),
        )
    }

    /// Starts `faultline capture` on the client's interface into `data`, with `extra` arguments
    /// (the attempt timeout is 1 s unless they say otherwise); returns once it is capturing.
    fn capture(&self, data: &Path, extra: &[&str]) -> Capture {
        let attempt: &[&str] = if extra.contains(&"--attempt-timeout") {
            &[]
        } else {
            &["--attempt-timeout", "1"]
        };
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.client, BIN, "capture"])
            .args(["--interface", &self.client_if, "--data"])
            .arg(data)
            .args(["--close-linger", "0.5", "--stats-interval", "1"])
            .args(["--filter", "not arp"])
            .args(attempt)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("capturing on"),
            "capture did not start: {line}"
        );
        Capture {
            child: Some(child),
            stderr,
            data: data.to_owned(),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A running `faultline capture`, killed on drop if still running.
struct Capture {
    child: Option<Child>,
    stderr: BufReader<std::process::ChildStderr>,
    data: PathBuf,
}

impl Capture {
    /// Polls `faultline query` until a row matches `kfl` or `deadline` passes.
    fn wait_for(&self, kfl: &str, deadline: Instant) -> Option<serde_json::Value> {
        loop {
            let out = run(Command::new(BIN)
                .args(["query", kfl, "--format", "json", "--data"])
                .arg(&self.data));
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(line) = text.lines().next() {
                return Some(serde_json::from_str(line).unwrap());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asserts an entry matching `kfl` appears within [`WITHIN`] of `due`; returns it.
    fn expect(&self, kfl: &str, due: Instant) -> serde_json::Value {
        let row = self.wait_for(kfl, due + WITHIN);
        let row = row.unwrap_or_else(|| panic!("no entry matching `{kfl}` within {WITHIN:?}"));
        assert!(
            Instant::now() <= due + WITHIN,
            "`{kfl}` only after {:?}",
            Instant::now() - due
        );
        row
    }

    /// SIGTERM, then the exit status and the rest of stderr.
    fn stop(self) -> (std::process::ExitStatus, String) {
        self.stop_with("TERM")
    }

    /// Sends `signal` to the capture process (`ip netns exec` execs it: same pid).
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id();
        sh(&format!("kill -{signal} {pid}"));
    }

    /// Stops with `signal` (`INT` or `TERM`), then the exit status and the rest of stderr.
    fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        self.signal(signal);
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stderr, &mut rest).unwrap();
        (status, rest)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn field<'a>(row: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    row.get(name).unwrap_or(&serde_json::Value::Null)
}

#[test]
fn refused_connection_then_clean_stop() {
    if !can_run("refused_connection_then_clean_stop") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let cap = lab.capture(&dir.path().join("data"), &[]);
    let due = Instant::now();
    lab.exec(&lab.client, &format!("nc -z -w1 {SERVER_IP} 81"));
    let row = cap.expect(r#"error.msg == "SynSent" and dst.port == 81"#, due);
    assert_eq!(
        field(&row, "error_reason"),
        "connection refused: RST from responder after 1 SYN"
    );
    assert_eq!(field(&row, "src_ip"), CLIENT_IP);
    assert_eq!(field(&row, "capture_source"), lab.client_if.as_str());
    // An open UDP exchange is still in the table when the capture stops: it ends then.
    lab.exec(
        &lab.client,
        &format!("echo hi | nc -u -w0 {SERVER_IP} 5353"),
    );
    let (status, stderr) = cap.stop();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("dropped: 0 by the kernel"), "{stderr}");
    let flows = run(Command::new(BIN)
        .args([
            "sql",
            "select end_reason from flows where resp_port = 5353",
            "--data",
        ])
        .arg(dir.path().join("data")));
    assert!(String::from_utf8_lossy(&flows.stdout).contains("end-of-input"));
}

#[test]
fn firewalled_syns_end_as_syn_sent() {
    if !can_run("firewalled_syns_end_as_syn_sent") {
        return;
    }
    let lab = Lab::new();
    let rule = "nft add table inet fl && \
                nft add chain inet fl input '{ type filter hook input priority 0; }' && \
                nft add rule inet fl input tcp dport 82 drop";
    assert!(lab.exec(&lab.server, rule).status.success());
    let dir = tempfile::tempdir().unwrap();
    // The client's kernel resends its SYN after 1 s: the attempt times out well before.
    let extra = ["--backend", "pnet", "--attempt-timeout", "0.5"];
    let cap = lab.capture(&dir.path().join("data"), &extra);
    let started = Instant::now();
    lab.exec(&lab.client, &format!("nc -z -w2 {SERVER_IP} 82"));
    // Due one attempt timeout (0.5 s) after the first SYN.
    let row = cap.expect(
        r#"error.msg == "SynSent" and dst.port == 82"#,
        started + Duration::from_millis(500),
    );
    assert_eq!(
        field(&row, "error_reason"),
        "no SYN-ACK to 1 SYN; stream timed out after 0.5 s"
    );
    assert_eq!(field(&row, "error_type"), "connection");
}

#[test]
fn udp_to_closed_port_gives_port_unreachable() {
    if !can_run("udp_to_closed_port_gives_port_unreachable") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let cap = lab.capture(&dir.path().join("data"), &[]);
    let due = Instant::now();
    lab.exec(
        &lab.client,
        &format!("echo hi | nc -u -w1 {SERVER_IP} 9999"),
    );
    let row = cap.expect("icmp.type == 3 and icmp.code == 3", due);
    assert_eq!(field(&row, "summary"), "DestinationUnreachable(Port)");
    assert_eq!(field(&row, "src_ip"), SERVER_IP);
    assert_eq!(field(&row, "quoted_dst_port"), 9999);
}

#[test]
fn ttl_expiry_at_the_router_gives_time_exceeded() {
    if !can_run("ttl_expiry_at_the_router_gives_time_exceeded") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let cap = lab.capture(&dir.path().join("data"), &[]);
    let due = Instant::now();
    lab.exec(&lab.client, &format!("ping -c1 -t1 -W1 {SERVER_IP}"));
    let row = cap.expect("icmp.type == 11", due);
    assert_eq!(field(&row, "summary"), "TimeExceeded(TTLExceeded)");
    assert_eq!(field(&row, "src_ip"), "10.77.0.2");
    assert_eq!(field(&row, "quoted_dst_ip"), SERVER_IP);
}

#[test]
fn netem_loss_gives_retransmissions() {
    if !can_run("netem_loss_gives_retransmissions") {
        return;
    }
    let lab = Lab::new();
    // 10 % of the server's data segments lost in transit at the router (a local drop at the
    // sender would not reach the wire): tc netem on the router's client-side interface, or
    // where the kernel has no netem (CONFIG_NET_SCH_NETEM unset) a random nftables drop in
    // the router's forward hook.
    let netem = format!(
        "tc qdisc add dev {} root netem loss 10%",
        lab.router_client_if
    );
    if !lab.exec(&lab.router, &netem).status.success() {
        eprintln!("no netem in this kernel; dropping with nftables numgen instead");
        let rule = "nft add table inet fl && \
                    nft add chain inet fl transit '{ type filter hook forward priority 0; }' && \
                    nft add rule inet fl transit tcp sport 8080 'tcp flags & (syn | fin | rst) == 0' \
                    numgen random mod 10 0 drop";
        assert!(lab.exec(&lab.router, rule).status.success());
    }
    let server = Command::new("ip")
        .args(["netns", "exec", &lab.server, "sh", "-c"])
        .arg("head -c 3000000 /dev/zero | timeout --foreground 30 nc -l -N 8080")
        .process_group(0)
        .spawn()
        .unwrap();
    let _server = Reap(server);
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let cap = lab.capture(&dir.path().join("data"), &[]);
    let out = lab.exec(
        &lab.client,
        &format!("timeout 30 nc -d {SERVER_IP} 8080 | wc -c"),
    );
    let got = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(got, "3000000", "transfer incomplete");
    // Due when the closed connection leaves the table (close linger 0.5 s).
    let due = Instant::now() + Duration::from_millis(500);
    let row = cap.expect(
        "loss and dst.port == 8080 and loss.retransmissions > 0",
        due,
    );
    assert_eq!(field(&row, "error_type"), "loss");
    assert_eq!(field(&row, "src_ip"), CLIENT_IP);
}

/// Kills a helper process on drop, with its process group when it leads one.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `faultline sql` over a stopped capture's store; stdout.
fn sql(data: &Path, query: &str) -> String {
    let out = run(Command::new(BIN).args(["sql", query, "--data"]).arg(data));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTP server that reads two pipelined requests, answers the first with a head promising
/// 100000 bytes and only 1000 of them, prints `sent <pid>` and waits to be killed.
const HALF_RESPONSE_SERVER: &str = r#"
import os, socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(1)
print("ready", os.getpid(), flush=True)
c, _ = s.accept()
got = b""
while got.count(b"\r\n\r\n") < 2:
    got += c.recv(4096)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
print("sent", os.getpid(), flush=True)
time.sleep(60)
"#;

#[test]
fn server_killed_mid_response_gives_unexpected_eof_and_a_half_transaction() {
    let test = "server_killed_mid_response_gives_unexpected_eof_and_a_half_transaction";
    if !can_run_with(test, &["python3"]) {
        return;
    }
    let lab = Lab::new();
    let mut server = Command::new("ip")
        .args(["netns", "exec", &lab.server, "python3", "-c"])
        .arg(HALF_RESPONSE_SERVER)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(server.stdout.take().unwrap());
    let server = Reap(server);
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "server did not start: {line:?}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cap = lab.capture(&data, &[]);
    // The client keeps its side open until the server's side ends.
    let _client = lab.spawn(
        &lab.client,
        &format!(
            "printf 'GET /a HTTP/1.1\\r\\nHost: s\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n' \
             | timeout --foreground 20 nc {SERVER_IP} 8080"
        ),
        Stdio::null(),
    );
    line.clear();
    said.read_line(&mut line).unwrap();
    let pid = line
        .strip_prefix("sent ")
        .unwrap_or_else(|| panic!("{line:?}"));
    // Let the partial body reach the client, then kill the server mid-body: its kernel
    // closes the connection with a FIN.
    std::thread::sleep(Duration::from_millis(200));
    sh(&format!("kill -KILL {}", pid.trim()));
    drop(server);
    // Due when the closed connection leaves the table (close linger 0.5 s).
    let due = Instant::now() + Duration::from_millis(500);
    let eof = cap.expect(r#"http and error.msg == "unexpected EOF""#, due);
    assert_eq!(field(&eof, "error_type"), "dissection");
    assert_eq!(
        field(&eof, "error_reason"),
        "the server's stream ended inside a response, 99000 bytes short of its \
         Content-Length: connection closed by the server"
    );
    assert_eq!(field(&eof, "request_path"), "/a");
    assert_eq!(field(&eof, "response_status"), 200);
    assert_eq!(field(&eof, "src_ip"), CLIENT_IP);
    let half = cap.expect(r#"http and error.type == "pair-not-found""#, due);
    assert_eq!(field(&half, "error_msg"), "request without response");
    assert_eq!(
        field(&half, "error_reason"),
        "connection closed by the server"
    );
    assert_eq!(field(&half, "request_path"), "/b");
}

/// A running `faultline serve --interface`, killed on drop if still running.
struct Serve {
    child: Option<Child>,
    /// Kept open until the end: the server may still print (a closed pipe would kill it).
    _stdout: BufReader<std::process::ChildStdout>,
    /// Base URL, reachable from the namespace the server runs in.
    url: String,
    ns: String,
}

impl Serve {
    /// Starts `faultline serve` in the client namespace, capturing on the client interface.
    fn start(lab: &Lab, data: &Path) -> Serve {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.client, BIN, "serve", "--listen"])
            .args(["127.0.0.1:0", "--close-linger", "0.5", "--interface"])
            .arg(&lab.client_if)
            .arg("--data")
            .arg(data)
            .env_remove("FAULTLINE_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let url = support::next_url(&mut stdout)
            .trim_end_matches('/')
            .to_owned();
        Serve {
            child: Some(child),
            _stdout: stdout,
            url,
            ns: lab.client.clone(),
        }
    }

    /// `GET /api/entries?q=<kfl>` as NDJSON lines, from inside the namespace.
    fn entries(&self, kfl: &str) -> Vec<serde_json::Value> {
        let out = run(Command::new("ip").args([
            "netns",
            "exec",
            &self.ns,
            "curl",
            "-sSf",
            "--get",
            "--data-urlencode",
            &format!("q={kfl}"),
            "--data-urlencode",
            "format=ndjson",
            &format!("{}/api/entries", self.url),
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// SIGTERM; the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        sh(&format!("kill -TERM {}", child.id()));
        child.wait().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn serve_interface_answers_the_api_with_live_entries() {
    if !can_run_with(
        "serve_interface_answers_the_api_with_live_entries",
        &["curl"],
    ) {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&lab, &dir.path().join("data"));
    let due = Instant::now();
    lab.exec(&lab.client, &format!("nc -z -w1 {SERVER_IP} 81"));
    let kfl = r#"error.msg == "SynSent" and dst.port == 81"#;
    let rows = loop {
        let rows = serve.entries(kfl);
        if !rows.is_empty() || Instant::now() > due + WITHIN {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        Instant::now() <= due + WITHIN,
        "`{kfl}` only after {:?}",
        Instant::now() - due
    );
    let row = rows
        .first()
        .unwrap_or_else(|| panic!("no `{kfl}` entry via the API"));
    assert_eq!(
        field(row, "error_reason"),
        "connection refused: RST from responder after 1 SYN"
    );
    assert_eq!(field(row, "capture_source"), lab.client_if.as_str());
    let status = serve.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigint_ends_open_flows_as_capture_ended_and_exits_0() {
    if !can_run("sigint_ends_open_flows_as_capture_ended_and_exits_0") {
        return;
    }
    let lab = Lab::new();
    let _server = lab.spawn(
        &lab.server,
        "timeout --foreground 20 nc -l 8080",
        Stdio::null(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cap = lab.capture(&data, &[]);
    // A request the server never answers, on a connection still open when the capture stops.
    let _client = lab.spawn(
        &lab.client,
        &format!(
            "(printf 'GET /open HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n'; sleep 20) \
             | timeout --foreground 20 nc {SERVER_IP} 8080"
        ),
        Stdio::null(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (status, stderr) = cap.stop_with("INT");
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("captured "), "{stderr}");
    let out = run(Command::new(BIN)
        .args([
            "query",
            r#"http and request.path == "/open""#,
            "--format",
            "json",
            "--data",
        ])
        .arg(&data));
    let text = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value = serde_json::from_str(
        text.lines()
            .next()
            .unwrap_or_else(|| panic!("no entry: {stderr}")),
    )
    .unwrap();
    assert_eq!(field(&row, "error_msg"), "request without response");
    assert_eq!(
        field(&row, "error_reason"),
        "capture ended while the flow was open"
    );
    let flows = sql(&data, "select end_reason from flows where resp_port = 8080");
    assert!(flows.contains("end-of-input"), "{flows}");
}

#[test]
fn missing_interface_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["capture", "--interface", "fl-nope0", "--data"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no network interface `fl-nope0` (interfaces here: "),
        "{stderr}"
    );
}

#[test]
fn missing_cap_net_raw_is_a_clear_error() {
    if !can_run_with("missing_cap_net_raw_is_a_clear_error", &["setpriv"]) {
        return;
    }
    // Root without CAP_NET_RAW (dropped from the bounding set): opening `lo` must fail.
    let dir = tempfile::tempdir().unwrap();
    for backend in ["pcap", "pnet"] {
        let out = Command::new("setpriv")
            .args(["--bounding-set", "-net_raw", BIN, "capture", "--interface"])
            .args(["lo", "--backend", backend, "--data"])
            .arg(dir.path().join(backend))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{backend}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not permitted to capture on `lo`") && stderr.contains("CAP_NET_RAW"),
            "{backend}: {stderr}"
        );
    }
}

/// Pauses the capture (SIGSTOP), floods pings through the client interface so the kernel
/// buffer overflows, resumes it and expects a `capture-drop` entry with the count.
fn forced_capture_drop(backend: &str, buffer: &str) {
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cap = lab.capture(&data, &["--backend", backend, "--buffer-mib", "1"]);
    cap.signal("STOP");
    let flood = lab.exec(
        &lab.client,
        &format!("ping -f -q -c 5000 -s 1000 -W1 {SERVER_IP}"),
    );
    cap.signal("CONT");
    assert!(flood.status.success(), "{flood:?}");
    // Due at the next reading of the counters (every second).
    let due = Instant::now() + Duration::from_secs(1);
    let row = cap.expect(
        r#"loss and error.msg == "capture-drop" and loss.capture_drops > 0"#,
        due,
    );
    assert_eq!(field(&row, "error_type"), "loss");
    assert_eq!(field(&row, "capture_source"), lab.client_if.as_str());
    let interval = field(&row, "capture_interval_us").as_i64().unwrap();
    assert!(interval > 0, "{row}");
    let reason = field(&row, "error_reason").as_str().unwrap();
    assert!(
        reason.starts_with("kernel: ") && reason.contains(buffer),
        "{reason}"
    );
    let (status, stderr) = cap.stop();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("dropped: 0 by the kernel"), "{stderr}");
}

#[test]
fn forced_capture_drop_is_counted_pcap() {
    if !can_run("forced_capture_drop_is_counted_pcap") {
        return;
    }
    forced_capture_drop("pcap", "TPACKET_V3 ring overrun");
}

#[test]
fn forced_capture_drop_is_counted_pnet() {
    if !can_run("forced_capture_drop_is_counted_pnet") {
        return;
    }
    forced_capture_drop("pnet", "receive buffer full");
}
