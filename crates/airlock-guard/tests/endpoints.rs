//! The URL / endpoint policy, table by table: each row is `(policy, input, expected)`, where
//! `expected` is `"ok"`, an [`EndpointError::kind`], or `"forbidden_address:<class>"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::net::IpAddr;

use airlock_guard::endpoint::{
    AddressClass, Endpoint, EndpointError, EndpointPolicy, Host, classify,
};
use proptest::prelude::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The policies the tables refer to by name.
fn policy(name: &str) -> EndpointPolicy {
    let mut p = EndpointPolicy::default();
    match name {
        "default" => {}
        "example" => p.allow_hosts = strings(&["example.com", "*.example.com"]),
        "wild" => p.allow_hosts = strings(&["*.example.com"]),
        "api" => p.allow_hosts = strings(&["api.example.com"]),
        "idn" => p.allow_hosts = strings(&["bücher.example", "example.com"]),
        "ip_allow" => p.allow_hosts = strings(&["93.184.216.34", "[2606:4700:4700::1111]"]),
        "private" => p.allow_private = true,
        "cidr" => {
            p.allow_addresses = strings(&["10.1.2.0/24", "fd00::/8", "169.254.169.254/32"]);
        }
        "userinfo" => p.allow_userinfo = true,
        "goodhost" => {
            p.allow_userinfo = true;
            p.allow_hosts = strings(&["good.com"]);
        }
        "ports" => p.ports = vec![8443, 8080],
        "ftp" => p.schemes = strings(&["https", "ftp", "ws", "wss"]),
        "http_first" => p.schemes = strings(&["http"]),
        "redis" => p.schemes = strings(&["redis"]),
        "custom" => {
            p.schemes = strings(&["myproto"]);
            p.ports = vec![7000];
        }
        "deny" => {
            p.allow_hosts = strings(&["*"]);
            p.deny_hosts = strings(&["*.corp.example.com", "evil.com", "93.184.216.34"]);
        }
        "internal_allowed" => p.allow_hosts = strings(&["intranet", "*.internal"]),
        "metadata_named" => {
            p.allow_private = true;
            p.allow_hosts = strings(&["metadata.google.internal", "*.example.com"]);
        }
        "metadata_glob" => {
            p.allow_private = true;
            p.allow_hosts = strings(&["*.google.internal"]);
        }
        "metadata_named_public_only" => {
            p.allow_hosts = strings(&["metadata.google.internal"]);
        }
        "broken" => p.schemes = strings(&["HTTPS"]),
        other => panic!("no policy named {other}"),
    }
    p
}

/// `"ok"`, the error's kind, or `"forbidden_address:<class>"`.
fn outcome<T>(result: &Result<T, EndpointError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(EndpointError::ForbiddenAddress { class, .. }) => {
            format!("forbidden_address:{}", class.as_str())
        }
        Err(e) => e.kind().to_owned(),
    }
}

fn run_table(
    rows: &[(&str, &str, &str)],
    check: impl Fn(&EndpointPolicy, &str) -> Result<Endpoint, EndpointError>,
) {
    let mut failures = Vec::new();
    for &(name, input, expected) in rows {
        let result = check(&policy(name), input);
        let got = outcome(&result);
        if got != expected {
            failures.push(format!(
                "{name:>12} {input:?}: expected {expected}, got {got} ({result:?})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[rustfmt::skip] // one row per line
const URLS: &[(&str, &str, &str)] = &[
    // --- legitimate public URLs pass -------------------------------------------------------
    ("default", "https://example.com/", "ok"),
    ("default", "https://api.github.com/repos/o/r/issues?per_page=1", "ok"),
    ("default", "http://example.com/path?q=1#frag", "ok"),
    ("default", "https://www.rust-lang.org", "ok"),
    ("default", "https://EXAMPLE.COM/", "ok"),
    ("default", "HTTPS://EXAMPLE.COM/", "ok"),
    ("default", "https://example.com:443/", "ok"),
    ("default", "http://example.com:80/", "ok"),
    ("default", "http://example.com:0080/", "ok"),
    ("default", "https://93.184.216.34/", "ok"),
    ("default", "https://8.8.8.8/dns-query", "ok"),
    ("default", "https://[2606:4700:4700::1111]/", "ok"),
    ("default", "https://bücher.example/", "ok"),
    ("default", "https://xn--bcher-kva.example/", "ok"),
    ("default", "https://sub_domain.example.com/", "ok"),
    ("default", "http://172.32.0.1/", "ok"),
    ("default", "http://100.128.0.1/", "ok"),
    ("default", "http://198.20.0.1/", "ok"),
    ("example", "https://example.com/", "ok"),
    ("example", "https://a.example.com/", "ok"),
    ("example", "https://a.b.example.com/", "ok"),
    ("wild", "https://a.example.com/", "ok"),
    ("wild", "https://a.b.example.com/", "ok"),
    ("api", "https://api.example.com/v1", "ok"),
    ("api", "https://API.EXAMPLE.COM./v1", "ok"),
    // --- IPv4 address classes ---------------------------------------------------------------
    ("default", "http://0.0.0.0/", "forbidden_address:unspecified"),
    ("default", "http://0.1.2.3/", "forbidden_address:unspecified"),
    ("default", "http://10.0.0.1/", "forbidden_address:private"),
    ("default", "http://172.16.0.1/", "forbidden_address:private"),
    ("default", "http://172.31.255.255/", "forbidden_address:private"),
    ("default", "http://192.168.1.1/", "forbidden_address:private"),
    ("default", "http://127.0.0.1/", "forbidden_address:loopback"),
    ("default", "http://127.255.255.254/", "forbidden_address:loopback"),
    ("default", "http://169.254.1.1/", "forbidden_address:link_local"),
    ("default", "http://169.254.169.254/latest/meta-data/", "forbidden_address:metadata"),
    ("default", "http://169.254.170.2/v2/credentials", "forbidden_address:metadata"),
    ("default", "http://100.100.100.200/latest/meta-data/", "forbidden_address:metadata"),
    ("default", "http://168.63.129.16/", "forbidden_address:metadata"),
    ("default", "http://100.64.0.1/", "forbidden_address:shared_cgnat"),
    ("default", "http://100.127.255.255/", "forbidden_address:shared_cgnat"),
    ("default", "http://224.0.0.1/", "forbidden_address:multicast"),
    ("default", "http://239.255.255.250/", "forbidden_address:multicast"),
    ("default", "http://255.255.255.255/", "forbidden_address:broadcast"),
    ("default", "http://240.0.0.1/", "forbidden_address:reserved"),
    ("default", "http://192.0.0.8/", "forbidden_address:reserved"),
    ("default", "http://198.18.0.1/", "forbidden_address:reserved"),
    ("default", "http://198.19.255.255/", "forbidden_address:reserved"),
    ("default", "http://192.0.2.1/", "forbidden_address:documentation"),
    ("default", "http://198.51.100.1/", "forbidden_address:documentation"),
    ("default", "http://203.0.113.1/", "forbidden_address:documentation"),
    // --- IPv6 address classes ---------------------------------------------------------------
    ("default", "http://[::1]/", "forbidden_address:loopback"),
    ("default", "http://[0:0:0:0:0:0:0:1]:80/", "forbidden_address:loopback"),
    ("default", "http://[::]/", "forbidden_address:unspecified"),
    ("default", "http://[fc00::1]/", "forbidden_address:private"),
    ("default", "http://[fd12:3456::1]/", "forbidden_address:private"),
    ("default", "http://[fec0::1]/", "forbidden_address:private"),
    ("default", "http://[fe80::1]/", "forbidden_address:link_local"),
    ("default", "http://[ff02::1]/", "forbidden_address:multicast"),
    ("default", "http://[2001:db8::1]/", "forbidden_address:documentation"),
    ("default", "http://[3fff::1]/", "forbidden_address:documentation"),
    ("default", "http://[fd00:ec2::254]/latest/meta-data/", "forbidden_address:metadata"),
    ("default", "http://[100::1]/", "forbidden_address:reserved"),
    ("default", "http://[2001:2::1]/", "forbidden_address:reserved"),
    // --- IPv6 carrying IPv4 -----------------------------------------------------------------
    ("default", "http://[::ffff:7f00:1]/", "forbidden_address:loopback"),
    ("default", "http://[::ffff:127.0.0.1]/", "forbidden_address:loopback"),
    ("default", "http://[0:0:0:0:0:ffff:127.0.0.1]/", "forbidden_address:loopback"),
    ("default", "http://[::ffff:169.254.169.254]/", "forbidden_address:metadata"),
    ("default", "http://[::ffff:0:a00:1]/", "forbidden_address:private"),
    ("default", "http://[::127.0.0.1]/", "forbidden_address:loopback"),
    ("default", "http://[::a00:1]/", "forbidden_address:private"),
    ("default", "http://[64:ff9b::7f00:1]/", "forbidden_address:loopback"),
    ("default", "http://[64:ff9b::169.254.169.254]/", "forbidden_address:metadata"),
    ("default", "http://[64:ff9b:1::808:808]/", "forbidden_address:private"),
    ("default", "http://[64:ff9b:1::a00:1]/", "forbidden_address:private"),
    ("default", "http://[2002:7f00:1::]/", "forbidden_address:loopback"),
    ("default", "http://[2002:a9fe:a9fe::1]/", "forbidden_address:metadata"),
    ("default", "http://[2002:c0a8:101::1]/", "forbidden_address:private"),
    // Teredo, client 127.0.0.1 (stored inverted: 80ff:fffe).
    ("default", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "forbidden_address:loopback"),
    // ... an embedded public address stays public.
    ("default", "http://[::ffff:8.8.8.8]/", "ok"),
    ("default", "http://[64:ff9b::808:808]/", "ok"),
    ("default", "http://[2002:808:808::1]/", "ok"),
    ("default", "http://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/", "ok"),
    // --- IPv4 spellings the WHATWG parser accepts ------------------------------------------
    ("default", "http://2130706433/", "forbidden_address:loopback"),
    ("default", "http://0x7f000001/", "forbidden_address:loopback"),
    ("default", "http://017700000001/", "forbidden_address:loopback"),
    ("default", "http://0x7f.1/", "forbidden_address:loopback"),
    ("default", "http://0177.0.0.1/", "forbidden_address:loopback"),
    ("default", "http://127.1/", "forbidden_address:loopback"),
    ("default", "http://0x7f.0.0.1/", "forbidden_address:loopback"),
    ("default", "http://0177.0x0.1/", "forbidden_address:loopback"),
    ("default", "http://127.0.0.1./", "forbidden_address:loopback"),
    ("default", "http://0/", "forbidden_address:unspecified"),
    ("default", "http://10.1/", "forbidden_address:private"),
    ("default", "http://3232235777/", "forbidden_address:private"),
    ("default", "http://0xa9fea9fe/", "forbidden_address:metadata"),
    ("default", "http://0251.0376.0251.0376/", "forbidden_address:metadata"),
    ("default", "http://169.254.169.254./", "forbidden_address:metadata"),
    ("default", "http://256.0.0.1/", "unparsable"),
    ("default", "http://1.2.3.4.5/", "unparsable"),
    ("default", "http://09.0.0.1/", "unparsable"),
    // --- local names ------------------------------------------------------------------------
    ("default", "http://localhost/", "forbidden_address:local_name"),
    ("default", "http://localhost./", "forbidden_address:local_name"),
    ("default", "http://LOCALHOST:80/", "forbidden_address:local_name"),
    ("default", "http://foo.localhost/", "forbidden_address:local_name"),
    ("default", "http://metadata.google.internal/computeMetadata/v1/", "forbidden_address:metadata"),
    ("default", "http://METADATA.google.internal./", "forbidden_address:metadata"),
    ("default", "http://metadata/", "forbidden_address:metadata"),
    ("default", "http://instance-data/latest/", "forbidden_address:metadata"),
    ("default", "http://db.internal/", "forbidden_address:local_name"),
    ("default", "http://printer.local/", "forbidden_address:local_name"),
    ("default", "http://host.localdomain/", "forbidden_address:local_name"),
    ("default", "http://nas.home.arpa/", "forbidden_address:local_name"),
    ("default", "http://intranet/", "forbidden_address:local_name"),
    ("default", "http://example.com.local/", "forbidden_address:local_name"),
    ("default", "http://notlocal.com/", "ok"),
    ("internal_allowed", "http://intranet/", "forbidden_address:local_name"),
    ("internal_allowed", "http://db.internal/", "forbidden_address:local_name"),
    ("private", "http://intranet/", "ok"),
    ("private", "http://localhost:80/", "ok"),
    // --- private and metadata exceptions ----------------------------------------------------
    ("private", "http://127.0.0.1/", "ok"),
    ("private", "http://10.0.0.1/", "ok"),
    ("private", "http://[::ffff:10.0.0.1]/", "ok"),
    ("private", "http://[fe80::1]/", "ok"),
    ("private", "http://169.254.169.254/", "forbidden_address:metadata"),
    ("private", "http://0xa9fea9fe/", "forbidden_address:metadata"),
    ("private", "http://[::ffff:169.254.169.254]/", "forbidden_address:metadata"),
    ("private", "http://[fd00:ec2::254]/", "forbidden_address:metadata"),
    ("private", "http://100.100.100.200/", "forbidden_address:metadata"),
    ("private", "http://metadata.google.internal/", "forbidden_address:metadata"),
    ("cidr", "http://10.1.2.3/", "ok"),
    ("cidr", "http://10.1.3.1/", "forbidden_address:private"),
    ("cidr", "http://[fd00::1]/", "ok"),
    ("cidr", "http://[fc00::1]/", "forbidden_address:private"),
    ("cidr", "http://169.254.169.254/", "ok"),
    ("cidr", "http://[::ffff:169.254.169.254]/", "ok"),
    ("cidr", "http://[fd00:ec2::254]/", "ok"),
    ("cidr", "http://169.254.170.2/", "forbidden_address:metadata"),
    ("metadata_named", "http://metadata.google.internal/", "ok"),
    ("metadata_named", "http://metadata.google.internal./", "ok"),
    ("metadata_glob", "http://metadata.google.internal/", "forbidden_address:metadata"),
    ("metadata_named_public_only", "http://metadata.google.internal/", "forbidden_address:metadata"),
    // --- userinfo ---------------------------------------------------------------------------
    ("default", "https://good.com@evil.com/", "userinfo"),
    ("default", "https://user:pass@example.com/", "userinfo"),
    ("default", "https://@example.com/", "userinfo"),
    ("default", "https://:@example.com/", "userinfo"),
    ("default", "https://example.com:443@evil.com/", "userinfo"),
    ("default", "https://good.com%40evil.com/", "ambiguous"),
    ("default", "https://a@b@evil.com/", "ambiguous"),
    ("default", "https://good.com\\@evil.com/", "ambiguous"),
    ("default", "https://evil.com#@good.com", "ok"),
    ("userinfo", "https://good.com@evil.com/", "ok"),
    ("userinfo", "https://user:pass@example.com/", "ok"),
    ("userinfo", "http://user@127.0.0.1/", "forbidden_address:loopback"),
    ("goodhost", "https://good.com@evil.com/", "host_not_allowed"),
    ("goodhost", "https://evil.com#@good.com", "host_not_allowed"),
    ("goodhost", "https://evil.com?@good.com", "host_not_allowed"),
    ("goodhost", "https://evil.com/@good.com", "host_not_allowed"),
    ("goodhost", "https://good.com/", "ok"),
    // --- IDN / punycode ---------------------------------------------------------------------
    ("example", "https://exаmple.com/", "host_not_allowed"), // Cyrillic а
    ("example", "https://xn--exmple-4nf.com/", "host_not_allowed"),
    ("idn", "https://bücher.example/", "ok"),
    ("idn", "https://BÜCHER.example/", "ok"),
    ("idn", "https://xn--bcher-kva.example/", "ok"),
    ("idn", "https://ｅｘａｍｐｌｅ.com/", "ok"), // full-width letters are example.com to IDNA
    ("idn", "https://bucher.example/", "host_not_allowed"),
    ("default", "http://１２７.0.0.1/", "ambiguous"),
    ("default", "http://127。0。0。1/", "ambiguous"),
    ("default", "http://①②⑦.0.0.1/", "ambiguous"),
    ("default", "http://exa\u{ad}mple.com/", "ambiguous"),
    ("default", "http://exa\u{200b}mple.com/", "ambiguous"),
    ("default", "http://example.com\u{202e}/", "ambiguous"),
    // --- trailing dots and empty labels -----------------------------------------------------
    ("default", "http://example.com./", "ok"),
    ("example", "https://example.com./", "ok"),
    ("default", "http://example.com../", "ambiguous"),
    ("default", "http://localhost../", "ambiguous"),
    ("default", "http://.example.com/", "ambiguous"),
    ("default", "http://a..b.com/", "ambiguous"),
    // --- backslashes, whitespace, and other parser differentials ----------------------------
    ("default", "http://example.com\\@127.0.0.1/", "ambiguous"),
    ("default", "http:\\\\127.0.0.1\\", "ambiguous"),
    ("default", "http://exam\tple.com/", "ambiguous"),
    ("default", " http://example.com/", "ambiguous"),
    ("default", "http://example.com/\n", "ambiguous"),
    ("default", "http://example.com/a b", "ambiguous"),
    ("default", "http://example.com/\u{0}", "ambiguous"),
    ("default", "http:example.com", "ambiguous"),
    ("default", "http:/example.com", "ambiguous"),
    ("default", "http:///example.com", "ambiguous"),
    ("default", "http://", "ambiguous"),
    ("default", "https://:443/", "ambiguous"),
    ("default", "https://user@/", "ambiguous"),
    ("default", "http://%31%32%37.0.0.1/", "ambiguous"),
    ("default", "https://ex%2Eample.com/", "ambiguous"),
    ("default", "http://a\"b.com/", "ambiguous"),
    ("default", "http://*.example.com/", "ambiguous"),
    // --- unparsable -------------------------------------------------------------------------
    ("default", "", "unparsable"),
    ("default", "/relative/path", "unparsable"),
    ("default", "example.com", "unparsable"),
    ("default", "//example.com/", "unparsable"),
    ("default", "http://[::1/", "unparsable"),
    ("default", "http://example.com:65536/", "unparsable"),
    ("default", "http://xn--a.com/", "unparsable"),
    // --- ports ------------------------------------------------------------------------------
    ("default", "https://example.com:8443/", "port"),
    ("default", "http://example.com:443/", "port"),
    ("default", "http://example.com:0/", "port"),
    ("default", "http://example.com:22/", "port"),
    ("ports", "https://example.com:8443/", "ok"),
    ("ports", "http://example.com:8080/", "ok"),
    ("ports", "https://example.com:443/", "ok"),
    ("ports", "https://example.com:9000/", "port"),
    // The address is refused before the port is looked at.
    ("default", "http://127.0.0.1:8080/", "forbidden_address:loopback"),
    // --- schemes ----------------------------------------------------------------------------
    ("default", "file:///etc/passwd", "scheme"),
    ("default", "FILE:///etc/passwd", "scheme"),
    ("default", "gopher://example.com/", "scheme"),
    ("default", "dict://example.com:11211/", "scheme"),
    ("default", "ftp://example.com/", "scheme"),
    ("default", "javascript:alert(1)", "scheme"),
    ("default", "data:text/html,hi", "scheme"),
    ("default", "ws://example.com/", "scheme"),
    ("default", "localhost:8080", "scheme"),
    ("ftp", "ftp://ftp.example.com/pub/", "ok"),
    ("ftp", "wss://example.com/socket", "ok"),
    ("ftp", "http://example.com/", "scheme"),
    ("ftp", "ftp://example.com:2121/", "port"),
    // --- a scheme the WHATWG parser does not know: its host is normalised all the same -------
    ("redis", "redis://cache.example.com/", "ok"),
    ("redis", "redis://cache.example.com:6379/0", "ok"),
    ("redis", "redis://cache.example.com:6380/", "port"),
    ("redis", "redis://127.1:6379/", "forbidden_address:loopback"),
    ("redis", "redis://0x7f000001/", "forbidden_address:loopback"),
    ("redis", "redis://LOCALHOST/", "forbidden_address:local_name"),
    ("redis", "redis://bücher.example/", "ok"),
    ("redis", "redis://%31%32%37.0.0.1/", "ambiguous"),
    ("redis", "redis:cache.example.com", "ambiguous"),
    ("redis", "redis://a@b@cache.example.com/", "ambiguous"),
    // --- host globs -------------------------------------------------------------------------
    ("wild", "https://example.com/", "host_not_allowed"),
    ("wild", "https://evilexample.com/", "host_not_allowed"),
    ("wild", "https://example.com.evil.net/", "host_not_allowed"),
    ("wild", "https://a.example.com.evil.net/", "host_not_allowed"),
    ("wild", "https://example.co/", "host_not_allowed"),
    ("wild", "http://93.184.216.34/", "host_not_allowed"),
    ("api", "https://api.example.com.evil.net/", "host_not_allowed"),
    ("api", "https://xapi.example.com/", "host_not_allowed"),
    ("api", "https://v2.api.example.com/", "host_not_allowed"),
    ("api", "https://example.com/", "host_not_allowed"),
    ("api", "http://127.0.0.1/", "host_not_allowed"),
    ("ip_allow", "https://93.184.216.34/", "ok"),
    ("ip_allow", "https://1572395042/", "ok"),
    ("ip_allow", "https://[::ffff:93.184.216.34]/", "ok"),
    ("ip_allow", "https://[2606:4700:4700:0:0:0:0:1111]/", "ok"),
    ("ip_allow", "https://93.184.216.35/", "host_not_allowed"),
    ("ip_allow", "https://example.com/", "host_not_allowed"),
    ("deny", "https://www.example.com/", "ok"),
    ("deny", "https://corp.example.com/", "ok"),
    ("deny", "https://a.corp.example.com/", "host_not_allowed"),
    ("deny", "https://A.CORP.example.com./", "host_not_allowed"),
    ("deny", "https://evil.com/", "host_not_allowed"),
    ("deny", "https://EVIL.com./", "host_not_allowed"),
    ("deny", "https://93.184.216.34/", "host_not_allowed"),
    ("deny", "https://1572395042/", "host_not_allowed"),
    ("deny", "http://[::ffff:5db8:d822]/", "host_not_allowed"),
    ("deny", "http://[64:ff9b::5db8:d822]/", "host_not_allowed"),
    ("deny", "http://[2002:5db8:d822::1]/", "host_not_allowed"),
    ("deny", "http://127.0.0.1/", "forbidden_address:loopback"),
    // --- a policy that does not validate refuses everything ---------------------------------
    ("broken", "https://example.com/", "invalid_policy"),
];

#[test]
fn urls() {
    run_table(URLS, EndpointPolicy::check);
}

#[test]
fn the_url_table_is_big_enough() {
    let passes = URLS.iter().filter(|row| row.2 == "ok").count();
    assert!(URLS.len() >= 70, "{} rows", URLS.len());
    assert!(passes >= 15, "{passes} passing rows");
}

#[rustfmt::skip] // one row per line
const HOSTS: &[(&str, &str, &str)] = &[
    ("default", "example.com", "ok"),
    ("default", "example.com:443", "ok"),
    ("default", "example.com:8080", "port"),
    ("ports", "example.com:8080", "ok"),
    ("default", "10.0.0.1:8080", "forbidden_address:private"),
    ("private", "10.0.0.1:8080", "port"),
    ("private", "10.0.0.1", "ok"),
    ("default", "localhost:8080", "forbidden_address:local_name"),
    ("default", "::1", "forbidden_address:loopback"),
    ("default", "[::1]:80", "forbidden_address:loopback"),
    ("default", "2606:4700:4700::1111", "ok"),
    ("default", "2130706433", "forbidden_address:loopback"),
    ("default", "169.254.169.254", "forbidden_address:metadata"),
    ("default", "https://example.com/", "ok"),
    ("default", "file:///etc/passwd", "scheme"),
    ("default", "user@example.com", "userinfo"),
    ("default", "", "ambiguous"),
    ("default", "example.com\\@10.0.0.1", "ambiguous"),
    ("api", "api.example.com", "ok"),
    ("api", "example.com", "host_not_allowed"),
    // `://` inside the path does not make the value a URL of its own.
    ("default", "example.com/go?to=http://127.0.0.1/", "ok"),
    ("default", "127.0.0.1/go?to=http://example.com/", "forbidden_address:loopback"),
];

#[test]
fn check_host_values() {
    run_table(HOSTS, EndpointPolicy::check_host);
}

#[test]
fn check_host_uses_the_first_allowed_scheme() {
    let endpoint = policy("http_first").check_host("example.com").unwrap();
    assert_eq!(endpoint.scheme, "http");
    assert_eq!(endpoint.port, Some(80));
    let endpoint = policy("default").check_host("example.com").unwrap();
    assert_eq!(endpoint.scheme, "https");
    assert_eq!(endpoint.port, Some(443));
}

#[rustfmt::skip] // one row per line
const NORMAL_FORMS: &[(&str, &str, &str, Option<u16>)] = &[
    ("private", "http://2130706433/", "127.0.0.1", Some(80)),
    ("private", "http://0x7f.1/", "127.0.0.1", Some(80)),
    ("private", "http://0177.0.0.1/", "127.0.0.1", Some(80)),
    ("private", "http://127.1/", "127.0.0.1", Some(80)),
    ("private", "http://[::ffff:7f00:1]/", "[::ffff:127.0.0.1]", Some(80)),
    ("default", "https://bücher.example/", "xn--bcher-kva.example", Some(443)),
    ("default", "https://Example.COM./", "example.com", Some(443)),
    ("default", "http://example.com:0080/", "example.com", Some(80)),
    ("ports", "https://example.com:8443/", "example.com", Some(8443)),
    ("userinfo", "https://good.com@evil.com/", "evil.com", Some(443)),
    ("redis", "redis://Cache.Example.com/", "cache.example.com", Some(6379)),
    ("redis", "redis://bücher.example/", "xn--bcher-kva.example", Some(6379)),
    // No default port known for this scheme and none written: the port is unknown.
    ("custom", "myproto://Example.com/", "example.com", None),
    ("custom", "myproto://example.com:7000/", "example.com", Some(7000)),
];

#[test]
fn normal_forms() {
    for &(name, url, host, port) in NORMAL_FORMS {
        let endpoint = policy(name)
            .check(url)
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(endpoint.host.to_string(), host, "{url}");
        assert_eq!(endpoint.port, port, "{url}");
    }
    let endpoint = policy("private").check("http://0x7f.1/").unwrap();
    assert_eq!(endpoint.host, Host::Ip(IpAddr::from([127, 0, 0, 1])));
}

#[rustfmt::skip] // one row per line
const RESOLVED: &[(&str, &str, &[&str], &str)] = &[
    ("default", "example.com", &["10.0.0.5"], "forbidden_address:private"),
    ("default", "example.com", &["93.184.216.34"], "ok"),
    ("default", "example.com", &["93.184.216.34", "127.0.0.1"], "forbidden_address:loopback"),
    ("default", "example.com", &["2606:4700:4700::1111"], "ok"),
    ("default", "example.com", &["::ffff:169.254.169.254"], "forbidden_address:metadata"),
    ("default", "Example.COM.", &["fd00:ec2::254"], "forbidden_address:metadata"),
    ("default", "example.com", &[], "ok"),
    ("private", "db.example.com", &["10.0.0.5"], "ok"),
    ("private", "rebind.example.com", &["169.254.169.254"], "forbidden_address:metadata"),
    ("metadata_named", "metadata.google.internal.", &["169.254.169.254"], "ok"),
    ("metadata_named", "METADATA.Google.Internal", &["169.254.169.254"], "ok"),
    ("metadata_named", "x.example.com", &["169.254.169.254"], "forbidden_address:metadata"),
    ("cidr", "x.example.com", &["10.1.2.9"], "ok"),
    ("cidr", "x.example.com", &["10.9.9.9"], "forbidden_address:private"),
    ("broken", "example.com", &["93.184.216.34"], "invalid_policy"),
];

#[test]
fn resolved_addresses() {
    let mut failures = Vec::new();
    for &(name, host, addrs, expected) in RESOLVED {
        let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
        let result = policy(name).check_resolved(host, &addrs);
        let got = outcome(&result);
        if got != expected {
            failures.push(format!(
                "{name} {host} {addrs:?}: expected {expected}, got {got}"
            ));
        }
        if let Err(EndpointError::ForbiddenAddress { host: shown, .. }) = &result {
            // The name as given, in normal form; never the address it resolved to.
            assert_eq!(shown, &host.trim_end_matches('.').to_ascii_lowercase());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A policy with one key set from text: `("ports", &["8443"])`.
fn policy_with(key: &str, values: &[&str]) -> EndpointPolicy {
    let mut p = EndpointPolicy::default();
    match key {
        "default" => {}
        "schemes" => p.schemes = strings(values),
        "allow_hosts" => p.allow_hosts = strings(values),
        "deny_hosts" => p.deny_hosts = strings(values),
        "allow_addresses" => p.allow_addresses = strings(values),
        "ports" => p.ports = values.iter().map(|v| v.parse().unwrap()).collect(),
        other => panic!("no key {other}"),
    }
    p
}

/// `(key, values, None)` validates; `(key, values, Some(text))` fails with a message holding
/// `text`.
#[rustfmt::skip] // one row per line
const VALIDATION: &[(&str, &[&str], Option<&str>)] = &[
    ("default", &[], None),
    ("schemes", &["https", "wss", "git+ssh"], None),
    ("schemes", &["HTTPS"], Some("schemes[0] = \"HTTPS\": write schemes in lower case: \"https\"")),
    ("schemes", &[], Some("schemes: the list is empty")),
    ("schemes", &["https", "ht tp"], Some("schemes[1]")),
    ("schemes", &["1http"], Some("not a URL scheme")),
    ("allow_hosts", &["*", "*.bücher.example", "[::1]", "203.0.113.7", "API.Example.com."], None),
    ("allow_hosts", &["*example.com"], Some("allow_hosts[0]")),
    ("allow_hosts", &["a.*.example.com"], Some("`*.example.com`")),
    ("allow_hosts", &[""], Some("empty pattern")),
    ("allow_hosts", &["127.1"], Some("plain dotted form: `127.0.0.1`")),
    ("allow_hosts", &["[::1"], Some("allow_hosts[0]")),
    ("allow_hosts", &["*.10.0.0.1"], Some("must be followed by a domain name")),
    ("allow_hosts", &["exa mple.com"], Some("whitespace")),
    ("deny_hosts", &["ok.com", "a..b"], Some("deny_hosts[1]")),
    ("allow_addresses", &["10.0.0.0/8", "fd00::/8", "192.0.2.7", "0.0.0.0/0"], None),
    ("allow_addresses", &["10.1.2.3/24"], Some("did you mean `10.1.2.0/24`?")),
    ("allow_addresses", &["fd00::1/8"], Some("did you mean `fd00::/8`?")),
    ("allow_addresses", &["10.0.0.0/33"], Some("from 0 to 32")),
    ("allow_addresses", &["fd00::/129"], Some("from 0 to 128")),
    ("allow_addresses", &["10.0.0.0/8", "not-an-ip"], Some("allow_addresses[1]")),
    ("allow_addresses", &["010.0.0.0/8"], Some("allow_addresses[0]")),
    ("ports", &["8443", "8080"], None),
    ("ports", &["8443", "0"], Some("ports: 0")),
];

#[test]
fn policy_validation() {
    for &(key, values, expected) in VALIDATION {
        match (policy_with(key, values).validate(), expected) {
            (Ok(()), None) => {}
            (Err(message), Some(needle)) => {
                assert!(
                    message.contains(needle),
                    "{key} {values:?}: {message:?} lacks {needle:?}"
                );
            }
            (got, expected) => panic!("{key} {values:?}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = EndpointPolicy {
        schemes: strings(&["HTTP"]),
        allow_hosts: strings(&["*x.com"]),
        ports: vec![0],
        ..Default::default()
    };
    let message = p.validate().unwrap_err();
    for key in ["schemes[0]", "allow_hosts[0]", "ports"] {
        assert!(message.contains(key), "{message}");
    }
}

#[test]
fn messages_say_what_is_allowed() {
    let e = policy("default").check("ftp://example.com/").unwrap_err();
    assert!(e.to_string().contains("use one of: https, http"), "{e}");

    let e = policy("wild").check("https://example.com/").unwrap_err();
    assert!(e.to_string().contains("`example.com`"), "{e}");
    assert!(
        e.to_string().contains("allowed hosts: *.example.com"),
        "{e}"
    );

    let e = policy("ports")
        .check("https://example.com:9000/")
        .unwrap_err();
    assert_eq!(
        e,
        EndpointError::Port {
            port: 9000,
            allowed: vec![443, 8443, 8080]
        }
    );
    assert!(
        e.to_string().contains("allowed ports: 443, 8443, 8080"),
        "{e}"
    );

    let e = policy("default").check("http://0x7f.1/").unwrap_err();
    let expected = EndpointError::ForbiddenAddress {
        host: "127.0.0.1".into(),
        class: AddressClass::Loopback,
    };
    assert_eq!(e, expected);
    assert!(
        e.to_string()
            .contains("`127.0.0.1` is, or resolves to, a loopback address"),
        "{e}"
    );
    assert!(!e.to_string().contains("127.0.0.0/8"), "{e}");

    let e = policy("default")
        .check("http://[::ffff:a9fe:a9fe]/")
        .unwrap_err();
    assert!(e.to_string().contains("`[::ffff:169.254.169.254]`"), "{e}");
    assert!(e.to_string().contains("a cloud metadata endpoint"), "{e}");

    let e = policy("default")
        .check("https://bob:hunter2@example.com/")
        .unwrap_err();
    assert_eq!(e, EndpointError::Userinfo);
    assert!(!e.to_string().contains("hunter2"), "{e}");

    let e = policy("deny")
        .check("https://a.corp.example.com/")
        .unwrap_err();
    for secret in ["*.corp.example.com", "evil.com", "93.184.216.34"] {
        assert!(!e.to_string().contains(secret), "{e}");
    }

    let e = policy("broken").check("https://example.com/").unwrap_err();
    assert!(e.to_string().contains("retrying will not help"), "{e}");
}

#[test]
fn classify_is_none_for_public_addresses() {
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "2a00:1450::1",
    ] {
        assert_eq!(classify(ip.parse().unwrap()), None, "{ip}");
    }
    assert_eq!(classify("::ffff:8.8.8.8".parse().unwrap()), None);
    assert_eq!(
        classify("10.0.0.1".parse().unwrap()),
        Some(AddressClass::Private)
    );
}

fn internal_v4() -> impl Strategy<Value = u32> {
    prop_oneof![
        (0u32..1 << 24).prop_map(|low| 0x7f00_0000 | low), // 127/8
        (0u32..1 << 24).prop_map(|low| 0x0a00_0000 | low), // 10/8
        (0u32..1 << 16).prop_map(|low| 0xa9fe_0000 | low), // 169.254/16
        (0u32..1 << 16).prop_map(|low| 0xc0a8_0000 | low), // 192.168/16
    ]
}

proptest! {
    #[test]
    fn internal_v4_is_refused_in_every_spelling(n in internal_v4()) {
        let [a, b, c, d] = n.to_be_bytes();
        let policy = EndpointPolicy::default();
        for url in [
            format!("http://{n}/"),
            format!("http://0x{n:x}/"),
            format!("http://0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}/"),
            format!("http://0{a:o}.0{b:o}.0{c:o}.0{d:o}/"),
            format!("http://{a}.{b}.{c}.{d}/"),
            format!("http://[::ffff:{a}.{b}.{c}.{d}]/"),
        ] {
            let refused = policy.check(&url);
            prop_assert_eq!(
                refused.as_ref().map_err(EndpointError::kind).err(),
                Some("forbidden_address"),
                "{} -> {:?}", url, refused
            );
        }
    }

    #[test]
    fn deny_patterns_never_reach_the_message(
        secret in "[a-z][a-z0-9]{5,11}",
        other in "[a-z][a-z0-9]{5,11}",
        label in "[a-z][a-z0-9-]{0,8}",
        allow_any in any::<bool>(),
    ) {
        let deny = [format!("*.{secret}.example.com"), format!("{other}.example.org")];
        let policy = EndpointPolicy {
            allow_hosts: if allow_any { strings(&["*"]) } else { strings(&["*.example.com"]) },
            deny_hosts: deny.to_vec(),
            ..EndpointPolicy::default()
        };
        let error = policy.check(&format!("https://{label}.{secret}.example.com/")).unwrap_err();
        prop_assert_eq!(error.kind(), "host_not_allowed");
        let message = error.to_string();
        for pattern in &deny {
            prop_assert!(!message.contains(pattern.as_str()), "{} in {}", pattern, message);
        }
    }
}
