//! Session state: what a session has done so far, for the `session_limits` check.
//!
//! A session is the caller's session id (else its agent id, else `anonymous`), within its
//! tenant. The engine records every decision (attempts, refusals) and, when a transport or
//! library reports it, every tool that succeeded ([`crate::Engine::record_outcome`]). State
//! lives in memory, per engine; sessions idle for a day are pruned once many are kept.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use jiff::Timestamp;

use crate::call::CallerContext;

/// What one session has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionState {
    /// Calls decided (allowed or refused).
    pub attempts: u64,
    /// Calls refused.
    pub refused: u64,
    /// Calls admitted by `session_limits` (charged against budgets).
    pub calls: u64,
    /// Per tool: calls charged and the time of the last one (nanoseconds since the epoch).
    pub per_tool: HashMap<String, (u64, i128)>,
    /// Tools that succeeded (reported after execution).
    pub succeeded: HashSet<String>,
    /// Tools a person approved for the rest of the session (`approval`).
    pub approved: HashSet<String>,
    /// Cut off for too many refusals: every further call is refused.
    pub cut_off: bool,
    last_seen: i128,
}

/// The session key of a caller.
pub fn session_key(caller: &CallerContext) -> String {
    // Length-prefixed parts: no tenant or id can be crafted to collide with another.
    let tenant = caller.tenant.as_deref().unwrap_or("");
    let (kind, id) = match (&caller.session, &caller.agent) {
        (Some(s), _) => ("s", s.as_str()),
        (None, Some(a)) => ("a", a.as_str()),
        (None, None) => ("anonymous", ""),
    };
    format!("{}:{tenant}|{kind}{}:{id}", tenant.len(), id.len())
}

/// Sessions kept before idle ones are pruned.
const PRUNE_AT: usize = 10_000;
/// Idle time after which a session may be pruned.
const IDLE_NANOS: i128 = 86_400 * 1_000_000_000;

/// In-memory session state. Keys hold caller-chosen ids, so the map uses std's keyed hasher.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, SessionState>>,
    next_prune: std::sync::atomic::AtomicUsize,
}

impl Sessions {
    /// No sessions yet.
    pub fn new() -> Self {
        Sessions::default()
    }

    /// Run `f` on the session's state (created when new).
    pub fn with<R>(&self, key: &str, now: Timestamp, f: impl FnOnce(&mut SessionState) -> R) -> R {
        let now = now.as_nanosecond();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let threshold = self
            .next_prune
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(PRUNE_AT);
        if map.len() >= threshold && !map.contains_key(key) {
            map.retain(|_, s| now - s.last_seen < IDLE_NANOS);
            // Prune again only after the map has doubled: never a rescan per insert.
            self.next_prune.store(
                map.len().saturating_mul(2).max(PRUNE_AT),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let state = map.entry(key.to_owned()).or_default();
        state.last_seen = now;
        f(state)
    }

    /// Forget a session (it ended).
    pub fn remove(&self, key: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Look at the session's state without copying it (`None`: no such session).
    pub fn read<R>(&self, key: &str, f: impl FnOnce(&SessionState) -> R) -> Option<R> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map(f)
    }

    /// A copy of the session's state, if it exists.
    pub fn get(&self, key: &str) -> Option<SessionState> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}
