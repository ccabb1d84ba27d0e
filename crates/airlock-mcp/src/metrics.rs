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
use prometheus_client::metrics::histogram::Histogram;
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
struct TypeLabels {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    breaker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpendLabels {
    budget: String,
    measure: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tool: String,
    outcome: &'static str,
}

/// Latency histogram buckets in seconds, of the Prometheus page and of OpenTelemetry: 10 µs to
/// ~80 s in 24 doublings (deciding takes microseconds, a tool seconds).
pub(crate) const LATENCY_BUCKETS: [f64; 24] = {
    let mut buckets = [0.0; 24];
    let (mut i, mut bound) = (0, 1e-5);
    while i < buckets.len() {
        buckets[i] = bound;
        bound *= 2.0;
        i += 1;
    }
    buckets
};

/// The gateway's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    refusals: Family<CodeLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
    decision_seconds: Histogram,
    upstream_seconds: Histogram,
    sessions: Gauge,
    masked: Family<TypeLabels, Counter>,
    breakers: Family<BreakerLabels, Gauge>,
    spend: Family<SpendLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
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
        let decision_seconds = Histogram::new(LATENCY_BUCKETS);
        let upstream_seconds = Histogram::new(LATENCY_BUCKETS);
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
        let masked = Family::<TypeLabels, Counter>::default();
        registry.register(
            "masked_values",
            "Values masked in tool results, by type",
            masked.clone(),
        );
        let breakers = Family::<BreakerLabels, Gauge>::default();
        registry.register(
            "breaker_state",
            "Circuit breakers: 0 closed, 1 half open (one probe let through), 2 open",
            breakers.clone(),
        );
        let spend = Family::<SpendLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "budget_spend",
            "What each budget has charged since start, by measure (calls, argument_bytes, result_bytes, tokens, cost)",
            spend.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            calls,
            refusals,
            outcomes,
            decision_seconds,
            upstream_seconds,
            sessions,
            masked,
            breakers,
            spend,
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

    /// The text exposition, with `sessions` open now, and what `engine` counts (masked values,
    /// breaker states, budget spend) read now. Reads a shared breaker store when
    /// [`airlock_core::Engine::may_block`]: then call it off the async runtime. A breaker whose
    /// store cannot be read is left out.
    pub fn render(&self, sessions: usize, engine: &airlock_core::Engine) -> String {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Totals kept by the engine become counters here: each is raised to the total (under
        // the registry's lock, so two scrapes cannot both add the same part).
        for (kind, total) in engine.masked() {
            let c = self.masked.get_or_create(&TypeLabels {
                r#type: kind.to_owned(),
            });
            c.inc_by(total.saturating_sub(c.get()));
        }
        // Gauges, read anew: a breaker whose store cannot be read now has no data point
        // (rather than its last state).
        self.breakers.clear();
        for (key, value) in engine.breaker_gauges() {
            self.breakers
                .get_or_create(&BreakerLabels { breaker: key })
                .set(value);
        }
        for (name, spend) in engine.budget_totals() {
            for (measure, total) in spend.fields() {
                let c = self.spend.get_or_create(&SpendLabels {
                    budget: name.to_owned(),
                    measure,
                });
                let add = total - c.get();
                if add > 0.0 {
                    c.inc_by(add);
                }
            }
        }
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use airlock_core::breaker::{BreakerRule, BreakerStore, BreakerStoreError, Transition};
    use jiff::Timestamp;

    use super::*;

    /// A shared breaker store that is down; it notes the threads that asked it for a state.
    #[derive(Debug, Default)]
    pub(crate) struct Down {
        pub(crate) asked_on: Mutex<Vec<std::thread::ThreadId>>,
    }

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
            self.asked_on
                .lock()
                .unwrap()
                .push(std::thread::current().id());
            Err(BreakerStoreError("down".into()))
        }

        fn may_block(&self) -> bool {
            true
        }
    }

    /// An engine with the server's breaker, kept in `store` (`None`: memory).
    pub(crate) fn engine(store: Option<Arc<dyn BreakerStore>>) -> airlock_core::Engine {
        let config = airlock_core::ConfigBuilder::new()
            .file(
                "t.toml",
                "[upstream.breaker]\nfailures = 3\nopen_for = \"30s\"\n",
            )
            .build()
            .unwrap();
        let mut builder = agent_airlock::engine_builder(config).unwrap();
        if let Some(store) = store {
            builder = builder.breaker_store(store);
        }
        builder.build().unwrap()
    }

    #[test]
    fn a_breaker_whose_store_cannot_be_read_has_no_data_point_rather_than_closed() {
        let metrics = Metrics::new();
        let page = metrics.render(0, &engine(None));
        assert!(
            page.contains("airlock_breaker_state{breaker=\"server\"} 0"),
            "{page}"
        );
        let page = metrics.render(0, &engine(Some(Arc::new(Down::default()))));
        assert!(!page.contains("airlock_breaker_state{"), "{page}");
    }
}
