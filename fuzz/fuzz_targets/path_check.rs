//! Arbitrary path text against a lexical path policy with one root.
//! Properties: never panics; an allowed path's lexical form lies inside the root (by
//! components) and has no `..`; an allowed path never has a denied component (`.ssh`, or
//! anything below a `zz-private-*` directory); a refusal's message never contains the
//! configured deny pattern.
#![no_main]

use std::path::{Component, Path};
use std::sync::OnceLock;

use airlock_core::config::{FilesystemSettings, Symlinks};
use airlock_guard::path::PathPolicy;
use libfuzzer_sys::fuzz_target;

const DENY: &str = "**/zz-private-*/**";

fn policy() -> &'static PathPolicy {
    static P: OnceLock<PathPolicy> = OnceLock::new();
    P.get_or_init(|| {
        PathPolicy::new(&FilesystemSettings {
            allowed_roots: vec!["/srv/data".into()],
            deny: vec![DENY.into()],
            symlinks: Symlinks::Lexical,
            home: Some("/srv/data/home".into()),
            ..FilesystemSettings::default()
        })
        .expect("the policy compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match policy().check(text) {
        Ok(checked) => {
            assert!(
                checked.lexical.starts_with(Path::new("/srv/data")),
                "{text:?} allowed as {}",
                checked.lexical.display()
            );
            assert!(
                !checked
                    .lexical
                    .components()
                    .any(|c| c == Component::ParentDir),
                "{text:?}"
            );
            // `.ssh` is denied as any component; `**/zz-private-*/**` below such a directory.
            let lower = checked.lexical.to_string_lossy().to_lowercase();
            let parts: Vec<&str> = lower.split('/').collect();
            for (i, p) in parts.iter().enumerate() {
                assert!(*p != ".ssh", "{text:?}");
                assert!(
                    !(p.starts_with("zz-private-") && i + 1 < parts.len()),
                    "{text:?}"
                );
            }
        }
        Err(e) => assert!(!e.to_string().contains(DENY), "{e}"),
    }
});
