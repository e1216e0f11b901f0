//! The cache of decoded folder images, so that a second search (or training, or export) on the
//! same folder does not decode every JPEG again. Entries are keyed by the SHA-256 of each file's
//! content and by the preprocessing (target size, filter, nas version): renaming or touching a
//! file keeps its entry, editing it or asking for another size does not.
//!
//! One load writes one pack file, `PREP-SET.pack` (PREP a digest of the preprocessing, SET of
//! the files' hashes), in `DIR/.nas-cache/` when the folder is writable, else in the user's
//! cache folder (`$XDG_CACHE_HOME` or `~/.cache`, under `nas/images/`, one sub-folder per data
//! folder). A pack is written whole or not at all (temp file, fsync, rename), ends with a CRC-32
//! of everything before it and is checked on every read, so a crash, a concurrent writer or a
//! damaged file costs a decode, never wrong pixels. When files are added or changed, the packs
//! of the same preprocessing supply what they still can and are replaced by the new one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::atomic_file::write_atomic;

/// A file's content hash.
pub(crate) type Hash = [u8; 32];

/// The first bytes of every pack, with the format's version.
const MAGIC: &[u8; 8] = b"NASPACK1";
/// The cache folder created inside a data folder.
pub const LOCAL_DIR: &str = ".nas-cache";
/// Packs of the same preprocessing read when the exact pack is missing, at most.
const MAX_OLD_PACKS: usize = 4;

/// One decoded, fitted image: channel planes, 1 (grey) or 3 (colour).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub pixels: Vec<u8>,
    pub colour: bool,
}

/// The cache folders of one data folder, for one preprocessing.
pub(crate) struct ImageCache {
    /// Where packs are looked for, in order; written to the first that accepts them.
    dirs: Vec<PathBuf>,
    prep: String,
}

impl ImageCache {
    /// The cache of `folder`'s images under preprocessing `prep` (a description that changes
    /// whenever the pixels would).
    pub fn new(folder: &Path, prep: String) -> ImageCache {
        let mut dirs = vec![folder.join(LOCAL_DIR)];
        dirs.extend(user_dir(folder));
        ImageCache { dirs, prep }
    }

    /// The entries for `hashes` found in the cache (any may be missing), and the cache folder
    /// they came from.
    pub fn load(&self, hashes: &[Hash]) -> (HashMap<Hash, Entry>, Option<PathBuf>) {
        let exact = self.pack_name(hashes);
        let (mut found, mut from) = (HashMap::new(), None);
        for dir in &self.dirs {
            if let Some(entries) = read_pack(&dir.join(&exact), &self.prep) {
                found.extend(entries);
                from = Some(dir.clone());
                if hashes.iter().all(|h| found.contains_key(h)) {
                    return (found, from);
                }
            }
        }
        let wanted: HashSet<&Hash> = hashes.iter().collect();
        for dir in &self.dirs {
            for path in self.older_packs(dir, &exact) {
                let entries = read_pack(&path, &self.prep).unwrap_or_default();
                let before = found.len();
                found.extend(entries.into_iter().filter(|(h, _)| wanted.contains(h)));
                if found.len() > before {
                    from = Some(dir.clone());
                }
            }
        }
        (found, from)
    }

    /// Writes the entries of `hashes` (all of them must be in `entries`) as this set's pack and
    /// removes the packs it replaces; returns the folder written to, or why nothing was.
    pub fn store(
        &self,
        hashes: &[Hash],
        entries: &HashMap<Hash, Entry>,
    ) -> Result<PathBuf, String> {
        let name = self.pack_name(hashes);
        let bytes = pack_bytes(&self.prep, hashes, entries);
        let mut why = String::new();
        for dir in &self.dirs {
            match prepare_dir(dir)
                .and_then(|()| write_atomic(&dir.join(&name), &bytes).map_err(|e| e.to_string()))
            {
                Ok(()) => {
                    for old in self.older_packs(dir, &name) {
                        let _ = std::fs::remove_file(old);
                    }
                    return Ok(dir.clone());
                }
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    /// The pack file name of the set of `hashes`.
    fn pack_name(&self, hashes: &[Hash]) -> String {
        let mut set: Vec<&Hash> = hashes.iter().collect();
        set.sort_unstable();
        set.dedup();
        let mut digest = Sha256::new();
        digest.update(self.prep.as_bytes());
        set.iter().for_each(|h| digest.update(h));
        format!("{}-{}.pack", self.prep_id(), hex(&digest.finalize()[..8]))
    }

    fn prep_id(&self) -> String {
        hex(&Sha256::digest(self.prep.as_bytes())[..8])
    }

    /// Other packs of the same preprocessing in `dir`, newest first.
    fn older_packs(&self, dir: &Path, except: &str) -> Vec<PathBuf> {
        let prefix = format!("{}-", self.prep_id());
        let Ok(listing) = std::fs::read_dir(dir) else {
            return vec![];
        };
        let mut packs: Vec<(std::time::SystemTime, PathBuf)> = listing
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&prefix) && name.ends_with(".pack") && name != except
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        packs.sort_by_key(|p| std::cmp::Reverse(p.0));
        packs
            .into_iter()
            .take(MAX_OLD_PACKS)
            .map(|(_, p)| p)
            .collect()
    }
}

/// `~/.cache/nas/images/DIGEST` (or under `$XDG_CACHE_HOME`), DIGEST naming the data folder.
fn user_dir(folder: &Path) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let digest = Sha256::digest(folder.to_string_lossy().as_bytes());
    Some(base.join("nas").join("images").join(hex(&digest[..8])))
}

/// Creates a cache folder, marked as one for backup tools and git.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tag =
        "Signature: 8a477f597d28d172789f06886806bc55\n# the image cache of nas; safe to delete\n";
    let _ = std::fs::write(dir.join("CACHEDIR.TAG"), tag);
    let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    Ok(())
}

/// The pack of `hashes`: magic, preprocessing, a table of (hash, colour, length), the pixels,
/// and a CRC-32 of all of it.
fn pack_bytes(prep: &str, hashes: &[Hash], entries: &HashMap<Hash, Entry>) -> Vec<u8> {
    let mut set: Vec<&Hash> = hashes.iter().collect();
    set.sort_unstable();
    set.dedup();
    let pixels: usize = set.iter().map(|h| entries[*h].pixels.len()).sum();
    let mut out = Vec::with_capacity(32 + prep.len() + set.len() * 37 + pixels);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(prep.len() as u32).to_le_bytes());
    out.extend_from_slice(prep.as_bytes());
    out.extend_from_slice(&(set.len() as u64).to_le_bytes());
    for hash in &set {
        let entry = &entries[*hash];
        out.extend_from_slice(*hash);
        out.push(u8::from(entry.colour));
        out.extend_from_slice(&(entry.pixels.len() as u32).to_le_bytes());
    }
    for hash in &set {
        out.extend_from_slice(&entries[*hash].pixels);
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out
}

/// The entries of the pack at `path`, or `None` when it is missing, of another preprocessing,
/// truncated or damaged.
fn read_pack(path: &Path, prep: &str) -> Option<HashMap<Hash, Entry>> {
    let bytes = std::fs::read(path).ok()?;
    let (body, tail) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    let mut crc = flate2::Crc::new();
    crc.update(body);
    if crc.sum().to_le_bytes() != tail {
        return None;
    }
    let mut reader = Reader { bytes: body, at: 0 };
    if reader.take(8)? != MAGIC {
        return None;
    }
    let prep_len = u32::from_le_bytes(reader.take(4)?.try_into().ok()?) as usize;
    if reader.take(prep_len)? != prep.as_bytes() {
        return None;
    }
    let count = u64::from_le_bytes(reader.take(8)?.try_into().ok()?) as usize;
    let mut table = Vec::with_capacity(count.min(body.len() / 37));
    for _ in 0..count {
        let hash: Hash = reader.take(32)?.try_into().ok()?;
        let colour = reader.take(1)?[0] == 1;
        let len = u32::from_le_bytes(reader.take(4)?.try_into().ok()?) as usize;
        table.push((hash, colour, len));
    }
    let mut entries = HashMap::with_capacity(table.len());
    for (hash, colour, len) in table {
        let pixels = reader.take(len)?.to_vec();
        entries.insert(hash, Entry { pixels, colour });
    }
    (reader.at == body.len()).then_some(entries)
}

/// A cursor over a pack's bytes that returns `None` past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content hash of a file's bytes.
pub(crate) fn content_hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u8) -> (Vec<Hash>, HashMap<Hash, Entry>) {
        let hashes: Vec<Hash> = (0..n).map(|i| content_hash(&[i])).collect();
        let map = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let entry = Entry {
                    pixels: vec![i as u8; 3 + i],
                    colour: i % 2 == 0,
                };
                (*h, entry)
            })
            .collect();
        (hashes, map)
    }

    #[test]
    fn a_stored_pack_reads_back_and_lives_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path(), "fit 8x8".into());
        let (hashes, map) = entries(5);
        assert!(cache.load(&hashes).0.is_empty());
        let at = cache.store(&hashes, &map).unwrap();
        assert_eq!(at, dir.path().join(LOCAL_DIR));
        assert!(at.join("CACHEDIR.TAG").is_file());
        assert_eq!(cache.load(&hashes), (map, Some(at)));
        let other = ImageCache::new(dir.path(), "fit 9x9".into());
        assert!(
            other.load(&hashes).0.is_empty(),
            "another size is another key"
        );
    }

    #[test]
    fn a_damaged_or_truncated_pack_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path(), "p".into());
        let (hashes, map) = entries(4);
        cache.store(&hashes, &map).unwrap();
        let pack = dir.path().join(LOCAL_DIR).join(cache.pack_name(&hashes));
        let bytes = std::fs::read(&pack).unwrap();
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        std::fs::write(&pack, &flipped).unwrap();
        assert!(cache.load(&hashes).0.is_empty());
        std::fs::write(&pack, &bytes[..bytes.len() - 7]).unwrap();
        assert!(cache.load(&hashes).0.is_empty());
    }

    #[test]
    fn a_changed_folder_reuses_the_old_pack_and_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path(), "p".into());
        let (hashes, map) = entries(6);
        cache.store(&hashes[..4], &map).unwrap();
        let (found, _) = cache.load(&hashes);
        assert_eq!(found.len(), 4, "the four files of the old set");
        cache.store(&hashes, &map).unwrap();
        let packs = std::fs::read_dir(dir.path().join(LOCAL_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".pack")
            })
            .count();
        assert_eq!(packs, 1, "the old pack is replaced");
        assert_eq!(cache.load(&hashes).0.len(), 6);
    }

    #[test]
    fn concurrent_writers_never_leave_a_reader_wrong_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let (hashes, map) = entries(8);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let cache = ImageCache::new(dir.path(), "p".into());
                    for _ in 0..20 {
                        cache.store(&hashes, &map).unwrap();
                    }
                });
            }
            scope.spawn(|| {
                let cache = ImageCache::new(dir.path(), "p".into());
                for _ in 0..60 {
                    let (found, _) = cache.load(&hashes);
                    assert!(
                        found.is_empty() || found == map,
                        "a pack is whole or absent"
                    );
                }
            });
        });
        let cache = ImageCache::new(dir.path(), "p".into());
        assert_eq!(cache.load(&hashes).0, map);
        let leftovers = std::fs::read_dir(dir.path().join(LOCAL_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0, "no temp files are left behind");
    }
}
