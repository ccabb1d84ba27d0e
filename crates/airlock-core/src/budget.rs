//! Budgets and cost: what a session, an agent or a tenant may spend over a window.
//!
//! Every allowed call is measured: one call, its arguments' bytes, its result's bytes, and
//! tokens of both (counted with the `o200k_base` tokenizer of the `bpe-openai` crate, see
//! [`count_tokens`]), priced per tool (`price_per_call`, `price_per_1k_tokens`). A budget
//! (`[[budgets]]`) caps any of these per session, agent or tenant, over a calendar hour, day or
//! month in the policy's time zone, or for good. What is known before the call runs (the call,
//! its arguments, their tokens, the price per call) is charged by the `budget` check, which
//! refuses a call that would go past a cap (`budget.exhausted`, with when it resets); the
//! result's part is charged when it comes, so a result that pushes past a cap is still
//! delivered and the next call is refused.
//!
//! State lives behind [`BudgetStore`]: [`MemoryBudgetStore`] here, a shared one in Redis
//! (`airlock-redis`), where a charge is one atomic script.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whose spending a budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// Each session (its id; without one, its agent).
    Session,
    /// Each agent, across its sessions.
    Agent,
    /// Each tenant, across its agents.
    Tenant,
}

impl BudgetScope {
    /// The word, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Session => "session",
            BudgetScope::Agent => "agent",
            BudgetScope::Tenant => "tenant",
        }
    }
}

/// The window a budget is counted over, calendar-aligned in the policy's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetWindow {
    /// From the start of each hour.
    Hour,
    /// From midnight.
    Day,
    /// From the first of the month.
    Month,
}

impl BudgetWindow {
    /// The word, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetWindow::Hour => "hour",
            BudgetWindow::Day => "day",
            BudgetWindow::Month => "month",
        }
    }

    /// The window holding `at` in `tz`: its start and its end.
    pub fn around(self, at: Timestamp, tz: &TimeZone) -> (Timestamp, Timestamp) {
        let local = tz.to_datetime(at);
        let date = local.date();
        let (start, end) = match self {
            BudgetWindow::Hour => {
                let start = date.at(local.hour(), 0, 0, 0);
                (start, start.checked_add(1.hour()))
            }
            BudgetWindow::Day => {
                let start = date.at(0, 0, 0, 0);
                (start, start.checked_add(1.day()))
            }
            BudgetWindow::Month => {
                let start = date.first_of_month().at(0, 0, 0, 0);
                (start, start.checked_add(1.month()))
            }
        };
        // A local time the clocks skip or repeat is read the usual way (`compatible`).
        let instant = |dt: jiff::civil::DateTime| {
            tz.to_ambiguous_timestamp(dt)
                .compatible()
                .unwrap_or(Timestamp::MAX)
        };
        let start = instant(start);
        let end = end.map_or(Timestamp::MAX, instant);
        // An hour the clocks skipped maps its start after `at`: the window starts at `at`.
        (start.min(at), end)
    }
}

/// What calls spent, or what a budget allows (`None`: no cap on that measure).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spend {
    /// Calls.
    pub calls: u64,
    /// Bytes of the arguments as forwarded (JSON).
    pub argument_bytes: u64,
    /// Bytes of the results as delivered (JSON).
    pub result_bytes: u64,
    /// Tokens of the arguments and of the results' text.
    pub tokens: u64,
    /// Price, in the unit the prices are written in.
    pub cost: f64,
}

impl Spend {
    /// Whether nothing was spent.
    pub fn is_zero(&self) -> bool {
        *self == Spend::default()
    }

    /// The measures, by name, as stored.
    pub fn fields(&self) -> [(&'static str, f64); 5] {
        [
            ("calls", self.calls as f64),
            ("argument_bytes", self.argument_bytes as f64),
            ("result_bytes", self.result_bytes as f64),
            ("tokens", self.tokens as f64),
            ("cost", self.cost),
        ]
    }
}

/// A budget's caps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Caps {
    /// Most calls.
    pub calls: Option<u64>,
    /// Most argument bytes.
    pub argument_bytes: Option<u64>,
    /// Most result bytes.
    pub result_bytes: Option<u64>,
    /// Most tokens.
    pub tokens: Option<u64>,
    /// Most cost.
    pub cost: Option<f64>,
}

impl Caps {
    /// The caps, by measure name as in [`Spend::fields`].
    pub fn fields(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("calls", self.calls.map(|v| v as f64)),
            ("argument_bytes", self.argument_bytes.map(|v| v as f64)),
            ("result_bytes", self.result_bytes.map(|v| v as f64)),
            ("tokens", self.tokens.map(|v| v as f64)),
            ("cost", self.cost),
        ]
    }

    /// Whether tokens must be counted for these caps, for a tool priced per 1000 tokens or
    /// not (`per_token`): a token cap, or a cost cap where tokens have a price.
    pub fn needs_tokens(&self, per_token: bool) -> bool {
        self.tokens.is_some() || (per_token && self.cost.is_some())
    }
}

/// One compiled `[[budgets]]` entry.
#[derive(Clone, Debug)]
pub struct BudgetRule {
    /// Its name (refusals, logs, the audit record).
    pub name: String,
    /// Whose spending it counts.
    pub per: BudgetScope,
    /// The window; `None`: never resets.
    pub window: Option<BudgetWindow>,
    /// The tools it counts; `None`: all.
    pub tools: Option<globset::GlobSet>,
    /// The tool patterns, as written.
    pub patterns: Vec<String>,
    /// The caps.
    pub caps: Caps,
    /// Everything charged under it since start (all callers, all windows), for metrics.
    pub spent: Arc<SpendTotals>,
}

/// What a budget has charged since start, summed over its callers and windows: kept in memory
/// for metrics (the store holds the counters that decide).
#[derive(Debug, Default)]
pub struct SpendTotals {
    calls: AtomicU64,
    argument_bytes: AtomicU64,
    result_bytes: AtomicU64,
    tokens: AtomicU64,
    /// `f64` bits.
    cost: AtomicU64,
}

impl SpendTotals {
    /// Add one charge.
    pub fn add(&self, spend: &Spend) {
        self.calls.fetch_add(spend.calls, Ordering::Relaxed);
        self.argument_bytes
            .fetch_add(spend.argument_bytes, Ordering::Relaxed);
        self.result_bytes
            .fetch_add(spend.result_bytes, Ordering::Relaxed);
        self.tokens.fetch_add(spend.tokens, Ordering::Relaxed);
        if spend.cost != 0.0 {
            let _ = self
                .cost
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + spend.cost).to_bits())
                });
        }
    }

    /// The sums so far.
    pub fn get(&self) -> Spend {
        Spend {
            calls: self.calls.load(Ordering::Relaxed),
            argument_bytes: self.argument_bytes.load(Ordering::Relaxed),
            result_bytes: self.result_bytes.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            cost: f64::from_bits(self.cost.load(Ordering::Relaxed)),
        }
    }
}

impl BudgetRule {
    /// Whether it counts calls of `tool`.
    pub fn covers(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|g| g.is_match(tool))
    }

    /// What it allows, in words: `3 calls, 10000 tokens per session per day`.
    pub fn describe(&self) -> String {
        let caps: Vec<String> = self
            .caps
            .fields()
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{v} {}", k.replace('_', " "))))
            .collect();
        let window = self
            .window
            .map(|w| format!(" per {}", w.as_str()))
            .unwrap_or_default();
        let tools = if self.patterns.is_empty() {
            String::new()
        } else {
            format!(" of {}", self.patterns.join(", "))
        };
        format!(
            "{}{tools} per {}{window}",
            caps.join(", "),
            self.per.as_str()
        )
    }
}

/// How long a counter with no window is kept after its last charge, when it counts a session:
/// a session idle this long is over (the engine's session state is pruned after a day too), and
/// a gateway with many short sessions must not keep their counters for ever.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(86_400);

/// When counter of `rule` may be forgotten, charged at `now` in `window`: the window's end;
/// without a window, a day after the last charge for a session's counter, never otherwise.
pub fn expiry(
    rule: &BudgetRule,
    now: Timestamp,
    window: Option<(Timestamp, Timestamp)>,
) -> Option<Timestamp> {
    match (window, rule.per) {
        (Some((_, end)), _) => Some(end),
        (None, BudgetScope::Session) => now
            .checked_add(jiff::SignedDuration::from_secs(
                SESSION_IDLE.as_secs() as i64
            ))
            .ok(),
        (None, _) => None,
    }
}

/// The key of `rule`'s counter for one caller and window (length-prefixed parts: no caller id
/// can be crafted to collide with another's).
pub fn budget_key(
    rule: &BudgetRule,
    caller: &crate::call::CallerContext,
    window_start: Option<Timestamp>,
) -> String {
    let tenant = caller.tenant.as_deref().unwrap_or("");
    let id = match rule.per {
        BudgetScope::Session => crate::sessions::session_key(caller),
        BudgetScope::Agent => {
            let agent = caller.agent.as_deref().unwrap_or("");
            format!("{}:{tenant}|{}:{agent}", tenant.len(), agent.len())
        }
        BudgetScope::Tenant => format!("{}:{tenant}", tenant.len()),
    };
    let window = window_start.map_or(0, |t| t.as_second());
    format!(
        "budget:{}:{}|{}|{id}|{window}",
        rule.name.len(),
        rule.name,
        rule.per.as_str()
    )
}

/// The budget store failed (a shared store unreachable): the call is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetStoreError(pub String);

impl fmt::Display for BudgetStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BudgetStoreError {}

/// Where budget counters live.
pub trait BudgetStore: Send + Sync + fmt::Debug {
    /// Add `spend` to counter `key` unless that would take any measure past `caps`; then
    /// nothing is added and the measure is named. The counter may be forgotten after
    /// `expires`. One atomic step.
    fn try_charge(
        &self,
        key: &str,
        spend: &Spend,
        caps: &Caps,
        expires: Option<Timestamp>,
    ) -> Result<Option<&'static str>, BudgetStoreError>;

    /// Add `spend` to counter `key` whatever the caps (a result's part, after the call).
    fn charge(
        &self,
        key: &str,
        spend: &Spend,
        expires: Option<Timestamp>,
    ) -> Result<(), BudgetStoreError>;

    /// Take back a charge made by [`BudgetStore::try_charge`] (another budget refused the call).
    fn refund(&self, key: &str, spend: &Spend) -> Result<(), BudgetStoreError>;

    /// What counter `key` holds.
    fn spent(&self, key: &str) -> Result<Spend, BudgetStoreError>;

    /// Whether a call may wait on the outside world (a shared store).
    fn may_block(&self) -> bool {
        false
    }
}

/// Counters in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryBudgetStore {
    counters: Mutex<HashMap<String, (Spend, Option<Timestamp>)>>,
}

/// Counters kept before expired ones are pruned.
const PRUNE_AT: usize = 10_000;

impl MemoryBudgetStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryBudgetStore::default()
    }

    fn add(
        &self,
        key: &str,
        spend: &Spend,
        caps: Option<&Caps>,
        expires: Option<Timestamp>,
    ) -> Option<&'static str> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.len() >= PRUNE_AT {
            let now = Timestamp::now();
            counters.retain(|_, (_, e)| e.is_none_or(|e| e > now));
        }
        let (held, expiry) = counters
            .entry(key.to_owned())
            .or_insert((Spend::default(), expires));
        // A later charge moves a sliding expiry on (a session's counter).
        if expires > *expiry {
            *expiry = expires;
        }
        if let Some(caps) = caps {
            for ((name, add), (_, cap)) in spend.fields().iter().zip(caps.fields()) {
                let now = held
                    .fields()
                    .iter()
                    .find(|(k, _)| k == name)
                    .map_or(0.0, |f| f.1);
                // Past the cap (a result pushed it there), even a free call is refused.
                if cap.is_some_and(|cap| now + add > cap) {
                    return Some(name);
                }
            }
        }
        held.calls += spend.calls;
        held.argument_bytes += spend.argument_bytes;
        held.result_bytes += spend.result_bytes;
        held.tokens += spend.tokens;
        held.cost += spend.cost;
        None
    }
}

impl BudgetStore for MemoryBudgetStore {
    fn try_charge(
        &self,
        key: &str,
        spend: &Spend,
        caps: &Caps,
        expires: Option<Timestamp>,
    ) -> Result<Option<&'static str>, BudgetStoreError> {
        Ok(self.add(key, spend, Some(caps), expires))
    }

    fn charge(
        &self,
        key: &str,
        spend: &Spend,
        expires: Option<Timestamp>,
    ) -> Result<(), BudgetStoreError> {
        self.add(key, spend, None, expires);
        Ok(())
    }

    fn refund(&self, key: &str, spend: &Spend) -> Result<(), BudgetStoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((held, _)) = counters.get_mut(key) {
            held.calls = held.calls.saturating_sub(spend.calls);
            held.argument_bytes = held.argument_bytes.saturating_sub(spend.argument_bytes);
            held.result_bytes = held.result_bytes.saturating_sub(spend.result_bytes);
            held.tokens = held.tokens.saturating_sub(spend.tokens);
            held.cost = (held.cost - spend.cost).max(0.0);
        }
        Ok(())
    }

    fn spent(&self, key: &str) -> Result<Spend, BudgetStoreError> {
        Ok(self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map(|(s, _)| *s)
            .unwrap_or_default())
    }
}

/// Tokens of `text` as OpenAI's `o200k_base` encoding counts them (GPT-4o and later): exact for
/// those models; other models' tokenizers (Claude's is not published) differ by some 10–20 %
/// on English text, so treat token budgets as estimates for them.
pub fn count_tokens(text: &str) -> u64 {
    bpe_openai::o200k_base().count(text) as u64
}

/// Tokens of what a model reads in a `CallToolResult`: its text content, embedded resources'
/// text and its structured content.
pub fn result_tokens(result: &serde_json::Value) -> u64 {
    let mut n = 0;
    if let Some(items) = result.get("content").and_then(serde_json::Value::as_array) {
        for item in items {
            if let Some(t) = item.get("text").and_then(serde_json::Value::as_str) {
                n += count_tokens(t);
            }
            if let Some(t) = item
                .pointer("/resource/text")
                .and_then(serde_json::Value::as_str)
            {
                n += count_tokens(t);
            }
        }
    }
    if let Some(s) = result.get("structuredContent") {
        n += count_tokens(&s.to_string());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_calendar_aligned_in_the_zone() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let at: Timestamp = "2026-03-29T00:30:00Z".parse().unwrap(); // 01:30 CET, DST night
        let (s, e) = BudgetWindow::Day.around(at, &tz);
        assert_eq!(s.to_string(), "2026-03-28T23:00:00Z");
        // The day the clocks go forward has 23 hours.
        assert_eq!(e.to_string(), "2026-03-29T22:00:00Z");
        let (s, e) = BudgetWindow::Month.around(at, &tz);
        assert_eq!(s.to_string(), "2026-02-28T23:00:00Z");
        assert_eq!(e.to_string(), "2026-03-31T22:00:00Z");
        let (s, e) = BudgetWindow::Hour.around(at, &tz);
        assert_eq!(s.to_string(), "2026-03-29T00:00:00Z");
        assert_eq!(e.to_string(), "2026-03-29T01:00:00Z");
    }

    #[test]
    fn a_charge_past_a_cap_is_refused_and_adds_nothing() {
        let store = MemoryBudgetStore::new();
        let caps = Caps {
            calls: Some(2),
            tokens: Some(100),
            ..Caps::default()
        };
        let call = Spend {
            calls: 1,
            tokens: 30,
            ..Spend::default()
        };
        assert_eq!(store.try_charge("k", &call, &caps, None).unwrap(), None);
        // The result's part goes past the token cap: charged all the same.
        let result = Spend {
            tokens: 80,
            ..Spend::default()
        };
        store.charge("k", &result, None).unwrap();
        assert_eq!(
            store.try_charge("k", &call, &caps, None).unwrap(),
            Some("tokens")
        );
        assert_eq!(store.spent("k").unwrap().calls, 1);
        assert_eq!(store.spent("k").unwrap().tokens, 110);
    }

    #[test]
    fn a_sessions_counter_without_a_window_expires_a_day_after_its_last_charge() {
        let rule = |per| BudgetRule {
            name: "b".into(),
            per,
            window: None,
            tools: None,
            patterns: Vec::new(),
            caps: Caps {
                calls: Some(1),
                ..Caps::default()
            },
            spent: Arc::default(),
        };
        let now: Timestamp = "2026-12-06T08:00:00Z".parse().unwrap();
        assert_eq!(
            expiry(&rule(BudgetScope::Session), now, None),
            Some("2026-12-07T08:00:00Z".parse().unwrap())
        );
        // An agent's or a tenant's counter without a window is kept.
        assert_eq!(expiry(&rule(BudgetScope::Agent), now, None), None);
        // A window's counter goes with its window.
        let end: Timestamp = "2026-12-06T09:00:00Z".parse().unwrap();
        assert_eq!(
            expiry(&rule(BudgetScope::Session), now, Some((now, end))),
            Some(end)
        );
        // The memory store moves a sliding expiry on with each charge.
        let store = MemoryBudgetStore::new();
        let one = Spend {
            calls: 1,
            ..Spend::default()
        };
        store.charge("k", &one, Some(now)).unwrap();
        store.charge("k", &one, Some(end)).unwrap();
        let held = store.counters.lock().unwrap()["k"];
        assert_eq!(held.1, Some(end));
    }

    #[test]
    fn tokens_are_counted_by_a_real_tokenizer() {
        assert_eq!(count_tokens(""), 0);
        // o200k_base: "Hello" "," " world" "!"
        assert_eq!(count_tokens("Hello, world!"), 4);
        let r = serde_json::json!({"content": [{"type": "text", "text": "Hello, world!"}],
            "structuredContent": {"a": 1}});
        assert!(result_tokens(&r) > 4);
    }
}
