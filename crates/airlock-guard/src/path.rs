//! Filesystem paths in arguments: the `[filesystem]` policy.
//!
//! Guards against a tool being pointed outside the directories it may work in, or at files no
//! agent should read: `../../etc/passwd`, `/srv/data_evil` next to an allowed `/srv/data`
//! (roots match by whole components, never by string prefix — CVE-2025-53110 in the reference
//! filesystem server), a symlink inside a root that points out of it (CVE-2025-53109), `~/.ssh`,
//! `file:///etc/shadow`, `%2e%2e%2f`, `..\..\`, `.SSH` on a case-insensitive disk.
//!
//! A path is checked in these steps, and every form of it must pass:
//!
//! 1. **Spelling.** NUL bytes, control characters, invisible and bidirectional-control
//!    characters, look-alike dots and slashes (`․` `／` `∕` `＼` …), components of only dots and
//!    spaces (`...`, `. .`), Windows drive paths and `~user` are refused as ambiguous
//!    (`filesystem.invalid`). `file://` URIs (empty host or `localhost`) are decoded to their
//!    path; a path holding `%XX` escapes is checked both as written and decoded (repeatedly,
//!    for double encoding), since a server may decode it. Backslashes count as separators.
//! 2. **Lexical form.** `~` is the home directory, a relative path is joined to the base
//!    (`filesystem.base`: where the server resolves relative paths; the proxies set it to the
//!    working directory they start the server in). With roots but no base a relative path is
//!    refused (`filesystem.relative`): joining it to a root the server does not use would check
//!    one file and let the server open another. With neither, it may not climb above its start.
//!    `.` and `..` are resolved. More than `max_depth` components are refused.
//! 3. **Deny lists.** The preset's and the configured globs, matched case-insensitively on the
//!    full path and on each component (so `*.pem` and `.ssh` match anywhere).
//!    (`filesystem.denied`; the pattern is never shown.)
//! 4. **Roots.** The lexical path must lie inside a root (or inside a root's real location).
//!    (`filesystem.outside_roots`.)
//! 5. **Symlinks** (`symlinks = "resolve"`, the default). The path is resolved on disk the
//!    way the kernel would — links followed where they occur, `..` applied after them — and
//!    the part that does not exist yet (a file about to be written) is appended to its nearest
//!    existing ancestor. The resolved path must pass steps 3 and 4 against the roots' own
//!    resolved locations, so a symlinked root still works and a link out of a root does not.
//!    With `symlinks = "deny"` any link below a root is refused (`filesystem.symlink`); with
//!    `"lexical"` the disk is never read (for servers on another machine). A disk error other
//!    than "not found" refuses the call (`filesystem.unresolvable`, fail closed).
//!
//! Not covered: a link created or swapped between this check and the tool opening the file
//! (only the server can close that race, e.g. with `openat2(RESOLVE_BENEATH)`); Windows path
//! semantics beyond refusing drive paths; hard links (a hard link inside a root *is* inside).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use airlock_core::config::{FilesystemSettings, PathPreset, Symlinks, normalize_absolute};
use airlock_core::refusal::DenyCode;
use globset::GlobBuilder;

/// Most symbolic links followed while resolving one path (the kernel's limit is 40).
const MAX_LINKS: usize = 40;
/// Most rounds of percent-decoding tried (double and triple encoding).
const MAX_DECODES: usize = 3;

/// The restrictive preset: credentials, keys and certificates anywhere; system secrets and
/// kernel interfaces. Matched like configured globs (full path and each component).
pub const RESTRICTIVE: &[&str] = &[
    // Directories of keys and credentials, anywhere.
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".password-store",
    "**/.config/gcloud",
    "**/.config/gcloud/**",
    "**/.config/gh",
    "**/.config/gh/**",
    // Credential files.
    ".env",
    ".env.*",
    ".envrc",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".pgpass",
    ".my.cnf",
    ".htpasswd",
    ".vault-token",
    "credentials.json",
    "application_default_credentials.json",
    "service-account*.json",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    // Shell and client histories.
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    // Keys and certificates.
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "authorized_keys",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.crt",
    "*.cer",
    "*.der",
    "*.ovpn",
    // System secrets and kernel interfaces.
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/passwd",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/sudoers.d/**",
    "/etc/ssh",
    "/etc/ssh/**",
    "/etc/ssl/private",
    "/etc/ssl/private/**",
    "/proc",
    "/proc/**",
    "/sys",
    "/sys/**",
    "/dev",
    "/dev/**",
    "/root",
    "/root/**",
    "/boot",
    "/boot/**",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/secrets",
    "/run/secrets/**",
    "/var/run/secrets",
    "/var/run/secrets/**",
];

/// Characters that look like `.`, `/` or `\`, or that cannot be seen: a server or a person
/// reading the path may take them for something else.
const AMBIGUOUS: &[char] = &[
    '\u{2024}', // one dot leader
    '\u{2025}', // two dot leader
    '\u{2026}', // ellipsis
    '\u{FE52}', // small full stop
    '\u{FF0E}', // fullwidth full stop
    '\u{3002}', // ideographic full stop
    '\u{FF0F}', // fullwidth solidus
    '\u{2215}', // division slash
    '\u{2044}', // fraction slash
    '\u{29F8}', // big solidus
    '\u{FF3C}', // fullwidth reverse solidus
    '\u{2216}', // set minus
    '\u{29F5}', // reverse solidus operator
    '\u{200B}', // zero width space
    '\u{200C}', // zero width non-joiner
    '\u{200D}', // zero width joiner
    '\u{2060}', // word joiner
    '\u{FEFF}', // zero width no-break space
    '\u{00AD}', // soft hyphen
    '\u{202A}', // bidi controls
    '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
    '\u{200E}', '\u{200F}',
];

/// Why a path was refused. Messages are for the model: they name the allowed roots, never a
/// deny pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Malformed or ambiguous.
    #[error("the path {path:?} is not a plain path: {reason}")]
    Invalid {
        /// The path as sent.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Outside every allowed root.
    #[error(
        "the path {path:?} is outside the allowed directories ({})",
        list(roots)
    )]
    OutsideRoots {
        /// The path as sent.
        path: String,
        /// The allowed roots.
        roots: Vec<String>,
    },
    /// Relative, and where the server resolves it is unknown.
    #[error(
        "the path {path:?} is relative, and where the server resolves it is not known; give an absolute path inside the allowed directories ({})",
        list(roots)
    )]
    Relative {
        /// The path as sent.
        path: String,
        /// The allowed roots.
        roots: Vec<String>,
    },
    /// Matches a deny glob.
    #[error("the path {path:?} is off limits")]
    Denied {
        /// The path as sent.
        path: String,
    },
    /// Goes through a symbolic link where links are refused.
    #[error("the path {path:?} goes through a symbolic link, and links are not followed here")]
    Symlink {
        /// The path as sent.
        path: String,
    },
    /// The disk could not be read to resolve it.
    #[error("the path {path:?} could not be checked on disk ({reason})")]
    Unresolvable {
        /// The path as sent.
        path: String,
        /// The disk error.
        reason: String,
    },
}

fn list(roots: &[String]) -> String {
    if roots.is_empty() {
        "none configured".to_owned()
    } else {
        roots.join(", ")
    }
}

impl PathError {
    /// The refusal code.
    pub fn code(&self) -> DenyCode {
        match self {
            PathError::Invalid { .. } => DenyCode::FilesystemInvalid,
            PathError::Relative { .. } => DenyCode::FilesystemRelative,
            PathError::OutsideRoots { .. } => DenyCode::FilesystemOutsideRoots,
            PathError::Denied { .. } => DenyCode::FilesystemDenied,
            PathError::Symlink { .. } => DenyCode::FilesystemSymlink,
            PathError::Unresolvable { .. } => DenyCode::FilesystemUnresolvable,
        }
    }
}

/// An allowed root: as configured, and where it really is.
#[derive(Clone, Debug)]
struct Root {
    lexical: PathBuf,
    real: PathBuf,
}

/// The deny globs, lower-cased, as full-path globs compiled into one regex.
#[derive(Clone, Debug)]
struct Deny {
    re: Option<regex::bytes::Regex>,
}

impl Deny {
    /// Whether `path` (absolute or relative) is denied, ignoring case.
    fn matches(&self, path: &Path) -> bool {
        let Some(re) = &self.re else {
            return false;
        };
        let text = path.to_string_lossy();
        let lower: std::borrow::Cow<'_, str> = if text
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            text.to_lowercase().into()
        } else {
            text
        };
        re.is_match(lower.as_bytes())
    }
}

/// The compiled `[filesystem]` policy for one tool and tenant.
#[derive(Clone, Debug)]
pub struct PathPolicy {
    roots: Vec<Root>,
    deny: Deny,
    symlinks: Symlinks,
    base: Option<PathBuf>,
    home: Option<PathBuf>,
    max_depth: usize,
    case_insensitive: bool,
}

/// A path that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedPath {
    /// The absolute path, `.` and `..` resolved as written.
    pub lexical: PathBuf,
    /// Where it leads on disk (the lexical path with `symlinks = "lexical"`).
    pub resolved: PathBuf,
}

impl PathPolicy {
    /// Compile `settings` (the `[filesystem]` section as it applies to one tool and tenant).
    pub fn new(settings: &FilesystemSettings) -> Result<PathPolicy, String> {
        // Case is ignored by lower-casing both sides. A pattern not anchored at `/` or `**`
        // becomes `**/P` and `**/P/**`, so one match on the full path covers every component;
        // every glob's regex joins one automaton, matched once per path.
        let mut alternatives: Vec<String> = Vec::new();
        let preset: &[&str] = match settings.preset {
            PathPreset::Restrictive => RESTRICTIVE,
            PathPreset::None => &[],
        };
        for g in preset
            .iter()
            .copied()
            .chain(settings.deny.iter().map(String::as_str))
        {
            let lower = g.to_lowercase();
            // Anchored patterns (`/etc/shadow`, `**/x/**`) as written; any other (`.ssh`,
            // `*.pem`, `config/secrets.yml`) matches at any depth, and everything below it.
            let forms = if lower.starts_with('/') || lower.starts_with("**") {
                vec![lower]
            } else {
                vec![format!("**/{lower}"), format!("**/{lower}/**")]
            };
            for form in forms {
                let glob = GlobBuilder::new(&form)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| format!("filesystem.deny: {g:?} is not a glob: {e}"))?;
                alternatives.push(format!("(?:{})", glob.regex()));
            }
        }
        // One automaton for every glob: a single pass over the path.
        let deny = Deny {
            re: (!alternatives.is_empty())
                .then(|| regex::bytes::Regex::new(&alternatives.join("|")))
                .transpose()
                .map_err(|e| format!("filesystem.deny: {e}"))?,
        };
        let mut roots = Vec::new();
        for r in &settings.allowed_roots {
            let lexical = normalize_absolute(r)
                .ok_or_else(|| format!("filesystem.allowed_roots: {r:?} is not absolute"))?;
            let real = match settings.symlinks {
                Symlinks::Lexical => lexical.clone(),
                Symlinks::Resolve | Symlinks::Deny => resolve(&lexical, &[])
                    .map(|(p, _)| p)
                    .unwrap_or_else(|_| lexical.clone()),
            };
            roots.push(Root { lexical, real });
        }
        let absolute = |key: &str, v: &Option<String>| -> Result<Option<PathBuf>, String> {
            v.as_deref()
                .map(|p| {
                    normalize_absolute(p)
                        .ok_or_else(|| format!("filesystem.{key}: {p:?} is not absolute"))
                })
                .transpose()
        };
        let base = absolute("base", &settings.base)?;
        let home = absolute("home", &settings.home)?.or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute())
        });
        Ok(PathPolicy {
            roots,
            deny,
            symlinks: settings.symlinks,
            base,
            home,
            max_depth: settings.max_depth,
            case_insensitive: settings.case_insensitive,
        })
    }

    /// The allowed roots as configured (normalised); empty: any directory.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|r| r.lexical.clone()).collect()
    }

    fn root_names(&self) -> Vec<String> {
        self.roots
            .iter()
            .map(|r| r.lexical.display().to_string())
            .collect()
    }

    /// Check one path (or `file://` URI) as sent in the arguments.
    pub fn check(&self, raw: &str) -> Result<CheckedPath, PathError> {
        let invalid = |reason: &str| PathError::Invalid {
            path: raw.to_owned(),
            reason: reason.to_owned(),
        };
        // Plain text without escapes or backslashes (the common case): one form, no copies.
        if !has_escape(raw)
            && !raw.contains('\\')
            && strip_prefix_ignore_case(raw, "file:").is_none()
        {
            return self.check_form(raw, raw);
        }
        // Every reading of the text must pass: a `file:` URI as split here and as a WHATWG
        // parser (Node's `fileURLToPath`) reads it; text as written and percent-decoded; and
        // each of those with backslashes as characters (POSIX) and as separators (Windows,
        // WHATWG).
        let mut forms: Vec<String> = Vec::new();
        if let Some(rest) = strip_prefix_ignore_case(raw, "file:") {
            if rest.contains(['?', '#']) {
                return Err(invalid("a file URI with a query or fragment"));
            }
            let path = match rest.strip_prefix("//") {
                Some(after) => {
                    let slash = after.find('/').unwrap_or(after.len());
                    let host = &after[..slash];
                    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                        return Err(invalid("a file URI naming another host"));
                    }
                    &after[slash..]
                }
                None => rest,
            };
            let decoded =
                decode(path).ok_or_else(|| invalid("percent-escapes that are not UTF-8"))?;
            if decoded.is_empty() {
                return Err(invalid("a file URI with no path"));
            }
            forms.push(decoded);
            match url::Url::parse(raw) {
                Ok(u) if u.scheme() == "file" => {
                    if u.host_str()
                        .is_some_and(|h| !h.eq_ignore_ascii_case("localhost"))
                    {
                        return Err(invalid("a file URI naming another host"));
                    }
                    let p = decode(u.path())
                        .ok_or_else(|| invalid("percent-escapes that are not UTF-8"))?;
                    forms.push(p);
                }
                _ => return Err(invalid("a file URI that does not parse")),
            }
        } else {
            forms.push(raw.to_owned());
        }
        let mut i = 0;
        while i < forms.len() {
            let mut last = forms[i].clone();
            for _ in 0..MAX_DECODES {
                if !has_escape(&last) {
                    break;
                }
                let next =
                    decode(&last).ok_or_else(|| invalid("percent-escapes that are not UTF-8"))?;
                if next == last {
                    break;
                }
                forms.push(next.clone());
                last = next;
            }
            i += 1;
            if forms.len() > 16 {
                break;
            }
        }
        let slashed: Vec<String> = forms
            .iter()
            .filter(|f| f.contains('\\'))
            .map(|f| f.replace('\\', "/"))
            .collect();
        forms.extend(slashed);
        let mut first = None;
        for form in &forms {
            let checked = self.check_form(raw, form)?;
            first.get_or_insert(checked);
        }
        first.ok_or_else(|| invalid("an empty path"))
    }

    fn check_form(&self, raw: &str, form: &str) -> Result<CheckedPath, PathError> {
        let invalid = |reason: &str| PathError::Invalid {
            path: raw.to_owned(),
            reason: reason.to_owned(),
        };
        if form.is_empty() {
            return Err(invalid("an empty path"));
        }
        for c in form.chars() {
            if c == '\0' {
                return Err(invalid("a NUL byte"));
            }
            if c.is_control() {
                return Err(invalid("a control character"));
            }
            if !c.is_ascii() && AMBIGUOUS.contains(&c) {
                return Err(invalid(
                    "a character that looks like a dot or a slash, or cannot be seen",
                ));
            }
            // `ſ` (long s) is `S` to a case-insensitive disk: `.ſſh` would open `.ssh`.
            if !c.is_ascii()
                && (c.to_uppercase().any(|u| u.is_ascii())
                    || c.to_lowercase().any(|l| l.is_ascii()))
            {
                return Err(invalid(
                    "a character whose other case is an ASCII letter (a case-insensitive disk reads it as that letter)",
                ));
            }
        }
        // (Backslashes: `check` also tries each form with them as separators.)
        let form: std::borrow::Cow<'_, str> = form.into();
        let b = form.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err(invalid("a Windows drive path"));
        }
        for c in form.split('/') {
            if c.len() > 2 && c.trim_end_matches([' ', '.']).is_empty() {
                return Err(invalid("a component of only dots and spaces"));
            }
        }
        // `~` and relative paths.
        let absolute: std::borrow::Cow<'_, str> = if let Some(rest) = form.strip_prefix('~') {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(invalid("`~user` (only `~` is understood)"));
            }
            let home = self
                .home
                .as_ref()
                .ok_or_else(|| invalid("`~` with no home directory configured"))?;
            format!("{}/{rest}", home.display()).into()
        } else if form.starts_with('/') {
            form
        } else {
            match &self.base {
                Some(base) => format!("{}/{form}", base.display()).into(),
                None if !self.roots.is_empty() => {
                    return Err(PathError::Relative {
                        path: raw.to_owned(),
                        roots: self
                            .roots
                            .iter()
                            .map(|r| r.lexical.display().to_string())
                            .collect(),
                    });
                }
                None => return self.check_relative(raw, &form),
            }
        };
        // `.` and `..` resolved as written, straight into one string.
        let mut text = String::with_capacity(absolute.len());
        let mut depth = 0usize;
        for c in absolute.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if let Some(cut) = text.rfind('/') {
                        text.truncate(cut);
                        depth -= 1;
                    }
                }
                _ => {
                    text.push('/');
                    text.push_str(c);
                    depth += 1;
                }
            }
        }
        if depth > self.max_depth {
            return Err(invalid("too many directory levels"));
        }
        if text.is_empty() {
            text.push('/');
        }
        let lexical = PathBuf::from(text);
        // Roots before deny lists: outside the roots every path gets the same answer, so
        // refusals cannot be used to probe the deny list.
        if !self.roots.is_empty()
            && !self
                .roots
                .iter()
                .any(|r| self.inside(&lexical, &r.lexical) || self.inside(&lexical, &r.real))
        {
            return Err(PathError::OutsideRoots {
                path: raw.to_owned(),
                roots: self.root_names(),
            });
        }
        self.denied(raw, &lexical)?;
        if self.symlinks == Symlinks::Lexical {
            return Ok(CheckedPath {
                resolved: lexical.clone(),
                lexical,
            });
        }
        // On disk, two readings: the kernel's (links first, `..` after them) and the tidied
        // one a server gets when it cleans the text before opening (`path.resolve`,
        // `os.path.abspath`). They differ only when the path has `..` in it.
        let root_paths: Vec<&Path> = self.roots.iter().map(|r| r.lexical.as_path()).collect();
        let kernel = Path::new(absolute.as_ref());
        let mut readings = vec![kernel];
        if kernel.components().any(|c| c == Component::ParentDir) {
            readings.push(lexical.as_path());
        }
        let mut first = None;
        for reading in readings {
            let (resolved, linked) =
                resolve(reading, &root_paths).map_err(|e| PathError::Unresolvable {
                    path: raw.to_owned(),
                    reason: e.to_string(),
                })?;
            if linked && self.symlinks == Symlinks::Deny {
                return Err(PathError::Symlink {
                    path: raw.to_owned(),
                });
            }
            if !self.roots.is_empty() && !self.roots.iter().any(|r| self.inside(&resolved, &r.real))
            {
                return Err(PathError::OutsideRoots {
                    path: raw.to_owned(),
                    roots: self.root_names(),
                });
            }
            self.denied(raw, &resolved)?;
            first.get_or_insert(resolved);
        }
        let resolved = first.unwrap_or_else(|| lexical.clone());
        Ok(CheckedPath { lexical, resolved })
    }

    /// A relative path with no base to resolve it against: it may not climb above its start,
    /// and the deny lists apply to its components. (Only reached with no roots and no base.)
    fn check_relative(&self, raw: &str, form: &str) -> Result<CheckedPath, PathError> {
        let mut depth: usize = 0;
        let mut parts: Vec<&str> = Vec::new();
        for c in form.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if depth == 0 {
                        return Err(PathError::Invalid {
                            path: raw.to_owned(),
                            reason: "a relative path climbing above where it starts".to_owned(),
                        });
                    }
                    depth -= 1;
                    parts.pop();
                }
                _ => {
                    depth += 1;
                    parts.push(c);
                }
            }
        }
        if parts.len() > self.max_depth {
            return Err(PathError::Invalid {
                path: raw.to_owned(),
                reason: "too many directory levels".to_owned(),
            });
        }
        let rel: PathBuf = parts.iter().collect();
        // Read from `/` too (a server whose working directory is `/`): `etc/shadow`.
        let from_root = Path::new("/").join(&rel);
        if self.deny.matches(&rel) || self.deny.matches(&from_root) {
            return Err(PathError::Denied {
                path: raw.to_owned(),
            });
        }
        Ok(CheckedPath {
            lexical: rel.clone(),
            resolved: rel,
        })
    }

    fn denied(&self, raw: &str, path: &Path) -> Result<(), PathError> {
        if self.deny.matches(path) {
            Err(PathError::Denied {
                path: raw.to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// Whether `path` is `root` or below it, by whole components.
    /// (Both are normalised: absolute, no `.`, `..`, doubled or trailing `/`; so comparing
    /// the text up to a `/` is comparing components.)
    fn inside(&self, path: &Path, root: &Path) -> bool {
        fn under(p: &[u8], r: &[u8]) -> bool {
            r == b"/" || p == r || (p.len() > r.len() && p.starts_with(r) && p[r.len()] == b'/')
        }
        if !self.case_insensitive {
            return under(
                path.as_os_str().as_encoded_bytes(),
                root.as_os_str().as_encoded_bytes(),
            );
        }
        let lower = |p: &Path| p.to_string_lossy().to_lowercase();
        under(lower(path).as_bytes(), lower(root).as_bytes())
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn has_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// Percent-decode; `None` when the result is not UTF-8.
fn decode(s: &str) -> Option<String> {
    String::from_utf8(airlock_core::field_path::percent_decode_bytes(s)).ok()
}

/// A path's names and `..`s, in order (`/` and `.` dropped).
fn steps(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_owned()),
        Component::ParentDir => Some("..".into()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Resolve `path` (absolute, `..` not yet applied) on disk as the kernel would: links followed
/// where they occur and `..` applied after them; the part that does not exist is appended to
/// the nearest existing ancestor. Returns the path and whether a link was followed outside the
/// roots' own paths (`roots`: links that make up a root itself do not count).
fn resolve(path: &Path, roots: &[&Path]) -> io::Result<(PathBuf, bool)> {
    let mut pending: VecDeque<OsString> = steps(path).collect();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    let mut linked = false;
    // Components appended without existing on disk; once `..` climbs back above them, the
    // disk is consulted again.
    let mut missing: usize = 0;
    while let Some(c) = pending.pop_front() {
        if c == "." {
            continue;
        }
        if c == ".." {
            out.pop();
            missing = missing.saturating_sub(1);
            continue;
        }
        let next = out.join(&c);
        if missing > 0 {
            out = next;
            missing += 1;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                if !roots.iter().any(|r| r.starts_with(&next)) {
                    linked = true;
                }
                let target = std::fs::read_link(&next)?;
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                let front: Vec<OsString> = steps(&target).collect();
                for t in front.into_iter().rev() {
                    pending.push_front(t);
                }
            }
            Ok(m) => {
                out = next;
                // A file in the middle of a path: nothing below it exists.
                if !m.is_dir() {
                    missing = 1;
                }
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                missing = 1;
                out = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((out, linked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_strict() {
        assert_eq!(decode("%2e%2E/x").as_deref(), Some("../x"));
        assert_eq!(decode("100%").as_deref(), Some("100%"));
        assert_eq!(decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(decode("%ff"), None);
        assert!(has_escape("a%2fb") && !has_escape("100%"));
    }
}
