//! What the airlock writes itself, valid under every MCP protocol version: JSON-RPC error
//! answers, ids as map keys, and the protocol version in force for a message.
//!
//! Guards against answers a client rejects: the airlock's own results (refusals, withheld
//! results) must parse under the version the client speaks. Protocol 2026-07-28 requires
//! `resultType` on every result (the official Python SDK refuses a `CallToolResult` without
//! it); earlier versions do not know the field. Requests of 2026-07-28 are stateless and carry
//! their own version (`_meta["io.modelcontextprotocol/protocolVersion"]`); earlier versions
//! negotiate one per session with `initialize`. Version strings are dates, so they compare as
//! strings; an unknown version (none seen yet, or one newer than this code) is treated as the
//! newest known, whose rules are a superset for what the airlock writes.
//!
//! Not covered here: which messages are touched at all (see [`crate::lifecycle`]).

use serde_json::{Map, Value, json};

/// JSON-RPC: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request (batches, oversize lines).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: bad params.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Implementation-defined: the server went away before answering (or its answer could not be
/// read to be checked).
pub const SERVER_GONE: i64 = -32000;

/// The protocol versions this airlock knows, oldest first.
pub const VERSIONS: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

/// The first version whose results carry `resultType` and whose error answers may leave out
/// an id they cannot name.
const STATELESS: &str = "2026-07-28";
/// The first version whose error answers may leave out an unknown id.
const OPTIONAL_ERROR_ID: &str = "2025-11-25";

/// The `_meta` key of a 2026-07-28 request naming its protocol version.
pub const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// The protocol version a request or notification names itself (`params._meta`), if any.
pub fn version_of(message: &Value) -> Option<&str> {
    version_in_meta(message.get("params")?.get("_meta")?.as_object()?)
}

/// The protocol version a request's `_meta` names (2026-07-28), if any.
pub fn version_in_meta(meta: &serde_json::Map<String, Value>) -> Option<&str> {
    meta.get(VERSION_META)?.as_str()
}

/// The version in force for `message`: its own, else the session's.
pub fn version_for<'a>(message: &'a Value, session: Option<&'a str>) -> Option<&'a str> {
    version_of(message).or(session)
}

/// Whether results under `version` carry `resultType` (2026-07-28 and later, or unknown).
pub fn has_result_type(version: Option<&str>) -> bool {
    version.is_none_or(|v| v >= STATELESS)
}

/// Whether `version` is 2026-07-28 or later: human input is an `input_required` result there,
/// not a server-to-client request.
pub fn asks_in_results(version: Option<&str>) -> bool {
    version.is_some_and(|v| v >= STATELESS)
}

/// Whether the airlock's own notifications (`notifications/tools/list_changed`) go to a session
/// of `version` as plain notifications: before 2026-07-28. From 2026-07-28, and where the
/// version is not known, they go only on the `subscriptions/listen` streams that ask for them,
/// naming the stream (the spec forbids a notice the client did not opt in to). One rule for
/// the stdio proxy and the rmcp wrapper.
pub fn notifies_plainly(version: Option<&str>) -> bool {
    version.is_some_and(|v| v < STATELESS)
}

/// Mark a result the airlock wrote (or rewrote) as complete where the version asks for it.
/// A `resultType` already present is kept.
pub fn complete(result: &mut Value, version: Option<&str>) {
    if has_result_type(version)
        && let Value::Object(m) = result
        && !m.contains_key("resultType")
    {
        m.insert("resultType".into(), Value::String("complete".into()));
    }
}

/// A JSON-RPC error answer. `id` is the request's; `None` when it cannot be known (bad JSON, an
/// oversize line): then `"id": null` as JSON-RPC 2.0 asks, except under 2025-11-25 and later,
/// whose schema leaves the id out instead (null is no request id there).
pub fn error(id: Option<Value>, code: i64, message: &str, version: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), "2.0".into());
    match id {
        Some(id) => {
            m.insert("id".into(), id);
        }
        None if version.is_some_and(|v| v < OPTIONAL_ERROR_ID) => {
            m.insert("id".into(), Value::Null);
        }
        None => {}
    }
    m.insert("error".into(), json!({"code": code, "message": message}));
    Value::Object(m)
}

/// A JSON-RPC error answer to the request with this id (the same under every version).
pub fn error_to(id: Value, code: i64, message: &str) -> Value {
    error(Some(id), code, message, None)
}

/// A JSON-RPC result answer; `result` is marked complete where the version asks for it.
pub fn result(id: Value, mut result: Value, version: Option<&str>) -> Value {
    complete(&mut result, version);
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A message as one line of JSON (the stdio framing).
pub fn line(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A JSON-RPC id as a map key: numbers by value (`1`, `1.0` and `1e0` are one id to a
/// JavaScript server), everything else by its JSON text (`1` and `"1"` differ).
pub fn id_key(id: &Value) -> String {
    if let Value::Number(n) = id
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 9_007_199_254_740_992.0
    {
        return format!("{}", f as i64);
    }
    id.to_string()
}

/// Why a request id cannot be tracked exactly, if it cannot: the airlock matches answers to
/// requests by id, so only ids every peer reads the same way pass — a string, or a whole number
/// within ±2^53 (what a JavaScript peer reads exactly). `null` is refused as the specification
/// requires; so are fractions, booleans, arrays and objects.
pub fn untrackable_id(id: &Value) -> Option<&'static str> {
    match id {
        Value::String(_) => None,
        Value::Number(n) => {
            let exact = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= 1 << 53,
                (None, Some(u)) => u <= 1 << 53,
                _ => n
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0),
            };
            (!exact).then_some("a request id must be a string or a whole number within ±2^53")
        }
        Value::Null => Some("a request id must not be null"),
        _ => Some("a request id must be a string or a number"),
    }
}

/// Whether a JSON text holds an object with the same member name twice, at any depth (`Err`
/// with the name). Peers keep different members of such an object (most parsers the last, some
/// the first), so a message the airlock relays must not hold one: what it checked would not be
/// what the receiver reads. `Ok` for text that is not JSON: that is found by the parse.
pub fn unique_members(text: &[u8]) -> Result<(), String> {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(UniqueVisitor)
        }
    }

    struct UniqueVisitor;

    impl<'de> Visitor<'de> for UniqueVisitor {
        type Value = Unique;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_unit<E>(self) -> Result<Unique, E> {
            Ok(Unique)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
            while seq.next_element::<Unique>()?.is_some() {}
            Ok(Unique)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
            let mut keys: Vec<std::borrow::Cow<'de, str>> = Vec::new();
            let mut set: Option<std::collections::HashSet<std::borrow::Cow<'de, str>>> = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                // Small objects: a linear scan; larger ones: a set.
                let seen = match &mut set {
                    Some(set) => !set.insert(key.clone()),
                    None => keys.contains(&key),
                };
                if seen {
                    return Err(serde::de::Error::custom(format!(
                        "the member {key:?} appears twice in one object"
                    )));
                }
                if set.is_none() {
                    keys.push(key);
                    if keys.len() > 16 {
                        set = Some(keys.drain(..).collect());
                    }
                }
                map.next_value::<Unique>()?;
            }
            Ok(Unique)
        }
    }

    match serde_json::from_slice::<Unique>(text) {
        Ok(Unique) => Ok(()),
        Err(e) if e.to_string().contains("appears twice") => {
            let message = e.to_string();
            let cut = message.find(" at line ").unwrap_or(message.len());
            Err(message[..cut].to_owned())
        }
        Err(_) => Ok(()),
    }
}

/// The value of the top-level member `name` of a JSON object text, when it appears exactly once
/// (a message with members named twice is refused, but its id is still wanted for the answer).
pub fn sole_member(text: &[u8], name: &str) -> Option<Value> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Find<'n>(&'n str);
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
            let mut found: Vec<Value> = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.0 {
                    found.push(map.next_value::<Value>()?);
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok((found.len() == 1).then(|| found.remove(0)))
        }
    }
    let mut d = serde_json::Deserializer::from_slice(text);
    d.deserialize_map(Find(name)).ok().flatten()
}

/// Whether `m` is the answer (result or error) to the request with id `id`.
pub fn is_answer(m: &Value, id: &Value) -> bool {
    m.get("method").is_none()
        && (m.get("result").is_some() || m.get("error").is_some())
        && m.get("id").map(id_key) == Some(id_key(id))
}

/// Tracks the version a session negotiated with `initialize` (the client's proposal until the
/// server's answer names the version both speak).
#[derive(Debug, Default)]
pub struct SessionVersion(std::sync::Mutex<Option<String>>);

impl SessionVersion {
    /// The negotiated version, if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Note what an `initialize` request proposes (or a server's answer settles).
    pub fn set(&self, version: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(version.to_owned());
    }

    /// Note the version an `initialize` request proposes (`params.protocolVersion`).
    pub fn proposed(&self, request: &Value) {
        if let Some(v) = request
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
        {
            self.set(v);
        }
    }

    /// Note the version the server's answer to `initialize` settles (`result.protocolVersion`).
    /// Call it with that answer only: no other result names the session's version.
    pub fn settled(&self, answer: &Value) {
        if let Some(v) = answer
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
        {
            self.set(v);
        }
    }
}

/// 128 random bits as hex: session ids, and the airlock's own `requestState`s.
pub(crate) fn random_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // No /dev/urandom: the std hasher's per-process random keys, over a counter and the time.
        use std::hash::{BuildHasher, RandomState};
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let s = RandomState::new();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let a = s.hash_one((t, N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        let c = RandomState::new().hash_one((a, t));
        b[..8].copy_from_slice(&a.to_le_bytes());
        b[8..].copy_from_slice(&c.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn result_type_is_added_from_2026_07_28_on_and_when_unknown() {
        for (v, want) in [
            (Some("2024-11-05"), false),
            (Some("2025-11-25"), false),
            (Some("2026-07-28"), true),
            (Some("2027-01-01"), true),
            (None, true),
        ] {
            let mut r = json!({"content": []});
            complete(&mut r, v);
            assert_eq!(r.get("resultType").is_some(), want, "{v:?}");
        }
        let mut r = json!({"resultType": "input_required"});
        complete(&mut r, None);
        assert_eq!(r["resultType"], "input_required");
    }

    #[test]
    fn the_airlocks_notices_are_plain_only_before_2026_07_28() {
        for (v, want) in [
            (Some("2024-11-05"), true),
            (Some("2025-11-25"), true),
            (Some("2026-07-28"), false),
            (Some("2027-01-01"), false),
            (None, false),
        ] {
            assert_eq!(notifies_plainly(v), want, "{v:?}");
        }
    }

    #[test]
    fn an_unknown_id_is_null_before_2025_11_25_and_left_out_after() {
        assert_eq!(
            error(None, PARSE_ERROR, "x", Some("2025-06-18"))["id"],
            Value::Null
        );
        assert!(
            error(None, PARSE_ERROR, "x", Some("2025-06-18"))
                .as_object()
                .unwrap()
                .contains_key("id")
        );
        assert!(
            !error(None, PARSE_ERROR, "x", Some("2025-11-25"))
                .as_object()
                .unwrap()
                .contains_key("id")
        );
        assert!(
            !error(None, PARSE_ERROR, "x", None)
                .as_object()
                .unwrap()
                .contains_key("id")
        );
        assert_eq!(error(Some(json!(7)), 1, "x", None)["id"], 7);
    }

    #[test]
    fn only_ids_every_peer_reads_alike_are_tracked() {
        for ok in [
            json!("a"),
            json!(""),
            json!(0),
            json!(-7),
            json!(9_007_199_254_740_992u64),
            json!(1.0),
        ] {
            assert_eq!(untrackable_id(&ok), None, "{ok}");
        }
        for bad in [
            json!(null),
            json!(1.5),
            json!(true),
            json!([1]),
            json!({"a": 1}),
            json!(9_007_199_254_740_993u64),
            json!(1e300),
        ] {
            assert!(untrackable_id(&bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn duplicate_members_are_found_at_any_depth() {
        assert!(unique_members(br#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#).is_ok());
        let e = unique_members(br#"{"result":{"x":1},"result":{"y":2}}"#).unwrap_err();
        assert!(e.contains("\"result\" appears twice"), "{e}");
        assert!(unique_members(br#"{"a":[{"k":1,"k":2}]}"#).is_err());
        // The same name spelt with an escape is the same name.
        assert!(unique_members(br#"{"method":"a","\u006dethod":"b"}"#).is_err());
        let wide: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        assert!(unique_members(format!("{{{wide}\"k3\":0}}").as_bytes()).is_err());
        assert!(unique_members(format!("{{{wide}\"z\":0}}").as_bytes()).is_ok());
        // Not JSON: for the parse to report.
        assert!(unique_members(b"{oops").is_ok());
    }

    #[test]
    fn versions_come_from_the_message_then_the_session() {
        let stateless =
            json!({"method": "tools/call", "params": {"_meta": {VERSION_META: "2026-07-28"}}});
        assert_eq!(
            version_for(&stateless, Some("2025-06-18")),
            Some("2026-07-28")
        );
        assert_eq!(
            version_for(&json!({"method": "x"}), Some("2025-06-18")),
            Some("2025-06-18")
        );
        let s = SessionVersion::default();
        s.proposed(&json!({"method": "initialize", "params": {"protocolVersion": "2025-11-25"}}));
        assert_eq!(s.get().as_deref(), Some("2025-11-25"));
        s.settled(&json!({"id": 1, "result": {"protocolVersion": "2025-06-18"}}));
        assert_eq!(s.get().as_deref(), Some("2025-06-18"));
    }
}
