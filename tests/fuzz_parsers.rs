//! Parser fuzzing: random and mutated search-space files, architecture JSON, table CSVs, IDX
//! and CIFAR-10 files go to the parsers and validators as a user's files would. None may
//! panic or take long, and every refusal must be a `nas::Error` whose message is one line.
//!
//! The inputs start from the shipped spaces, decoded architectures and small valid data sets,
//! and are mutated as files go wrong: lines deleted, duplicated, swapped or inserted,
//! characters flipped, numbers replaced by huge, negative or non-finite ones, files truncated
//! or padded. Some inputs are plain random bytes.
//!
//! `NAS_FUZZ_CASES=N` runs N cases per property instead of the defaults (7,100 in all);
//! `NAS_FUZZ_SEED=N` (or `random`) changes the otherwise fixed seed. A long run:
//! `NAS_FUZZ_CASES=100000 NAS_FUZZ_SEED=random cargo test --release --test fuzz_parsers`.

mod common;
mod fuzz;

use std::path::Path;

use fuzz::{config, edits, mutate, pick, IdxEdit, Sandbox};
use nas::arch::Architecture;
use nas::data::DatasetSpec;
use nas::space::Space;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestCaseError;
use serde_json::json;

proptest! {
    #![proptest_config(config(2000))]
    #[test]
    fn mutated_cell_spaces_are_refused_or_decode(
        base in select(fuzz::CELL_SPACES),
        changes in edits(1..5),
    ) {
        let text = mutate(&fuzz::shipped(base), &changes);
        let dir = Sandbox::new("cells");
        fuzz::space(&text, &dir.path().join("space.toml"))?;
    }
}

proptest! {
    #![proptest_config(config(600))]
    #[test]
    fn mutated_table_spaces_and_csvs_are_refused_or_load(
        space_changes in edits(0..4),
        csv_changes in edits(0..5),
    ) {
        let dir = Sandbox::new("table");
        let space = mutate(&fuzz::shipped("toy-table.toml"), &space_changes);
        let table = mutate(&fuzz::small_table(), &csv_changes);
        std::fs::write(dir.path().join("toy-table.csv"), table).unwrap();
        fuzz::space(&space, &dir.path().join("space.toml"))?;
    }
}

proptest! {
    #![proptest_config(config(1500))]
    #[test]
    fn mutated_architecture_json_is_refused_or_lowers(
        which in any::<Index>(),
        changes in edits(1..4),
    ) {
        let bases = fuzz::architectures();
        let text = mutate(pick(bases, &which).as_str(), &changes);
        fuzz::architecture(&text)?;
    }
}

proptest! {
    #![proptest_config(config(1500))]
    #[test]
    fn generated_architectures_are_refused_or_lower(arch in fuzz::arch_value()) {
        fuzz::architecture(&arch.to_string())?;
    }
}

proptest! {
    #![proptest_config(config(600))]
    #[test]
    fn mutated_idx_sets_are_refused_or_load(
        changes in vec((0usize..4, fuzz::idx_edit()), 0..4),
        gzip in any::<[bool; 4]>(),
        sizes in (fuzz::size(), fuzz::size(), any::<bool>()),
    ) {
        let dir = Sandbox::new("idx");
        fuzz::write_idx(dir.path(), &changes, gzip);
        fuzz::dataset(&DatasetSpec::Idx(dir.path().to_path_buf()), sizes)?;
    }
}

proptest! {
    #![proptest_config(config(300))]
    #[test]
    fn mutated_cifar_batches_are_refused_or_load(
        changes in vec((0usize..6, fuzz::cifar_edit()), 0..3),
        sizes in (fuzz::size(), fuzz::size(), any::<bool>()),
    ) {
        let dir = Sandbox::new("cifar");
        fuzz::write_cifar(dir.path(), &changes);
        fuzz::dataset(&DatasetSpec::Cifar10(dir.path().to_path_buf()), sizes)?;
    }
}

proptest! {
    #![proptest_config(config(600))]
    #[test]
    fn random_bytes_are_refused_by_every_parser(bytes in vec(any::<u8>(), 0..600)) {
        let dir = Sandbox::new("bytes");
        let path = dir.path().join("space.toml");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(err) = Space::from_file(&path) {
            fuzz::one_line(&err, Some("space.toml"))?;
        }
        let text = String::from_utf8_lossy(&bytes);
        fuzz::space(&text, &path)?;
        fuzz::architecture(&text)?;
        fuzz::write_idx(dir.path(), &[(0, IdxEdit::Replace(bytes.clone()))], [false; 4]);
        fuzz::dataset(&DatasetSpec::Idx(dir.path().to_path_buf()), (None, None, true))?;
    }
}

/// The regressions the fuzzing found, one per root cause, kept as plain cases so that they
/// run whatever the seed; each runs on its own so that one failure does not hide the others.
#[test]
fn found_cases_are_refused_cleanly() {
    let dir = Sandbox::new("found");
    let mut failures = Vec::new();
    let mut check =
        |text: &str, case: &dyn Fn() -> Result<(), TestCaseError>| match std::panic::catch_unwind(
            std::panic::AssertUnwindSafe(case),
        ) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failures.push(format!("{text}: {err}")),
            Err(_) => failures.push(format!("{text}: panicked")),
        };
    for text in fuzz::FOUND_SPACES {
        check(text, &|| fuzz::space(text, &dir.path().join("space.toml")));
    }
    for text in fuzz::FOUND_ARCHITECTURES {
        check(text, &|| {
            let arch = Architecture::from_json(text, Some(Path::new("arch.json")));
            // lowering is what used to panic: make sure an accepted one lowers too
            let err = arch.and_then(|a| a.lower().map(|_| ())).err();
            prop_assert!(err.is_some(), "accepted");
            fuzz::one_line(&err.unwrap(), None)
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A huge network in a file is refused from its counts, before a tensor exists: lowering and
/// counting are cheap, and the limits stop what counting alone would not.
#[test]
fn a_huge_architecture_is_refused_without_allocating() {
    let cell = json!({"block": {"type": "dense", "kernel": 11, "growth": 1024, "layers": 64}});
    let huge = json!({
        "input": [3, 8192, 8192], "classes": 100000,
        "stem": {"channels": 32768, "kernel": 11},
        "stages": [{"reduce": null, "channels": 32768, "cells": vec![cell; 64]}],
    });
    let err = Architecture::from_json(&huge.to_string(), Some(Path::new("huge.json")))
        .and_then(|a| a.lower())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("huge.json") || err.contains("graph nodes"),
        "{err}"
    );
    let mut wide = huge.clone();
    wide["stages"][0]["cells"] =
        json!([{"block": {"type": "residual", "kernel": 11, "out": 32768}}]);
    let arch = Architecture::from_json(&wide.to_string(), None).unwrap();
    let graph = arch.lower().unwrap();
    assert!(graph.params() > 100_000_000_000, "{}", graph.params());
    assert!(graph.macs() == u64::MAX || graph.macs() > 1 << 60);
    let err = match nas::export::fresh_weights(&graph) {
        Ok(_) => panic!("made weights for {} parameters", graph.params()),
        Err(err) => err.to_string(),
    };
    assert!(err.contains("parameters is more than"), "{err}");
}
