//! Shared by the API's integration tests: starting a server on a free port, and reading the
//! URL `faultline serve` prints.

use std::io::BufRead;
use std::net::SocketAddr;

use faultline::server::{self, AppState};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Reads the next line of `out` and returns the first `http://` URL in it, as printed.
pub fn next_url(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

/// A server of `state` with `extra` routes on 127.0.0.1 at a free port, until `stop` is sent
/// or dropped.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Ends it.
    pub stop: oneshot::Sender<()>,
    /// The server task, done once it has stopped.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts serving `state` (with `extra` routes) on a free loopback port.
pub async fn serve(state: &AppState, extra: axum::Router<AppState>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = server::app(state.clone(), extra);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app, state.clone(), async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}
