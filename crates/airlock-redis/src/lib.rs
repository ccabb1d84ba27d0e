//! # airlock-redis — rate limits and budgets shared between airlock instances
//!
//! [`RedisRateStore`] implements [`airlock_core::limits::RateStore`] over Redis: every
//! decision is one atomic Lua script (GCRA: read the bucket's theoretical arrival time, admit
//! or refuse, write it back with an expiry), so any number of airlock processes sharing one
//! Redis enforce one limit. Keys are namespaced (`limits.prefix`, default `airlock:rl:`).
//!
//! When Redis cannot be reached (connect, read or write beyond `limits.timeout_ms`), the store
//! either refuses the call (`OnUnavailable::Refuse`, the default: fail closed) or decides with
//! local, per-process limits (`OnUnavailable::Local`) and reports the degradation, which the
//! engine writes into the audit record.
//!
//! Times are the engine's (`Call::at` or its clock), in microseconds, so instances sharing a
//! Redis need synchronised clocks; the script never trusts a bucket older than its own expiry.
//!
//! [`RedisBudgetStore`] implements [`airlock_core::budget::BudgetStore`] the same way: a budget
//! counter is a hash of measures, and a charge is one script that checks every cap and adds
//! only when all hold, so instances never overspend a shared budget between them.
//!
//! The connection is synchronous (a small pool of `redis::Connection`s with timeouts), as the
//! check pipeline is; an async variant on the `redis` connection manager belongs with the async
//! pipeline of the MCP proxy.
//!
//! ```no_run
//! use std::sync::Arc;
//! use airlock_core::{ConfigBuilder, Engine, limits::OnUnavailable};
//! use airlock_redis::RedisRateStore;
//!
//! // `agent_airlock::engine(config)` does this (and more) from `limits.backend`.
//! let config = ConfigBuilder::new()
//!     .file("core.toml", "[filesystem]\nenabled = false\n[network]\nenabled = false\n[sanitize]\nenabled = false\n")
//!     .build()?;
//! let store = RedisRateStore::open("redis://127.0.0.1:6379/0", "airlock:rl:", 100, OnUnavailable::Refuse)?;
//! let engine = Engine::builder().config(config).rate_store(Arc::new(store)).build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Mutex;
use std::time::Duration;

use airlock_core::limits::{
    Acquire, MemoryRateStore, Noted, OnUnavailable, Rate, RateStore, RateStoreError,
};
use jiff::Timestamp;

/// GCRA in one round trip. KEYS[1] the bucket; ARGV: now, interval, tolerance (µs).
/// Returns {1, 0} when admitted (and stores the new TAT with an expiry), {0, wait_us} when not.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance}
end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, 0}
";

/// Connections kept for reuse.
const POOL: usize = 32;

/// Connections to one Redis, with timeouts, kept for reuse.
struct Pool {
    client: redis::Client,
    connections: Mutex<Vec<redis::Connection>>,
    timeout: Duration,
}

impl Pool {
    fn open(url: &str, timeout_ms: u64) -> Result<Pool, OpenError> {
        let client = redis::Client::open(url).map_err(|e| {
            OpenError(format!(
                "{} is not a usable Redis URL: {e}",
                airlock_core::config::redact_url(url)
            ))
        })?;
        Ok(Pool {
            client,
            connections: Mutex::new(Vec::new()),
            timeout: Duration::from_millis(timeout_ms.max(1)),
        })
    }

    fn get(&self) -> redis::RedisResult<redis::Connection> {
        if let Some(c) = self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Ok(c);
        }
        let c = self.client.get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }

    /// Give a connection back after a successful command (a failed one is dropped).
    fn give_back(&self, c: redis::Connection) {
        let mut pool = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(c);
        }
    }
}

/// A rate store in Redis, shared by every airlock instance pointing at it.
pub struct RedisRateStore {
    pool: Pool,
    script: redis::Script,
    prefix: String,
    on_unavailable: OnUnavailable,
    local: MemoryRateStore,
}

impl std::fmt::Debug for RedisRateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateStore")
            .field("prefix", &self.prefix)
            .field("on_unavailable", &self.on_unavailable)
            .finish()
    }
}

/// Why the store could not be set up.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

impl RedisRateStore {
    /// A store at `url` (`redis://host:port/db`, `rediss://…`, `unix:///path`). Does not
    /// connect yet: an unreachable Redis is handled per call, by `on_unavailable`.
    pub fn open(
        url: &str,
        prefix: &str,
        timeout_ms: u64,
        on_unavailable: OnUnavailable,
    ) -> Result<Self, OpenError> {
        Ok(RedisRateStore {
            pool: Pool::open(url, timeout_ms)?,
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
            on_unavailable,
            local: MemoryRateStore::new(),
        })
    }

    /// One decision in Redis.
    fn remote(&self, key: &str, rate: Rate, now: Timestamp) -> redis::RedisResult<Acquire> {
        let mut conn = self.pool.get()?;
        let now_us = now.as_microsecond();
        let interval_us = rate.interval_nanos() / 1_000;
        let tolerance_us = rate.tolerance_nanos() / 1_000;
        let result: redis::RedisResult<(i64, i64)> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(now_us)
            .arg(i64::try_from(interval_us).unwrap_or(i64::MAX))
            .arg(i64::try_from(tolerance_us).unwrap_or(i64::MAX))
            .invoke(&mut conn);
        match result {
            Ok((admitted, wait_us)) => {
                self.pool.give_back(conn);
                Ok(if admitted == 1 {
                    Acquire::Allowed
                } else {
                    Acquire::Limited {
                        retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)),
                    }
                })
            }
            // A failed connection is dropped, not pooled.
            Err(e) => Err(e),
        }
    }
}

impl RateStore for RedisRateStore {
    fn may_block(&self) -> bool {
        true
    }

    fn acquire(&self, key: &str, rate: Rate, now: Timestamp) -> Result<Acquire, RateStoreError> {
        self.acquire_noted(key, rate, now).map(|n| n.acquire)
    }

    fn acquire_noted(
        &self,
        key: &str,
        rate: Rate,
        now: Timestamp,
    ) -> Result<Noted, RateStoreError> {
        match self.remote(key, rate, now) {
            Ok(acquire) => Ok(Noted {
                acquire,
                degraded: None,
            }),
            Err(e) => match self.on_unavailable {
                OnUnavailable::Refuse => Err(RateStoreError(format!("redis unavailable: {e}"))),
                OnUnavailable::Local => Ok(Noted {
                    acquire: self.local.acquire(key, rate, now)?,
                    degraded: Some(format!("redis unavailable ({e}); local limits used")),
                }),
            },
        }
    }
}

/// Redis failed with `e`: as `on` says, an error (the check refuses the call: fail closed) or
/// the answer of this process's own store (`what` says which, in the warning).
fn or_local<T, E>(
    on: OnUnavailable,
    e: &redis::RedisError,
    what: &str,
    fail: impl FnOnce(String) -> E,
    local: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    match on {
        OnUnavailable::Refuse => Err(fail(format!("redis unavailable: {e}"))),
        OnUnavailable::Local => {
            tracing::warn!("redis unavailable ({e}): {what} in this process only");
            local()
        }
    }
}

/// A budget charge in one round trip. KEYS[1] the counter (a hash of measures). ARGV[1] its
/// expiry in ms since the epoch (0: none), ARGV[2] `1` to check the caps first, then per
/// measure its name, what to add and its cap (-1: none). Returns the name of the measure that
/// would go past its cap (nothing added), or the empty string (all added).
const CHARGE: &str = r"
local n = (#ARGV - 2) / 3
if ARGV[2] == '1' then
  for i = 0, n - 1 do
    local add = tonumber(ARGV[4 + 3 * i])
    local cap = tonumber(ARGV[5 + 3 * i])
    if cap >= 0 then
      local held = tonumber(redis.call('HGET', KEYS[1], ARGV[3 + 3 * i]) or '0')
      if held + add > cap then
        return ARGV[3 + 3 * i]
      end
    end
  end
end
for i = 0, n - 1 do
  if tonumber(ARGV[4 + 3 * i]) ~= 0 then
    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[3 + 3 * i], ARGV[4 + 3 * i])
  end
end
if tonumber(ARGV[1]) > 0 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return ''
";

/// Budget counters in Redis, shared by every airlock instance pointing at it. Keys are
/// namespaced like the rate limits' (`limits.prefix`).
pub struct RedisBudgetStore {
    pool: Pool,
    script: redis::Script,
    prefix: String,
    on_unavailable: OnUnavailable,
    local: airlock_core::budget::MemoryBudgetStore,
}

impl std::fmt::Debug for RedisBudgetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudgetStore")
            .field("prefix", &self.prefix)
            .field("on_unavailable", &self.on_unavailable)
            .finish()
    }
}

use airlock_core::budget::{BudgetStore, BudgetStoreError, Caps, MemoryBudgetStore, Spend};

impl RedisBudgetStore {
    /// A store at `url`, as [`RedisRateStore::open`]. With `OnUnavailable::Local`, counters
    /// fall back to this process's memory while Redis cannot be reached (and say so in the log).
    pub fn open(
        url: &str,
        prefix: &str,
        timeout_ms: u64,
        on_unavailable: OnUnavailable,
    ) -> Result<Self, OpenError> {
        Ok(RedisBudgetStore {
            pool: Pool::open(url, timeout_ms)?,
            script: redis::Script::new(CHARGE),
            prefix: prefix.to_owned(),
            on_unavailable,
            local: MemoryBudgetStore::new(),
        })
    }

    fn remote(
        &self,
        key: &str,
        spend: &Spend,
        caps: Option<&Caps>,
        sign: f64,
        expires: Option<Timestamp>,
    ) -> redis::RedisResult<Option<&'static str>> {
        let mut conn = self.pool.get()?;
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(expires.map_or(0, |t| t.as_millisecond()))
            .arg(if caps.is_some() { "1" } else { "0" });
        let caps = caps.copied().unwrap_or_default();
        for ((name, add), (_, cap)) in spend.fields().into_iter().zip(caps.fields()) {
            invocation
                .arg(name)
                .arg(add * sign)
                .arg(cap.unwrap_or(-1.0));
        }
        let over: String = invocation.invoke(&mut conn)?;
        self.pool.give_back(conn);
        Ok(spend
            .fields()
            .into_iter()
            .map(|(name, _)| name)
            .find(|name| *name == over))
    }

    fn fallback<T>(
        &self,
        e: redis::RedisError,
        local: impl FnOnce(&MemoryBudgetStore) -> Result<T, BudgetStoreError>,
    ) -> Result<T, BudgetStoreError> {
        or_local(
            self.on_unavailable,
            &e,
            "budgets counted",
            BudgetStoreError,
            || local(&self.local),
        )
    }
}

impl BudgetStore for RedisBudgetStore {
    fn may_block(&self) -> bool {
        true
    }

    fn try_charge(
        &self,
        key: &str,
        spend: &Spend,
        caps: &Caps,
        expires: Option<Timestamp>,
    ) -> Result<Option<&'static str>, BudgetStoreError> {
        match self.remote(key, spend, Some(caps), 1.0, expires) {
            Ok(over) => Ok(over),
            Err(e) => self.fallback(e, |l| l.try_charge(key, spend, caps, expires)),
        }
    }

    fn charge(
        &self,
        key: &str,
        spend: &Spend,
        expires: Option<Timestamp>,
    ) -> Result<(), BudgetStoreError> {
        match self.remote(key, spend, None, 1.0, expires) {
            Ok(_) => Ok(()),
            Err(e) => self.fallback(e, |l| l.charge(key, spend, expires)),
        }
    }

    fn refund(&self, key: &str, spend: &Spend) -> Result<(), BudgetStoreError> {
        match self.remote(key, spend, None, -1.0, None) {
            Ok(_) => Ok(()),
            Err(e) => self.fallback(e, |l| l.refund(key, spend)),
        }
    }

    fn spent(&self, key: &str) -> Result<Spend, BudgetStoreError> {
        let read = || -> redis::RedisResult<Spend> {
            let mut conn = self.pool.get()?;
            let held: std::collections::HashMap<String, f64> = redis::cmd("HGETALL")
                .arg(format!("{}{key}", self.prefix))
                .query(&mut conn)?;
            self.pool.give_back(conn);
            let get = |k: &str| held.get(k).copied().unwrap_or(0.0);
            Ok(Spend {
                calls: get("calls") as u64,
                argument_bytes: get("argument_bytes") as u64,
                result_bytes: get("result_bytes") as u64,
                tokens: get("tokens") as u64,
                cost: get("cost"),
            })
        };
        match read() {
            Ok(s) => Ok(s),
            Err(e) => self.fallback(e, |l| l.spent(key)),
        }
    }
}

/// A breaker's admission in one round trip. KEYS[1] the breaker (a hash: `s` state, `t` open
/// until or probe since, `f` failures, in ms). ARGV: now, open_for (ms). Returns
/// {verdict, wait_ms, from}: `pass`, `refuse` (with the wait) or `probe` (from the state left).
const BREAKER_ADMIT: &str = r"
local now = tonumber(ARGV[1])
local open_for = tonumber(ARGV[2])
local st = redis.call('HGET', KEYS[1], 's')
if not st or st == 'closed' then return {'pass', 0, ''} end
local t = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
if st == 'open' then
  if now < t then return {'refuse', t - now, ''} end
elseif now < t + open_for then
  return {'refuse', t + open_for - now, ''}
end
redis.call('HSET', KEYS[1], 's', 'half_open', 't', now)
return {'probe', 0, st}
";

/// A call's end counted against a breaker in one round trip. ARGV: now, open_for (ms), the
/// failures that open it, 1 when the call failed. Returns {from, to}. The hash expires a day
/// after its last change (a breaker nobody calls is closed again).
const BREAKER_OUTCOME: &str = r"
local now = tonumber(ARGV[1])
local open_for = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local failed = ARGV[4] == '1'
local st = redis.call('HGET', KEYS[1], 's') or 'closed'
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local nxt = st
if st == 'closed' then
  if failed then
    if f + 1 >= threshold then
      nxt = 'open'
      redis.call('HSET', KEYS[1], 's', 'open', 't', now + open_for, 'f', 0)
    else
      redis.call('HSET', KEYS[1], 's', 'closed', 'f', f + 1)
    end
  else
    redis.call('HSET', KEYS[1], 's', 'closed', 'f', 0)
  end
elseif st == 'half_open' then
  if failed then
    nxt = 'open'
    redis.call('HSET', KEYS[1], 's', 'open', 't', now + open_for)
  else
    nxt = 'closed'
    redis.call('HSET', KEYS[1], 's', 'closed', 'f', 0)
  end
end
redis.call('PEXPIRE', KEYS[1], open_for + 86400000)
return {st, nxt}
";

use airlock_core::breaker::{
    BreakerRule, BreakerStore, BreakerStoreError, MemoryBreakerStore, Transition,
};

/// Circuit breakers in Redis: airlock instances in front of one server open and close its
/// breakers together (failures are counted across instances). Keys are namespaced like the
/// rate limits' (`limits.prefix`, then `breaker:`).
pub struct RedisBreakerStore {
    pool: Pool,
    admit: redis::Script,
    outcome: redis::Script,
    prefix: String,
    on_unavailable: OnUnavailable,
    local: MemoryBreakerStore,
}

impl std::fmt::Debug for RedisBreakerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBreakerStore")
            .field("prefix", &self.prefix)
            .field("on_unavailable", &self.on_unavailable)
            .finish()
    }
}

/// A state's name as the core names it.
fn state_name(s: &str) -> &'static str {
    match s {
        "open" => "open",
        "half_open" => "half_open",
        _ => "closed",
    }
}

impl RedisBreakerStore {
    /// A store at `url`, as [`RedisRateStore::open`]. With `OnUnavailable::Local`, breakers
    /// fall back to this process's memory while Redis cannot be reached.
    pub fn open(
        url: &str,
        prefix: &str,
        timeout_ms: u64,
        on_unavailable: OnUnavailable,
    ) -> Result<Self, OpenError> {
        Ok(RedisBreakerStore {
            pool: Pool::open(url, timeout_ms)?,
            admit: redis::Script::new(BREAKER_ADMIT),
            outcome: redis::Script::new(BREAKER_OUTCOME),
            prefix: prefix.to_owned(),
            on_unavailable,
            local: MemoryBreakerStore::new(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}breaker:{key}", self.prefix)
    }

    fn unavailable<T>(
        &self,
        e: redis::RedisError,
        local: impl FnOnce(&MemoryBreakerStore) -> Result<T, BreakerStoreError>,
    ) -> Result<T, BreakerStoreError> {
        or_local(
            self.on_unavailable,
            &e,
            "breakers kept",
            BreakerStoreError,
            || local(&self.local),
        )
    }
}

impl BreakerStore for RedisBreakerStore {
    fn may_block(&self) -> bool {
        true
    }

    fn admit(
        &self,
        key: &str,
        rule: &BreakerRule,
        now: Timestamp,
    ) -> Result<(Result<(), Duration>, Option<Transition>), BreakerStoreError> {
        let run = || -> redis::RedisResult<(String, i64, String)> {
            let mut conn = self.pool.get()?;
            let r = self
                .admit
                .key(self.key(key))
                .arg(now.as_millisecond())
                .arg(rule.open_for.as_millis() as i64)
                .invoke(&mut conn)?;
            self.pool.give_back(conn);
            Ok(r)
        };
        match run() {
            Ok((verdict, wait_ms, from)) => Ok(match verdict.as_str() {
                "refuse" => (
                    Err(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))),
                    None,
                ),
                "probe" => (
                    Ok(()),
                    airlock_core::breaker::probe_let_through(key, state_name(&from), rule),
                ),
                _ => (Ok(()), None),
            }),
            Err(e) => self.unavailable(e, |l| l.admit(key, rule, now)),
        }
    }

    fn outcome(
        &self,
        key: &str,
        rule: &BreakerRule,
        failed: bool,
        now: Timestamp,
    ) -> Result<Option<Transition>, BreakerStoreError> {
        let run = || -> redis::RedisResult<(String, String)> {
            let mut conn = self.pool.get()?;
            let r = self
                .outcome
                .key(self.key(key))
                .arg(now.as_millisecond())
                .arg(rule.open_for.as_millis() as i64)
                .arg(rule.failures)
                .arg(if failed { "1" } else { "0" })
                .invoke(&mut conn)?;
            self.pool.give_back(conn);
            Ok(r)
        };
        match run() {
            Ok((from, to)) => {
                let (from, to) = (state_name(&from), state_name(&to));
                Ok((from != to).then(|| Transition {
                    breaker: key.to_owned(),
                    from,
                    to,
                    reason: String::new(),
                }))
            }
            Err(e) => self.unavailable(e, |l| l.outcome(key, rule, failed, now)),
        }
    }

    fn state(&self, key: &str) -> Result<&'static str, BreakerStoreError> {
        let run = || -> redis::RedisResult<Option<String>> {
            let mut conn = self.pool.get()?;
            let s: Option<String> = redis::cmd("HGET")
                .arg(self.key(key))
                .arg("s")
                .query(&mut conn)?;
            self.pool.give_back(conn);
            Ok(s)
        };
        match run() {
            Ok(s) => Ok(state_name(s.as_deref().unwrap_or("closed"))),
            Err(e) => self.unavailable(e, |l| l.state(key)),
        }
    }
}
