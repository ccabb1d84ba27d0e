//! Who may talk to the gateway, checked before any message is read: the `Host` header against
//! `gateway.allowed_hosts` and any `Origin` against `gateway.allowed_origins` (403: the
//! DNS-rebinding defence), then the caller's credentials (401 with a JSON-RPC error body saying
//! what to send). Not covered here: what a caller may do once admitted (the engine decides).

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use super::Inner;
use crate::auth::{AuthError, Identity};
use crate::protocol::{self, INVALID_REQUEST};

/// An HTTP error carrying a JSON-RPC error body (no request id: the message was not read, or
/// had none). The body follows the protocol version the request's `MCP-Protocol-Version`
/// header names.
pub(crate) fn rpc_error_response(
    status: StatusCode,
    code: i64,
    message: &str,
    headers: &HeaderMap,
) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        protocol::error(None, code, message, header_version(headers)).to_string(),
    )
        .into_response()
}

/// The protocol version the request's `MCP-Protocol-Version` header names.
pub(crate) fn header_version(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
}

/// A JSON-RPC message as an `application/json` answer.
pub(crate) fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// `host` or `host:port` (`[v6]:port`), lower-cased, split.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        match s.find(']') {
            Some(i) if i + 1 == s.len() => (s, None),
            Some(i) => match s[i + 1..].strip_prefix(':') {
                Some(port) => (&s[..=i], Some(port)),
                // `[::1]evil` is no host at all.
                None => ("", None),
            },
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    }
}

/// Whether a `Host` header names an allowed host (`host` entries allow any port).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let (name, port) = split_host_port(&host);
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        let (an, ap) = split_host_port(&a);
        an == name && (ap.is_none() || ap == port)
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    }
}

/// Whether an `Origin` header is one of the allowed origins (`scheme://host[:port|:*]`; an
/// entry without a port means the scheme's default port; `null` matches `null`).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let parse = |s: &str| -> Option<(String, String, Option<String>)> {
        let s = s.trim().to_ascii_lowercase();
        let (scheme, rest) = s.split_once("://")?;
        if rest.contains('/') || rest.contains('@') || rest.is_empty() {
            return None;
        }
        let (h, p) = split_host_port(rest);
        let port = p
            .map(str::to_owned)
            .or(default_port(scheme).map(str::to_owned));
        Some((scheme.to_owned(), h.to_owned(), port))
    };
    if origin.trim() == "null" {
        return allowed.iter().any(|a| a == "null");
    }
    let Some((s, h, p)) = parse(origin) else {
        return false;
    };
    allowed.iter().any(|a| match parse(a) {
        Some((as_, ah, ap)) => as_ == s && ah == h && (ap.as_deref() == Some("*") || ap == p),
        None => false,
    })
}

/// Whether `origin` is the gateway's own loopback origin: `http://` or `https://` and exactly
/// the `Host` the request was sent to, that host being a loopback name or address. The Host
/// has passed `gateway.allowed_hosts`, so a rebound name (`evil.example` pointing at 127.0.0.1)
/// never gets here; a page on the gateway's own loopback origin is what the conformance suite
/// calls a same-origin request.
pub fn same_loopback_origin(origin: &str, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let (name, _) = split_host_port(&host);
    let loopback = matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback());
    let origin = origin.trim().to_ascii_lowercase();
    loopback
        && !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"))
}

/// Host, Origin and credentials, in that order.
pub(crate) fn admit(inner: &Inner, headers: &HeaderMap) -> Result<Identity, Response> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &inner.settings.allowed_hosts) {
        return Err(rpc_error_response(
            StatusCode::FORBIDDEN,
            INVALID_REQUEST,
            &format!("the Host {host:?} is not served here (gateway.allowed_hosts)"),
            headers,
        ));
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        if !origin_allowed(o, &inner.settings.allowed_origins) && !same_loopback_origin(o, host) {
            return Err(rpc_error_response(
                StatusCode::FORBIDDEN,
                INVALID_REQUEST,
                &format!(
                    "requests from the origin {o:?} are not allowed (gateway.allowed_origins)"
                ),
                headers,
            ));
        }
    }
    inner.auth.authenticate(headers).map_err(|e| {
        let mut r = rpc_error_response(StatusCode::UNAUTHORIZED, -32001, &e.to_string(), headers);
        let challenge = match e {
            AuthError::Missing => "Bearer realm=\"airlock\"",
            AuthError::Invalid(_) => "Bearer realm=\"airlock\", error=\"invalid_token\"",
        };
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_and_port() {
        let allowed = vec![
            "localhost".to_owned(),
            "127.0.0.1:8080".to_owned(),
            "[::1]".to_owned(),
        ];
        assert!(host_allowed("localhost:3000", &allowed));
        assert!(host_allowed("LOCALHOST", &allowed));
        assert!(host_allowed("localhost.", &allowed));
        assert!(host_allowed("127.0.0.1:8080", &allowed));
        assert!(!host_allowed("127.0.0.1:8081", &allowed));
        assert!(host_allowed("[::1]:9", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("localhost.evil.example", &allowed));
        assert!(!host_allowed("", &allowed));
        assert!(!host_allowed("[::1]evil", &allowed));
        assert!(!host_allowed("[::1]evil:80", &allowed));
        assert!(host_allowed("anything", &["*".to_owned()]));
    }

    #[test]
    fn the_gateways_own_loopback_origin_is_same_origin() {
        assert!(same_loopback_origin(
            "http://127.0.0.1:8787",
            "127.0.0.1:8787"
        ));
        assert!(same_loopback_origin(
            "http://localhost:3000",
            "localhost:3000"
        ));
        assert!(same_loopback_origin("http://[::1]:9", "[::1]:9"));
        assert!(
            !same_loopback_origin("http://127.0.0.1:8788", "127.0.0.1:8787"),
            "another port is another origin"
        );
        assert!(
            !same_loopback_origin("http://evil.example:8787", "evil.example:8787"),
            "not loopback"
        );
        assert!(!same_loopback_origin(
            "http://127.0.0.1:8787.evil.example",
            "127.0.0.1:8787"
        ));
        assert!(!same_loopback_origin("null", "127.0.0.1:8787"));
        assert!(!same_loopback_origin("http://", ""));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let allowed = vec![
            "https://app.example.com".to_owned(),
            "http://localhost:*".to_owned(),
        ];
        assert!(origin_allowed("https://app.example.com", &allowed));
        assert!(origin_allowed("https://app.example.com:443", &allowed));
        assert!(!origin_allowed("https://app.example.com:8443", &allowed));
        assert!(!origin_allowed("http://app.example.com", &allowed));
        assert!(origin_allowed("http://localhost:5173", &allowed));
        assert!(!origin_allowed("https://evil.example", &allowed));
        assert!(!origin_allowed(
            "https://app.example.com.evil.example",
            &allowed
        ));
        assert!(!origin_allowed("null", &allowed));
        assert!(origin_allowed("null", &["null".to_owned()]));
        assert!(!origin_allowed("https://app.example.com", &[]));
    }
}
