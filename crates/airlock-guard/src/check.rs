//! The checks of the guard phase: `filesystem` (paths) and `network` (URLs and hosts), and
//! `argument_guards`, both in one walk over the arguments (what the CLI uses).
//!
//! Both find their targets with [`crate::find::targets`] and pick the policy for the call from
//! the configuration: `[filesystem]`/`[network]`, changed by the caller's tenant
//! (`[tenants.NAME.filesystem]`), changed by the most specific tool pattern
//! (`[filesystem.tools."write_*"]`; an exact name beats a glob, a longer glob a shorter one).
//! Every policy is compiled when the check is built, so a call only looks one up.
//!
//! A refusal lists every offending value (up to [`MAX_LISTED`]) with the rule that found it;
//! the code is the first one's. Hints point at what is allowed (the roots, the allowed hosts)
//! and never at a deny pattern.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use airlock_core::Settings;
use airlock_core::config::{
    FilesystemOverrides, FilesystemSettings, NetworkOverrides, NetworkSettings,
};
use airlock_core::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use airlock_core::refusal::{DenyCode, FieldError, Refusal};

use crate::endpoint::{CompiledEndpointPolicy, EndpointError, EndpointPolicy, Host};
use crate::find::{Kind, Target, targets, targets_except};
use crate::path::PathPolicy;

/// Most offending values named in one refusal.
pub const MAX_LISTED: usize = 10;
/// Most distinct host names the DNS check resolves for one call (more are refused).
pub const MAX_LOOKUPS: usize = 16;

/// Policies by tenant and tool pattern, compiled once; looked up without allocating.
#[derive(Debug)]
struct Scoped<P> {
    /// Tool patterns, most specific first, each with its index in a scope's list (0 is the
    /// section itself, `i + 1` the `i`-th pattern in `tools` order).
    patterns: Vec<(globset::GlobMatcher, usize)>,
    /// Callers without a tenant section.
    base: Vec<P>,
    /// By tenant.
    tenants: HashMap<String, Vec<P>>,
}

impl<P> Scoped<P> {
    /// A tenant's changes apply last, over a tool's: a tenant confined to its own roots or
    /// hosts stays confined whatever a tool pattern widens.
    fn build<S: Clone, O>(
        base: &S,
        tenants: &[(String, &O)],
        tools: &std::collections::BTreeMap<String, O>,
        with: impl Fn(&S, &O) -> S,
        compile: impl Fn(&S) -> Result<P, String>,
    ) -> Result<Self, String> {
        let mut patterns: Vec<(globset::GlobMatcher, usize, (bool, usize))> = Vec::new();
        for (i, p) in tools.keys().enumerate() {
            let m = globset::Glob::new(p)
                .map_err(|e| format!("tool pattern {p:?}: {e}"))?
                .compile_matcher();
            let literal = !p.contains(['*', '?', '[', '{']);
            let chars = p.chars().filter(|c| !"*?[]{}".contains(*c)).count();
            patterns.push((m, i + 1, (literal, chars)));
        }
        patterns.sort_by_key(|(_, _, s)| std::cmp::Reverse(*s));
        let scope = |tenant: Option<&O>| -> Result<Vec<P>, String> {
            let last = |s: S| match tenant {
                Some(t) => with(&s, t),
                None => s,
            };
            std::iter::once(compile(&last(base.clone())))
                .chain(tools.values().map(|o| compile(&last(with(base, o)))))
                .collect()
        };
        let mut by_tenant = HashMap::new();
        for (name, o) in tenants {
            by_tenant.insert(name.clone(), scope(Some(o))?);
        }
        Ok(Scoped {
            patterns: patterns.into_iter().map(|(m, i, _)| (m, i)).collect(),
            base: scope(None)?,
            tenants: by_tenant,
        })
    }

    fn get(&self, tool: &str, tenant: Option<&str>) -> Option<&P> {
        let index = self
            .patterns
            .iter()
            .find(|(m, _)| m.is_match(tool))
            .map_or(0, |(_, i)| *i);
        let list = tenant
            .and_then(|t| self.tenants.get(t))
            .unwrap_or(&self.base);
        list.get(index)
    }
}

fn refusal(tool: &str, what: &str, found: Vec<(&Target<'_>, DenyCode, String)>) -> Refusal {
    let code = found.first().map_or(DenyCode::InternalError, |f| f.1);
    let listed: Vec<String> = found
        .iter()
        .take(MAX_LISTED)
        .map(|(t, _, why)| format!("'{}': {why}", t.field))
        .collect();
    let more = found.len().saturating_sub(MAX_LISTED);
    let mut message = format!(
        "Tool '{tool}' was not called: {what} {}.",
        listed.join("; ")
    );
    if more > 0 {
        message.push_str(&format!(" ({more} more)"));
    }
    let mut r = Refusal::new(code, tool, message);
    // Why each value was taken for a path, a URL or a host: for programs and operators, not
    // in the text the model reads.
    r.details.insert(
        "guarded".into(),
        found
            .iter()
            .take(MAX_LISTED)
            .map(|(t, _, _)| serde_json::json!({"field": t.field, "rule": t.rule.to_string()}))
            .collect::<Vec<_>>()
            .into(),
    );
    r.errors = found
        .iter()
        .take(MAX_LISTED)
        .map(|(t, c, _)| FieldError {
            field: t.field.clone(),
            kind: c.as_str().rsplit('.').next().unwrap_or("guard"),
            expected: None,
            got: None,
        })
        .collect();
    r
}

/// The `filesystem` check.
#[derive(Debug)]
pub struct Filesystem {
    policies: Scoped<Option<PathPolicy>>,
    /// Parameter names that are not paths by name, by tool and tenant (`not_paths`).
    not_paths: Scoped<Vec<String>>,
}

impl Filesystem {
    /// Build from the configuration (`[filesystem]`, its tool and tenant changes).
    pub fn from_settings(settings: &Settings) -> Result<Filesystem, String> {
        let tenants: Vec<(String, &FilesystemOverrides)> = settings
            .tenants
            .iter()
            .filter(|(_, t)| !t.filesystem.is_empty())
            .map(|(n, t)| (n.clone(), &t.filesystem))
            .collect();
        let policies = Scoped::build(
            &settings.filesystem,
            &tenants,
            &settings.filesystem.tools,
            FilesystemSettings::with,
            |s| s.enabled.then(|| PathPolicy::new(s)).transpose(),
        )?;
        let not_paths = Scoped::build(
            &Vec::new(),
            &tenants,
            &settings.filesystem.tools,
            |names: &Vec<String>, o: &FilesystemOverrides| {
                let mut names = names.clone();
                names.extend(o.not_paths.iter().cloned());
                names
            },
            |names| Ok(names.clone()),
        )?;
        Ok(Filesystem {
            policies,
            not_paths,
        })
    }

    /// The parameter names that are not paths by name alone for `tool` called by a caller of
    /// `tenant` (`filesystem.tools.<tool>.not_paths`, `tenants.<tenant>.filesystem.not_paths`).
    pub fn not_paths(&self, tool: &str, tenant: Option<&str>) -> &[String] {
        self.not_paths.get(tool, tenant).map_or(&[], Vec::as_slice)
    }

    /// The policy for `tool` called by a caller of `tenant` (`None`: the check is off there).
    pub fn policy(&self, tool: &str, tenant: Option<&str>) -> Option<&PathPolicy> {
        self.policies.get(tool, tenant).and_then(Option::as_ref)
    }
}

impl Check for Filesystem {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["filesystem"]
    }

    fn phase(&self) -> Phase {
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        if self
            .policy(&call.tool.name, call.caller.tenant.as_deref())
            .is_none()
        {
            return Ok(Outcome::Pass);
        }
        let not_paths = self.not_paths(&call.tool.name, call.caller.tenant.as_deref());
        let found = targets_except(&call.tool.input_schema, &call.arguments, not_paths);
        Ok(self.decide(call, &found))
    }
}

impl Filesystem {
    /// The verdict on the path targets among `found`.
    fn decide(&self, call: &CallState<'_>, found_targets: &[Target<'_>]) -> Outcome {
        let Some(policy) = self.policy(&call.tool.name, call.caller.tenant.as_deref()) else {
            return Outcome::Pass;
        };
        let mut found = Vec::new();
        for t in found_targets {
            if t.kind != Kind::Path && !t.also_path {
                continue;
            }
            // A disk error is a refusal too (`filesystem.unresolvable`): fail closed.
            if let Err(e) = policy.check(t.value) {
                let why = e.to_string();
                found.push((t, e.code(), why));
            }
        }
        if found.is_empty() {
            return Outcome::Pass;
        }
        let mut r = refusal(&call.tool.name, "a path is not allowed:", found);
        let roots = policy.roots();
        if !roots.is_empty() {
            let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            r.fix_hints
                .push(format!("Allowed directories: {}.", list.join(", ")));
        }
        Outcome::Refuse(r)
    }
}

/// The `network` check.
#[derive(Debug)]
pub struct Network {
    policies: Scoped<Option<(CompiledEndpointPolicy, Option<Duration>)>>,
    /// Whether any policy resolves host names (the check then waits on DNS).
    dns: bool,
}

impl Network {
    /// Build from the configuration (`[network]`, its tool and tenant changes).
    pub fn from_settings(settings: &Settings) -> Result<Network, String> {
        let tenants: Vec<(String, &NetworkOverrides)> = settings
            .tenants
            .iter()
            .filter(|(_, t)| !t.network.is_empty())
            .map(|(n, t)| (n.clone(), &t.network))
            .collect();
        let policies = Scoped::build(
            &settings.network,
            &tenants,
            &settings.network.tools,
            NetworkSettings::with,
            |s| {
                if !s.enabled {
                    return Ok(None);
                }
                let p = endpoint_policy(s)
                    .compiled()
                    .map_err(|e| format!("network: {e}"))?;
                let dns = s.dns_check.then(|| Duration::from_millis(s.dns_timeout_ms));
                Ok(Some((p, dns)))
            },
        )?;
        Ok(Network {
            policies,
            dns: settings.dns_check_on(),
        })
    }

    /// The policy for `tool` called by a caller of `tenant` (`None`: the check is off there).
    pub fn policy(&self, tool: &str, tenant: Option<&str>) -> Option<&EndpointPolicy> {
        self.policies
            .get(tool, tenant)
            .and_then(Option::as_ref)
            .map(|(p, _)| p.policy())
    }
}

/// The endpoint policy `[network]` describes.
pub fn endpoint_policy(s: &NetworkSettings) -> EndpointPolicy {
    EndpointPolicy {
        schemes: s.schemes.clone(),
        allow_hosts: s.allow_hosts.clone(),
        deny_hosts: s.deny_hosts.clone(),
        ports: s.ports.clone(),
        allow_private: s.allow_private,
        allow_addresses: s.allow_addresses.clone(),
        allow_userinfo: s.allow_userinfo,
    }
}

fn network_code(e: &EndpointError) -> DenyCode {
    match e {
        EndpointError::Scheme { .. } => DenyCode::NetworkScheme,
        EndpointError::HostNotAllowed { .. } => DenyCode::NetworkHost,
        EndpointError::Port { .. } => DenyCode::NetworkPort,
        EndpointError::ForbiddenAddress { .. } => DenyCode::NetworkInternal,
        EndpointError::Unparsable { .. }
        | EndpointError::Ambiguous { .. }
        | EndpointError::Userinfo
        | EndpointError::InvalidPolicy => DenyCode::NetworkInvalid,
    }
}

/// Resolve `host` within `timeout` (the lookup runs on its own thread: `getaddrinfo` cannot be
/// cancelled, so past the timeout the call is refused and the thread finishes on its own).
fn lookup(host: &str, port: u16, timeout: Duration) -> Result<Vec<IpAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("airlock-dns".into())
        .spawn(move || {
            let r = (name.as_str(), port)
                .to_socket_addrs()
                .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start a lookup: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err("no addresses".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

impl Check for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["network"]
    }

    fn may_block(&self) -> bool {
        self.dns
    }

    fn phase(&self) -> Phase {
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        if self
            .policy(&call.tool.name, call.caller.tenant.as_deref())
            .is_none()
        {
            return Ok(Outcome::Pass);
        }
        let found = targets(&call.tool.input_schema, &call.arguments);
        self.decide(call, &found)
    }
}

impl Network {
    /// The verdict on the URL and host targets among `found`.
    fn decide(
        &self,
        call: &CallState<'_>,
        found_targets: &[Target<'_>],
    ) -> Result<Outcome, CheckError> {
        let Some(Some((policy, dns))) = self
            .policies
            .get(&call.tool.name, call.caller.tenant.as_deref())
        else {
            return Ok(Outcome::Pass);
        };
        let mut found = Vec::new();
        let mut to_resolve: Vec<(&Target<'_>, String, u16)> = Vec::new();
        for t in found_targets {
            let checked = match t.kind {
                Kind::Url => policy.check(t.value),
                Kind::Host => policy.check_host(t.value),
                Kind::Path => continue,
            };
            let endpoint = match checked {
                Ok(e) => e,
                Err(EndpointError::InvalidPolicy) => {
                    return Err(CheckError::new("network: the policy does not compile"));
                }
                Err(e) => {
                    let why = e.to_string();
                    found.push((t, network_code(&e), why));
                    continue;
                }
            };
            if let (Some(_), Host::Name(name)) = (dns, &endpoint.host) {
                to_resolve.push((t, name.clone(), endpoint.port.unwrap_or(443)));
            }
        }
        // The DNS check: each name once, at most MAX_LOOKUPS names, one deadline per call.
        if let Some(timeout) = dns {
            let mut names: Vec<&str> = to_resolve.iter().map(|(_, n, _)| n.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            if names.len() > MAX_LOOKUPS {
                return Ok(Outcome::Refuse(Refusal::new(
                    DenyCode::NetworkInvalid,
                    call.tool.name.clone(),
                    format!(
                        "Tool '{}' was not called: its arguments name {} hosts to resolve; at most {MAX_LOOKUPS} are checked in one call.",
                        call.tool.name,
                        names.len()
                    ),
                )));
            }
            let deadline = std::time::Instant::now() + *timeout;
            let mut answers: HashMap<String, Result<Vec<IpAddr>, String>> = HashMap::new();
            for (t, name, port) in to_resolve {
                let answer = answers.entry(name.clone()).or_insert_with(|| {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    lookup(&name, port, left)
                });
                match answer {
                    Ok(addrs) => {
                        if let Err(e) = policy.check_resolved(&name, addrs) {
                            let why = e.to_string();
                            found.push((t, network_code(&e), why));
                        }
                    }
                    Err(reason) => {
                        let why = format!("the host {name:?} could not be resolved ({reason})");
                        found.push((t, DenyCode::NetworkUnresolvable, why));
                    }
                }
            }
        }
        if found.is_empty() {
            return Ok(Outcome::Pass);
        }
        let mut r = refusal(&call.tool.name, "an endpoint is not allowed:", found);
        let allowed = &policy.policy().allow_hosts;
        if !allowed.is_empty() {
            r.fix_hints
                .push(format!("Allowed hosts: {}.", allowed.join(", ")));
        }
        Ok(Outcome::Refuse(r))
    }
}

/// Both guards in one check (`argument_guards`), walking the arguments once: what the CLI and
/// the demo use. The refusal is the `filesystem` one when a path is refused, else the `network`
/// one. [`Filesystem`] and [`Network`] are the same checks on their own.
#[derive(Debug)]
pub struct Guards {
    filesystem: Filesystem,
    network: Network,
}

impl Guards {
    /// Build both from the configuration.
    pub fn from_settings(settings: &Settings) -> Result<Guards, String> {
        Ok(Guards {
            filesystem: Filesystem::from_settings(settings)?,
            network: Network::from_settings(settings)?,
        })
    }

    /// The path check on its own.
    pub fn filesystem(&self) -> &Filesystem {
        &self.filesystem
    }

    /// The URL check on its own.
    pub fn network(&self) -> &Network {
        &self.network
    }
}

impl Check for Guards {
    fn name(&self) -> &'static str {
        "argument_guards"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["filesystem", "network"]
    }

    fn may_block(&self) -> bool {
        self.network.dns
    }

    fn phase(&self) -> Phase {
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let (tool, tenant) = (&call.tool.name, call.caller.tenant.as_deref());
        if self.filesystem.policy(tool, tenant).is_none()
            && self.network.policy(tool, tenant).is_none()
        {
            return Ok(Outcome::Pass);
        }
        let not_paths = self.filesystem.not_paths(tool, tenant);
        let found = targets_except(&call.tool.input_schema, &call.arguments, not_paths);
        match self.filesystem.decide(call, &found) {
            Outcome::Pass => self.network.decide(call, &found),
            other => Ok(other),
        }
    }
}
