//! What the sandbox adds to starting a server: `/bin/true` run plainly, and run in the sandbox
//! with every layer (namespaces, mounts, Landlock, seccomp, rlimits, a pids cgroup where one
//! can be made), and in a Podman container where podman is installed, measured in one run. Run: `cargo bench -p airlock-sandbox --bench startup`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use airlock_core::config::SandboxSettings;
use airlock_sandbox::Profile;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let profile = Profile::resolve(&SandboxSettings::default(), None, &[]).unwrap();
    let mut g = c.benchmark_group("startup");
    g.sample_size(30);
    g.bench_function("plain_bin_true", |b| {
        b.iter(|| {
            let status = std::process::Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        })
    });
    g.bench_function("sandboxed_bin_true", |b| {
        b.iter(|| {
            let code = airlock_sandbox::exec(&profile, &["/bin/true".to_owned()]).unwrap();
            assert_eq!(code, 0);
        })
    });
    // The podman backend, where podman is installed (`scripts/test.sh` installs it).
    let mut podman = profile.clone();
    podman.backend = airlock_sandbox::Backend::Podman;
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        g.sample_size(10);
        g.bench_function("podman_bin_true", |b| {
            b.iter(|| {
                let code = airlock_sandbox::exec(&podman, &["/bin/true".to_owned()]).unwrap();
                assert_eq!(code, 0);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
