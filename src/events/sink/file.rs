//! Line sinks: `stdout`, and `file` (appends; reopened when the pipeline's reopen
//! generation changes, i.e. after `SIGHUP`, for logrotate).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::SendError;
use crate::config::Format;
use crate::events::format;
use crate::events::Record;

/// Writes one encoded line per event.
#[derive(Debug)]
pub struct Lines {
    format: Format,
    facility: u8,
    target: Target,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Target {
    Stdout,
    File {
        path: PathBuf,
        file: Option<File>,
        reopen: watch::Receiver<u64>,
    },
}

impl Lines {
    pub fn stdout(format: Format, facility: u8) -> Lines {
        Lines {
            format,
            facility,
            target: Target::Stdout,
            buf: Vec::new(),
        }
    }

    /// A file sink; the file is created (with its directory) now, so a bad path fails
    /// at start-up. A named pipe (FIFO) is opened on the first send instead, once a
    /// reader is there: until then its events wait in the spool.
    pub fn file(path: PathBuf, format: Format, facility: u8, reopen: watch::Receiver<u64>) -> io::Result<Lines> {
        let file = if is_fifo(&path) { None } else { Some(open(&path)?) };
        Ok(Lines {
            format,
            facility,
            target: Target::File { path, file, reopen },
            buf: Vec::new(),
        })
    }

    pub fn send(&mut self, records: &[Record]) -> Result<(), SendError> {
        self.buf.clear();
        let mut bad = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let mark = self.buf.len();
            if format::line(self.format, r, self.facility, &mut self.buf).is_err() {
                self.buf.truncate(mark);
                bad.push(i);
            }
        }
        let result = match &mut self.target {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.buf).and_then(|_| out.flush())
            }
            Target::File { path, file, reopen } => {
                if reopen.has_changed().unwrap_or(false) {
                    reopen.borrow_and_update();
                    *file = None;
                }
                let f = match file {
                    Some(f) => f,
                    None => match open(path) {
                        Ok(f) => file.insert(f),
                        Err(e) => return Err(SendError::Retry(format!("{}: {e}", path.display()))),
                    },
                };
                let r = f.write_all(&self.buf);
                if r.is_err() {
                    *file = None;
                }
                r
            }
        };
        result.map_err(|e| SendError::Retry(e.to_string()))?;
        if bad.is_empty() {
            Ok(())
        } else {
            Err(SendError::Poison(bad, "cannot encode".into()))
        }
    }
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

fn open(path: &PathBuf) -> io::Result<File> {
    if is_fifo(path) {
        return open_fifo(path);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Opens a named pipe for writing without waiting for a reader: with none yet the open
/// fails (`ENXIO`) and the send is tried again later. Once open, writes block as they
/// would on a file (a line is never cut by a full pipe).
#[cfg(target_os = "linux")]
fn open_fifo(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: no reader yet ({e})", path.display())))?;
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn open_fifo(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).open(path)
}
