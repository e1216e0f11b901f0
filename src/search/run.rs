//! Opening a run for a new or resumed search: the run folder, its stored settings and space,
//! and the guards that keep a resumed search the same search.

use std::path::{Path, PathBuf};

use super::config::SearchConfig;
use crate::error::{Error, Result};
use crate::space::Space;
use crate::store::{RunMeta, RunStore};

/// Where a run named `name` lives: a bare name goes under `runs/`, anything with a path
/// separator is used as it is.
pub fn run_dir(name: &str) -> PathBuf {
    if name.contains(std::path::MAIN_SEPARATOR) || name.starts_with('.') {
        PathBuf::from(name)
    } else {
        PathBuf::from("runs").join(name)
    }
}

/// A default run name: space, seed and UTC time, e.g. `resnet-cells-s0-20261122-174501`.
pub fn default_run_name(space: &str, seed: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ((y, m, d), (hh, mm, ss)) = utc(secs);
    format!("{space}-s{seed}-{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

/// Seconds since the Unix epoch as `2026-11-22 17:45:01 UTC`, for people reading a run.
pub fn utc_time(secs: u64) -> String {
    let ((y, m, d), (hh, mm, ss)) = utc(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

fn utc(secs: u64) -> ((i64, u32, u32), (u64, u64, u64)) {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    (
        civil_from_days(days as i64),
        (rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Howard Hinnant's days-to-civil-date conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Creates the run folder and database of a new search in `dir`; with `unique`, a taken name
/// gets the first free suffix (`NAME-2`, `NAME-3`, ...) instead of an error, so that default
/// names of searches started at the same instant never collide.
pub fn create(dir: &Path, unique: bool, cfg: &SearchConfig, space: &Space) -> Result<RunStore> {
    let meta = RunMeta::new(&space.name, &space.text, serde_json::to_value(cfg)?);
    let mut candidate = dir.to_path_buf();
    for n in 2.. {
        match RunStore::create(&candidate, &meta) {
            Err(Error::RunExists { .. }) if unique => {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                candidate = dir.with_file_name(format!("{name}-{n}"));
            }
            other => return other,
        }
    }
    unreachable!("the suffixes never run out")
}

/// A new search's store in a temporary folder (no run folder is kept).
pub fn create_temporary(cfg: &SearchConfig, space: &Space) -> Result<RunStore> {
    let meta = RunMeta::new(&space.name, &space.text, serde_json::to_value(cfg)?);
    RunStore::temporary(&meta)
}

/// Opens an existing run, returning its store, settings and space (parsed from the stored
/// copy). With `force` false, a space file that changed on disk since the run started is refused.
pub fn open(dir: &Path, force: bool) -> Result<(RunStore, SearchConfig, Space)> {
    let store = RunStore::open(dir)?;
    let meta = store.meta()?;
    let cfg: SearchConfig =
        serde_json::from_value(meta.settings.clone()).map_err(|e| Error::Store {
            run: dir.to_path_buf(),
            msg: format!("stored settings do not parse ({e}); the run is damaged"),
        })?;
    if !force {
        check_space_unchanged(dir, &cfg.space_path, &meta.space_text)?;
    }
    let space = Space::parse(&meta.space_text, &cfg.space_path)?;
    Ok((store, cfg, space))
}

fn check_space_unchanged(run: &Path, path: &Path, stored: &str) -> Result<()> {
    let Ok(current) = std::fs::read_to_string(path) else {
        return Ok(()); // the file is gone: the stored copy is all there is, and it is used
    };
    if current == stored {
        return Ok(());
    }
    Err(Error::Store {
        run: run.to_path_buf(),
        msg: format!(
            "the search space {} changed since the run started; resume with --force to use the stored copy anyway\n{}",
            path.display(),
            line_diff(stored, &current)
        ),
    })
}

/// A minimal line diff: lines only in the stored copy (-) and only in the current file (+).
fn line_diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    for (i, line) in old_lines.iter().enumerate() {
        if !new_lines.contains(line) {
            out.push(format!("  line {}: - {line}", i + 1));
        }
    }
    for (i, line) in new_lines.iter().enumerate() {
        if !old_lines.contains(line) {
            out.push(format!("  line {}: + {line}", i + 1));
        }
    }
    out.join("\n")
}
