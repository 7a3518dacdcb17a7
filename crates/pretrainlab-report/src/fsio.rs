//! Safe file writes shared by every crate that writes results.
//!
//! [`atomic_write`] writes a file through a temporary sibling and a rename, so a reader
//! (or a rerun after a kill) never sees half a file. The temporary file gets a name no
//! other writer uses (process id and a per-process counter) and is created exclusively
//! (`O_CREAT | O_EXCL`): an existing file or a planted symbolic link at that name makes
//! the open fail instead of being written through.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Attempts at a fresh temporary name before giving up.
const TMP_ATTEMPTS: u32 = 64;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically, creating the parent folders.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let (tmp, mut file) = create_temporary(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    drop(file);
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Creates a new temporary sibling of `path` exclusively.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last = None;
    for _ in 0..TMP_ATTEMPTS {
        let mut name: OsString = path.as_os_str().to_owned();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        name.push(format!(".{}-{n}.tmp", std::process::id()));
        let tmp = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("plab-fsio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_and_replaces() {
        let d = dir("replace");
        let p = d.join("a.txt");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "a temporary file was left behind");
    }

    /// Symbolic links planted at every temporary name the next write could pick are
    /// skipped, never written through: their target stays untouched.
    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_not_written_through() {
        let d = dir("link");
        let victim = d.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let p = d.join("out.txt");
        let next = COUNTER.load(Ordering::Relaxed);
        for n in next..next + 8 {
            let link = d.join(format!("out.txt.{}-{n}.tmp", std::process::id()));
            std::os::unix::fs::symlink(&victim, link).unwrap();
        }
        atomic_write(&p, b"result").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&p).unwrap(), b"result");
    }
}
