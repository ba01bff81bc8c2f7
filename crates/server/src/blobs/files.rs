//! The blob files themselves: opening one for a part (`part` streams the part into it), and
//! checking the files against the rows at start. Plain blocking `std::fs` calls (an `fsync`
//! blocks anyway): callers run them on tokio's blocking pool.

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

/// The file at `path` (created if missing), opened to write a part at `offset` (its cursor
/// there). A tail past `offset` is bytes whose recording never happened (the process died
/// between the write and the record, or a part was refused half-way): it is cut first.
pub(super) fn open_at(path: &Path, offset: u64) -> Result<File, AppendError> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    let holds = file.metadata()?.len();
    if holds < offset {
        return Err(AppendError::Shorter { holds });
    }
    if holds > offset {
        file.set_len(offset)?;
    }
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
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

/// What the check at start found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Checked {
    /// Files without a row, deleted.
    pub(super) strays: usize,
    /// Files longer than recorded, cut to what is recorded.
    pub(super) cut: usize,
    /// Uploads whose file holds fewer bytes than recorded (or is missing): what it holds.
    pub(super) shorter: Vec<(BlobId, u64)>,
}

/// Brings the files in `dir` in line with the rows (`received`: what each upload's row
/// records): deletes a file no row names (the process died between deleting a row and its
/// file, or between creating a file and its row), cuts a file longer than recorded, and
/// reports uploads whose file holds less (their rows are lowered, and those bytes are asked
/// for again). Files whose names are not blob ids are left alone.
pub(super) fn check(dir: &Path, received: &HashMap<BlobId, u64>) -> io::Result<Checked> {
    let mut checked = Checked::default();
    let mut seen = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(BlobId::from_hex) else {
            tracing::warn!(file = ?entry.path(), "a file in the blob directory that is no blob");
            continue;
        };
        let path = entry.path();
        let Some(&recorded) = received.get(&id) else {
            remove(&path)?;
            checked.strays += 1;
            continue;
        };
        seen.insert(id);
        let holds = entry.metadata()?.len();
        if holds > recorded {
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(recorded)?;
            file.sync_data()?;
            checked.cut += 1;
        } else if holds < recorded {
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
        assert!(matches!(
            open_at(&path, 9),
            Err(AppendError::Shorter { holds: 5 })
        ));
        Ok(())
    }

    #[test]
    fn the_check_deletes_strays_cuts_long_files_and_reports_short_ones() -> io::Result<()> {
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
                strays: 1,
                cut: 1,
                shorter: vec![(short, 2), (missing, 0)],
            }
        );
        assert!(!dir.path().join(stray.to_hex()).exists());
        assert_eq!(std::fs::metadata(dir.path().join(long.to_hex()))?.len(), 6);
        assert!(dir.path().join("notes.txt").exists());
        Ok(())
    }
}
