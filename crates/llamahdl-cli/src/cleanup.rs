//! Partial outputs and interrupts.
//!
//! Every output is first written under a temporary name beside its target and renamed into
//! place only when complete. Those temporaries are registered here while they exist; on
//! Ctrl-C (SIGINT), SIGTERM or SIGHUP (the `ctrlc` crate's handler thread) they are removed
//! and the process exits with status 130. Steps that must not be cut in half by an
//! interrupt (creating and registering a temporary, writing a directory's files, renaming
//! into place) run under [`locked`], which the handler also takes: an interrupt waits for
//! such a step to end, then cleans up.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Exit status after an interrupt (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// The registered temporaries.
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves the list as it was; keep using it.
    TEMPORARIES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Install the interrupt handler (once, at start-up). If it cannot be installed the tool
/// still works; an interrupt then just ends it (temporaries would be left behind).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let list = lock();
        for p in list.iter() {
            remove(p);
        }
        eprintln!("Interrupted: partial output removed");
        // Exit while holding the lock, so no other thread renames or writes after this.
        std::process::exit(INTERRUPTED);
    });
}

fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Run `f` so that an interrupt cannot come in the middle of it.
pub fn locked<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = lock();
    let mut reg = Registry { list: &mut guard };
    f(&mut reg)
}

/// The registry, inside [`locked`].
pub struct Registry<'a> {
    list: &'a mut Vec<PathBuf>,
}

impl Registry<'_> {
    /// Remove `path` on an interrupt (until [`Registry::forget`]).
    pub fn add(&mut self, path: &Path) {
        self.list.push(path.to_path_buf());
    }

    /// `path` is no longer a temporary (renamed into place, or removed).
    pub fn forget(&mut self, path: &Path) {
        self.list.retain(|p| p != path);
    }
}

/// Forget `path` outside a [`locked`] section.
pub fn forget(path: &Path) {
    locked(|r| r.forget(path));
}

/// True when `a` and `b` are the same existing file (same device and inode: hard links
/// and symbolic links to it count).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The directory a new file named `path` goes in (`.` for a bare name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file being written under a temporary name beside `target`, renamed over it by
/// [`TempOutput::commit`]; removed when dropped uncommitted and on an interrupt.
pub struct TempOutput {
    target: PathBuf,
    path: PathBuf,
    tmp: Option<tempfile::NamedTempFile>,
}

impl TempOutput {
    /// Create the temporary for `target` (its directory must exist).
    pub fn create(target: &Path) -> anyhow::Result<TempOutput> {
        use anyhow::Context;
        let parent = parent_of(target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{}: not a file name", target.display()))?;
        locked(|r| {
            // Mode 0666 less the umask, as for any new file (not tempfile's private 0600).
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}.tmp-"))
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(&parent)
                .with_context(|| {
                    format!(
                        "{}: cannot create a temporary file in {}",
                        target.display(),
                        parent.display()
                    )
                })?;
            let path = tmp.path().to_path_buf();
            r.add(&path);
            Ok(TempOutput {
                target: target.to_path_buf(),
                path,
                tmp: Some(tmp),
            })
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &std::fs::File {
        self.tmp
            .as_ref()
            .expect("present until commit or drop")
            .as_file()
    }

    /// Rename the temporary over the target.
    pub fn commit(mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        let tmp = self.tmp.take().expect("present until commit or drop");
        let (target, path) = (self.target.clone(), self.path.clone());
        locked(|r| {
            let res = tmp
                .persist(&target)
                .map(|_| ())
                .map_err(|e| e.error)
                .with_context(|| {
                    format!("{}: cannot move the output into place", target.display())
                });
            // On failure `persist` hands the file back inside the error, which removed it.
            r.forget(&path);
            res
        })
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let path = self.path.clone();
            locked(|r| {
                drop(tmp);
                r.forget(&path);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_sees_links() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::write(&a, "x").unwrap();
        let hard = d.path().join("h");
        std::fs::hard_link(&a, &hard).unwrap();
        let sym = d.path().join("s");
        std::os::unix::fs::symlink(&a, &sym).unwrap();
        let other = d.path().join("o");
        std::fs::write(&other, "x").unwrap();
        assert!(same_file(&a, &hard));
        assert!(same_file(&a, &sym));
        assert!(same_file(&a, &d.path().join("./a")));
        assert!(!same_file(&a, &other));
        assert!(!same_file(&a, &d.path().join("missing")));
    }

    #[test]
    fn registry_adds_and_forgets() {
        let p = Path::new("/nonexistent/registry-test");
        locked(|r| r.add(p));
        assert!(lock().iter().any(|x| x == p));
        forget(p);
        assert!(!lock().iter().any(|x| x == p));
    }
}
