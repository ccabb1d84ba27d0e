//! Against a real `redis-server` started on a free loopback port for each test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::sync::Arc;
use std::time::Duration;

use airlock_core::audit::MemorySink;
use airlock_core::limits::{Acquire, OnUnavailable, Rate, RateStore};
use airlock_core::{Call, CallerContext, Decision, DenyCode, Engine, ToolDef};
use airlock_redis::RedisRateStore;
use airlock_testkit::{RedisServer, free_port};
use jiff::Timestamp;
use serde_json::json;

const CONFIG: &str = r#"
[tools."send_*"]
rate_limit = "3/minute"
"#;

fn engine(store: Arc<dyn RateStore>, audit: Option<Arc<MemorySink>>) -> Engine {
    let config = airlock_testkit::core_only()
        .file("r.toml", CONFIG)
        .build()
        .unwrap();
    let mut b = Engine::builder()
        .config(config)
        .tools([ToolDef::new(
            "send_mail",
            json!({"type": "object", "properties": {"to": {"type": "string"}}}),
        )])
        .rate_store(store);
    if let Some(a) = audit {
        b = b.audit(a);
    }
    b.build().unwrap()
}

fn send(e: &Engine, agent: &str, at: i64) -> Decision {
    e.check(
        Call::new("send_mail", json!({"to": "x"}))
            .caller(CallerContext::default().agent(agent))
            .at(Timestamp::from_second(at).unwrap()),
    )
}

fn store(url: &str, on_unavailable: OnUnavailable) -> Arc<RedisRateStore> {
    Arc::new(RedisRateStore::open(url, "airlock:rl:", 100, on_unavailable).unwrap())
}

#[test]
fn two_engines_sharing_one_redis_enforce_one_limit() {
    let redis = RedisServer::start();
    let a = engine(store(&redis.url(), OnUnavailable::Refuse), None);
    let b = engine(store(&redis.url(), OnUnavailable::Refuse), None);
    assert!(send(&a, "bot", 0).is_allowed());
    assert!(send(&b, "bot", 0).is_allowed());
    assert!(send(&a, "bot", 0).is_allowed());
    // The fourth call in the same minute is refused, whichever engine takes it.
    let d = send(&b, "bot", 0);
    let r = d.refusal().unwrap();
    assert_eq!(r.code, DenyCode::RateLimited);
    assert_eq!(r.retry_after, Some(Duration::from_secs(20)));
    assert!(!send(&a, "bot", 10).is_allowed());
    // Another caller has its own bucket; time refills the first.
    assert!(send(&a, "other", 10).is_allowed());
    assert!(send(&b, "bot", 20).is_allowed());
}

#[test]
fn keys_are_namespaced_and_expire() {
    let redis = RedisServer::start();
    let e = engine(store(&redis.url(), OnUnavailable::Refuse), None);
    let now = Timestamp::now().as_second();
    assert!(send(&e, "bot", now).is_allowed());
    let mut c = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("airlock:rl:base|send_*|"), "{keys:?}");
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut c).unwrap();
    assert!(ttl > 0 && ttl <= 21_000, "{ttl}");
}

#[test]
fn concurrent_callers_never_exceed_the_limit() {
    let redis = RedisServer::start();
    let shared = store(&redis.url(), OnUnavailable::Refuse);
    let rate = Rate::parse("50/minute", Some(50)).unwrap();
    let at = Timestamp::from_second(1_000).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = shared.clone();
            std::thread::spawn(move || {
                (0..25)
                    .filter(|_| s.acquire("k", rate, at).unwrap() == Acquire::Allowed)
                    .count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(admitted, 50, "200 concurrent calls against a burst of 50");
}

#[test]
fn unreachable_redis_refuses_by_default() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let e = engine(store(&url, OnUnavailable::Refuse), None);
    let d = send(&e, "bot", 0);
    let Decision::Refused(r) = d else {
        panic!("an unreachable store must not let calls through")
    };
    assert_eq!(r.refusal.code, DenyCode::InternalError);
    assert!(r.internal.unwrap().contains("redis unavailable"));
}

#[test]
fn unreachable_redis_can_fall_back_to_local_limits_and_says_so() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sink = Arc::new(MemorySink::new());
    let e = engine(store(&url, OnUnavailable::Local), Some(sink.clone()));
    assert!(send(&e, "bot", 0).is_allowed());
    // Redis goes away in the middle of the run.
    drop(redis);
    // Local limits start empty: three more calls, then the local limit holds.
    assert!(send(&e, "bot", 0).is_allowed());
    assert!(send(&e, "bot", 0).is_allowed());
    assert!(send(&e, "bot", 0).is_allowed());
    assert_eq!(
        send(&e, "bot", 0).refusal().unwrap().code,
        DenyCode::RateLimited
    );
    let events = sink.events();
    assert!(events[0].degraded.is_empty());
    assert!(
        events[1].degraded[0].starts_with("rate_limit: redis unavailable"),
        "{:?}",
        events[1].degraded
    );
}

/// Two engines sharing one Redis budget, with a window in the policy's zone.
fn budget_engine(url: &str) -> Engine {
    let config = airlock_testkit::core_only()
        .file(
            "b.toml",
            "[[budgets]]\nname = \"mail\"\nper = \"agent\"\nwindow = \"hour\"\ncalls = 3\ntokens = 1000\n",
        )
        .build()
        .unwrap();
    let store =
        airlock_redis::RedisBudgetStore::open(url, "airlock:rl:", 100, OnUnavailable::Refuse)
            .unwrap();
    Engine::builder()
        .config(config)
        .tools([ToolDef::new(
            "send_mail",
            json!({"type": "object", "properties": {"to": {"type": "string"}}}),
        )])
        .rate_store(store_for(url))
        .budget_store(Arc::new(store))
        .build()
        .unwrap()
}

fn store_for(url: &str) -> Arc<RedisRateStore> {
    store(url, OnUnavailable::Refuse)
}

#[test]
fn two_engines_share_one_budget_atomically() {
    use airlock_core::budget::{BudgetStore, Caps, Spend};
    let redis = RedisServer::start();
    let a = budget_engine(&redis.url());
    let b = budget_engine(&redis.url());
    let at = Timestamp::now().as_second();
    assert!(send(&a, "bot", at).is_allowed());
    assert!(send(&b, "bot", at).is_allowed());
    assert!(send(&a, "bot", at).is_allowed());
    let d = send(&b, "bot", at);
    let r = d.refusal().unwrap();
    assert_eq!(r.code, DenyCode::BudgetExhausted);
    assert!(
        r.retry_after
            .is_some_and(|w| w <= Duration::from_secs(3600))
    );
    // Both engines read the same counter, which expires when its hour ends.
    let caller = CallerContext::default().agent("bot");
    assert_eq!(a.budget_spent("mail", &caller).unwrap().calls, 3);
    assert_eq!(b.budget_spent("mail", &caller).unwrap().calls, 3);
    let mut c = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("airlock:rl:budget:*")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut c).unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "{ttl}");

    // Many threads charging one counter never go past its cap.
    let shared = Arc::new(
        airlock_redis::RedisBudgetStore::open(&redis.url(), "t:", 100, OnUnavailable::Refuse)
            .unwrap(),
    );
    let caps = Caps {
        calls: Some(40),
        ..Caps::default()
    };
    let one = Spend {
        calls: 1,
        tokens: 3,
        ..Spend::default()
    };
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = shared.clone();
            std::thread::spawn(move || {
                (0..20)
                    .filter(|_| s.try_charge("k", &one, &caps, None).unwrap().is_none())
                    .count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(admitted, 40, "160 concurrent charges against a cap of 40");
    assert_eq!(shared.spent("k").unwrap().tokens, 120);
    shared.refund("k", &one).unwrap();
    assert_eq!(shared.spent("k").unwrap().calls, 39);
}

#[test]
fn an_unreachable_budget_store_refuses_the_call() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let config = airlock_testkit::core_only()
        .file("b.toml", "[[budgets]]\nper = \"session\"\ncalls = 3\n")
        .build()
        .unwrap();
    let e = Engine::builder()
        .config(config)
        .tools([ToolDef::new("send_mail", json!({"type": "object"}))])
        .budget_store(Arc::new(
            airlock_redis::RedisBudgetStore::open(&url, "x:", 50, OnUnavailable::Refuse).unwrap(),
        ))
        .build()
        .unwrap();
    let d = e.check(Call::new("send_mail", json!({})).caller(CallerContext::default()));
    assert_eq!(d.refusal().unwrap().code, DenyCode::InternalError);
}

/// Two engines whose breakers live in one Redis: failures seen by either count together, and
/// the breaker one opens refuses the other's calls; the probe and its success close it for both.
#[test]
fn two_engines_share_their_breakers() {
    use airlock_core::breaker::CallOutcome;
    let redis = RedisServer::start();
    let engine = || {
        let config = airlock_testkit::core_only()
            .file(
                "b.toml",
                "[tools.send_mail]\nbreaker = { failures = 2, open_for = \"30s\" }\n",
            )
            .build()
            .unwrap();
        Engine::builder()
            .config(config)
            .tools([ToolDef::new("send_mail", json!({"type": "object"}))])
            .breaker_store(Arc::new(
                airlock_redis::RedisBreakerStore::open(
                    &redis.url(),
                    "airlock:rl:",
                    100,
                    OnUnavailable::Refuse,
                )
                .unwrap(),
            ))
            .build()
            .unwrap()
    };
    let (a, b) = (engine(), engine());
    let caller = CallerContext::default().agent("bot");
    let call = |e: &Engine| {
        e.check(Call::new("send_mail", json!({})).caller(caller.clone()))
            .refusal()
            .map(|r| r.code)
    };
    assert_eq!(call(&a), None);
    a.record_outcome(&caller, "send_mail", CallOutcome::TimedOut);
    b.record_outcome(&caller, "send_mail", CallOutcome::Unreachable);
    assert_eq!(a.breaker_state("tool:send_mail"), "open");
    assert_eq!(call(&b), Some(DenyCode::BreakerOpen));
    assert_eq!(call(&a), Some(DenyCode::BreakerOpen));
    // Half open after the period (moved on by rewriting the open-until time): one probe in
    // all, whichever engine takes it.
    let mut c = redis.connection();
    let _: () = redis::cmd("HSET")
        .arg("airlock:rl:breaker:tool:send_mail")
        .arg("t")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(call(&b), None);
    assert_eq!(call(&a), Some(DenyCode::BreakerOpen));
    b.record_outcome(&caller, "send_mail", CallOutcome::Succeeded);
    assert_eq!(a.breaker_state("tool:send_mail"), "closed");
    assert_eq!(call(&a), None);
}
