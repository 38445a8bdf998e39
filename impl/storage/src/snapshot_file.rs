//! Snapshot files: one file per snapshot, written so that a crash leaves either the old
//! snapshot or the complete new one, never a partial file under a snapshot's name.
//!
//! Write path: temp file -> fsync -> rename -> fsync directory -> prune older snapshots.
//! The rename is atomic, and the directory fsync makes it durable; only then may the caller
//! compact the log up to the snapshot, and only then are older snapshots deleted.
//!
//! A file is named `IIIIIIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTTTTTT.snap` (last included index and
//! term, 20 decimal digits) and laid out as, little endian:
//!
//! ```text
//! magic "RSNP" | version u16 | reserved u16 | last_index u64 | last_term u64
//! | config_len u32 | config | data_len u64 | data | crc32c u32 (over everything before)
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: [u8; 4] = *b"RSNP";
const VERSION: u16 = 1;
const TEMP_SUFFIX: &str = ".snap.tmp";
/// Bytes before the configuration: magic, version, reserved, index, term, config length.
const FIXED_HEAD: usize = 4 + 2 + 2 + 8 + 8 + 4;

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub last_index: u64,
    pub last_term: u64,
    /// The cluster configuration as of `last_index`, encoded by the caller.
    pub config: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    /// The state machine's bytes.
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub enum SnapshotError {
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The file is not a complete snapshot written by this module.
    Corrupt { file: PathBuf, reason: String },
    /// The caller asked for something that cannot be stored; nothing was written.
    Invalid(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            SnapshotError::Corrupt { file, reason } => {
                write!(f, "corrupt snapshot file {}: {reason}", file.display())
            }
            SnapshotError::Invalid(why) => write!(f, "invalid snapshot: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The file name of a snapshot.
pub fn file_name(last_index: u64, last_term: u64) -> String {
    format!("{last_index:020}-{last_term:020}.snap")
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let (index, term) = name.strip_suffix(".snap")?.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(term) {
        return None;
    }
    Some((index.parse().ok()?, term.parse().ok()?))
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))
}

/// Encodes a snapshot file's bytes.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
    let config_len = u32::try_from(snapshot.meta.config.len())
        .map_err(|_| SnapshotError::Invalid("configuration longer than 4 GiB".to_string()))?;
    let mut out =
        Vec::with_capacity(FIXED_HEAD + snapshot.meta.config.len() + 8 + snapshot.data.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&snapshot.meta.last_index.to_le_bytes());
    out.extend_from_slice(&snapshot.meta.last_term.to_le_bytes());
    out.extend_from_slice(&config_len.to_le_bytes());
    out.extend_from_slice(&snapshot.meta.config);
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Decodes a snapshot file's bytes; the error string says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
    let Some(content_len) = bytes.len().checked_sub(4) else {
        return Err(format!("{} bytes is too short for a snapshot", bytes.len()));
    };
    let (content, crc) = bytes.split_at(content_len);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32c::crc32c(content) != crc {
        return Err("checksum mismatch".to_string());
    }
    let mut r = Reader {
        buf: content,
        at: 0,
    };
    if r.take(4)? != MAGIC {
        return Err("not a snapshot file (bad magic)".to_string());
    }
    let version = u16::from_le_bytes(r.array()?);
    let reserved = u16::from_le_bytes(r.array()?);
    if version != VERSION || reserved != 0 {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let last_index = u64::from_le_bytes(r.array()?);
    let last_term = u64::from_le_bytes(r.array()?);
    let config_len = u32::from_le_bytes(r.array()?) as usize;
    let config = r.take(config_len)?.to_vec();
    let data_len = usize::try_from(u64::from_le_bytes(r.array()?))
        .map_err(|_| "data length does not fit in memory".to_string())?;
    let data = r.take(data_len)?.to_vec();
    if r.at != content.len() {
        return Err(format!(
            "{} unexpected bytes after the data",
            content.len() - r.at
        ));
    }
    Ok(Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
            config,
        },
        data,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| format!("truncated at offset {}", self.at))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

/// Reads and verifies one snapshot file, including that its name matches its content.
pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
    let bytes = fs::read(path).map_err(io_err("read", path))?;
    let corrupt = |reason: String| SnapshotError::Corrupt {
        file: path.to_path_buf(),
        reason,
    };
    let snapshot = decode(&bytes).map_err(corrupt)?;
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_name);
    if let Some(named) = named {
        if named != (snapshot.meta.last_index, snapshot.meta.last_term) {
            return Err(corrupt(format!(
                "content is index {} term {}, the file name disagrees",
                snapshot.meta.last_index, snapshot.meta.last_term
            )));
        }
    }
    Ok(snapshot)
}

/// A directory of snapshot files.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    /// How many of the newest snapshots `save` keeps (at least one).
    retain: usize,
    removed_temp_files: Vec<PathBuf>,
}

impl SnapshotStore {
    /// Opens (or creates) the directory and deletes temp files left by a save that crashed
    /// before its rename: such a file was never a snapshot, and nothing depends on it.
    pub fn open(dir: impl AsRef<Path>) -> Result<SnapshotStore, SnapshotError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let mut removed = Vec::new();
        for item in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let item = item.map_err(io_err("list", &dir))?;
            let is_temp = item
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(TEMP_SUFFIX));
            if is_temp {
                let path = item.path();
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
                removed.push(path);
            }
        }
        if !removed.is_empty() {
            sync_dir(&dir)?;
        }
        Ok(SnapshotStore {
            dir,
            retain: 1,
            removed_temp_files: removed,
        })
    }

    /// Keep the `n` newest snapshots instead of one (`n` is raised to at least 1).
    pub fn with_retain(mut self, n: usize) -> Self {
        self.retain = n.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Temp files that `open` found and deleted.
    pub fn removed_temp_files(&self) -> &[PathBuf] {
        &self.removed_temp_files
    }

    /// The snapshot files present, oldest first, as (last index, last term, path).
    pub fn list(&self) -> Result<Vec<(u64, u64, PathBuf)>, SnapshotError> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let item = item.map_err(io_err("list", &self.dir))?;
            if let Some((index, term)) = item.file_name().to_str().and_then(parse_name) {
                out.push((index, term, item.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes `snapshot` durably and returns its path; then deletes older snapshots beyond
    /// the retained number. When this returns `Ok` the snapshot survives any crash, and the
    /// log may be compacted up to its last index. A snapshot older than the newest one
    /// present is refused.
    pub fn save(&self, snapshot: &Snapshot) -> Result<PathBuf, SnapshotError> {
        let (index, term) = (snapshot.meta.last_index, snapshot.meta.last_term);
        if let Some((newest, _, _)) = self.list()?.last() {
            if index < *newest {
                return Err(SnapshotError::Invalid(format!(
                    "snapshot at index {index} is older than the stored one at index {newest}"
                )));
            }
        }
        let bytes = encode(snapshot)?;
        let name = file_name(index, term);
        let final_path = self.dir.join(&name);
        // `<name>.snap.tmp`: never parsed as a snapshot, removed by `open` if left behind.
        let temp_path = self.dir.join(format!("{name}.tmp"));

        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)
            .map_err(io_err("create", &temp_path))?;
        file.write_all(&bytes)
            .map_err(io_err("write", &temp_path))?;
        // The content must be durable before the rename makes it visible under the final
        // name; otherwise a crash could leave a named snapshot with missing content.
        file.sync_all().map_err(io_err("sync", &temp_path))?;
        drop(file);
        fs::rename(&temp_path, &final_path).map_err(io_err("rename", &temp_path))?;
        // The rename lives in the directory: without this a crash could bring back the old
        // directory state although the caller already compacted its log.
        sync_dir(&self.dir)?;

        self.prune()?;
        Ok(final_path)
    }

    /// Deletes all but the `retain` newest snapshots.
    fn prune(&self) -> Result<(), SnapshotError> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(self.retain);
        for (_, _, path) in &all[..excess] {
            fs::remove_file(path).map_err(io_err("remove", path))?;
        }
        if excess > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Loads the newest snapshot, or `None` if there is none. If the newest file is
    /// damaged this is an error naming it: falling back to an older snapshot silently could
    /// leave a gap, since the log may already be compacted past the older one.
    pub fn load_latest(&self) -> Result<Option<Snapshot>, SnapshotError> {
        match self.list()?.last() {
            Some((_, _, path)) => load(path).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_index: 42,
                last_term: 7,
                config: vec![1, 2, 3],
            },
            data: b"state machine".to_vec(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let s = sample();
        let bytes = encode(&s).expect("encodes");
        assert_eq!(decode(&bytes), Ok(s));
    }

    #[test]
    fn every_cut_and_flip_is_detected() {
        let bytes = encode(&sample()).expect("encodes");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            assert!(decode(&bad).is_err(), "flip {at}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_name(&file_name(5, 9)), Some((5, 9)));
        assert_eq!(parse_name("5-9.snap"), None);
        assert_eq!(parse_name(&format!("{}{TEMP_SUFFIX}", "x")), None);
    }
}
