//! Prefect's own `profiles.toml`, shared with the Python CLI.
//!
//! Format: `active = "name"` and `[profiles.NAME]` tables of `PREFECT_* = "value"`. The file is
//! read and edited with `toml_edit`, so every other profile, key, comment and ordering survives an
//! edit byte for byte; writes are atomic (temp file in the same directory + rename) and mode 0600.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

use crate::error::{Error, Result};

/// Where `profiles.toml` lives: `$PREFECT_PROFILES_PATH`, else `$PREFECT_HOME/profiles.toml`,
/// else `~/.prefect/profiles.toml`.
pub fn profiles_path() -> PathBuf {
    if let Some(path) = non_empty_env("PREFECT_PROFILES_PATH") {
        return PathBuf::from(path);
    }
    prefect_home().join("profiles.toml")
}

/// `$PREFECT_HOME`, else `~/.prefect`.
pub fn prefect_home() -> PathBuf {
    if let Some(home) = non_empty_env("PREFECT_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".prefect")
}

pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A parsed `profiles.toml`, kept as an editable document.
#[derive(Debug, Clone)]
pub struct ProfilesFile {
    path: PathBuf,
    doc: DocumentMut,
    existed: bool,
    /// The changes made since load, replayed on the file's latest content at save.
    edits: Vec<Edit>,
}

/// One change to the document, kept so [`ProfilesFile::save`] can re-apply it under the lock.
#[derive(Debug, Clone)]
enum Edit {
    Set(String, String, String),
    Remove(String, String),
    SetActive(String),
    EnsureProfile(String),
    RemoveProfile(String),
    RenameProfile(String, String),
}

impl ProfilesFile {
    /// Read the file at `path`. A missing file is an empty document; a corrupt one is an error
    /// (and, since nothing is written on error, is never overwritten).
    pub fn load(path: &Path) -> Result<Self> {
        let (bytes, existed) = match std::fs::read(path) {
            Ok(bytes) => (bytes, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), false),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        // Binary junk is as unusable as corrupt TOML: the same error and exit code (2).
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Config(format!(
                "{} is not valid TOML: it is not UTF-8 text",
                path.display()
            ))
        })?;
        let doc = text.parse::<DocumentMut>().map_err(|e| {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            Error::Config(format!("{} is not valid TOML: {first}", path.display()))
        })?;
        if let Some(profiles) = doc.get("profiles") {
            let Some(table) = profiles.as_table_like() else {
                return Err(Error::Config(format!(
                    "{}: `profiles` is not a table",
                    path.display()
                )));
            };
            if let Some((name, _)) = table.iter().find(|(_, item)| !item.is_table_like()) {
                return Err(Error::Config(format!(
                    "{}: profile `{name}` is not a table",
                    path.display()
                )));
            }
        }
        Ok(ProfilesFile {
            path: path.to_path_buf(),
            doc,
            existed,
            edits: Vec::new(),
        })
    }

    /// Read the file at [`profiles_path`].
    pub fn load_default() -> Result<Self> {
        Self::load(&profiles_path())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed when loaded.
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// The `active = "…"` profile name, if set.
    pub fn active(&self) -> Option<&str> {
        self.doc.get("active").and_then(|a| a.as_str())
    }

    /// Names of all profiles in file order.
    pub fn names(&self) -> Vec<String> {
        self.doc
            .get("profiles")
            .and_then(|p| p.as_table_like())
            .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Whether a profile of this name exists.
    pub fn has(&self, name: &str) -> bool {
        self.names().iter().any(|n| n == name)
    }

    /// One setting of one profile, as a string (numbers and booleans are rendered).
    pub fn get(&self, profile: &str, key: &str) -> Option<String> {
        let item = self.doc.get("profiles")?.get(profile)?.get(key)?;
        let v = item.as_value()?;
        Some(match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string().trim().to_string(),
        })
    }

    /// All settings of one profile, in file order.
    pub fn settings(&self, profile: &str) -> Vec<(String, String)> {
        let Some(table) = self.doc.get("profiles").and_then(|p| p.get(profile)) else {
            return Vec::new();
        };
        let Some(table) = table.as_table_like() else {
            return Vec::new();
        };
        table
            .iter()
            .filter_map(|(k, _)| self.get(profile, k).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// Set `key = "val"` in a profile, creating the profile table when missing.
    pub fn set(&mut self, profile: &str, key: &str, val: &str) {
        self.edits
            .push(Edit::Set(profile.into(), key.into(), val.into()));
        self.apply_set(profile, key, val);
    }

    fn apply_set(&mut self, profile: &str, key: &str, val: &str) {
        let table = self.profile_table_mut(profile);
        match table.get_mut(key) {
            Some(item) if item.is_value() => {
                // Keep the key's decoration (comments, spacing) and replace only the value.
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut new = toml_edit::Value::from(val);
                if let Some(decor) = decor {
                    *new.decor_mut() = decor;
                }
                *item = Item::Value(new);
            }
            _ => {
                table.insert(key, value(val));
            }
        }
    }

    /// Remove a key from a profile; returns whether it was there.
    pub fn remove(&mut self, profile: &str, key: &str) -> bool {
        self.edits.push(Edit::Remove(profile.into(), key.into()));
        self.apply_remove(profile, key)
    }

    fn apply_remove(&mut self, profile: &str, key: &str) -> bool {
        self.doc
            .get_mut("profiles")
            .and_then(|p| p.get_mut(profile))
            .and_then(|t| t.as_table_like_mut())
            .and_then(|t| t.remove(key))
            .is_some()
    }

    /// Make a profile the active one.
    pub fn set_active(&mut self, profile: &str) {
        self.edits.push(Edit::SetActive(profile.into()));
        self.apply_set_active(profile);
    }

    fn apply_set_active(&mut self, profile: &str) {
        match self.doc.get_mut("active") {
            Some(item) if item.is_value() => {
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut new = toml_edit::Value::from(profile);
                if let Some(decor) = decor {
                    *new.decor_mut() = decor;
                }
                *item = Item::Value(new);
            }
            _ => {
                // `active` must precede the tables; inserting into the root table does that.
                self.doc.insert("active", value(profile));
            }
        }
    }

    /// Remove a whole profile; returns whether it was there. `active` is left alone (the
    /// caller refuses to remove the active profile).
    pub fn remove_profile(&mut self, profile: &str) -> bool {
        self.edits.push(Edit::RemoveProfile(profile.into()));
        self.apply_remove_profile(profile)
    }

    fn apply_remove_profile(&mut self, profile: &str) -> bool {
        self.doc
            .get_mut("profiles")
            .and_then(|p| p.as_table_like_mut())
            .and_then(|t| t.remove(profile))
            .is_some()
    }

    /// Rename a profile (its settings and comments move with it; `active` follows). Returns
    /// false when `from` does not exist.
    pub fn rename_profile(&mut self, from: &str, to: &str) -> bool {
        self.edits.push(Edit::RenameProfile(from.into(), to.into()));
        self.apply_rename_profile(from, to)
    }

    fn apply_rename_profile(&mut self, from: &str, to: &str) -> bool {
        let Some(item) = self
            .doc
            .get_mut("profiles")
            .and_then(|p| p.as_table_like_mut())
            .and_then(|t| t.remove(from))
        else {
            return false;
        };
        let profiles = self.doc["profiles"]
            .as_table_like_mut()
            .expect("the profiles table held the renamed profile");
        profiles.insert(to, item);
        if self.active() == Some(from) {
            self.apply_set_active(to);
        }
        true
    }

    /// Make sure a profile table exists (empty if new).
    pub fn ensure_profile(&mut self, profile: &str) {
        self.edits.push(Edit::EnsureProfile(profile.into()));
        self.profile_table_mut(profile);
    }

    fn apply(&mut self, edit: &Edit) {
        match edit {
            Edit::Set(profile, key, val) => self.apply_set(profile, key, val),
            Edit::Remove(profile, key) => {
                self.apply_remove(profile, key);
            }
            Edit::SetActive(profile) => self.apply_set_active(profile),
            Edit::EnsureProfile(profile) => {
                self.profile_table_mut(profile);
            }
            Edit::RemoveProfile(profile) => {
                self.apply_remove_profile(profile);
            }
            Edit::RenameProfile(from, to) => {
                self.apply_rename_profile(from, to);
            }
        }
    }

    fn profile_table_mut(&mut self, profile: &str) -> &mut Table {
        let profiles = self.doc.entry("profiles").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let profiles = as_standard_table(profiles);
        let entry = profiles
            .entry(profile)
            .or_insert_with(|| Item::Table(Table::new()));
        as_standard_table(entry)
    }

    /// The document as text.
    pub fn render(&self) -> String {
        self.doc.to_string()
    }

    /// Write the changes made since load, atomically with mode 0600 (temp file in the same
    /// directory, then rename), creating the directory when missing.
    ///
    /// Several pf-auth processes may edit the file at once: under an advisory lock the file is
    /// read again and this process's changes are replayed on its latest content, so no other
    /// process's change is lost. A symlinked file stays a symlink: its target is rewritten.
    pub fn save(&self) -> Result<()> {
        let target = write_target(&self.path);
        let _lock = FileLock::acquire(&target)?;
        let mut latest = ProfilesFile::load(&target)?;
        for edit in &self.edits {
            latest.apply(edit);
        }
        write_atomic(&target, latest.render().as_bytes())
    }
}

/// The item as a `[table]`; an inline table (`x = { … }`, checked to be table-like at load) is
/// turned into one so that keys can be added to it.
fn as_standard_table(item: &mut Item) -> &mut Table {
    if !item.is_table() {
        let taken = std::mem::take(item);
        *item = match taken.into_table() {
            Ok(table) => Item::Table(table),
            Err(_) => Item::Table(Table::new()),
        };
    }
    item.as_table_mut().expect("made a table above")
}

/// The file a write to `path` must replace: the final target when `path` is a symlink (so the
/// link stays), else `path` itself.
fn write_target(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).unwrap_or_else(|_| {
                // A dangling link: create its target.
                match std::fs::read_link(path) {
                    Ok(link) if link.is_absolute() => link,
                    Ok(link) => path.parent().unwrap_or(Path::new(".")).join(link),
                    Err(_) => path.to_path_buf(),
                }
            })
        }
        _ => path.to_path_buf(),
    }
}

/// An exclusive advisory lock on the directory that holds a file, held until dropped. The
/// directory (not the file) because the file is replaced by rename, which would orphan a lock
/// on it; and not a lock file, which would be left lying beside profiles.toml.
#[derive(Debug)]
struct FileLock {
    _held: std::fs::File,
}

impl FileLock {
    /// Longest wait for another process's edit to finish.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    fn acquire(path: &Path) -> Result<FileLock> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let lock_path = dir.to_path_buf();
        let file = std::fs::File::open(dir)
            .map_err(|e| Error::io(format!("cannot open {}", lock_path.display()), e))?;
        let deadline = std::time::Instant::now() + Self::WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _held: file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Failed(format!(
                        "{} is locked by another process (waited {} s)",
                        path.display(),
                        Self::WAIT.as_secs()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("cannot lock {}", lock_path.display()), e));
                }
            }
        }
    }
}

/// Write `bytes` to `path` atomically: a temp file in the same directory (mode 0600), fsync, then
/// rename over the target. On any failure the old file is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("profiles.toml");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        if std::env::var_os("PF_TEST_FAIL_RENAME").is_some() {
            // Test hook: simulate a crash between write and rename.
            return Err(std::io::Error::other("rename failed (PF_TEST_FAIL_RENAME)"));
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}
