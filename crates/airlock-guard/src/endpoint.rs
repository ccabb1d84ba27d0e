//! `endpoint` — which network endpoints a tool argument may point at. Phase: guard.
//!
//! Guards against server-side request forgery through tool arguments: a model (or a prompt
//! injected into it) asking a `fetch`-like tool for `http://169.254.169.254/` (cloud
//! credentials), `http://localhost:6379/`, `http://intranet/` or any host outside the allowed
//! list. It refuses:
//!
//! - schemes that are not listed (`file:`, `gopher:`, `dict:`, `javascript:`, `data:` ...).
//!   The argument guards never send it a well-formed `data:` URI where a URL is expected: that
//!   is inline content, not an endpoint ([`crate::find::is_data_uri`]);
//! - URLs that different parsers read differently (parser differentials): control characters
//!   or whitespace anywhere, invisible formatting characters, backslashes, more than one `@` in
//!   the authority, percent-escapes in the host, an empty host, a special scheme without `//`
//!   (`http:example.com`), empty labels (`a..b`), characters no DNS name has, and non-ASCII
//!   text that normalises to an IP address (`１２７.0.0.1`);
//! - credentials in the URL (`https://good.com@evil.com/` really goes to `evil.com`);
//! - hosts outside `allow_hosts` or inside `deny_hosts`;
//! - internal addresses ([`classify`]) in any spelling the WHATWG parser accepts — decimal
//!   (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f.1`), short (`127.1`), IPv6 with an
//!   embedded IPv4 (mapped, compatible, NAT64, 6to4, Teredo) — and local names (`localhost`,
//!   `*.internal`, single-label names ...);
//! - ports other than the scheme's default and those listed.
//!
//! Parsing follows the WHATWG URL standard (the `url` crate), as browsers and most modern HTTP
//! clients do; host names are compared in their ASCII (punycode), lower-case form without the
//! trailing dot. For schemes the standard does not know (`redis:`), the host is normalised the
//! same way as for `http:` so `redis://127.1/` is still seen as `127.0.0.1`.
//!
//! **Not covered.** This check does no DNS. A public name can resolve to an internal address
//! (`127.0.0.1.nip.io`), and a name can resolve differently between this check and the
//! connection (DNS rebinding): no check made before the connection can prevent that. The
//! caller may resolve the name and pass the answers to [`EndpointPolicy::check_resolved`],
//! which catches names that resolve to internal addresses *at check time* only; the real
//! defence is an egress proxy or a connector that checks the address it actually connects to.
//! Redirects followed by the tool are not seen either.
//!
//! ## Check order
//!
//! The first refusal wins:
//!
//! ```text
//!  raw text ─► policy valid? ─► text: controls, whitespace, invisible chars, `\` ─► scheme listed?
//!     InvalidPolicy            Ambiguous                                       Scheme
//!  ─► authority: `//`, one `@`, host present, no `%` ─► WHATWG parse ─► host normal form
//!     Ambiguous                                       Unparsable        Ambiguous / Unparsable
//!  ─► credentials ─► allow_hosts / deny_hosts ─► address class / local name ─► port ─► Endpoint
//!     Userinfo       HostNotAllowed             ForbiddenAddress              Port
//! ```
//!
//! The scheme is checked on the text before the full parse so that `javascript:` or `file:`
//! URLs are refused for their scheme whatever else they contain (it is the same lower-case
//! scheme the parser would return). The host allow list comes before the address rules so a
//! model that names the wrong host is told which hosts it may use.
//!
//! ## Metadata endpoints
//!
//! Cloud metadata services hand out credentials, so [`AddressClass::Metadata`] addresses
//! (`169.254.169.254`, `169.254.170.2`, `169.254.170.23`, `100.100.100.200`, `168.63.129.16`,
//! `fd00:ec2::254`, `fd00:ec2::23`, `fd20:ce::254`) are refused even with `allow_private = true`;
//! only an `allow_addresses` CIDR that covers them lets them through. The metadata *names*
//! (`metadata.google.internal`, `metadata`, `instance-data`) need both `allow_private = true`
//! and the exact name (not a glob) in `allow_hosts`. Widening the policy for private networks
//! should never hand out cloud credentials by accident.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The URL policy, as plain data built by the caller from its configuration.
///
/// [`Default`] is the safe policy: `http` and `https` to any public host on the default port,
/// no credentials in URLs. Call [`EndpointPolicy::validate`] once when the configuration is
/// loaded; [`check`](EndpointPolicy::check) refuses every URL (`InvalidPolicy`) if the policy
/// does not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Allowed schemes, lower case. Default: `["https", "http"]`. The first one is used by
    /// [`check_host`](EndpointPolicy::check_host) for values without a scheme.
    pub schemes: Vec<String>,
    /// Allowed hosts: `api.example.com` (exactly that host), `*.example.com` (one or more labels
    /// under `example.com`, not `example.com` itself), `*` (any host), or an IP address in plain
    /// form (`203.0.113.7`, `2001:db8::1` or `[2001:db8::1]`). Names are compared whole label
    /// by label, in punycode; a name pattern never matches an IP address, and an IP pattern
    /// matches only that address. Empty (the default) means any host. Either way the address
    /// rules still apply.
    pub allow_hosts: Vec<String>,
    /// Hosts refused even when `allow_hosts` matches; same syntax. Never shown to the model.
    pub deny_hosts: Vec<String>,
    /// Ports allowed besides the scheme's default port (which is always allowed, written or
    /// not). Empty (the default) means the default port only.
    pub ports: Vec<u16>,
    /// Allow internal addresses and local names (loopback, private, link-local, CGNAT ...).
    /// Default `false`. Metadata endpoints stay refused; see the module docs.
    pub allow_private: bool,
    /// CIDRs (`10.1.2.0/24`, `fd00::/8`, or a single address) allowed even when they are
    /// internal, metadata addresses included. Default empty.
    pub allow_addresses: Vec<String>,
    /// Allow `user:password@` in URLs. Default `false`: credentials in a URL end up in logs and
    /// are the classic way to disguise the real host (`https://good.com@evil.com/`).
    pub allow_userinfo: bool,
}

impl Default for EndpointPolicy {
    fn default() -> Self {
        EndpointPolicy {
            schemes: vec!["https".to_owned(), "http".to_owned()],
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            ports: Vec::new(),
            allow_private: false,
            allow_addresses: Vec::new(),
            allow_userinfo: false,
        }
    }
}

/// A URL that passed the policy, in normal form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The scheme, lower case.
    pub scheme: String,
    /// The host, normalised.
    pub host: Host,
    /// The port the URL goes to: the one written, or the scheme's default; `None` when neither
    /// is known (a scheme this module has no default port for, written without a port).
    pub port: Option<u16>,
}

/// A normalised host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name: ASCII (punycode), lower case, without the trailing dot.
    Name(String),
    /// An IP address, however it was spelled in the URL.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// Why a URL is refused. The `Display` text is meant for the model: it says what is allowed
/// (schemes, allowed hosts, ports) but never the deny list, and names the class of an internal
/// address, never the range that matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an absolute URL the WHATWG parser accepts.
    #[error(
        "the URL could not be parsed ({reason}); send an absolute URL such as `https://example.com/path`"
    )]
    Unparsable {
        /// What is wrong.
        reason: String,
    },
    /// A URL that different parsers could read differently.
    #[error(
        "the URL is ambiguous: {reason}; send it in plain form, such as `https://example.com/path`"
    )]
    Ambiguous {
        /// What is ambiguous.
        reason: String,
    },
    /// The scheme is not allowed.
    #[error("the URL scheme `{scheme}` is not allowed; {}", scheme_hint(.allowed))]
    Scheme {
        /// The scheme of the URL, lower case.
        scheme: String,
        /// The allowed schemes.
        allowed: Vec<String>,
    },
    /// The URL carries credentials (`user:password@`).
    #[error(
        "URLs carrying credentials (`user:password@host`) are not allowed; remove everything between `//` and `@`"
    )]
    Userinfo,
    /// The host is not in `allow_hosts`, or is in `deny_hosts` (the same message either way).
    #[error("the host `{host}` is not allowed here; {}", host_hint(.allowed))]
    HostNotAllowed {
        /// The normalised host.
        host: String,
        /// The `allow_hosts` patterns.
        allowed: Vec<String>,
    },
    /// The port is neither the scheme's default nor listed.
    #[error("port {port} is not allowed here; {}", port_hint(.allowed))]
    Port {
        /// The port written in the URL.
        port: u16,
        /// The allowed ports: the scheme's default (when known) and the listed ones.
        allowed: Vec<u16>,
    },
    /// The host is, or resolves to, an internal address or a local name.
    #[error(
        "the host `{host}` is, or resolves to, {class}; only public hosts may be reached (retrying with this host will not help)"
    )]
    ForbiddenAddress {
        /// The normalised host (for [`EndpointPolicy::check_resolved`], the name given).
        host: String,
        /// What kind of address.
        class: AddressClass,
    },
    /// The policy itself does not validate, so every URL is refused (fail closed).
    #[error(
        "the URL policy for this tool is misconfigured, so every URL is refused; retrying will not help"
    )]
    InvalidPolicy,
}

impl EndpointError {
    /// A stable, snake-case name for the variant (for deny codes, audit records and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            EndpointError::Unparsable { .. } => "unparsable",
            EndpointError::Ambiguous { .. } => "ambiguous",
            EndpointError::Scheme { .. } => "scheme",
            EndpointError::Userinfo => "userinfo",
            EndpointError::HostNotAllowed { .. } => "host_not_allowed",
            EndpointError::Port { .. } => "port",
            EndpointError::ForbiddenAddress { .. } => "forbidden_address",
            EndpointError::InvalidPolicy => "invalid_policy",
        }
    }

    fn ambiguous(reason: &str) -> Self {
        EndpointError::Ambiguous {
            reason: reason.to_owned(),
        }
    }

    fn unparsable(reason: impl Into<String>) -> Self {
        EndpointError::Unparsable {
            reason: reason.into(),
        }
    }
}

fn scheme_hint(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "no scheme is allowed here (retrying will not help)".to_owned()
    } else {
        format!("use one of: {}", allowed.join(", "))
    }
}

fn host_hint(allowed: &[String]) -> String {
    if allowed.is_empty() || allowed.iter().any(|pattern| pattern == "*") {
        "retrying with this host will not help".to_owned()
    } else {
        format!(
            "allowed hosts: {} (retrying with this host will not help)",
            allowed.join(", ")
        )
    }
}

fn port_hint(allowed: &[u16]) -> String {
    if allowed.is_empty() {
        "leave the port out to use the scheme's default".to_owned()
    } else {
        let ports: Vec<String> = allowed.iter().map(u16::to_string).collect();
        format!(
            "allowed ports: {} (or leave the port out to use the scheme's default)",
            ports.join(", ")
        )
    }
}

/// What kind of internal address (or local name) a host is. [`classify`] returns `None` for a
/// public address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7` (unique local), `fec0::/10` (site-local).
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `100.64/10`, carrier-grade NAT.
    SharedCgnat,
    /// A cloud metadata endpoint (address or name); see the module docs.
    Metadata,
    /// `0.0.0.0/8`, `::` — "this host" to most stacks.
    Unspecified,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240/4`, `192.0.0/24`, `198.18/15` (benchmarking), `2001:2::/48`, and IPv6 outside
    /// `2000::/3` that has no other class.
    Reserved,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// A name that only means something on a local network: `localhost`, `*.localhost`,
    /// `*.internal`, `*.local`, `*.localdomain`, `*.home.arpa`, `*.lan`, `*.home`, `*.corp`,
    /// `*.intranet`, and single-label names (`intranet`).
    LocalName,
}

impl AddressClass {
    /// A stable, snake-case name (`loopback`, `shared_cgnat`, `local_name` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link_local",
            AddressClass::SharedCgnat => "shared_cgnat",
            AddressClass::Metadata => "metadata",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved",
            AddressClass::Documentation => "documentation",
            AddressClass::LocalName => "local_name",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::SharedCgnat => "a shared (carrier-grade NAT) address",
            AddressClass::Metadata => "a cloud metadata endpoint",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "a broadcast address",
            AddressClass::Reserved => "a reserved address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::LocalName => "a local network name",
        })
    }
}

impl EndpointPolicy {
    /// Checks the policy itself: schemes in lower case, host patterns well formed, CIDRs
    /// valid, no port 0. The error lists every problem, each with its key and the fix; it is
    /// meant for the operator (it may quote `deny_hosts`), not for the model.
    pub fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }

    /// Checks one URL (no DNS). On success returns the URL's normalised endpoint.
    pub fn check(&self, raw: &str) -> Result<Endpoint, EndpointError> {
        let compiled = self.compile().map_err(|_| EndpointError::InvalidPolicy)?;
        self.check_compiled(&compiled, raw)
    }

    /// Checks a value that may lack a scheme, as a parameter named `host` or `endpoint` often
    /// does: `example.com`, `10.0.0.1:8080`, `[::1]:80` or `::1`. A value that starts with
    /// `scheme://` is checked as is; any other as `<first allowed scheme>://<value>`.
    pub fn check_host(&self, raw: &str) -> Result<Endpoint, EndpointError> {
        let compiled = self.compile().map_err(|_| EndpointError::InvalidPolicy)?;
        self.check_host_compiled(&compiled, raw)
    }

    fn check_host_compiled(
        &self,
        compiled: &Compiled,
        raw: &str,
    ) -> Result<Endpoint, EndpointError> {
        let has_scheme = raw
            .split_once("://")
            .is_some_and(|(scheme, _)| check_scheme_name(&scheme.to_ascii_lowercase()).is_ok());
        if has_scheme {
            return self.check_compiled(compiled, raw);
        }
        let scheme = self.schemes.first().map_or("https", String::as_str);
        let url = if raw.parse::<Ipv6Addr>().is_ok() {
            format!("{scheme}://[{raw}]")
        } else {
            format!("{scheme}://{raw}")
        };
        self.check_compiled(compiled, &url)
    }

    /// Checks the addresses a host name resolved to, for callers that resolve names before
    /// connecting. Each address must pass the same address rules as an IP written in a URL.
    /// Catches names that point at internal addresses *now*; it cannot stop the name from
    /// resolving elsewhere when the tool connects (DNS rebinding). An empty list passes.
    ///
    /// A metadata address passes only if `allow_addresses` covers it, or if `host` is itself a
    /// metadata name that `allow_hosts` lists exactly and `allow_private` is on: an ordinary
    /// name that resolves to `169.254.169.254` is refused whatever the policy.
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), EndpointError> {
        let compiled = self.compile().map_err(|_| EndpointError::InvalidPolicy)?;
        self.check_resolved_compiled(&compiled, host, addrs)
    }

    /// The policy with its patterns and CIDRs parsed once, for checking many values; the
    /// error is [`EndpointPolicy::validate`]'s.
    pub fn compiled(&self) -> Result<CompiledEndpointPolicy, String> {
        Ok(CompiledEndpointPolicy {
            compiled: self.compile()?,
            policy: self.clone(),
        })
    }

    fn check_resolved_compiled(
        &self,
        compiled: &Compiled,
        host: &str,
        addrs: &[IpAddr],
    ) -> Result<(), EndpointError> {
        let lower = match url::Host::parse(host) {
            Ok(url::Host::Domain(domain)) => domain,
            _ => host.to_ascii_lowercase(),
        };
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let named_metadata = classify_name(name) == Some(AddressClass::Metadata)
            && self.allow_private
            && compiled.lists_exactly(name);
        for &addr in addrs {
            let Some(class) = classify(addr) else {
                continue;
            };
            let permitted = compiled.allows_address(addr)
                || match class {
                    AddressClass::Metadata => named_metadata,
                    _ => self.allow_private,
                };
            if !permitted {
                return Err(EndpointError::ForbiddenAddress {
                    host: name.to_owned(),
                    class,
                });
            }
        }
        Ok(())
    }

    fn check_compiled(&self, compiled: &Compiled, raw: &str) -> Result<Endpoint, EndpointError> {
        check_text(raw)?;
        let raw_url = split_raw(raw)?;
        if !self.schemes.contains(&raw_url.scheme) {
            return Err(EndpointError::Scheme {
                scheme: raw_url.scheme,
                allowed: self.schemes.clone(),
            });
        }
        let authority = check_authority(&raw_url)?;

        let url = url::Url::parse(raw).map_err(|e| EndpointError::unparsable(e.to_string()))?;
        if url.scheme() != raw_url.scheme {
            return Err(EndpointError::unparsable(
                "the scheme changed while parsing",
            ));
        }
        let host = normal_host(&url)?;
        if authority.non_ascii_host && matches!(host, Host::Ip(_)) {
            return Err(EndpointError::ambiguous(
                "the host is written with non-ASCII characters that stand for an IP address",
            ));
        }

        let has_userinfo =
            authority.has_at || !url.username().is_empty() || url.password().is_some();
        if has_userinfo && !self.allow_userinfo {
            return Err(EndpointError::Userinfo);
        }

        let listed = compiled.allow.is_empty() || compiled.allow.iter().any(|p| p.matches(&host));
        let denied = compiled.deny.iter().any(|p| p.matches_or_carried(&host));
        if !listed || denied {
            return Err(EndpointError::HostNotAllowed {
                host: host.to_string(),
                allowed: self.allow_hosts.clone(),
            });
        }

        self.check_address(compiled, &host)?;

        let default = default_port(url.scheme());
        if let Some(port) = url.port()
            && Some(port) != default
            && !self.ports.contains(&port)
        {
            let mut allowed: Vec<u16> = default.into_iter().collect();
            allowed.extend(self.ports.iter().filter(|p| Some(**p) != default));
            return Err(EndpointError::Port { port, allowed });
        }

        Ok(Endpoint {
            scheme: url.scheme().to_owned(),
            host,
            port: url.port().or(default),
        })
    }

    fn check_address(&self, compiled: &Compiled, host: &Host) -> Result<(), EndpointError> {
        let (class, permitted) = match host {
            Host::Ip(ip) => {
                let Some(class) = classify(*ip) else {
                    return Ok(());
                };
                let permitted = compiled.allows_address(*ip)
                    || (self.allow_private && class != AddressClass::Metadata);
                (class, permitted)
            }
            Host::Name(name) => {
                let Some(class) = classify_name(name) else {
                    return Ok(());
                };
                let permitted = match class {
                    AddressClass::Metadata => self.allow_private && compiled.lists_exactly(name),
                    _ => self.allow_private,
                };
                (class, permitted)
            }
        };
        if permitted {
            Ok(())
        } else {
            Err(EndpointError::ForbiddenAddress {
                host: host.to_string(),
                class,
            })
        }
    }

    fn compile(&self) -> Result<Compiled, String> {
        let mut problems = Vec::new();
        if self.schemes.is_empty() {
            problems
                .push("schemes: the list is empty, so no URL could pass; add \"https\"".to_owned());
        }
        for (i, scheme) in self.schemes.iter().enumerate() {
            if let Err(problem) = check_scheme_name(scheme) {
                problems.push(format!("schemes[{i}] = {scheme:?}: {problem}"));
            }
        }
        let mut allow = Vec::new();
        for (i, pattern) in self.allow_hosts.iter().enumerate() {
            match HostPattern::compile(pattern) {
                Ok(p) => allow.push(p),
                Err(problem) => problems.push(format!("allow_hosts[{i}] = {pattern:?}: {problem}")),
            }
        }
        let mut deny = Vec::new();
        for (i, pattern) in self.deny_hosts.iter().enumerate() {
            match HostPattern::compile(pattern) {
                Ok(p) => deny.push(p),
                Err(problem) => problems.push(format!("deny_hosts[{i}] = {pattern:?}: {problem}")),
            }
        }
        if self.ports.contains(&0) {
            problems.push("ports: 0 is not a port a URL can use; remove it".to_owned());
        }
        let mut cidrs = Vec::new();
        for (i, text) in self.allow_addresses.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(cidr) => cidrs.push(cidr),
                Err(problem) => {
                    problems.push(format!("allow_addresses[{i}] = {text:?}: {problem}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(Compiled { allow, deny, cidrs })
        } else {
            Err(problems.join("; "))
        }
    }
}

/// An [`EndpointPolicy`] with its host patterns and CIDRs parsed once
/// ([`EndpointPolicy::compiled`]): the same checks, without the per-call parsing.
pub struct CompiledEndpointPolicy {
    policy: EndpointPolicy,
    compiled: Compiled,
}

impl fmt::Debug for CompiledEndpointPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledEndpointPolicy")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl CompiledEndpointPolicy {
    /// The policy as written.
    pub fn policy(&self) -> &EndpointPolicy {
        &self.policy
    }

    /// [`EndpointPolicy::check`].
    pub fn check(&self, raw: &str) -> Result<Endpoint, EndpointError> {
        self.policy.check_compiled(&self.compiled, raw)
    }

    /// [`EndpointPolicy::check_host`].
    pub fn check_host(&self, raw: &str) -> Result<Endpoint, EndpointError> {
        self.policy.check_host_compiled(&self.compiled, raw)
    }

    /// [`EndpointPolicy::check_resolved`].
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), EndpointError> {
        self.policy
            .check_resolved_compiled(&self.compiled, host, addrs)
    }
}

/// The policy's patterns and CIDRs, parsed.
struct Compiled {
    allow: Vec<HostPattern>,
    deny: Vec<HostPattern>,
    cidrs: Vec<Cidr>,
}

impl Compiled {
    fn allows_address(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.cidrs
            .iter()
            .any(|cidr| cidr.contains(ip) || cidr.contains(canonical))
    }

    /// Whether `allow_hosts` names exactly this host (not through a glob).
    fn lists_exactly(&self, name: &str) -> bool {
        self.allow
            .iter()
            .any(|p| matches!(p, HostPattern::Exact(exact) if exact == name))
    }
}

/// One `allow_hosts` / `deny_hosts` entry, in the form hosts are compared in.
#[derive(Debug, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host.
    Any,
    /// `api.example.com`, punycode, lower case, no trailing dot.
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
    /// An IP address; compared in canonical form (`::ffff:a.b.c.d` is `a.b.c.d`).
    Ip(IpAddr),
}

impl HostPattern {
    fn compile(pattern: &str) -> Result<HostPattern, String> {
        if pattern == "*" {
            return Ok(HostPattern::Any);
        }
        if pattern.is_empty() {
            return Err("empty pattern; write a host such as `api.example.com`".to_owned());
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace".to_owned());
        }
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip.to_canonical()));
        }
        if let Some(inner) = pattern.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| HostPattern::Ip(IpAddr::V6(ip).to_canonical()))
                .map_err(|_| "not an IPv6 address between the brackets".to_owned());
        }
        let (wildcard, name) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if name.contains('*') {
            return Err(
                "`*` may only stand alone (`*`) or be the whole first label (`*.example.com`)"
                    .to_owned(),
            );
        }
        let name = match url::Host::parse(name) {
            Ok(url::Host::Domain(domain)) => domain,
            Ok(url::Host::Ipv4(ip)) if !wildcard => {
                return Err(format!("write IP addresses in plain dotted form: `{ip}`"));
            }
            Ok(_) => return Err("`*.` must be followed by a domain name".to_owned()),
            Err(e) => return Err(format!("not a host name ({e})")),
        };
        let name = normal_name(&name).map_err(|_| {
            "not a valid host name (empty labels, or characters no DNS name has)".to_owned()
        })?;
        Ok(if wildcard {
            HostPattern::Suffix(format!(".{name}"))
        } else {
            HostPattern::Exact(name)
        })
    }

    /// Like [`HostPattern::matches`], but an IPv6 address also matches through the IPv4
    /// address it carries (NAT64, 6to4 ...): a deny entry for `a.b.c.d` holds in any form.
    fn matches_or_carried(&self, host: &Host) -> bool {
        self.matches(host)
            || matches!(host, Host::Ip(IpAddr::V6(ip))
                if embedded_v4(*ip).is_some_and(|(v4, _)| self.matches(&Host::Ip(IpAddr::V4(v4)))))
    }

    fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Exact(exact), Host::Name(name)) => exact == name,
            (HostPattern::Suffix(suffix), Host::Name(name)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (HostPattern::Ip(pattern), Host::Ip(ip)) => *pattern == ip.to_canonical(),
            _ => false,
        }
    }
}

/// An `allow_addresses` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| {
            "not an address in plain form; write a CIDR such as `10.1.2.0/24` or `fd00::/8`"
                .to_owned()
        })?;
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                // Plain digits only: no sign, no leading zero (`/024` reads as octal to some tools).
                Ok(n) if n <= bits && n.to_string() == p => n,
                _ => {
                    return Err(format!(
                        "the prefix length must be a number from 0 to {bits}"
                    ));
                }
            },
        };
        let cidr = Cidr { network, prefix };
        let masked = cidr.masked(network);
        if masked != network {
            return Err(format!(
                "host bits are set; did you mean `{masked}/{prefix}`?"
            ));
        }
        Ok(cidr)
    }

    fn masked(self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(ip) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask))
            }
            IpAddr::V6(ip) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
            }
        }
    }

    fn contains(self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                self.masked(ip) == self.network
            }
            _ => false,
        }
    }
}

fn check_scheme_name(scheme: &str) -> Result<(), String> {
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err(
            "not a URL scheme (a letter, then letters, digits, `+`, `-` or `.`)".to_owned(),
        );
    }
    if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "write schemes in lower case: {:?}",
            scheme.to_ascii_lowercase()
        ));
    }
    Ok(())
}

/// Refuses characters that parsers drop, split on or read differently.
fn check_text(raw: &str) -> Result<(), EndpointError> {
    for c in raw.chars() {
        if c.is_control() || c.is_whitespace() {
            return Err(EndpointError::ambiguous(
                "it contains whitespace or a control character",
            ));
        }
        if is_invisible(c) {
            return Err(EndpointError::ambiguous(
                "it contains an invisible formatting character",
            ));
        }
        if c == '\\' {
            return Err(EndpointError::ambiguous("it contains a backslash"));
        }
    }
    Ok(())
}

/// Characters that render as nothing (and that IDNA may silently drop): soft hyphen, zero-width
/// characters, bidirectional controls, variation selectors, tags.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// The scheme and authority as written, before the WHATWG parser normalises them.
struct RawUrl<'a> {
    /// Lower case.
    scheme: String,
    /// Between `//` and the first `/`, `?` or `#`; `None` without `//`.
    authority: Option<&'a str>,
}

/// What [`check_authority`] learned about the host as written.
struct RawAuthority {
    /// The authority holds an `@` (so the URL has userinfo, maybe empty).
    has_at: bool,
    /// The host as written has non-ASCII characters.
    non_ascii_host: bool,
}

fn split_raw(raw: &str) -> Result<RawUrl<'_>, EndpointError> {
    let no_scheme = || {
        EndpointError::unparsable("it has no scheme; write it whole, like `https://example.com/`")
    };
    let (scheme, rest) = raw.split_once(':').ok_or_else(no_scheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if check_scheme_name(&scheme).is_err() {
        return Err(no_scheme());
    }
    let authority = rest.strip_prefix("//").map(|after| {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        &after[..end]
    });
    Ok(RawUrl { scheme, authority })
}

/// Schemes the WHATWG standard treats as "special" (they must have a host), minus `file`.
fn needs_host(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp")
}

fn check_authority(raw: &RawUrl<'_>) -> Result<RawAuthority, EndpointError> {
    let Some(authority) = raw.authority else {
        if needs_host(&raw.scheme) {
            return Err(EndpointError::ambiguous(
                "the scheme must be followed by `//` and the host",
            ));
        }
        return Ok(RawAuthority {
            has_at: false,
            non_ascii_host: false,
        });
    };
    if authority.matches('@').count() > 1 {
        return Err(EndpointError::ambiguous(
            "the part before the path holds more than one `@`",
        ));
    }
    let (has_at, host_port) = match authority.rsplit_once('@') {
        Some((_, host_port)) => (true, host_port),
        None => (false, authority),
    };
    let host = if host_port.starts_with('[') {
        host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end])
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() && raw.scheme != "file" {
        return Err(EndpointError::ambiguous("the host is empty"));
    }
    if host.contains('%') {
        return Err(EndpointError::ambiguous(
            "the host contains percent-encoded characters",
        ));
    }
    Ok(RawAuthority {
        has_at,
        non_ascii_host: !host.is_ascii(),
    })
}

/// The parsed URL's host in normal form. For schemes the WHATWG standard does not know, the
/// parser keeps the host as opaque text; it is parsed here as an `http` host would be.
fn normal_host(url: &url::Url) -> Result<Host, EndpointError> {
    let host = match url.host() {
        None => return Err(EndpointError::ambiguous("the URL names no host")),
        Some(url::Host::Ipv4(ip)) => return Ok(Host::Ip(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => return Ok(Host::Ip(IpAddr::V6(ip))),
        Some(url::Host::Domain(domain)) => domain,
    };
    if needs_host(url.scheme()) || url.scheme() == "file" {
        return normal_name(host).map(Host::Name);
    }
    match url::Host::parse(host) {
        Ok(url::Host::Domain(domain)) => normal_name(&domain).map(Host::Name),
        Ok(url::Host::Ipv4(ip)) => Ok(Host::Ip(IpAddr::V4(ip))),
        Ok(url::Host::Ipv6(ip)) => Ok(Host::Ip(IpAddr::V6(ip))),
        Err(e) => Err(EndpointError::unparsable(format!("bad host: {e}"))),
    }
}

/// A parsed domain without its trailing dot, checked for empty labels and odd characters.
fn normal_name(domain: &str) -> Result<String, EndpointError> {
    let lower = domain.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return Err(EndpointError::ambiguous(
            "the host name has an empty label (`..`, or a leading or extra trailing dot)",
        ));
    }
    let dns_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if !dns_chars {
        return Err(EndpointError::ambiguous(
            "the host name has characters no DNS name has",
        ));
    }
    if name.len() > 253 || name.split('.').any(|label| label.len() > 63) {
        return Err(EndpointError::unparsable(
            "the host name is longer than DNS allows",
        ));
    }
    Ok(name.to_owned())
}

/// The port a scheme uses when none is written, for the schemes this module knows.
fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "ftp" => 21,
        "gopher" => 70,
        "ssh" | "sftp" => 22,
        "git" => 9418,
        "redis" => 6379,
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "mongodb" => 27017,
        "amqp" => 5672,
        "amqps" => 5671,
        "ldap" => 389,
        "ldaps" => 636,
        _ => return None,
    })
}

/// The class of an internal address, or `None` for a public one.
///
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
/// `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`,
/// Teredo `2001::/32`) take the class of that IPv4 address, so an embedded public address stays
/// public. The local-use NAT64 prefix `64:ff9b:1::/48` is always internal (`Private` unless the
/// embedded address says more): its operator picks where the IPv4 address sits.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

const METADATA_V4: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OCI, DigitalOcean ... IMDS
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS Pod Identity agent
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer (a public address, inside Azure only)
];

const METADATA_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS EKS Pod Identity agent
    Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),  // GCP metadata server
];

/// IPv4 ranges in the order they are tried (more specific first where they overlap).
const RANGES_V4: [(u32, u8, AddressClass); 14] = [
    (0x0000_0000, 8, AddressClass::Unspecified),  // 0.0.0.0/8
    (0x0a00_0000, 8, AddressClass::Private),      // 10.0.0.0/8
    (0x6440_0000, 10, AddressClass::SharedCgnat), // 100.64.0.0/10
    (0x7f00_0000, 8, AddressClass::Loopback),     // 127.0.0.0/8
    (0xa9fe_0000, 16, AddressClass::LinkLocal),   // 169.254.0.0/16
    (0xac10_0000, 12, AddressClass::Private),     // 172.16.0.0/12
    (0xc000_0000, 24, AddressClass::Reserved),    // 192.0.0.0/24, IETF protocol assignments
    (0xc000_0200, 24, AddressClass::Documentation), // 192.0.2.0/24, TEST-NET-1
    (0xc0a8_0000, 16, AddressClass::Private),     // 192.168.0.0/16
    (0xc612_0000, 15, AddressClass::Reserved),    // 198.18.0.0/15, benchmarking
    (0xc633_6400, 24, AddressClass::Documentation), // 198.51.100.0/24, TEST-NET-2
    (0xcb00_7100, 24, AddressClass::Documentation), // 203.0.113.0/24, TEST-NET-3
    (0xe000_0000, 4, AddressClass::Multicast),    // 224.0.0.0/4
    (0xf000_0000, 4, AddressClass::Reserved),     // 240.0.0.0/4
];

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    if METADATA_V4.contains(&ip) {
        return Some(AddressClass::Metadata);
    }
    if ip == Ipv4Addr::BROADCAST {
        return Some(AddressClass::Broadcast);
    }
    let n = u32::from(ip);
    RANGES_V4.iter().find_map(|&(network, prefix, class)| {
        let mask = u32::MAX << (32 - u32::from(prefix));
        (n & mask == network).then_some(class)
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if METADATA_V6.contains(&ip) {
        return Some(AddressClass::Metadata);
    }
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    if let Some((v4, carrier)) = embedded_v4(ip) {
        let class = classify_v4(v4);
        return match carrier {
            // Where the IPv4 address sits in a local-use NAT64 address depends on the
            // operator's prefix length, so the whole prefix counts as internal.
            Carrier::LocalNat64 => Some(class.unwrap_or(AddressClass::Private)),
            Carrier::Exact => class,
        };
    }
    let s = ip.segments();
    let class = match s {
        [0x2001, 0xdb8, ..] => AddressClass::Documentation,
        [0x3fff, second, ..] if second < 0x1000 => AddressClass::Documentation,
        [0x2001, 2, 0, ..] => AddressClass::Reserved,
        [first, ..] if first & 0xfe00 == 0xfc00 => AddressClass::Private,
        [first, ..] if first & 0xffc0 == 0xfec0 => AddressClass::Private,
        [first, ..] if first & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [first, ..] if first & 0xff00 == 0xff00 => AddressClass::Multicast,
        [first, ..] if first & 0xe000 == 0x2000 => return None,
        _ => AddressClass::Reserved,
    };
    Some(class)
}

/// How an IPv6 address carries an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carrier {
    /// The IPv4 address is where the format says it is.
    Exact,
    /// NAT64 local-use prefix `64:ff9b:1::/48`: read as `/96`, the operator may differ.
    LocalNat64,
}

/// The IPv4 address an IPv6 address carries, if any (`::` and `::1` carry none).
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, Carrier)> {
    let [.., a, b, c, d] = ip.octets();
    let last = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible)
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _]
        | [0, 0, 0, 0, 0, 0, _, _] => Some((last, Carrier::Exact)),
        // NAT64, well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((last, Carrier::Exact)),
        [0x64, 0xff9b, 1, ..] => Some((last, Carrier::LocalNat64)),
        // 6to4: the IPv4 address is bits 16..48.
        [0x2002, hi, lo, ..] => Some((
            Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)),
            Carrier::Exact,
        )),
        // Teredo: the client's IPv4 address is the last 32 bits, inverted.
        [0x2001, 0, ..] => Some((Ipv4Addr::from(!u32::from(last)), Carrier::Exact)),
        _ => None,
    }
}

/// Names that mean the cloud metadata service inside a cloud network.
const METADATA_NAMES: [&str; 3] = ["metadata.google.internal", "metadata", "instance-data"];

/// Suffixes (and names) that only resolve on a local network.
const LOCAL_SUFFIXES: [&str; 9] = [
    "localhost",
    "internal",
    "local",
    "localdomain",
    "home.arpa",
    "lan",
    "home",
    "corp",
    "intranet",
];

/// The class of a normalised host name, or `None` for a name that may be public.
fn classify_name(name: &str) -> Option<AddressClass> {
    if METADATA_NAMES.contains(&name) {
        return Some(AddressClass::Metadata);
    }
    let local = !name.contains('.')
        || LOCAL_SUFFIXES.iter().any(|suffix| {
            name == *suffix
                || name
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.'))
        });
    local.then_some(AddressClass::LocalName)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let cases: [(&str, &str, Option<bool>); 8] = [
            ("10.1.2.0/24", "10.1.2.200", Some(true)),
            ("10.1.2.0/24", "10.1.3.1", Some(false)),
            ("0.0.0.0/0", "8.8.8.8", Some(true)),
            ("fd00::/8", "fd12::1", Some(true)),
            ("fd00::/8", "10.1.2.3", Some(false)),
            ("10.1.2.3", "10.1.2.3", Some(true)),
            ("10.1.2.3/24", "10.1.2.3", None),
            ("10.1.2.0/33", "10.1.2.3", None),
        ];
        for (cidr, ip, expected) in cases {
            let parsed = Cidr::parse(cidr);
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(parsed.ok().map(|c| c.contains(ip)), expected, "{cidr} {ip}");
        }
    }

    #[test]
    fn cidr_prefix_must_be_plain_digits() {
        for text in ["10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/", "010.0.0.0/8"] {
            assert!(Cidr::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn host_patterns_compile_to_their_normal_form() {
        let cases = [
            ("*", Some(HostPattern::Any)),
            (
                "API.Example.COM.",
                Some(HostPattern::Exact("api.example.com".into())),
            ),
            (
                "*.bücher.example",
                Some(HostPattern::Suffix(".xn--bcher-kva.example".into())),
            ),
            ("[::1]", Some(HostPattern::Ip("::1".parse().unwrap()))),
            ("127.1", None),
            ("*example.com", None),
            ("a.*.example.com", None),
            ("", None),
            ("a..b", None),
        ];
        for (pattern, expected) in cases {
            assert_eq!(HostPattern::compile(pattern).ok(), expected, "{pattern}");
        }
    }
}
