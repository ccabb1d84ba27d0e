//! Who is calling the HTTP gateway: API keys and JWT bearer tokens, mapped to a
//! [`CallerContext`]'s agent, roles and tenant.
//!
//! Keys are configured by their SHA-256 only, and compared in constant time. JWTs are verified
//! with keys from a JWKS file (picked by `kid`), a PEM public key, or a shared secret from an
//! environment variable; `exp` is required, `iss`/`aud` are checked when configured, and a token
//! naming an audience is refused when none is configured (a token minted for another service
//! is not accepted here).

use std::collections::BTreeMap;
use std::str::FromStr;

use airlock_core::config::{GatewaySettings, JwtSettings};
use http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The agent id.
    pub agent: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// What the credentials prove, for binding sessions to them: a session opened with one
    /// identity cannot be used with another.
    pub principal: String,
}

/// Why a request was not authenticated (the 401 body says this, never more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials were sent.
    Missing,
    /// Credentials were sent and are not valid.
    Invalid(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Missing => f.write_str(
                "authentication required: send `Authorization: Bearer <API key or JWT>` (or `X-API-Key: <key>`)",
            ),
            AuthError::Invalid(why) => write!(f, "invalid credentials: {why}"),
        }
    }
}

enum Keys {
    Single(DecodingKey),
    Set(Vec<(Option<String>, DecodingKey)>),
}

struct Jwt {
    keys: Keys,
    validation: Validation,
    settings: JwtSettings,
}

/// The gateway's authenticator, built once from `[gateway]`.
pub struct Authenticator {
    keys: Vec<([u8; 32], Identity)>,
    jwt: Option<Jwt>,
    anonymous: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.keys.len())
            .field("jwt", &self.jwt.is_some())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    /// Build from the gateway settings, reading key files and secret variables now (a missing
    /// file or variable is an error at start-up, not a 401 later).
    pub fn new(settings: &GatewaySettings) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, k) in settings.api_keys.iter().enumerate() {
            let digest =
                hex32(&k.sha256).ok_or(format!("gateway.api_keys entry {i}: bad sha256"))?;
            keys.push((
                digest,
                Identity {
                    agent: k.agent.clone(),
                    roles: k.roles.clone(),
                    tenant: k.tenant.clone(),
                    principal: format!("key:{}", &k.sha256[..16]),
                },
            ));
        }
        let jwt = settings.jwt.as_ref().map(Jwt::new).transpose()?;
        Ok(Authenticator {
            keys,
            jwt,
            anonymous: settings.allow_anonymous,
        })
    }

    /// Whether any way to authenticate is configured (or anonymous callers are allowed).
    pub fn is_open(&self) -> bool {
        self.anonymous || !self.keys.is_empty() || self.jwt.is_some()
    }

    /// Authenticate a request by its headers.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .map(|v| {
                let v = v.to_str().map_err(|_| {
                    AuthError::Invalid("the Authorization header is not text".into())
                })?;
                let (scheme, token) = v.trim().split_once(' ').unwrap_or((v, ""));
                if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                    return Err(AuthError::Invalid(
                        "the Authorization header must be `Bearer <token>`".into(),
                    ));
                }
                Ok(token.trim().to_owned())
            })
            .transpose()?;
        let api_key = headers
            .get("x-api-key")
            .map(|v| {
                v.to_str()
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| AuthError::Invalid("the X-API-Key header is not text".into()))
            })
            .transpose()?;
        let Some(token) = bearer.or(api_key) else {
            return if self.anonymous {
                Ok(Identity {
                    agent: "anonymous".into(),
                    roles: Vec::new(),
                    tenant: None,
                    principal: "anonymous".into(),
                })
            } else {
                Err(AuthError::Missing)
            };
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every key is compared, so the time taken says nothing about which one matched.
        let mut found = None;
        for (k, id) in &self.keys {
            if constant_time_eq(k, &digest) {
                found = Some(id);
            }
        }
        if let Some(id) = found {
            return Ok(id.clone());
        }
        match &self.jwt {
            Some(jwt) if token.matches('.').count() == 2 => jwt.verify(&token),
            _ => Err(AuthError::Invalid("unknown API key".into())),
        }
    }
}

impl Jwt {
    fn new(s: &JwtSettings) -> Result<Self, String> {
        let algorithms = s
            .algorithms
            .iter()
            .map(|a| {
                Algorithm::from_str(a).map_err(|e| format!("gateway.jwt.algorithms: {a}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = if let Some(path) = &s.jwks_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("gateway.jwt.jwks_file {path:?}: {e}"))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| format!("gateway.jwt.jwks_file {path:?} is not a JWKS: {e}"))?;
            let mut keys = Vec::new();
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    format!("gateway.jwt.jwks_file {path:?}: a key is unusable: {e}")
                })?;
                keys.push((jwk.common.key_id.clone(), key));
            }
            if keys.is_empty() {
                return Err(format!("gateway.jwt.jwks_file {path:?} holds no keys"));
            }
            Keys::Set(keys)
        } else if let Some(path) = &s.public_key_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("gateway.jwt.public_key_file {path:?}: {e}"))?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .or_else(|_| DecodingKey::from_ec_pem(&pem))
                .or_else(|_| DecodingKey::from_ed_pem(&pem))
                .map_err(|_| {
                    format!("gateway.jwt.public_key_file {path:?} is not an RSA, EC or Ed25519 public key in PEM")
                })?;
            Keys::Single(key)
        } else if let Some(var) = &s.secret_env {
            let secret = std::env::var(var)
                .map_err(|_| format!("gateway.jwt.secret_env: ${var} is not set"))?;
            if secret.len() < 32 {
                return Err(format!(
                    "gateway.jwt.secret_env: ${var} is shorter than 32 bytes; use a longer random secret"
                ));
            }
            Keys::Single(DecodingKey::from_secret(secret.as_bytes()))
        } else {
            return Err("gateway.jwt: no key source".into());
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = s.leeway_secs;
        validation.validate_nbf = true;
        // A configured issuer or audience must be present, not just right when present.
        let mut required = vec!["exp"];
        if let Some(iss) = &s.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &s.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = true,
        }
        validation.set_required_spec_claims(&required);
        Ok(Jwt {
            keys,
            validation,
            settings: s.clone(),
        })
    }

    fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let invalid =
            |e: jsonwebtoken::errors::Error| AuthError::Invalid(format!("bad token ({e})"));
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let key = match &self.keys {
            Keys::Single(k) => k,
            Keys::Set(keys) => {
                let by_kid = keys
                    .iter()
                    .find(|(kid, _)| kid.is_some() && *kid == header.kid)
                    // A token without a kid may use the only key there is.
                    .or_else(|| (header.kid.is_none() && keys.len() == 1).then(|| &keys[0]));
                &by_kid
                    .ok_or_else(|| {
                        AuthError::Invalid("no key in the JWKS matches the token's kid".into())
                    })?
                    .1
            }
        };
        // The token's algorithm must be one configured; it is then the only one accepted for
        // this token (jsonwebtoken wants the accepted algorithms to share one key family).
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "the token's algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, key, &validation)
            .map_err(invalid)?;
        let claims = data.claims;
        let s = &self.settings;
        let agent = claims
            .get(&s.agent_claim)
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                AuthError::Invalid(format!("the token has no {:?} claim", s.agent_claim))
            })?
            .to_owned();
        let roles = match claims.get(&s.roles_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(r)) => r
                .split([' ', ','])
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let tenant = claims
            .get(&s.tenant_claim)
            .and_then(Value::as_str)
            .map(str::to_owned);
        let iss = claims.get("iss").and_then(Value::as_str);
        // Unambiguous: JSON of the parts, hashed (no agent or tenant can be crafted to collide).
        let parts = serde_json::to_vec(&(iss, &agent, &tenant)).unwrap_or_default();
        let digest: [u8; 32] = Sha256::digest(&parts).into();
        let principal = format!(
            "jwt:{}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Ok(Identity {
            principal,
            agent,
            roles,
            tenant,
        })
    }
}
