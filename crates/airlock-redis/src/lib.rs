//! # airlock-redis — rate limits shared between airlock instances
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

/// A rate store in Redis, shared by every airlock instance pointing at it.
pub struct RedisRateStore {
    client: redis::Client,
    pool: Mutex<Vec<redis::Connection>>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
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
        let client = redis::Client::open(url).map_err(|e| {
            OpenError(format!(
                "{} is not a usable Redis URL: {e}",
                airlock_core::config::redact_url(url)
            ))
        })?;
        Ok(RedisRateStore {
            client,
            pool: Mutex::new(Vec::new()),
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
            timeout: Duration::from_millis(timeout_ms.max(1)),
            on_unavailable,
            local: MemoryRateStore::new(),
        })
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        let c = self.client.get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }

    fn give_back(&self, c: redis::Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(c);
        }
    }

    /// One decision in Redis.
    fn remote(&self, key: &str, rate: Rate, now: Timestamp) -> redis::RedisResult<Acquire> {
        let mut conn = self.connection()?;
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
                self.give_back(conn);
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
