//! The audit file: opened for appending, one line per decision, flushed (and optionally
//! fsynced) before the decision is returned.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use airlock_core::audit::{AuditError, AuditEvent, AuditSink, encode_line};
use anyhow::Context;

/// An append-only JSON Lines audit file.
pub struct FileSink {
    file: Mutex<File>,
    fsync: bool,
}

impl FileSink {
    /// Open (or create) `path` for appending.
    pub fn open(path: &str, fsync: bool) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the audit file {path}\nhint: check that the directory exists and is writable, or set audit.path elsewhere"))?;
        Ok(FileSink {
            file: Mutex::new(file),
            fsync,
        })
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let line = encode_line(event)?;
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: O_APPEND keeps lines of concurrent writers whole.
        file.write_all(&line)?;
        file.flush()?;
        if self.fsync {
            file.sync_data()?;
        }
        Ok(())
    }
}
