//! The stdio proxy's message router and framing without processes or pipes, for fuzz targets
//! and tests: lines go in from either side, and what the router passes on comes out. Not a
//! stable interface.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::{CallerContext, Engine};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::framing::{Line, Queue, read_line};
use crate::protocol::SessionVersion;
use crate::stdio::{Conn, State, StdioProxy};

/// A stdio proxy's router between a client and a server that exist only as lines.
pub struct Router {
    proxy: StdioProxy,
    conn: Arc<Conn>,
    to_client: UnboundedReceiver<Vec<u8>>,
    to_server: UnboundedReceiver<Vec<u8>>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

impl Router {
    /// A router deciding with `engine` (give it the server's tools: a call for a tool it does
    /// not know waits for a tool list nobody sends, and is refused).
    pub fn new(engine: Arc<Engine>) -> std::io::Result<Router> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (to_client, client_rx) = Queue::new();
        let (to_server, server_rx) = Queue::new();
        let conn = Arc::new(Conn {
            state: Mutex::new(State::default()),
            version: SessionVersion::default(),
            fetch: tokio::sync::Mutex::new(()),
            to_client,
            to_server,
            asking: Arc::default(),
        });
        Ok(Router {
            proxy: StdioProxy::new(engine, CallerContext::default().agent("fuzz"))
                .list_timeout(Duration::ZERO),
            conn,
            to_client: client_rx,
            to_server: server_rx,
            runtime,
        })
    }

    /// One line from the client (with or without its newline).
    pub fn client_line(&mut self, line: &[u8]) {
        let (proxy, conn) = (&self.proxy, &self.conn);
        self.runtime
            .block_on(async { proxy.on_client_line(line.to_vec(), conn).await });
    }

    /// One line from the server.
    pub fn server_line(&mut self, line: &[u8]) {
        self.proxy.on_server_line(line.to_vec(), &self.conn);
    }

    /// Let waiting work (a call handed to a task of its own) run.
    pub fn settle(&mut self) {
        self.runtime
            .block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
    }

    /// What went to the client since the last look.
    pub fn to_client(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.to_client.try_recv().ok()).collect()
    }

    /// What went to the server since the last look.
    pub fn to_server(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.to_server.try_recv().ok()).collect()
    }
}

/// The lines of `input` as the stdio framing reads them, at most `max` bytes each: each line's
/// bytes (`None` for one over the limit).
pub fn frame(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, max).await {
                Ok(Line::Ok(l)) => out.push(Some(l)),
                Ok(Line::TooLong) => out.push(None),
                Ok(Line::Eof) | Err(_) => return out,
            }
        }
    })
}
