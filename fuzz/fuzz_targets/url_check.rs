//! Arbitrary URL text against the default endpoint policy (public hosts only).
//! Properties: never panics; an allowed URL's host is not an internal address and not a local
//! name, and the `url` crate parses the same text to the same host (no parser differential
//! inside the check); a refusal's message never contains the configured deny pattern.
#![no_main]

use std::sync::OnceLock;

use airlock_guard::endpoint::{EndpointPolicy, Host, classify};
use libfuzzer_sys::fuzz_target;

const DENY: &str = "*.zz-secret-corp.example";

fn policy() -> &'static EndpointPolicy {
    static P: OnceLock<EndpointPolicy> = OnceLock::new();
    P.get_or_init(|| EndpointPolicy {
        deny_hosts: vec![DENY.into()],
        ..EndpointPolicy::default()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for r in [policy().check(text), policy().check_host(text)] {
        match r {
            Ok(endpoint) => match &endpoint.host {
                Host::Ip(ip) => assert!(classify(*ip).is_none(), "{text:?} → {ip}"),
                Host::Name(name) => {
                    assert!(name.contains('.'), "{text:?}: single-label {name}");
                    assert!(name != "localhost" && !name.ends_with(".localhost"), "{text:?}: {name}");
                    assert!(!name.ends_with(".zz-secret-corp.example"), "{text:?}: {name}");
                }
            },
            Err(e) => assert!(!e.to_string().contains(DENY), "{e}"),
        }
    }
});
