//! Creating a run folder atomically. The folder is built under a hidden temporary name
//! (`.NAME.creating-PID-N`) with its lock and a journal whose first entry records the run's
//! metadata, made durable, and only then renamed to its name, refusing to replace anything.
//! So `runs/NAME` exists exactly when its creation is complete: a kill during the first writes
//! of a run leaves no half-made run, and two searches started at the same instant with the
//! same name cannot both get it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::atomic_file::sync_dir;
use crate::error::{Error, Result};

use super::entry::Entry;
use super::journal::{JournalWriter, JOURNAL_FILE};
use super::lock::RunLock;
use super::meta::RunMeta;

/// A run folder just created, still holding its lock and its journal writer.
pub(super) struct Created {
    pub lock: RunLock,
    pub journal: JournalWriter,
}

/// Creates the run folder `dir` with its lock and its journal (the `Created` entry written);
/// `RunExists` if `dir` already holds anything but an empty folder.
pub(super) fn create_run_dir(dir: &Path, meta: &RunMeta, sync: bool) -> Result<Created> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::invalid(
            "run name",
            format!("`{}` has no usable folder name", dir.display()),
        )
    })?;
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    if occupied(dir)? {
        return Err(Error::RunExists {
            run: dir.to_path_buf(),
        });
    }
    remove_abandoned(parent, name);
    let tmp = temp_name(parent, name);
    fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let built = build(&tmp, meta, sync).and_then(|created| {
        publish(&tmp, dir, parent, sync)?;
        Ok(created)
    });
    match built {
        Ok(mut created) => {
            created.journal.moved_to(dir.join(JOURNAL_FILE));
            Ok(created)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn build(tmp: &Path, meta: &RunMeta, sync: bool) -> Result<Created> {
    let lock = RunLock::acquire(tmp)?;
    let mut journal = JournalWriter::create(&tmp.join(JOURNAL_FILE), sync)?;
    journal.append(&Entry::Created { meta: meta.clone() }, None)?;
    if sync {
        sync_dir(tmp).map_err(|e| Error::io(tmp, e))?;
    }
    Ok(Created { lock, journal })
}

/// Whether `dir` holds something a new run must not replace (an empty folder is taken over).
fn occupied(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Ok(true);
            }
            fs::remove_dir(dir).map_err(|e| Error::io(dir, e))?;
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(true),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Renames the finished folder to its name, failing if the name was taken meanwhile.
fn publish(tmp: &Path, dir: &Path, parent: &Path, sync: bool) -> Result<()> {
    match rename_noreplace(tmp, dir) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            return Err(Error::RunExists {
                run: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io(dir, e)),
    }
    if sync {
        sync_dir(parent).map_err(|e| Error::io(parent, e))?;
    }
    Ok(())
}

fn temp_name(parent: &Path, name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent.join(format!(".{name}.creating-{}-{n}", std::process::id()))
}

/// Removes the temporary folders of creations of `name` whose process is gone (killed before
/// it could publish); they hold nothing that was ever reported.
fn remove_abandoned(parent: &Path, name: &str) {
    let prefix = format!(".{name}.creating-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// `rename(2)` that fails instead of replacing an existing `to` (Linux `renameat2` with
/// `RENAME_NOREPLACE`; elsewhere, or on file systems without it, a check then a rename).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
        };
        let (old, new) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                old.as_ptr(),
                libc::AT_FDCWD,
                new.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL)) {
            return Err(err);
        }
    }
    if to.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RunMeta {
        RunMeta::new("tiny", "version = 1\n", serde_json::json!({}))
    }

    #[test]
    fn a_created_run_has_its_journal_and_no_temporary_folder_is_left() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("r");
        let created = create_run_dir(&dir, &meta(), true).unwrap();
        assert_eq!(created.journal.path(), dir.join(JOURNAL_FILE));
        let names: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["r"]);
    }

    #[test]
    fn a_name_is_given_once_and_an_empty_folder_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("r");
        fs::create_dir(&dir).unwrap();
        let _first = create_run_dir(&dir, &meta(), false).unwrap();
        let err = create_run_dir(&dir, &meta(), false).err().unwrap();
        assert!(matches!(err, Error::RunExists { .. }), "{err}");
        let file = root.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            create_run_dir(&file, &meta(), false).err().unwrap(),
            Error::RunExists { .. }
        ));
    }

    #[test]
    fn the_leftovers_of_a_killed_creation_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dead = root.path().join(".r.creating-999999999-0");
        fs::create_dir(&dead).unwrap();
        create_run_dir(&root.path().join("r"), &meta(), false).unwrap();
        assert!(!dead.exists());
    }
}
