//! Turning a folder's image files into fitted pixels: every file is read and hashed (and its
//! header read, for the default size) in parallel, the cache supplies what it has, and the rest
//! is decoded and fitted in parallel, then cached for the next load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{ImageDecoder, ImageReader};
use rayon::prelude::*;
use serde::Serialize;

use super::cache::{content_hash, Entry, Hash, ImageCache};
use super::files::data_error;
use super::image_size::{default_size, ImageSize, SizeChoice};
use super::preprocess;
use crate::error::{Error, Result};

/// Bumped whenever fitting changes the pixels it gives, so older cache entries are not used.
const FIT_VERSION: u32 = 1;

/// What the cache did in one load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheStats {
    /// Image files in the folder (both splits).
    pub images: usize,
    /// Files whose fitted pixels came from the cache.
    pub hits: usize,
    /// Files decoded and fitted in this load (files with equal content count once).
    pub decoded: usize,
    /// Wall time of reading, hashing, decoding and the cache.
    pub seconds: f64,
    /// The cache folder read from or written to.
    pub dir: Option<PathBuf>,
    /// Why the decoded images could not be cached, when they could not.
    pub note: Option<String>,
}

/// The fitted images of a list of files, in the list's order.
pub(crate) struct Fitted {
    pub entries: Vec<Entry>,
    pub size: ImageSize,
    /// Set when the size was picked because the images differ and none was given.
    pub choice: Option<SizeChoice>,
    pub cache: CacheStats,
}

/// Fits every file of `files` (images of data folder `folder`) to `size`, or to the folder's
/// own size when all images share one, or to the default size when they do not.
pub(crate) fn fit_files(
    folder: &Path,
    files: &[PathBuf],
    size: Option<ImageSize>,
) -> Result<Fitted> {
    let start = Instant::now();
    let scanned = all_or_first_error(files.par_iter().map(|p| scan(p)).collect())?;
    let (hashes, dims): (Vec<Hash>, Vec<(u32, u32)>) = scanned.into_iter().unzip();
    let (size, choice) = match size {
        Some(size) => (size, None),
        None => pick_size(&dims),
    };
    let cache = ImageCache::new(folder, prep(size));
    let (mut found, mut dir) = cache.load(&hashes);
    let hits = hashes.iter().filter(|h| found.contains_key(*h)).count();
    let mut first_of: HashMap<&Hash, usize> = HashMap::new();
    for (i, hash) in hashes.iter().enumerate() {
        if !found.contains_key(hash) {
            first_of.entry(hash).or_insert(i);
        }
    }
    let mut missing: Vec<usize> = first_of.into_values().collect();
    missing.sort_unstable();
    let decoded = all_or_first_error(
        missing
            .par_iter()
            .map(|&i| decode(&files[i], size).map(|e| (hashes[i], e)))
            .collect(),
    )?;
    let mut note = None;
    if !decoded.is_empty() {
        found.extend(decoded);
        match cache.store(&hashes, &found) {
            Ok(written) => dir = Some(written),
            Err(why) => note = Some(format!("not cached: {why}")),
        }
    }
    let entries = hashes.iter().map(|h| found[h].clone()).collect();
    let cache = CacheStats {
        images: files.len(),
        hits,
        decoded: missing.len(),
        seconds: start.elapsed().as_secs_f64(),
        dir,
        note,
    };
    Ok(Fitted {
        entries,
        size,
        choice,
        cache,
    })
}

/// The description of the preprocessing that keys the cache.
fn prep(size: ImageSize) -> String {
    format!(
        "nas {} fit v{FIT_VERSION} {}x{} {:?}",
        env!("CARGO_PKG_VERSION"),
        size.height,
        size.width,
        preprocess::FILTER
    )
}

/// The folder's own size when every image has it, else the default with its reason.
fn pick_size(dims: &[(u32, u32)]) -> (ImageSize, Option<SizeChoice>) {
    match dims.first() {
        Some(&(w, h)) if dims.iter().all(|&d| d == (w, h)) => (
            ImageSize {
                height: h as usize,
                width: w as usize,
            },
            None,
        ),
        _ => {
            let choice = default_size(dims);
            (choice.size, Some(choice))
        }
    }
}

/// Longest side of a source image: larger files (a 108-megapixel photo is 12,000 wide) would
/// need gigabytes to decode before they are shrunk to the input size.
const MAX_SOURCE_SIDE: u32 = 16_384;

/// A file's content hash and its upright width and height, from its bytes and header.
fn scan(path: &Path) -> Result<(Hash, (u32, u32))> {
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let unreadable = |e: image::ImageError| data_error(path, format!("cannot decode: {e}"));
    let mut decoder = ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .into_decoder()
        .map_err(unreadable)?;
    let (w, h) = decoder.dimensions();
    if w.max(h) > MAX_SOURCE_SIDE {
        return Err(data_error(
            path,
            format!("image is {w}x{h}: sides longer than {MAX_SOURCE_SIDE} are not supported"),
        ));
    }
    let turned = matches!(
        decoder.orientation().map_err(unreadable)?,
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH
    );
    Ok((content_hash(&bytes), if turned { (h, w) } else { (w, h) }))
}

/// Decodes and fits one file: grey files stay one plane (made colour later if others are).
fn decode(path: &Path, size: ImageSize) -> Result<Entry> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let image =
        preprocess::decode(&bytes).map_err(|e| data_error(path, format!("cannot decode: {e}")))?;
    let colour = image.color().has_color();
    let channels = if colour { 3 } else { 1 };
    let pixels = preprocess::fit(&image, channels, size.height, size.width);
    Ok(Entry { pixels, colour })
}

/// The values, or the first error (in file order) with a count of the other failures.
fn all_or_first_error<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    let failures = results.iter().filter(|r| r.is_err()).count();
    let mut values = Vec::with_capacity(results.len());
    let mut first = None;
    for result in results {
        match result {
            Ok(value) => values.push(value),
            Err(err) => {
                first.get_or_insert(err);
            }
        }
    }
    let Some(first) = first else {
        return Ok(values);
    };
    Err(match (first, failures - 1) {
        (err, 0) => err,
        (Error::Data { path, msg }, more) => Error::Data {
            path,
            msg: format!("{msg} (and {more} more unreadable files)"),
        },
        (Error::Io { path, cause }, more) => Error::Data {
            path,
            msg: format!("{cause} (and {more} more unreadable files)"),
        },
        (err, _) => err,
    })
}
