//! Circuit breakers: stop calling a server (or one of its tools) that keeps failing, and give
//! it a rest instead of piling more calls onto it.
//!
//! ```text
//!            N consecutive failures                open_for has passed: one probe call
//!  closed ───────────────────────────► open ──────────────────────────────────────► half_open
//!    ▲                                  ▲                                               │
//!    │ the probe succeeded              └──────────── the probe failed ─────────────────┤
//!    └──────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! While open, and while a probe is out, calls are refused at once (`breaker.open`, with when
//! to retry). A probe whose outcome never comes (a later check refused it, the client went
//! away) is given up after `open_for`, and the next call probes again. Failures are what the
//! doors report through [`crate::Engine::record_outcome`]: timeouts, the server exiting or
//! unreachable, JSON-RPC errors, and with `tool_errors` results marked `isError`.
//!
//! Not covered: state is per engine (per process); sharing it between instances is a later
//! step (see the README).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::audit::{AuditNote, AuditSink};

/// How an allowed call ended, as a door reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallOutcome {
    /// A complete result not marked as an error.
    Succeeded,
    /// A result marked `isError`: the tool ran and reported a failure.
    ToolError,
    /// A JSON-RPC error answer.
    RpcError,
    /// No answer within the call's deadline.
    TimedOut,
    /// The server went away or could not be reached (it exited, a transport error, HTTP 5xx).
    Unreachable,
    /// Not finished (`input_required`, a task) or not read: counts neither way.
    Unknown,
}

impl CallOutcome {
    /// Whether a breaker counts it as a failure (`tool_errors`: results marked `isError` too);
    /// `None` when it counts neither way.
    pub fn failed(self, tool_errors: bool) -> Option<bool> {
        match self {
            CallOutcome::Succeeded => Some(false),
            CallOutcome::ToolError => Some(tool_errors),
            CallOutcome::RpcError | CallOutcome::TimedOut | CallOutcome::Unreachable => Some(true),
            CallOutcome::Unknown => None,
        }
    }
}

/// A compiled breaker setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerRule {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// How long it stays open.
    pub open_for: Duration,
    /// Results marked `isError` count as failures.
    pub tool_errors: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Timestamp },
    HalfOpen { probe_since: Timestamp },
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

/// The number a metric shows for a breaker's state (`closed`, `half_open`, `open`): 0 closed,
/// 1 half open (one probe let through), 2 open; none for a state it does not know (a store
/// answering something else is not shown as closed).
pub fn gauge(state: &str) -> Option<i64> {
    match state {
        "open" => Some(2),
        "half_open" => Some(1),
        "closed" => Some(0),
        _ => None,
    }
}

/// A breaker changed state: what the audit log and the operator's log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Which breaker: `server`, or `tool:NAME`.
    pub breaker: String,
    /// The state it left.
    pub from: &'static str,
    /// The state it entered.
    pub to: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// Where breaker state lives: [`MemoryBreakerStore`] in this process, or a shared store
/// (`airlock_redis::RedisBreakerStore`) so that several airlock instances in front of one server
/// open and close its breakers together.
pub trait BreakerStore: Send + Sync + std::fmt::Debug {
    /// May a call pass breaker `key` at `now`? `Err(retry_after)` while it is open or its probe
    /// is out; a call after the open period is the probe (a transition to `half_open`).
    #[allow(clippy::type_complexity)]
    fn admit(
        &self,
        key: &str,
        rule: &BreakerRule,
        now: Timestamp,
    ) -> Result<(Result<(), Duration>, Option<Transition>), BreakerStoreError>;

    /// Count one call's end against breaker `key` (`failed` as [`CallOutcome::failed`] says).
    fn outcome(
        &self,
        key: &str,
        rule: &BreakerRule,
        failed: bool,
        now: Timestamp,
    ) -> Result<Option<Transition>, BreakerStoreError>;

    /// The state of breaker `key`: `closed`, `open` or `half_open`.
    fn state(&self, key: &str) -> Result<&'static str, BreakerStoreError>;

    /// Whether a call may wait on the outside world (a shared store).
    fn may_block(&self) -> bool {
        false
    }
}

/// A shared breaker store failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerStoreError(pub String);

impl std::fmt::Display for BreakerStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BreakerStoreError {}

/// Why a breaker changed state, in words (the same whichever store keeps it).
pub fn reason(from: &str, to: &str, rule: &BreakerRule, outcome: Option<CallOutcome>) -> String {
    let outcome = outcome
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "a failure".to_owned());
    match (from, to) {
        ("half_open", "open") => format!("the probe call failed ({outcome})"),
        (_, "open") => format!(
            "{} consecutive failures, the last: {outcome}",
            rule.failures
        ),
        ("open", "half_open") => {
            format!("open for {:?}: one probe call let through", rule.open_for)
        }
        (_, "closed") => "the probe call succeeded".to_owned(),
        _ => format!("{from} to {to}"),
    }
}

/// The change of state when a call after the open period is let through as the probe: from
/// `open` to `half_open`; none from `half_open` (a lost probe given up is no change of state).
pub fn probe_let_through(key: &str, from: &'static str, rule: &BreakerRule) -> Option<Transition> {
    (from == "open").then(|| Transition {
        breaker: key.to_owned(),
        from,
        to: "half_open",
        reason: reason(from, "half_open", rule, None),
    })
}

/// Breaker state in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryBreakerStore {
    states: Mutex<HashMap<String, State>>,
}

impl MemoryBreakerStore {
    /// All breakers closed.
    pub fn new() -> Self {
        MemoryBreakerStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BreakerStore for MemoryBreakerStore {
    fn admit(
        &self,
        key: &str,
        rule: &BreakerRule,
        now: Timestamp,
    ) -> Result<(Result<(), Duration>, Option<Transition>), BreakerStoreError> {
        let mut states = self.lock();
        let Some(state) = states.get_mut(key) else {
            return Ok((Ok(()), None));
        };
        Ok(match *state {
            State::Closed { .. } => (Ok(()), None),
            State::Open { until: t } if now < t => (Err(until(now, t)), None),
            State::HalfOpen { probe_since } if now < after(probe_since, rule.open_for) => {
                (Err(until(now, after(probe_since, rule.open_for))), None)
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                let from = state.name();
                *state = State::HalfOpen { probe_since: now };
                (Ok(()), probe_let_through(key, from, rule))
            }
        })
    }

    fn outcome(
        &self,
        key: &str,
        rule: &BreakerRule,
        failed: bool,
        now: Timestamp,
    ) -> Result<Option<Transition>, BreakerStoreError> {
        let mut states = self.lock();
        let state = states
            .entry(key.to_owned())
            .or_insert(State::Closed { failures: 0 });
        let from = *state;
        let next = match (from, failed) {
            (State::Closed { .. }, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 >= rule.failures => State::Open {
                until: after(now, rule.open_for),
            },
            (State::Closed { failures }, true) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { .. }, false) => State::Closed { failures: 0 },
            (State::HalfOpen { .. }, true) => State::Open {
                until: after(now, rule.open_for),
            },
            // Calls admitted before it opened: their outcomes change nothing.
            (State::Open { .. }, _) => from,
        };
        *state = next;
        Ok((from.name() != next.name()).then(|| Transition {
            breaker: key.to_owned(),
            from: from.name(),
            to: next.name(),
            reason: String::new(),
        }))
    }

    fn state(&self, key: &str) -> Result<&'static str, BreakerStoreError> {
        Ok(self.lock().get(key).map_or("closed", |s| s.name()))
    }
}

/// Every breaker of one engine, by key (`server`, `tool:NAME`), in its store. Changes of state
/// are written to the audit log (a `breaker` note) and logged at warn.
pub struct Breakers {
    store: Arc<dyn BreakerStore>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl Default for Breakers {
    fn default() -> Self {
        Breakers {
            store: Arc::new(MemoryBreakerStore::new()),
            audit: None,
        }
    }
}

impl std::fmt::Debug for Breakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakers")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

fn until(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

impl Breakers {
    /// An engine's breakers, all closed, in memory.
    pub fn new() -> Self {
        Breakers::default()
    }

    /// Breakers kept in `store`, whose changes of state are written to `audit`.
    pub fn with(store: Arc<dyn BreakerStore>, audit: Option<Arc<dyn AuditSink>>) -> Self {
        Breakers { store, audit }
    }

    /// Whether a decision may wait on a shared store.
    pub fn may_block(&self) -> bool {
        self.store.may_block()
    }

    /// Record a change of state: a `breaker` note in the audit log, a log line at warn.
    pub fn report(&self, t: &Transition, now: Timestamp) {
        tracing::warn!(
            breaker = %t.breaker,
            from = t.from,
            to = t.to,
            "circuit breaker: {}",
            t.reason
        );
        let Some(sink) = &self.audit else { return };
        let fields = match serde_json::to_value(t) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let note = AuditNote {
            ts: now,
            event: "breaker",
            fields,
        };
        if let Err(e) = sink.note(&note) {
            tracing::error!("a circuit breaker's change of state could not be recorded: {e}");
        }
    }

    /// May a call pass breaker `key` at `now`? See [`BreakerStore::admit`].
    #[allow(clippy::type_complexity)]
    pub fn admit(
        &self,
        key: &str,
        rule: &BreakerRule,
        now: Timestamp,
    ) -> Result<(Result<(), Duration>, Option<Transition>), BreakerStoreError> {
        self.store.admit(key, rule, now)
    }

    /// Count one call's outcome against breaker `key`; a change of state is reported here.
    pub fn outcome(
        &self,
        key: &str,
        rule: &BreakerRule,
        outcome: CallOutcome,
        now: Timestamp,
    ) -> Option<Transition> {
        let failed = outcome.failed(rule.tool_errors)?;
        match self.store.outcome(key, rule, failed, now) {
            Ok(Some(mut t)) => {
                t.reason = reason(t.from, t.to, rule, Some(outcome));
                self.report(&t, now);
                Some(t)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(breaker = %key, "a call's outcome could not be counted: {e}");
                None
            }
        }
    }

    /// The state of breaker `key` (`closed` when it never saw a call, or the store fails).
    pub fn state(&self, key: &str) -> &'static str {
        self.try_state(key).unwrap_or("closed")
    }

    /// The state of breaker `key`, or the store's error (for a metric, which must not report
    /// a breaker it cannot read as closed).
    pub fn try_state(&self, key: &str) -> Result<&'static str, BreakerStoreError> {
        self.store.state(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_the_gauge_does_not_know_has_no_number() {
        assert_eq!(gauge("opening"), None);
        assert_eq!(gauge(""), None);
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn opens_after_consecutive_failures_probes_once_and_closes() {
        let b = Breakers::new();
        let rule = BreakerRule {
            failures: 2,
            open_for: Duration::from_secs(30),
            tool_errors: false,
        };
        let k = "tool:x";
        assert!(b.admit(k, &rule, at(0)).unwrap().0.is_ok());
        assert_eq!(b.outcome(k, &rule, CallOutcome::TimedOut, at(0)), None);
        // A success in between resets the count.
        assert_eq!(b.outcome(k, &rule, CallOutcome::Succeeded, at(1)), None);
        assert_eq!(b.outcome(k, &rule, CallOutcome::RpcError, at(2)), None);
        // Not counted either way: unfinished results; isError without tool_errors.
        assert_eq!(b.outcome(k, &rule, CallOutcome::Unknown, at(2)), None);
        let t = b
            .outcome(k, &rule, CallOutcome::Unreachable, at(3))
            .unwrap();
        assert_eq!((t.from, t.to), ("closed", "open"));
        assert!(t.reason.contains("2 consecutive failures"), "{}", t.reason);
        assert_eq!(
            b.admit(k, &rule, at(13)).unwrap().0,
            Err(Duration::from_secs(20))
        );
        // After the open period: one probe, the next call waits for it.
        let (ok, t) = b.admit(k, &rule, at(33)).unwrap();
        assert!(ok.is_ok());
        assert_eq!(t.unwrap().to, "half_open");
        assert!(b.admit(k, &rule, at(34)).unwrap().0.is_err());
        // The probe fails: open again.
        let t = b.outcome(k, &rule, CallOutcome::TimedOut, at(35)).unwrap();
        assert_eq!((t.from, t.to), ("half_open", "open"));
        assert!(b.admit(k, &rule, at(36)).unwrap().0.is_err());
        // The next probe succeeds: closed.
        assert!(b.admit(k, &rule, at(66)).unwrap().0.is_ok());
        let t = b.outcome(k, &rule, CallOutcome::Succeeded, at(67)).unwrap();
        assert_eq!((t.from, t.to), ("half_open", "closed"));
        assert_eq!(b.state(k), "closed");
        assert!(b.admit(k, &rule, at(67)).unwrap().0.is_ok());
    }

    #[test]
    fn a_lost_probe_is_given_up_and_tool_errors_count_when_asked() {
        let b = Breakers::new();
        let rule = BreakerRule {
            failures: 1,
            open_for: Duration::from_secs(10),
            tool_errors: true,
        };
        assert!(
            b.outcome("server", &rule, CallOutcome::ToolError, at(0))
                .is_some()
        );
        assert!(b.admit("server", &rule, at(10)).unwrap().0.is_ok());
        // The probe's outcome never comes: after another open period, another probe.
        assert!(b.admit("server", &rule, at(15)).unwrap().0.is_err());
        let (ok, t) = b.admit("server", &rule, at(20)).unwrap();
        assert!(ok.is_ok());
        assert_eq!(t, None, "half_open to half_open is no change of state");
        // Outcomes of calls admitted before it opened change nothing while open.
        let b = Breakers::new();
        b.outcome("server", &rule, CallOutcome::Unreachable, at(0));
        assert_eq!(
            b.outcome("server", &rule, CallOutcome::Succeeded, at(1)),
            None
        );
        assert_eq!(b.state("server"), "open");
    }

    #[derive(Debug)]
    struct Down;

    impl BreakerStore for Down {
        #[allow(clippy::type_complexity)]
        fn admit(
            &self,
            _: &str,
            _: &BreakerRule,
            _: Timestamp,
        ) -> Result<(Result<(), Duration>, Option<Transition>), BreakerStoreError> {
            Err(BreakerStoreError("down".into()))
        }

        fn outcome(
            &self,
            _: &str,
            _: &BreakerRule,
            _: bool,
            _: Timestamp,
        ) -> Result<Option<Transition>, BreakerStoreError> {
            Err(BreakerStoreError("down".into()))
        }

        fn state(&self, _: &str) -> Result<&'static str, BreakerStoreError> {
            Err(BreakerStoreError("down".into()))
        }
    }

    #[test]
    fn a_store_that_cannot_be_read_is_no_state_for_metrics_and_gauges_number_states() {
        let b = Breakers::with(Arc::new(Down), None);
        assert_eq!(b.try_state("server"), Err(BreakerStoreError("down".into())));
        assert_eq!(Breakers::new().try_state("server"), Ok("closed"));
        let gauges = ["closed", "half_open", "open"].map(gauge);
        assert_eq!(gauges, [0, 1, 2].map(Some));
    }
}
