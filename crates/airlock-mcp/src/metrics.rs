//! Prometheus metrics of the gateway (`airlock serve --metrics ADDR`), in the text exposition
//! format: what the lifecycle decided, how calls ended, how long deciding and the upstream
//! took, sessions open.
//!
//! Labels are bounded: tool names only for tools the server listed (others count as
//! `(unlisted)`: a caller cannot grow the series by inventing names), refusal codes and
//! outcomes from closed sets.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tool: String,
    outcome: &'static str,
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    refusals: Family<CodeLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
    decision_seconds: Histogram,
    upstream_seconds: Histogram,
    sessions: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        let refusals = Family::<CodeLabels, Counter>::default();
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        // 10 µs to ~80 s in 24 doublings: deciding takes microseconds, a tool seconds.
        let decision_seconds = Histogram::new(exponential_buckets(1e-5, 2.0, 24));
        let upstream_seconds = Histogram::new(exponential_buckets(1e-5, 2.0, 24));
        let sessions = Gauge::default();
        let mut registry = Registry::with_prefix("airlock");
        registry.register(
            "calls",
            "Tool calls by tool and decision (allowed, refused, honeypot)",
            calls.clone(),
        );
        registry.register("refusals", "Refused tool calls by code", refusals.clone());
        registry.register(
            "call_outcomes",
            "How allowed tool calls ended, by tool (succeeded, tool_error, rpc_error, timed_out, unreachable, unknown)",
            outcomes.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time to decide on a tool call",
            decision_seconds.clone(),
        );
        registry.register(
            "upstream_seconds",
            "Time from forwarding an allowed tool call to its answer",
            upstream_seconds.clone(),
        );
        registry.register("sessions_open", "MCP sessions open", sessions.clone());
        Metrics {
            registry: Mutex::new(registry),
            calls,
            refusals,
            outcomes,
            decision_seconds,
            upstream_seconds,
            sessions,
        }
    }

    /// A decision on a call of `tool` (`None`: a tool the server did not list).
    pub fn decided(
        &self,
        tool: Option<&str>,
        decision: &'static str,
        code: Option<&'static str>,
        took: Duration,
    ) {
        self.calls
            .get_or_create(&CallLabels {
                tool: tool.unwrap_or("(unlisted)").to_owned(),
                decision,
            })
            .inc();
        if let Some(code) = code {
            self.refusals.get_or_create(&CodeLabels { code }).inc();
        }
        self.decision_seconds.observe(took.as_secs_f64());
    }

    /// How an allowed call of `tool` ended, `took` after it was forwarded.
    pub fn ended(&self, tool: &str, outcome: &'static str, took: Option<Duration>) {
        self.outcomes
            .get_or_create(&OutcomeLabels {
                tool: tool.to_owned(),
                outcome,
            })
            .inc();
        if let Some(t) = took {
            self.upstream_seconds.observe(t.as_secs_f64());
        }
    }

    /// The text exposition, with `sessions` open now.
    pub fn render(&self, sessions: usize) -> String {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
