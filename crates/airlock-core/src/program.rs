//! Programs the airlock starts: whether a file may be run, and where `PATH` finds a name —
//! one answer for the library's checks, `airlock doctor` and the sandbox's grants.

use std::path::{Path, PathBuf};

/// Whether `path` is a file (or a symlink to one) the airlock may run: on Unix, with an execute
/// bit set.
pub fn executable(path: &Path) -> bool {
    #[cfg(unix)]
    fn runnable(m: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    fn runnable(_: &std::fs::Metadata) -> bool {
        true
    }
    path.metadata().is_ok_and(|m| m.is_file() && runnable(&m))
}

/// Where `execvp` finds `program`: as given when it names a path (holds a `/`), else the first
/// [`executable`] file of that name in a directory of `PATH` (`/usr/bin:/bin` when unset).
/// `None`: not found, or not executable.
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| executable(p));
    }
    let paths = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}
