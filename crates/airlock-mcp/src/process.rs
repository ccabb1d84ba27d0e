//! The server process's life: its own process group, stopped with everything it started, and
//! the signals that stop the airlock.
//!
//! Guards against orphans: a server started through `npx` or a shell leaves children behind
//! when only the direct child is killed. Unix only; elsewhere nothing is killed by group.

/// SIGTERM, SIGINT or SIGHUP to the proxy: stop the session (and the server's whole group).
pub(crate) struct Stop {
    pub(crate) fired: bool,
    #[cfg(unix)]
    signals: [Option<tokio::signal::unix::Signal>; 3],
}

impl Stop {
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [
                SignalKind::terminate(),
                SignalKind::interrupt(),
                SignalKind::hangup(),
            ]
            .map(|k| signal(k).ok());
            Stop {
                fired: false,
                signals,
            }
        }
        #[cfg(not(unix))]
        Stop { fired: false }
    }

    pub(crate) async fn signalled(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            let [term, int, hup] = &mut self.signals;
            tokio::select! {
                () = recv(term) => {}
                () = recv(int) => {}
                () = recv(hup) => {}
            }
            self.fired = true;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

/// Completes when the process gets SIGTERM, SIGINT or SIGHUP.
pub async fn stop_signal() {
    Stop::new().signalled().await;
}

/// SIGKILL the server's process group (ignored when it is already gone).
pub(crate) fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group
        .and_then(|g| i32::try_from(g).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = group;
}
