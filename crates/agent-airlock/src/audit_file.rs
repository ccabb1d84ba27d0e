//! The audit file (`audit.path`): opened for appending, one JSON line per decision, flushed (and
//! with `audit.fsync`, synced to disk) before the decision is returned. Guards against a record
//! lost to a crash after the answer; it does not stop an operator with write access from editing
//! the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use airlock_core::audit::{AuditError, AuditEvent, AuditNote, AuditSink, encode_line};

/// An append-only JSON Lines audit file.
#[derive(Debug)]
pub struct FileSink {
    file: Mutex<File>,
    fsync: bool,
}

impl FileSink {
    /// Open (or create) `path` for appending.
    pub fn open(path: &str, fsync: bool) -> Result<Self, crate::Error> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| crate::Error::Audit {
                path: path.to_owned(),
                source,
            })?;
        Ok(FileSink {
            file: Mutex::new(file),
            fsync,
        })
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.write(&encode_line(event)?)
    }

    fn note(&self, note: &AuditNote) -> Result<(), AuditError> {
        self.write(&encode_line(note)?)
    }
}

impl FileSink {
    fn write(&self, line: &[u8]) -> Result<(), AuditError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: O_APPEND keeps lines of concurrent writers whole.
        file.write_all(line)?;
        file.flush()?;
        if self.fsync {
            file.sync_data()?;
        }
        Ok(())
    }
}
