//! The blob files themselves: opening one for a part (`part` streams the part into it), and
//! checking the files against the rows at start. Plain blocking `std::fs` calls (an `fsync`
//! blocks anyway): callers run them on tokio's blocking pool.
//!
//! A file open for a part is locked (`flock`, exclusive) until the part is recorded, and that
//! lock is the one guard of an upload's appends: a second request for the same upload, on
//! this process or on another sharing the blob directory (a cluster, README.md), finds the
//! file locked and is told to wait. Under the lock the caller reads the upload's row again
//! before the file is cut to it, so a row read before another process recorded its part
//! never cuts that part away. A file is deleted under the same lock, and a part that waited
//! for the lock of a file deleted meanwhile opens the one named so now.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use merpati_protocol::BlobId;

/// Why a part could not be appended.
#[derive(Debug)]
pub(super) enum AppendError {
    /// The disk (or the process's file size limit) is full.
    Full(io::Error),
    /// The file holds fewer bytes than recorded: it was damaged or removed from outside.
    Shorter { holds: u64 },
    /// Another process is appending to the file now (it holds the file's lock).
    Busy,
    /// Another failure.
    Io(io::Error),
}

impl From<io::Error> for AppendError {
    fn from(error: io::Error) -> AppendError {
        match error.kind() {
            io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::FileTooLarge => AppendError::Full(error),
            _ => AppendError::Io(error),
        }
    }
}

/// The file at `path` (created if missing), opened to write a part and locked; the lock goes
/// with the `File`. `Busy` if another request, of this process or another, holds it.
pub(super) fn open_locked(path: &Path) -> Result<File, AppendError> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AppendError::Busy),
            Err(std::fs::TryLockError::Error(error)) => return Err(error.into()),
        }
        // A cleanup that held the lock may have deleted the file between the open and the
        // lock: bytes written to it would go nowhere. The file at `path` now is the one.
        if still_at(&file, path)? {
            return Ok(file);
        }
    }
}

/// Whether `file` is still the file named `path` (not deleted, nor replaced).
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// A blob's file, locked to be deleted or cut (see `BlobStore::settle_file`).
#[derive(Debug)]
pub(super) enum ToRemove {
    /// There is no such file.
    Absent,
    /// A part is being written to it: its upload lives (its row was made again), or the part
    /// finds it gone and deletes the file itself.
    Busy,
    /// Locked: no part can be written to it until it is dropped.
    Locked(File),
}

/// Opens and locks the file at `path` to delete or cut it, creating nothing.
pub(super) fn lock_to_remove(path: &Path) -> io::Result<ToRemove> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(ToRemove::Absent),
        Err(error) => return Err(error),
    };
    match file.try_lock() {
        Ok(()) => Ok(ToRemove::Locked(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(ToRemove::Busy),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Puts the cursor of `file` (locked by [`open_locked`]) at `offset`, what the upload's row
/// records. A tail past it is bytes whose recording never happened (the process died between
/// the write and the record, or a part was refused half-way): it is cut first.
pub(super) fn seek_to(file: &mut File, offset: u64) -> Result<(), AppendError> {
    let holds = file.metadata()?.len();
    if holds < offset {
        return Err(AppendError::Shorter { holds });
    }
    if holds > offset {
        file.set_len(offset)?;
    }
    file.seek(SeekFrom::Start(offset))?;
    Ok(())
}

/// Cuts `file` (locked by [`lock_to_remove`]) to `len` bytes if it holds more, flushed.
pub(super) fn cut_to(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() > len {
        file.set_len(len)?;
        file.sync_data()?;
    }
    Ok(())
}

/// Flushes the name of a file just created in `dir` to disk: its name must survive a power
/// cut as well as its bytes.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Deletes a blob's file; a file already gone is no error.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// What the check at start found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Checked {
    /// Files no row named when the rows were read (the caller reads their rows again).
    pub(super) strays: Vec<BlobId>,
    /// Uploads whose file holds fewer bytes than recorded (or is missing): what it holds.
    pub(super) shorter: Vec<(BlobId, u64)>,
}

/// Compares the files in `dir` with the rows (`received`: what each upload's row recorded
/// when read): files no row names (the process died between deleting a row and its file),
/// and uploads whose file holds less than recorded (their rows are lowered, and those bytes
/// are asked for again). Changes nothing: other processes sharing the directory may be
/// serving, so the rows may have moved since they were read — a file longer than its row is
/// left for the next part to cut (`seek_to`), under the file's lock. Files whose names are
/// not blob ids as `BlobId::to_hex` writes them are left alone.
pub(super) fn check(dir: &Path, received: &HashMap<BlobId, u64>) -> io::Result<Checked> {
    let mut listed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        match name
            .to_str()
            .and_then(|name| BlobId::from_hex(name).filter(|id| id.to_hex() == name))
        {
            Some(id) => listed.push(id),
            None => {
                tracing::warn!(file = ?entry.path(), "a file in the blob directory that is no blob");
            }
        }
    }
    compare(dir, &listed, received)
}

/// [`check`] of the blob files `listed` in `dir`, each looked at after the listing. Another
/// process sharing the directory may have deleted one since: only a file no row named, the
/// row deleted first ([`super::BlobStore::settle_file`]), so there is nothing to compare.
fn compare(dir: &Path, listed: &[BlobId], received: &HashMap<BlobId, u64>) -> io::Result<Checked> {
    let mut checked = Checked::default();
    let mut seen = std::collections::HashSet::new();
    for &id in listed {
        let Some(&recorded) = received.get(&id) else {
            checked.strays.push(id);
            continue;
        };
        seen.insert(id);
        let holds = match std::fs::symlink_metadata(dir.join(id.to_hex())) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        // Rows only grow, and a file is written before its row moves: a file shorter than
        // even an old reading of its row was damaged.
        if holds < recorded {
            checked.shorter.push((id, holds));
        }
    }
    checked.shorter.extend(
        received
            .iter()
            .filter(|(id, recorded)| **recorded > 0 && !seen.contains(*id))
            .map(|(id, _)| (*id, 0)),
    );
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens and places the file as a part does: locked, then at `offset`.
    fn open_at(path: &Path, offset: u64) -> Result<File, AppendError> {
        let mut file = open_locked(path)?;
        seek_to(&mut file, offset)?;
        Ok(file)
    }

    #[test]
    fn a_file_is_opened_at_its_offset_after_an_unrecorded_tail_is_cut() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("blob");
        assert!(open_at(&path, 0).is_ok(), "created");
        // "abcdef" was written but only "abc" recorded: the process died before the rest was.
        std::fs::write(&path, b"abcdef")?;
        let mut file = open_at(&path, 3).map_err(|_| io::Error::other("not opened"))?;
        io::Write::write_all(&mut file, b"xy")?;
        assert_eq!(std::fs::read(&path)?, b"abcxy", "written at the offset");
        drop(file);
        assert!(matches!(
            open_at(&path, 9),
            Err(AppendError::Shorter { holds: 5 })
        ));
        Ok(())
    }

    #[test]
    fn a_file_open_for_a_part_is_not_opened_for_another_until_let_go() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("blob");
        let first = open_at(&path, 0).map_err(|_| io::Error::other("not opened"))?;
        std::fs::write(&path, b"abc")?;
        assert!(matches!(open_locked(&path), Err(AppendError::Busy)));
        assert_eq!(
            std::fs::read(&path)?,
            b"abc",
            "the first part's bytes left as they are"
        );
        drop(first);
        assert!(open_at(&path, 3).is_ok(), "free once the first is closed");
        Ok(())
    }

    #[test]
    fn a_file_deleted_or_replaced_is_no_longer_the_one_a_part_may_write() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("blob");
        std::fs::write(&path, b"old")?;
        // A part opened the file just before a cleanup deleted it, and one was made again.
        let opened_before = File::open(&path)?;
        std::fs::remove_file(&path)?;
        assert!(!still_at(&opened_before, &path)?, "deleted");
        std::fs::write(&path, b"")?;
        assert!(
            !still_at(&opened_before, &path)?,
            "another file by that name"
        );

        let mut file = open_at(&path, 0).map_err(|_| io::Error::other("not opened"))?;
        assert!(still_at(&file, &path)?);
        io::Write::write_all(&mut file, b"new")?;
        assert_eq!(std::fs::read(&path)?, b"new");
        Ok(())
    }

    #[test]
    fn a_file_is_locked_to_be_removed_unless_a_part_holds_it() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("blob");
        assert!(matches!(lock_to_remove(&path)?, ToRemove::Absent));
        assert!(!path.exists(), "nothing created");
        let part = open_at(&path, 0).map_err(|_| io::Error::other("not opened"))?;
        assert!(matches!(lock_to_remove(&path)?, ToRemove::Busy));
        drop(part);
        let ToRemove::Locked(removing) = lock_to_remove(&path)? else {
            return Err(io::Error::other("not locked"));
        };
        assert!(
            matches!(open_locked(&path), Err(AppendError::Busy)),
            "no part while it is removed"
        );
        drop(removing);
        Ok(())
    }

    /// A cluster's process starting while another deletes a file it had just listed: that
    /// file is no fault of the directory, and the process starts.
    #[test]
    fn a_file_deleted_between_the_listing_and_its_check_stops_nothing() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (deleted, kept) = (BlobId([1; 16]), BlobId([2; 16]));
        for id in [deleted, kept] {
            std::fs::write(dir.path().join(id.to_hex()), b"abc")?;
        }
        let listed = [deleted, kept];
        std::fs::remove_file(dir.path().join(deleted.to_hex()))?;
        let received = HashMap::from([(deleted, 3), (kept, 3)]);
        assert_eq!(compare(dir.path(), &listed, &received)?, Checked::default());
        Ok(())
    }

    #[test]
    fn the_check_finds_strays_and_short_files_and_changes_nothing() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (stray, long, short, missing) = (
            BlobId([1; 16]),
            BlobId([2; 16]),
            BlobId([3; 16]),
            BlobId([4; 16]),
        );
        for (id, bytes) in [(stray, 4), (long, 10), (short, 2)] {
            std::fs::write(dir.path().join(id.to_hex()), vec![7u8; bytes])?;
        }
        std::fs::write(dir.path().join("notes.txt"), b"left alone")?;
        let received = HashMap::from([(long, 6), (short, 5), (missing, 3)]);
        let mut checked = check(dir.path(), &received)?;
        checked.shorter.sort();
        assert_eq!(
            checked,
            Checked {
                strays: vec![stray],
                shorter: vec![(short, 2), (missing, 0)],
            }
        );
        assert!(
            dir.path().join(stray.to_hex()).exists(),
            "deleted by the caller"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join(long.to_hex()))?.len(),
            10,
            "a longer file may be a part still arriving at another process"
        );
        assert!(dir.path().join("notes.txt").exists());
        Ok(())
    }
}
