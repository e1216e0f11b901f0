//! The run's journal: an append-only file of framed entries, the durable truth of a run.
//!
//! Each frame is `[json length: u32 LE][blob length: u32 LE][crc32: u32 LE][json][blob]`, the
//! CRC covering both lengths, the JSON and the blob. An entry is durable once `append` returns
//! (it ends with `fdatasync` unless the journal is a throwaway one). A kill can leave at most
//! one torn frame at the end: readers stop at the first frame that is short or whose CRC does
//! not match, and the writer cuts the file back to the last whole frame when it opens it.
//! Readers never take a lock: they read what is there, and a frame being appended while they
//! read is simply not there yet.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The file name of the journal inside a run folder.
pub const JOURNAL_FILE: &str = "journal";
/// The first bytes of every journal: a magic word and the frame layout's version.
const HEADER: &[u8; 8] = b"NASJRN01";
const FRAME_HEAD: u64 = 12;
/// Larger frames are refused on reading as damage, so a corrupt length cannot make a reader
/// allocate gigabytes.
const MAX_JSON: u32 = 64 << 20;

/// Where an entry's blob lies in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRef {
    pub offset: u64,
    pub len: u32,
}

/// One whole frame as a reader found it: its JSON, decoded, and where its blob lies.
#[derive(Debug)]
pub struct Frame<T> {
    /// Offset just past the frame.
    pub end: u64,
    pub entry: T,
    pub blob: Option<BlobRef>,
}

/// What a scan of the journal found.
#[derive(Debug)]
pub struct Scan<T> {
    pub frames: Vec<Frame<T>>,
    /// The offset just past the last whole frame: where the next append belongs.
    pub end: u64,
    /// The file's length, larger than `end` when a torn or damaged frame follows.
    pub file_len: u64,
}

impl<T> Scan<T> {
    /// Bytes after the last whole frame (a torn write, or damage).
    pub fn trailing(&self) -> u64 {
        self.file_len - self.end
    }
}

/// Appends frames to a journal.
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    end: u64,
    sync: bool,
}

impl JournalWriter {
    /// Creates a new journal at `path` holding only its header, made durable.
    pub fn create(path: &Path, sync: bool) -> Result<JournalWriter> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.write_all(HEADER).map_err(|e| Error::io(path, e))?;
        if sync {
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        Ok(JournalWriter {
            path: path.to_path_buf(),
            file,
            end: HEADER.len() as u64,
            sync,
        })
    }

    /// Opens an existing journal for appending after its last whole frame (`end`, from a
    /// scan), cutting off whatever follows it.
    pub fn open(path: &Path, end: u64, sync: bool) -> Result<JournalWriter> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut writer = JournalWriter {
            path: path.to_path_buf(),
            file,
            end,
            sync,
        };
        if end < HEADER.len() as u64 {
            // The header itself was torn: start the file again.
            writer.end = 0;
            writer.write_frame(HEADER).map_err(|e| Error::io(path, e))?;
            writer.end = HEADER.len() as u64;
        }
        if len != writer.end {
            writer
                .file
                .set_len(writer.end)
                .map_err(|e| Error::io(path, e))?;
            writer.file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        Ok(writer)
    }

    /// Appends one entry with an optional blob; returns where the blob lies. Durable on return.
    /// On a failed write the file is cut back, so the journal never keeps half a frame that a
    /// later append would bury.
    pub fn append<T: Serialize>(&mut self, entry: &T, blob: Option<&[u8]>) -> Result<BlobRef> {
        let json = serde_json::to_vec(entry)?;
        let blob = blob.unwrap_or(&[]);
        let json_len = u32::try_from(json.len())
            .ok()
            .filter(|&l| l <= MAX_JSON)
            .ok_or_else(|| self.too_large("entry"))?;
        let blob_len = u32::try_from(blob.len()).map_err(|_| self.too_large("blob"))?;
        let mut frame = Vec::with_capacity(FRAME_HEAD as usize + json.len() + blob.len());
        frame.extend_from_slice(&json_len.to_le_bytes());
        frame.extend_from_slice(&blob_len.to_le_bytes());
        frame.extend_from_slice(&crc(&frame[..8], &json, blob).to_le_bytes());
        frame.extend_from_slice(&json);
        frame.extend_from_slice(blob);
        let start = self.end;
        if let Err(e) = self.write_frame(&frame) {
            // Best effort: the next open cuts a torn tail anyway.
            let _ = self.file.set_len(start);
            return Err(Error::io(&self.path, e));
        }
        self.end += frame.len() as u64;
        Ok(BlobRef {
            offset: start + FRAME_HEAD + json.len() as u64,
            len: blob_len,
        })
    }

    fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(frame)?;
        if self.sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn too_large(&self, what: &str) -> Error {
        Error::io(
            &self.path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("journal {what} too large for one frame"),
            ),
        )
    }

    /// The offset just past the last appended frame.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Notes that the journal's folder was renamed (the open file follows it).
    pub(super) fn moved_to(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn crc(lengths: &[u8], json: &[u8], blob: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(lengths);
    hasher.update(json);
    hasher.update(blob);
    hasher.finalize()
}

/// Reads every whole frame of the journal at `path`, decoding each JSON as a `T`. A frame whose
/// JSON is whole (its CRC matches) but does not decode is an error: that is a journal written
/// by another nas, not a torn write.
pub fn scan<T: DeserializeOwned>(path: &Path) -> Result<Scan<T>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut header = [0u8; 8];
    if read_fully(&mut reader, &mut header).map_err(|e| Error::io(path, e))? < header.len() {
        // Creation was cut short before the header was durable: nothing was ever recorded.
        return Ok(Scan {
            frames: vec![],
            end: 0,
            file_len,
        });
    }
    if &header != HEADER {
        return Err(Error::Store {
            run: path.parent().unwrap_or(path).to_path_buf(),
            msg: format!(
                "{} is not a nas journal (or was written by a newer nas)",
                path.display()
            ),
        });
    }
    let mut frames = Vec::new();
    let mut offset = HEADER.len() as u64;
    let mut blob = Vec::new();
    loop {
        let mut head = [0u8; FRAME_HEAD as usize];
        if read_fully(&mut reader, &mut head).map_err(|e| Error::io(path, e))? < head.len() {
            break;
        }
        let json_len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
        let blob_len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let expected = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let frame_end = offset + FRAME_HEAD + json_len as u64 + blob_len as u64;
        if json_len > MAX_JSON || frame_end > file_len {
            break;
        }
        let mut json = vec![0u8; json_len as usize];
        blob.resize(blob_len as usize, 0);
        let got = read_fully(&mut reader, &mut json).map_err(|e| Error::io(path, e))?
            + read_fully(&mut reader, &mut blob).map_err(|e| Error::io(path, e))?;
        if got < json.len() + blob.len() || crc(&head[..8], &json, &blob) != expected {
            break;
        }
        let entry: T = serde_json::from_slice(&json).map_err(|e| Error::Store {
            run: path.parent().unwrap_or(path).to_path_buf(),
            msg: format!(
                "{}: entry at byte {offset} is whole but not understood ({e}); was it written by a newer nas?",
                path.display()
            ),
        })?;
        let blob_ref = (blob_len > 0).then_some(BlobRef {
            offset: offset + FRAME_HEAD + json_len as u64,
            len: blob_len,
        });
        frames.push(Frame {
            end: frame_end,
            entry,
            blob: blob_ref,
        });
        offset = frame_end;
    }
    Ok(Scan {
        frames,
        end: offset,
        file_len,
    })
}

/// Reads a blob that a scan located. The frame was whole when scanned and frames are never
/// rewritten in place, so a short read means the file was replaced (compacted) since.
pub fn read_blob(path: &Path, blob: BlobRef) -> Result<Vec<u8>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(blob.offset))
        .map_err(|e| Error::io(path, e))?;
    let mut out = vec![0u8; blob.len as usize];
    file.read_exact(&mut out).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct E {
        n: u32,
    }

    fn write(path: &Path, n: u32) -> JournalWriter {
        let mut w = JournalWriter::create(path, false).unwrap();
        for i in 0..n {
            let blob = vec![i as u8; i as usize];
            w.append(&E { n: i }, (i > 0).then_some(&blob[..])).unwrap();
        }
        w
    }

    #[test]
    fn frames_come_back_in_order_with_their_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let w = write(&path, 5);
        let scan = scan::<E>(&path).unwrap();
        assert_eq!(scan.frames.len(), 5);
        assert_eq!(scan.end, w.end());
        assert_eq!(scan.trailing(), 0);
        for (i, frame) in scan.frames.iter().enumerate() {
            assert_eq!(frame.entry, E { n: i as u32 });
            match frame.blob {
                None => assert_eq!(i, 0),
                Some(b) => assert_eq!(read_blob(&path, b).unwrap(), vec![i as u8; i]),
            }
        }
    }

    #[test]
    fn every_torn_tail_is_cut_back_to_the_last_whole_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let whole = write(&path, 4).end();
        let bytes = std::fs::read(&path).unwrap();
        let three = scan::<E>(&path).unwrap().frames[2].end;
        // every cut inside the last frame leaves the first three
        for cut in three..whole {
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let s = scan::<E>(&path).unwrap();
            assert_eq!(s.frames.len(), 3, "cut at {cut}");
            assert_eq!(s.end, three);
            let mut w = JournalWriter::open(&path, s.end, false).unwrap();
            w.append(&E { n: 9 }, None).unwrap();
            let again = scan::<E>(&path).unwrap();
            assert_eq!(again.frames.len(), 4);
            assert_eq!(again.frames[3].entry, E { n: 9 });
            assert_eq!(again.trailing(), 0);
        }
    }

    #[test]
    fn a_flipped_byte_ends_the_scan_at_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        write(&path, 4);
        let ends: Vec<u64> = scan::<E>(&path)
            .unwrap()
            .frames
            .iter()
            .map(|f| f.end)
            .collect();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[ends[1] as usize + 13] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let s = scan::<E>(&path).unwrap();
        assert_eq!(s.frames.len(), 2);
        assert!(s.trailing() > 0);
    }

    #[test]
    fn a_journal_cut_inside_its_header_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, &HEADER[..3]).unwrap();
        let s = scan::<E>(&path).unwrap();
        assert!(s.frames.is_empty());
        assert_eq!(s.end, 0);
        std::fs::write(&path, b"something else entirely").unwrap();
        assert!(scan::<E>(&path).is_err());
    }
}
