//! `nas scale (RUN --id N | --arch FILE.json) --phi K [--out FILE.json]`: EfficientNet's
//! compound scaling of a searched candidate or an architecture file, written as an
//! architecture file that `nas train --arch` and `nas export --arch` take.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use nas::arch::{multipliers, Architecture};
use nas::atomic_file::write_atomic;
use serde_json::json;

use super::table::{print_json, thousands};

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["run", "arch"])))]
#[command(allow_negative_numbers = true)]
pub struct ScaleArgs {
    /// The run holding the candidate to scale (name under runs/ or path).
    #[arg(requires = "id")]
    run: Option<PathBuf>,
    /// The candidate of RUN to scale.
    #[arg(long, requires = "run")]
    id: Option<u64>,
    /// An architecture JSON file to scale (`arch.json` of an export or a `nas train`).
    #[arg(long, conflicts_with = "run")]
    arch: Option<PathBuf>,
    /// Compound coefficient K: depth x1.2^K, width x1.1^K, input resolution x1.15^K.
    #[arg(long, value_name = "K", value_parser = super::values::phi)]
    phi: u32,
    /// Output file [default: RUN/scaled/candidate_N-phiK.json, or FILE-phiK.json beside FILE].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ScaleArgs) -> Result<()> {
    let (arch, from, default_out) = source(&args)?;
    let scaled = arch.scaled(args.phi)?;
    let before = arch.lower()?;
    let after = scaled.lower()?;
    let out = args.out.clone().unwrap_or(default_out);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
    }
    write_atomic(&out, scaled.to_json().as_bytes())?;
    let (depth, width, resolution) = multipliers(args.phi);
    let [c, h, w] = scaled.input;
    if args.json {
        return print_json(&json!({
            "from": from,
            "phi": args.phi,
            "depth": depth,
            "width": width,
            "resolution": resolution,
            "input": scaled.input,
            "params": after.params(),
            "macs": after.macs(),
            "params_before": before.params(),
            "macs_before": before.macs(),
            "cells": scaled.stages.iter().map(|s| s.cells.len()).collect::<Vec<_>>(),
            "out": out,
        }));
    }
    println!(
        "scaled {from} by phi {} (depth x{depth:.3}, width x{width:.3}, resolution x{resolution:.3}): \
         input {c}x{h}x{w}, {} params, {} MACs (was {} params, {} MACs); wrote {}",
        args.phi,
        thousands(after.params()),
        thousands(after.macs()),
        thousands(before.params()),
        thousands(before.macs()),
        out.display()
    );
    println!(
        "train it with `nas train --arch {}`: the net is fitted to the data set's input, so on \
         folder images pass --image-size {h}x{w} to train at the scaled resolution",
        out.display()
    );
    Ok(())
}

/// The architecture to scale, how to name it, and the default output file.
fn source(args: &ScaleArgs) -> Result<(Architecture, String, PathBuf)> {
    let phi = args.phi;
    if let (Some(run), Some(id)) = (&args.run, args.id) {
        let run = nas::search::run_dir(&run.to_string_lossy());
        let arch = nas::export::candidate_arch(&run, id)?;
        let out = run
            .join("scaled")
            .join(format!("candidate_{id}-phi{phi}.json"));
        return Ok((arch, format!("candidate {id} of {}", run.display()), out));
    }
    let path = args.arch.as_ref().expect("clap requires RUN or --arch");
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading architecture {}", path.display()))?;
    let arch = Architecture::from_json(&text, Some(path))?;
    Ok((arch, path.display().to_string(), sibling(path, phi)))
}

/// `FILE-phiK.json` beside `FILE.json`.
fn sibling(path: &Path, phi: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or("arch".into(), |s| s.to_string_lossy());
    path.with_file_name(format!("{stem}-phi{phi}.json"))
}
