//! The backup directory, files only: where a database's dumps go
//! (`<dir>/<db>/<YYYY>/<MM>/<DD>/backup-<timestamp>.dump`), the SHA-256
//! beside each (`….dump.sha256`, in `sha256sum` format), how a dump becomes
//! visible only once complete, and retention. `arbctl db backup` and
//! `arbctl db restore` use it around pg_dump and pg_restore.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

/// A backup's time in its name: UTC, fixed width, so names sort as times do.
/// Milliseconds, so backups a moment apart (a test's, a retry's) do not collide.
const STAMP: &str = "%Y%m%dT%H%M%S%.3fZ";
const PREFIX: &str = "backup-";
const DUMP: &str = ".dump";
const SUM: &str = ".dump.sha256";
/// pg_dump writes here; renamed to the real name once complete.
const PARTIAL: &str = ".partial";

/// The checksum file of a dump: the dump's path plus `.sha256`.
pub fn checksum_path(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// A database name as a folder name: anything but letters, digits, `_`,
/// `-` and `.` becomes `_` (a name may hold `/`).
fn folder_name(database: &str) -> String {
    let s: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

/// The backups of one database under a backup directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// One complete backup: a dump with its checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The timestamp in its name (sorts as the time does).
    pub stamp: String,
    pub dump: PathBuf,
}

/// What [`Store::prune`] did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The backups kept, newest first.
    pub kept: Vec<Backup>,
    /// Every file removed (dumps, checksums, leftovers of interrupted backups).
    pub removed: Vec<PathBuf>,
}

impl Store {
    pub fn new(dir: &Path, database: &str) -> Store {
        Store {
            root: dir.join(folder_name(database)),
        }
    }

    /// `<dir>/<db>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the backup taken at `at` goes.
    pub fn dump_path(&self, at: DateTime<Utc>) -> PathBuf {
        self.root
            .join(at.format("%Y/%m/%d").to_string())
            .join(format!("{PREFIX}{}{DUMP}", at.format(STAMP)))
    }

    /// Starts the backup taken at `at`: its date folder made, the name it
    /// will have checked free. pg_dump writes to [`Pending::path`].
    pub fn begin(&self, at: DateTime<Utc>) -> anyhow::Result<Pending> {
        let dump = self.dump_path(at);
        let dir = dump.parent().expect("a dump path has a folder");
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if dump.exists() {
            bail!("{} exists already", dump.display());
        }
        let mut partial = dump.as_os_str().to_owned();
        partial.push(PARTIAL);
        Ok(Pending {
            partial: PathBuf::from(partial),
            dump,
            done: false,
        })
    }

    /// Every complete backup, newest first. Missing folder: none.
    pub fn list(&self) -> io::Result<Vec<Backup>> {
        Ok(self.scan()?.complete)
    }

    /// Keeps the newest `keep` complete backups and removes the older ones,
    /// then what interrupted backups left behind (a partial dump, a dump
    /// without its checksum) from before the oldest one kept, then the date
    /// folders left empty. Leftovers newer than that stay: one of them may
    /// be a backup still being written.
    pub fn prune(&self, keep: usize) -> io::Result<Pruned> {
        let Scan {
            complete,
            mut files,
        } = self.scan()?;
        let kept: Vec<Backup> = complete.iter().take(keep).cloned().collect();
        let mut pruned = Pruned {
            removed: Vec::new(),
            kept,
        };
        // With fewer than `keep` complete backups nothing is old enough to go.
        let Some(oldest_kept) = pruned.kept.last().map(|b| b.stamp.clone()) else {
            return Ok(pruned);
        };
        if pruned.kept.len() < keep {
            return Ok(pruned);
        }
        // Older than the oldest kept: the backups past `keep`, and leftovers.
        for (_, paths) in files.range_mut(..oldest_kept) {
            for p in paths.drain(..) {
                remove_file(&p)?;
                pruned.removed.push(p);
            }
        }
        self.remove_empty_folders()?;
        Ok(pruned)
    }

    fn scan(&self) -> io::Result<Scan> {
        // stamp -> every file of that backup, complete or not
        let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for day in self.day_folders()? {
            for entry in fs::read_dir(&day)? {
                let path = entry?.path();
                if let Some(stamp) = path.file_name().and_then(|n| n.to_str()).and_then(stamp_of) {
                    files.entry(stamp).or_default().push(path);
                }
            }
        }
        let mut complete: Vec<Backup> = files
            .iter()
            .filter_map(|(stamp, paths)| {
                let dump = paths.iter().find(|p| has_suffix(p, DUMP))?;
                paths.iter().any(|p| has_suffix(p, SUM)).then(|| Backup {
                    stamp: stamp.clone(),
                    dump: dump.clone(),
                })
            })
            .collect();
        complete.reverse();
        Ok(Scan { complete, files })
    }

    /// `<root>/YYYY/MM/DD` folders (names of digits only; anything else
    /// there is not ours and is left alone).
    fn day_folders(&self) -> io::Result<Vec<PathBuf>> {
        let mut level = vec![self.root.clone()];
        for width in [4, 2, 2] {
            let mut next = Vec::new();
            for dir in &level {
                for entry in read_dir_if_any(dir)? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.len() == width
                        && name.bytes().all(|b| b.is_ascii_digit())
                        && entry.file_type()?.is_dir()
                    {
                        next.push(entry.path());
                    }
                }
            }
            level = next;
        }
        Ok(level)
    }

    fn remove_empty_folders(&self) -> io::Result<()> {
        for day in self.day_folders()? {
            let month = day.parent().map(Path::to_path_buf);
            let year = month
                .as_ref()
                .and_then(|m| m.parent())
                .map(Path::to_path_buf);
            for dir in [Some(day), month, year].into_iter().flatten() {
                if fs::read_dir(&dir)?.next().is_some() {
                    break;
                }
                fs::remove_dir(&dir)?;
            }
        }
        Ok(())
    }
}

struct Scan {
    /// Newest first.
    complete: Vec<Backup>,
    files: BTreeMap<String, Vec<PathBuf>>,
}

fn read_dir_if_any(dir: &Path) -> io::Result<Vec<io::Result<fs::DirEntry>>> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd.collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn remove_file(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn has_suffix(p: &Path, suffix: &str) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(suffix))
}

/// The timestamp of one of our file names (`backup-<stamp>.dump`, its
/// `.sha256`, or either `.partial`), if it is one.
fn stamp_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix(PARTIAL).unwrap_or(rest);
    let stamp = rest.strip_suffix(SUM).or_else(|| rest.strip_suffix(DUMP))?;
    NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
    Some(stamp.to_owned())
}

/// A backup being written: pg_dump writes to [`Pending::path`]; only
/// [`Pending::commit`] gives it its real name. Dropped before that (pg_dump
/// failed, the process was stopped), it removes what it wrote.
#[derive(Debug)]
pub struct Pending {
    partial: PathBuf,
    dump: PathBuf,
    done: bool,
}

/// A backup written and named.
#[derive(Debug, Clone)]
pub struct Committed {
    pub dump: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

impl Pending {
    /// Where pg_dump writes.
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Hashes the dump, writes its checksum, makes both durable, then gives
    /// them their names: the dump first, the checksum last. A crash between
    /// the two leaves a dump without a checksum, which restore refuses and
    /// retention treats as a leftover: nothing half written ever looks
    /// complete. Blocking (reads the whole dump).
    pub fn commit(mut self) -> anyhow::Result<Committed> {
        let (sha256, bytes) = sha256_file(&self.partial)
            .with_context(|| format!("cannot read {}", self.partial.display()))?;
        fs::File::open(&self.partial)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", self.partial.display()))?;
        let sum = checksum_path(&self.dump);
        let mut sum_partial = sum.as_os_str().to_owned();
        sum_partial.push(PARTIAL);
        let sum_partial = PathBuf::from(sum_partial);
        let name = self
            .dump
            .file_name()
            .and_then(|n| n.to_str())
            .expect("our names are UTF-8");
        (|| {
            let mut f = fs::File::create(&sum_partial)?;
            writeln!(f, "{sha256}  {name}")?;
            f.sync_all()
        })()
        .with_context(|| format!("cannot write {}", sum_partial.display()))?;
        fs::rename(&self.partial, &self.dump)
            .with_context(|| format!("cannot rename to {}", self.dump.display()))?;
        self.done = true;
        fs::rename(&sum_partial, &sum)
            .with_context(|| format!("cannot rename to {}", sum.display()))?;
        if let Some(dir) = self.dump.parent() {
            // The renames themselves durable (POSIX: fsync the folder).
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("cannot sync {}", dir.display()))?;
        }
        Ok(Committed {
            dump: self.dump.clone(),
            sha256,
            bytes,
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// The SHA-256 of a file in lowercase hex, and its length.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), bytes))
}

/// Checks a dump against the checksum beside it; its SHA-256 when they
/// agree. A missing or unreadable checksum, a corrupted or truncated dump:
/// an error that names the file. Blocking (reads the whole dump).
pub fn verify(dump: &Path) -> anyhow::Result<String> {
    let sum = checksum_path(dump);
    let recorded = match fs::read_to_string(&sum) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "{} has no checksum beside it ({} is missing): an interrupted backup, or \
             not one of arbctl's (`sha256sum FILE > FILE.sha256` vouches for one)",
            dump.display(),
            sum.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sum.display())),
    };
    let expected = recorded
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .with_context(|| format!("{} is not a SHA-256 checksum file", sum.display()))?;
    let (actual, bytes) =
        sha256_file(dump).with_context(|| format!("cannot read {}", dump.display()))?;
    if actual != expected {
        bail!(
            "{} is corrupt or truncated: its SHA-256 is {actual} ({bytes} bytes), \
             {} says {expected}",
            dump.display(),
            sum.display()
        );
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::milliseconds(ms)
    }

    /// A complete backup with made-up content.
    fn make(store: &Store, t: DateTime<Utc>) -> PathBuf {
        let p = store.begin(t).unwrap();
        fs::write(p.path(), format!("dump of {t}")).unwrap();
        p.commit().unwrap().dump
    }

    #[test]
    fn names_are_sortable_utc_under_date_folders() {
        let s = Store::new(Path::new("/b"), "arbitrade");
        assert_eq!(
            s.dump_path(at(2026, 12, 1, 10, 15, 0, 7)),
            Path::new("/b/arbitrade/2026/12/01/backup-20261201T101500.007Z.dump")
        );
        assert_eq!(
            checksum_path(Path::new("/b/x.dump")),
            Path::new("/b/x.dump.sha256")
        );
        assert_eq!(
            Store::new(Path::new("/b"), "a/../b").root(),
            Path::new("/b/a_.._b")
        );
        assert_eq!(
            Store::new(Path::new("/b"), "..").root(),
            Path::new("/b/_..")
        );
        for (name, stamp) in [
            (
                "backup-20261201T101500.007Z.dump",
                Some("20261201T101500.007Z"),
            ),
            (
                "backup-20261201T101500.007Z.dump.sha256",
                Some("20261201T101500.007Z"),
            ),
            (
                "backup-20261201T101500.007Z.dump.partial",
                Some("20261201T101500.007Z"),
            ),
            (
                "backup-20261201T101500.007Z.dump.sha256.partial",
                Some("20261201T101500.007Z"),
            ),
            ("backup-20261301T101500.007Z.dump", None),
            ("backup-20261201T101500.007Z.txt", None),
            ("notes.dump", None),
        ] {
            assert_eq!(stamp_of(name).as_deref(), stamp, "{name}");
        }
    }

    #[test]
    fn a_commit_names_the_dump_and_writes_a_sha256sum_line() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path(), "db");
        let t = at(2026, 12, 1, 0, 0, 0, 0);
        let p = s.begin(t).unwrap();
        fs::write(p.path(), b"abc").unwrap();
        assert!(s.list().unwrap().is_empty(), "a partial dump is no backup");
        let c = p.commit().unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!((c.sha256.as_str(), c.bytes), (abc, 3));
        assert_eq!(
            fs::read_to_string(checksum_path(&c.dump)).unwrap(),
            format!("{abc}  backup-20261201T000000.000Z.dump\n")
        );
        assert_eq!(verify(&c.dump).unwrap(), abc);
        assert!(s.begin(t).is_err(), "a name is never reused");

        // Dropped before the commit: nothing left behind.
        let p = s.begin(at(2026, 12, 1, 0, 0, 1, 0)).unwrap();
        fs::write(p.path(), b"half").unwrap();
        let partial = p.path().to_owned();
        drop(p);
        assert!(!partial.exists());
    }

    #[test]
    fn verify_refuses_a_changed_truncated_or_unvouched_dump() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path(), "db");
        let dump = make(&s, at(2026, 12, 1, 0, 0, 0, 0));
        let good = fs::read(&dump).unwrap();

        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x01;
        fs::write(&dump, &flipped).unwrap();
        let e = format!("{:#}", verify(&dump).unwrap_err());
        assert!(
            e.contains("corrupt or truncated") && e.contains(&*dump.to_string_lossy()),
            "{e}"
        );

        fs::write(&dump, &good[..good.len() / 2]).unwrap();
        assert!(format!("{:#}", verify(&dump).unwrap_err()).contains("corrupt or truncated"));

        fs::write(&dump, &good).unwrap();
        fs::write(checksum_path(&dump), "not a checksum\n").unwrap();
        assert!(format!("{:#}", verify(&dump).unwrap_err()).contains("not a SHA-256"));
        fs::remove_file(checksum_path(&dump)).unwrap();
        assert!(format!("{:#}", verify(&dump).unwrap_err()).contains("no checksum"));
    }

    #[test]
    fn retention_keeps_the_newest_across_date_folders() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path(), "db");
        let times = [
            at(2026, 11, 30, 23, 45, 0, 0),
            at(2026, 12, 1, 0, 0, 0, 0),
            at(2026, 12, 1, 0, 15, 0, 0),
            at(2027, 1, 1, 0, 0, 0, 0),
            at(2027, 1, 1, 0, 15, 0, 0),
        ];
        let dumps: Vec<PathBuf> = times.iter().map(|t| make(&s, *t)).collect();
        // An interrupted backup before them (a dump without its checksum),
        // and one in progress after them.
        let old_half = s.dump_path(at(2026, 11, 1, 0, 0, 0, 0));
        fs::create_dir_all(old_half.parent().unwrap()).unwrap();
        fs::write(&old_half, b"x").unwrap();
        let running = s.begin(at(2027, 1, 1, 0, 30, 0, 0)).unwrap();
        fs::write(running.path(), b"y").unwrap();
        // Not ours: left alone.
        fs::write(s.root().join("README"), b"z").unwrap();

        let p = s.prune(5).unwrap();
        assert_eq!(p.kept.len(), 5);
        assert_eq!(
            p.removed,
            vec![old_half.clone()],
            "only the leftover older than all kept"
        );
        assert!(!s.root().join("2026/11/01").exists());

        let p = s.prune(2).unwrap();
        let kept: Vec<&PathBuf> = p.kept.iter().map(|b| &b.dump).collect();
        assert_eq!(kept, vec![&dumps[4], &dumps[3]], "newest first");
        assert_eq!(p.removed.len(), 6, "three dumps and their checksums");
        assert_eq!(s.list().unwrap(), p.kept);
        for d in &dumps[..3] {
            assert!(!d.exists() && !checksum_path(d).exists());
        }
        assert!(!s.root().join("2026").exists(), "empty date folders go");
        assert!(running.path().exists(), "a backup being written stays");
        assert!(s.root().join("README").exists());

        // Fewer backups than N: nothing goes.
        assert!(s.prune(3).unwrap().removed.is_empty());
    }
}
