//! The audit file (`audit.path`): opened for appending, one JSON line per record, flushed (and
//! with `audit.fsync`, synced to disk) before the decision is returned — a call's record is on
//! disk before its answer leaves, even if the process is then killed.
//!
//! Records are sealed into a hash chain (`audit.chain`, on by default; see
//! [`airlock_core::audit_chain`]): opening an existing file resumes its chain, and rotation
//! (`audit.rotate_bytes`, `audit.rotate_daily`) renames the full file with the time and goes on
//! with the same chain in a new one. `airlock audit verify` checks the files, oldest first.
//! One writer per file: two processes appending to one file would interleave two chains.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use airlock_core::audit::{AuditError, AuditEvent, AuditNote, AuditSink};
use airlock_core::audit_chain::{self, Chain};
use airlock_core::config::AuditSettings;

/// How much of an existing file's end is read to resume its chain.
const TAIL: u64 = 1 << 20;

/// An append-only JSON Lines audit file.
#[derive(Debug)]
pub struct FileSink {
    inner: Mutex<Inner>,
    path: PathBuf,
    fsync: bool,
    chain: bool,
    rotate_bytes: Option<u64>,
    rotate_daily: bool,
    /// Every this many records, a checkpoint signed with this key.
    checkpoints: Option<(u64, ed25519_dalek::SigningKey)>,
    /// The pins of the definitions kept in the store already.
    kept: Mutex<std::collections::HashSet<String>>,
}

/// The content-addressed store of tool definitions next to the audit file at `path`:
/// `airlock-defs/<sha256 hex>.json` in the same directory, shared by its rotated files.
pub fn definitions_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("airlock-defs")
}

/// The file of the definition pinned `pin` (`sha256:<hex>`) in `dir`.
pub fn definition_file(dir: &Path, pin: &str) -> PathBuf {
    dir.join(format!("{}.json", pin.trim_start_matches("sha256:")))
}

#[derive(Debug)]
struct Inner {
    file: File,
    chain: Chain,
    /// The file's size.
    size: u64,
    /// The UTC day of the last record written (days since 1970).
    day: Option<i64>,
}

fn open_append(path: &Path) -> Result<File, std::io::Error> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

/// The chain where `file` leaves it: its last sealed record, read from its end.
fn resume(file: &mut File, size: u64) -> std::io::Result<Option<Chain>> {
    let from = size.saturating_sub(TAIL);
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    Ok(audit_chain::resume(&tail))
}

/// The signing key `settings` name (a file or an environment variable, hex of the 32-byte seed).
fn signing_key(settings: &AuditSettings) -> Result<ed25519_dalek::SigningKey, crate::Error> {
    let bad = |key: &str, message: String| crate::Error::SigningKey {
        key: key.to_owned(),
        message,
    };
    let (key, text) = match (&settings.signing_key_file, &settings.signing_key_env) {
        (Some(file), _) => (
            "audit.signing_key_file",
            std::fs::read_to_string(file)
                .map_err(|e| bad("audit.signing_key_file", format!("{file}: {e}")))?,
        ),
        (None, Some(var)) => (
            "audit.signing_key_env",
            std::env::var(var).map_err(|_| {
                bad(
                    "audit.signing_key_env",
                    format!("the variable {var} is not set"),
                )
            })?,
        ),
        (None, None) => {
            return Err(bad(
                "audit.checkpoint_every",
                "checkpoints need a signing key: set audit.signing_key_file or audit.signing_key_env"
                    .to_owned(),
            ));
        }
    };
    let seed = audit_chain::key_bytes(&text)
        .ok_or_else(|| bad(key, "not an Ed25519 key: 64 hex digits expected".to_owned()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

fn utc_day() -> i64 {
    jiff::Timestamp::now().as_second().div_euclid(86_400)
}

impl FileSink {
    /// Open (or create) `path` for appending, with the default sealing (a hash chain) and no
    /// rotation.
    pub fn open(path: &str, fsync: bool) -> Result<Self, crate::Error> {
        let settings = AuditSettings {
            path: Some(path.to_owned()),
            fsync,
            ..AuditSettings::default()
        };
        FileSink::with(path, &settings)
    }

    /// Open (or create) `path` for appending, as `settings` say (`fsync`, `chain`, rotation).
    pub fn with(path: &str, settings: &AuditSettings) -> Result<Self, crate::Error> {
        let error = |source| crate::Error::Audit {
            path: path.to_owned(),
            source,
        };
        let mut file = open_append(Path::new(path)).map_err(error)?;
        let size = file.metadata().map_err(error)?.len();
        let chain = if settings.chain {
            resume(&mut file, size).map_err(error)?.unwrap_or_default()
        } else {
            Chain::default()
        };
        let checkpoints = match settings.checkpoint_every {
            None => None,
            Some(n) => Some((n.max(1), signing_key(settings)?)),
        };
        Ok(FileSink {
            kept: Mutex::default(),
            checkpoints,
            inner: Mutex::new(Inner {
                file,
                chain,
                size,
                day: None,
            }),
            path: PathBuf::from(path),
            fsync: settings.fsync,
            chain: settings.chain,
            rotate_bytes: settings.rotate_bytes,
            rotate_daily: settings.rotate_daily,
        })
    }

    /// Rename the full file with the time and start a new one (the chain goes on).
    fn rotate(&self, inner: &mut Inner) -> std::io::Result<()> {
        // `20261206T080102Z`: the time of the rotation, to the second.
        let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let stamp: String = now
            .to_string()
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let mut to = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while to.exists() {
            to = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        std::fs::rename(&self.path, &to)?;
        inner.file = open_append(&self.path)?;
        inner.size = 0;
        Ok(())
    }

    fn write(&self, body: &[u8]) -> Result<(), AuditError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let today = self.rotate_daily.then(utc_day);
        let new_day = matches!((today, inner.day), (Some(t), Some(d)) if t != d)
            || (today.is_some() && inner.day.is_none() && inner.size > 0 && {
                // After a restart: the file's last write was on another day.
                inner
                    .file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .is_some_and(|d| (d.as_secs() as i64).div_euclid(86_400) != utc_day())
            });
        let too_big = self
            .rotate_bytes
            .is_some_and(|max| inner.size > 0 && inner.size + body.len() as u64 + 200 > max);
        if new_day || too_big {
            self.rotate(&mut inner)?;
        }
        let mut line = if self.chain {
            audit_chain::seal(&mut inner.chain, body)
        } else {
            [body, b"\n"].concat()
        };
        if let Some((every, key)) = &self.checkpoints
            && self.chain
            && inner.chain.seq.is_multiple_of(*every)
        {
            // Written with the record it follows: one write, so a checkpoint is never cut off
            // from what it signs.
            let cp = audit_chain::checkpoint(&inner.chain, key, jiff::Timestamp::now());
            line.extend(audit_chain::seal(&mut inner.chain, &cp));
        }
        // One write per line: O_APPEND keeps lines of concurrent writers whole.
        inner.file.write_all(&line)?;
        inner.file.flush()?;
        if self.fsync {
            inner.file.sync_data()?;
        }
        inner.size += line.len() as u64;
        inner.day = today;
        Ok(())
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.write(&serde_json::to_vec(event)?)
    }

    fn note(&self, note: &AuditNote) -> Result<(), AuditError> {
        self.write(&serde_json::to_vec(note)?)
    }

    fn definition(&self, def: &airlock_core::ToolDef) -> Result<(), AuditError> {
        let pin = def.pin();
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.contains(pin) {
            return Ok(());
        }
        let dir = definitions_dir(&self.path);
        let file = definition_file(&dir, pin);
        if !file.exists() {
            std::fs::create_dir_all(&dir)?;
            // Written whole under another name, then renamed: a reader never sees half of one.
            let tmp = dir.join(format!(".{}.tmp", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(def)?)?;
            std::fs::rename(&tmp, &file)?;
        }
        kept.insert(pin.to_owned());
        Ok(())
    }
}
