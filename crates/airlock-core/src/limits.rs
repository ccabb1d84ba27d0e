//! Rate limits: parsing `"N/unit"`, the GCRA decision, and where limiter state lives.
//!
//! GCRA (the generic cell rate algorithm) keeps one number per key — the theoretical arrival
//! time (TAT) — and admits a call at `t` when `max(TAT, t) − t ≤ τ`, with the emission
//! interval `T = period / N` and the tolerance `τ = (burst − 1) · T`; an admitted call moves
//! `TAT` to `max(TAT, t) + T`. A refused call learns exactly when it would pass.
//!
//! State lives behind [`RateStore`]: [`MemoryRateStore`] here; a shared store (Redis) plugs in
//! through the same trait. A store that fails makes the `rate_limit` check refuse the call
//! (fail closed).

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A rate: `count` calls per `period`, with bursts of up to `burst` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Calls per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Most calls admitted at once (at least 1).
    pub burst: u32,
    interval: i128,
    tolerance: i128,
}

impl Rate {
    /// Parse `"N/second|minute|hour|day"` (also `s`, `m`, `h`, `d`, `sec`, `min`).
    pub fn parse(text: &str, burst: Option<u32>) -> Result<Rate, String> {
        let (n, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a rate like \"10/minute\""))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not a whole number of calls", n.trim()))?;
        if count == 0 {
            return Err("a rate of 0 calls refuses every call; deny the tool instead".to_owned());
        }
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            other => {
                return Err(format!(
                    "{other:?} is not a unit; use second, minute, hour or day"
                ));
            }
        };
        let burst = burst.unwrap_or(count);
        if burst == 0 {
            return Err("burst must be at least 1".to_owned());
        }
        let period = Duration::from_secs(secs);
        if u128::from(count) > period.as_nanos() / 1_000 {
            return Err(format!(
                "{count} per {unit} is finer than a microsecond apart; use a smaller rate or remove the limit",
                unit = unit.trim()
            ));
        }
        let interval = (period.as_nanos() / u128::from(count)) as i128;
        Ok(Rate {
            count,
            period,
            burst,
            interval,
            tolerance: interval * i128::from(burst - 1),
        })
    }

    /// The emission interval `T`, in nanoseconds.
    pub fn interval_nanos(&self) -> i128 {
        self.interval
    }

    /// The tolerance `τ = (burst − 1) · T`, in nanoseconds.
    pub fn tolerance_nanos(&self) -> i128 {
        self.tolerance
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{} per {unit}", self.count)
    }
}

/// What a limiter bucket is keyed by (besides the rule that sets the limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateKey {
    /// One bucket per tool and caller (agent, else session, else anonymous).
    #[default]
    ToolCaller,
    /// One bucket per tool, shared by every caller.
    Tool,
    /// One bucket per caller, shared by every tool the rule matches.
    Caller,
    /// One bucket per tenant, shared by every tool the rule matches.
    Tenant,
    /// One bucket for every call the rule matches.
    Global,
}

/// The outcome of asking for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acquire {
    /// Admitted; the bucket was charged.
    Allowed,
    /// Refused; a call would pass after this long.
    Limited {
        /// Time until a call would be admitted.
        retry_after: Duration,
    },
}

/// A limiter store failed (unreachable, corrupt): the call is refused.
#[derive(Debug, thiserror::Error)]
#[error("rate store: {0}")]
pub struct RateStoreError(pub String);

/// A decision, and why the store decided in a degraded way if it did (e.g. a shared store was
/// unreachable and local limits were used instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Noted {
    /// The decision.
    pub acquire: Acquire,
    /// Set when the decision was made in a degraded way; recorded in the audit log.
    pub degraded: Option<String>,
}

/// Where GCRA state lives.
pub trait RateStore: Send + Sync {
    /// Decide one call for `key` at `now`, charging the bucket when admitted.
    fn acquire(&self, key: &str, rate: Rate, now: Timestamp) -> Result<Acquire, RateStoreError>;

    /// [`RateStore::acquire`], saying whether the decision was degraded. Stores that can fall
    /// back (a shared store using local limits while it is unreachable) override this.
    fn acquire_noted(
        &self,
        key: &str,
        rate: Rate,
        now: Timestamp,
    ) -> Result<Noted, RateStoreError> {
        Ok(Noted {
            acquire: self.acquire(key, rate, now)?,
            degraded: None,
        })
    }

    /// Whether [`RateStore::acquire`] may wait on the network (a shared store does): the engine
    /// then says it may block, and transports decide off their async runtime.
    fn may_block(&self) -> bool {
        false
    }
}

/// What a shared store does when it cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Refuse the call (fail closed).
    #[default]
    Refuse,
    /// Use local, per-process limits and record that in the audit log.
    Local,
}

/// The GCRA step on a stored TAT: the decision and the new TAT (unchanged when refused).
pub fn gcra(tat: Option<i128>, rate: Rate, now: i128) -> (Acquire, i128) {
    let t = rate.interval_nanos();
    let tau = rate.tolerance_nanos();
    let tat = tat.map_or(now, |v| v.max(now));
    if tat - now > tau {
        let wait = tat - now - tau;
        let retry_after = Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX));
        (Acquire::Limited { retry_after }, tat)
    } else {
        (Acquire::Allowed, tat + t)
    }
}

/// In-process limiter state: exact, not shared between processes.
#[derive(Debug, Default)]
pub struct MemoryRateStore {
    // Keys hold caller identities: std's keyed hasher, not FNV.
    tats: Mutex<std::collections::HashMap<String, i128>>,
    next_prune: std::sync::atomic::AtomicUsize,
}

/// Keys kept before expired ones are pruned.
const PRUNE_AT: usize = 100_000;

impl MemoryRateStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryRateStore::default()
    }
}

impl RateStore for MemoryRateStore {
    fn acquire(&self, key: &str, rate: Rate, now: Timestamp) -> Result<Acquire, RateStoreError> {
        let now = now.as_nanosecond();
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        let threshold = self
            .next_prune
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(PRUNE_AT);
        if tats.len() >= threshold && !tats.contains_key(key) {
            // A TAT in the past is the same as no entry at all. Prune again only after the map
            // has doubled, so live keys never cost a rescan per insert.
            tats.retain(|_, tat| *tat > now);
            self.next_prune.store(
                tats.len().saturating_mul(2).max(PRUNE_AT),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let (outcome, tat) = gcra(tats.get(key).copied(), rate, now);
        if outcome == Acquire::Allowed {
            match tats.get_mut(key) {
                Some(v) => *v = tat,
                None => {
                    tats.insert(key.to_owned(), tat);
                }
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp::from_nanosecond((secs * 1e9) as i128).unwrap()
    }

    #[test]
    fn parses_rates() {
        let r = Rate::parse("10/minute", None).unwrap();
        assert_eq!((r.count, r.period.as_secs(), r.burst), (10, 60, 10));
        assert_eq!(Rate::parse("5 / s", Some(1)).unwrap().burst, 1);
        for bad in ["10", "x/minute", "0/minute", "10/fortnight"] {
            assert!(Rate::parse(bad, None).is_err(), "{bad}");
        }
        assert!(Rate::parse("1/s", Some(0)).is_err());
    }

    #[test]
    fn gcra_admits_bursts_then_paces() {
        let store = MemoryRateStore::new();
        let rate = Rate::parse("2/second", Some(3)).unwrap();
        // A burst of 3 at t=0, then refused until 0.5 s.
        for _ in 0..3 {
            assert_eq!(store.acquire("k", rate, at(0.0)).unwrap(), Acquire::Allowed);
        }
        assert_eq!(
            store.acquire("k", rate, at(0.0)).unwrap(),
            Acquire::Limited {
                retry_after: Duration::from_millis(500)
            }
        );
        assert_eq!(
            store.acquire("k", rate, at(0.25)).unwrap(),
            Acquire::Limited {
                retry_after: Duration::from_millis(250)
            }
        );
        assert_eq!(store.acquire("k", rate, at(0.5)).unwrap(), Acquire::Allowed);
        // Other keys are independent.
        assert_eq!(
            store.acquire("other", rate, at(0.5)).unwrap(),
            Acquire::Allowed
        );
        // After a long pause the full burst is back, no more.
        for _ in 0..3 {
            assert_eq!(
                store.acquire("k", rate, at(100.0)).unwrap(),
                Acquire::Allowed
            );
        }
        assert!(matches!(
            store.acquire("k", rate, at(100.0)).unwrap(),
            Acquire::Limited { .. }
        ));
    }

    #[test]
    fn refused_calls_do_not_charge() {
        let store = MemoryRateStore::new();
        let rate = Rate::parse("1/second", Some(1)).unwrap();
        assert_eq!(store.acquire("k", rate, at(0.0)).unwrap(), Acquire::Allowed);
        for _ in 0..100 {
            assert!(matches!(
                store.acquire("k", rate, at(0.5)).unwrap(),
                Acquire::Limited { .. }
            ));
        }
        assert_eq!(store.acquire("k", rate, at(1.0)).unwrap(), Acquire::Allowed);
    }
}
