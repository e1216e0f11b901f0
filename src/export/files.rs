//! The file-writing entry points: `DIR/NAME.rs`, `DIR/NAME.safetensors` and `DIR/NAME.json`
//! for a run's candidate, a zoo net or an architecture file, each written atomically (a sibling
//! temp file, fsync, rename, fsync of the folder), plus the optional ready crate.

use std::fs;
use std::path::{Path, PathBuf};

use super::info::{identifier, ExportInfo, ExportOptions, ExportTarget, Normalisation};
use super::krate::{write_crate, PREPROCESS};
use super::source::rust_source;
use super::weights::fresh_weights;
use crate::arch::Architecture;
use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};
use crate::store::{RunView, Status};

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Exported {
    /// Module name (`candidate_17`).
    pub name: String,
    pub source: PathBuf,
    pub weights: PathBuf,
    pub arch: PathBuf,
    /// `preprocess.rs`, nas's image fitting, which the code's doc comments point to.
    pub preprocess: PathBuf,
    /// The ready crate's folder, with `--crate`.
    pub crate_dir: Option<PathBuf>,
}

/// The architecture of candidate `id` of the run in `run_dir` (`nas scale RUN --id N`).
pub fn candidate_arch(run_dir: &Path, id: u64) -> Result<Architecture> {
    let store = RunView::open(run_dir)?;
    let candidate = find(&store, run_dir, id)?;
    serde_json::from_value(candidate.arch).map_err(|_| {
        Error::invalid(
            format!("--id {id}"),
            format!(
                "candidate {id} of run {} is not a network (a table space's candidates are rows of its table)",
                run_dir.display()
            ),
        )
    })
}

/// Candidate `id` of `store`, or an error naming the ids the run has.
fn find(store: &RunView, run_dir: &Path, id: u64) -> Result<crate::store::Candidate> {
    store.candidate(id).cloned().ok_or_else(|| {
        Error::invalid(
            format!("--id {id}"),
            format!(
                "run {} has no candidate {id} (it has ids 0 to {})",
                run_dir.display(),
                store.len() as i64 - 1
            ),
        )
    })
}

/// Exports candidate `id` of the run in `run_dir` with its stored trained weights.
pub fn export_candidate(
    run_dir: &Path,
    id: u64,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Exported> {
    let store = RunView::open(run_dir)?;
    let candidate = find(&store, run_dir, id)?;
    // a finalist's weights (trained properly, on the whole training split) come first, with
    // the statistics of the data they were trained on
    let finalist = candidate.finalist.clone().filter(|f| f.reason.is_none());
    let final_weights = match &finalist {
        Some(_) => store.final_weights(id)?,
        None => None,
    };
    let from_finalist = final_weights.is_some();
    let weights = match final_weights {
        Some(w) => Some(w),
        None => store.weights(id)?,
    };
    let Some(weights) = weights else {
        return Err(Error::invalid(
            format!("--id {id}"),
            format!(
                "candidate {id} has no stored weights: {}",
                kept_advice(&store)
            ),
        ));
    };
    let arch: Architecture = serde_json::from_value(candidate.arch.clone())?;
    let nas_version = Some(store.meta().nas_version.clone());
    drop(store);
    let name = format!("candidate_{id}");
    let target = ExportTarget::Arch(arch.clone());
    let mut options = options.clone();
    let mut weights_note = None;
    if let (true, Some(f)) = (from_finalist, &finalist) {
        options.normalisation = Some(Normalisation {
            mean: f.mean.clone(),
            std: f.std.clone(),
        });
        weights_note = Some(format!(
            "finalist training from scratch, {} epochs on {} training images; test accuracy {:.2}%",
            f.epochs,
            f.train_images,
            f.test_acc * 100.0
        ));
    }
    let options = &options;
    let mut info = info_for(&name, &target, options)?;
    info.weights_note = weights_note;
    info.val_acc = match (from_finalist, &finalist) {
        (true, Some(f)) => Some(f.val_acc),
        _ => candidate.metrics.get("val_acc").copied(),
    };
    info.run = Some(run_dir.display().to_string());
    info.candidate = Some(id);
    if candidate.status != Status::Completed {
        info.generated_by.push_str(&format!(
            " (candidate status: {})",
            candidate.status.as_str()
        ));
    }
    if let Some(version) = nas_version {
        info.generated_by
            .push_str(&format!("; the run was made by nas {version}"));
    }
    write_all(&target, &info, &weights, &arch.to_json(), out_dir, options)
}

/// The ids of the best `k` completed candidates by reward (best first), each with stored
/// weights; empty when the run has no completed candidate. Asking for more than the run has,
/// or for one whose weights were not kept, is an error naming `--top`.
pub fn best_candidates(run_dir: &Path, k: usize) -> Result<Vec<u64>> {
    let store = RunView::open(run_dir)?;
    let mut done: Vec<_> = store
        .candidates()
        .into_iter()
        .filter(|c| c.status == Status::Completed)
        .collect();
    done.sort_by(|a, b| b.reward.total_cmp(&a.reward).then(a.id.cmp(&b.id)));
    if !done.is_empty() && k > done.len() {
        return Err(Error::invalid(
            format!("--top {k}"),
            format!(
                "run {} has only {} completed candidates",
                run_dir.display(),
                done.len()
            ),
        ));
    }
    let ids: Vec<u64> = done.into_iter().take(k).map(|c| c.id).collect();
    let kept = store.weights_ids();
    if let Some((rank, id)) = ids.iter().enumerate().find(|(_, id)| !kept.contains(id)) {
        return Err(Error::invalid(
            format!("--top {k}"),
            format!(
                "candidate {id}, number {} by reward, has no stored weights: {}",
                rank + 1,
                kept_advice(&store)
            ),
        ));
    }
    Ok(ids)
}

/// What a user can export instead of a candidate whose weights were not kept.
fn kept_advice(store: &RunView) -> String {
    let kept: Vec<String> = store.weights_ids().iter().map(|i| i.to_string()).collect();
    format!(
        "a run keeps the weights of its best candidates only (`nas search --keep-top`; ids with weights: {}); export one of those with --id, or retrain this architecture",
        if kept.is_empty() { "none".to_string() } else { kept.join(", ") }
    )
}

/// Exports zoo net `name` at `input` with `classes` outputs and fresh deterministic weights.
pub fn export_zoo(
    name: &str,
    input: [usize; 3],
    classes: usize,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Exported> {
    let graph = crate::zoo::build(name, input, classes)?;
    let weights = safetensors_bytes(&fresh_weights(&graph)?)?;
    let target = ExportTarget::Zoo {
        name: name.to_string(),
        graph,
    };
    let info = info_for(name, &target, options)?;
    let json = serde_json::json!({ "zoo": name, "input": input, "classes": classes });
    let json = serde_json::to_string_pretty(&json)?;
    write_all(&target, &info, &weights, &json, out_dir, options)
}

/// Exports the architecture in the JSON file `path` with fresh deterministic weights; the
/// module is named after the file stem.
pub fn export_arch(path: &Path, out_dir: &Path, options: &ExportOptions) -> Result<Exported> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let arch = Architecture::from_json(&text, Some(path))?;
    let located = |e: Error| Error::Arch {
        path: Some(path.to_path_buf()),
        msg: e.to_string(),
    };
    let graph = arch.lower().map_err(located)?;
    let weights = safetensors_bytes(&fresh_weights(&graph).map_err(located)?)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("arch");
    let target = ExportTarget::Arch(arch.clone());
    let info = info_for(stem, &target, options)?;
    write_all(&target, &info, &weights, &arch.to_json(), out_dir, options)
}

fn info_for(name: &str, target: &ExportTarget, options: &ExportOptions) -> Result<ExportInfo> {
    let mut info = ExportInfo::new(&identifier(name), target)?;
    if let Some(norm) = &options.normalisation {
        let channels = target.graph()?.input()[0];
        if norm.mean.len() != channels || norm.std.len() != channels {
            return Err(Error::invalid(
                "--mean/--std",
                format!(
                    "{} means and {} deviations given, but `{name}` takes {channels}-channel images: give one value per channel",
                    norm.mean.len(),
                    norm.std.len()
                ),
            ));
        }
    }
    info.normalisation = options.normalisation.clone();
    info.class_names = options.class_names.clone();
    if let Some(how) = &options.generated_by {
        info.generated_by = how.clone();
    }
    Ok(info)
}

fn write_all(
    target: &ExportTarget,
    info: &ExportInfo,
    weights: &[u8],
    json: &str,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Exported> {
    let source = rust_source(target, info)?;
    fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let file = |ext: &str| out_dir.join(format!("{}.{ext}", info.name));
    let exported = Exported {
        name: info.name.clone(),
        source: file("rs"),
        weights: file("safetensors"),
        arch: file("json"),
        preprocess: out_dir.join("preprocess.rs"),
        crate_dir: options.with_crate.then(|| out_dir.join(&info.name)),
    };
    write_atomic(&exported.source, source.as_bytes())?;
    write_atomic(&exported.weights, weights)?;
    write_atomic(&exported.arch, format!("{json}\n").as_bytes())?;
    write_atomic(&exported.preprocess, PREPROCESS.as_bytes())?;
    if let Some(dir) = &exported.crate_dir {
        write_crate(dir, &info.name, &source, weights)?;
    }
    Ok(exported)
}

/// The variables of `varmap` as safetensors bytes.
fn safetensors_bytes(varmap: &candle_nn::VarMap) -> Result<Vec<u8>> {
    let dir = tempfile_dir()?;
    let path = dir.join("weights.safetensors");
    varmap.save(&path)?;
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e));
    let _ = fs::remove_dir_all(&dir);
    bytes
}

/// A private scratch folder under the system temp dir.
fn tempfile_dir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nas-export-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}
