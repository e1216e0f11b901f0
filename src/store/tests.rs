//! Tests of a whole run folder: create and open, the lock, schema checks, damage, the trees and
//! `list_runs`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::*;
use crate::error::Error;

fn meta() -> RunMeta {
    RunMeta::new(
        "tiny",
        "version = 1\n[skeleton]\n",
        serde_json::json!({"strategy": "reinforce", "seed": 7}),
    )
}

fn candidate(id: u64, hash: &str, status: Status, reward: f64) -> Candidate {
    Candidate {
        id,
        step: id / 4,
        decisions: vec![id as usize % 3, 1],
        arch: serde_json::json!({"cells": [id]}),
        hash: hash.to_string(),
        status,
        reward,
        metrics: BTreeMap::from([("val_acc".to_string(), reward)]),
        params: 100 + id,
        macs: 1000 + id,
        epochs_val_acc: vec![reward],
        started_at: Some(1.0),
        finished_at: Some(2.0),
        seconds: 1.0,
        reason: None,
        duplicate_of: None,
    }
}

fn damage(run: &Path) {
    damage_files(run, |_| true);
}

/// Overwrites the files of the run's database for which `pick` holds with garbage.
fn damage_files(run: &Path, pick: impl Fn(&str) -> bool) {
    for entry in fs::read_dir(run.join("db")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && pick(&name) {
            fs::write(&path, vec![0xA5u8; 4096]).unwrap();
        }
    }
}

#[test]
fn create_then_open_round_trips_the_meta() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("r1");
    let written = meta();
    drop(RunStore::create(&run, &written).unwrap());
    let store = RunStore::open(&run).unwrap();
    assert_eq!(store.meta().unwrap(), written);
    assert_eq!(store.path(), run.as_path());
    assert!(store.is_empty());
    assert_eq!(store.next_id().unwrap(), 0);
}

#[test]
fn create_refuses_a_folder_that_already_holds_a_run() {
    let root = tempfile::tempdir().unwrap();
    drop(RunStore::create(root.path(), &meta()).unwrap());
    let err = RunStore::create(root.path(), &meta()).unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
}

#[test]
fn a_second_opener_gets_run_locked_until_the_first_drops() {
    let root = tempfile::tempdir().unwrap();
    let first = RunStore::create(root.path(), &meta()).unwrap();
    let err = RunStore::open(root.path()).unwrap_err();
    assert!(matches!(err, Error::RunLocked { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&root.path().display().to_string()), "{text}");
    assert!(text.contains("another nas process"), "{text}");
    drop(first);
    RunStore::open(root.path()).unwrap();
}

#[test]
fn a_newer_schema_says_to_upgrade_nas() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    let newer = (SCHEMA_VERSION + 1).to_string();
    store
        .meta
        .insert("schema_version", newer.as_bytes())
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let err = RunStore::open(root.path()).unwrap_err();
    match &err {
        Error::SchemaMismatch {
            found, expected, ..
        } => assert_eq!((*found, *expected), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("expected a schema mismatch, got {other}"),
    }
    assert!(err.to_string().contains("upgrade nas"), "{err}");
}

#[test]
fn a_damaged_database_is_an_error_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store
        .put_candidate(&candidate(0, "h0", Status::Completed, 0.5))
        .unwrap();
    drop(store);
    damage(root.path());
    let err = RunStore::open(root.path()).unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err}");
    assert!(
        err.to_string().contains(&root.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn a_damaged_data_file_with_an_intact_config_is_an_error_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store
        .put_candidate(&candidate(0, "h0", Status::Completed, 0.5))
        .unwrap();
    drop(store);
    damage_files(root.path(), |name| name != "conf");
    let err = RunStore::open(root.path()).unwrap_err();
    assert!(err.to_string().contains("schema_version"), "{err}");
    assert!(matches!(err, Error::Store { .. }), "{err}");
}

#[test]
fn opening_a_missing_or_empty_folder_names_the_run() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let err = RunStore::open(&missing).unwrap_err();
    assert!(err.to_string().contains("no such run folder"), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = RunStore::open(root.path()).unwrap_err();
    assert!(err.to_string().contains("no run database"), "{err}");
    assert!(
        !root.path().join("db").exists(),
        "open must not create a database"
    );
}

#[test]
fn a_candidate_and_its_hash_index_are_written_together() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    let first = candidate(0, "same", Status::Failed, 0.0);
    store.put_candidate(&first).unwrap();
    assert_eq!(store.candidate(0).unwrap(), Some(first));
    assert_eq!(store.id_by_hash("same").unwrap(), Some(0));

    let mut duplicate = candidate(1, "same", Status::Duplicate, 0.0);
    duplicate.duplicate_of = Some(0);
    store.put_candidate(&duplicate).unwrap();
    store
        .put_candidate(&candidate(2, "same", Status::Completed, 0.9))
        .unwrap();
    assert_eq!(
        store.id_by_hash("same").unwrap(),
        Some(0),
        "the first one wins"
    );
    assert_eq!(store.id_by_hash("other").unwrap(), None);

    let mut lone = candidate(3, "dup-only", Status::Duplicate, 0.0);
    lone.duplicate_of = Some(0);
    store.put_candidate(&lone).unwrap();
    assert_eq!(store.id_by_hash("dup-only").unwrap(), None);
}

#[test]
fn candidates_come_back_ordered_by_id_after_reopening() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    for id in [300u64, 2, 256, 1, 10] {
        store
            .put_candidate(&candidate(id, &format!("h{id}"), Status::Completed, 0.1))
            .unwrap();
    }
    drop(store);
    let store = RunStore::open(root.path()).unwrap();
    let ids: Vec<u64> = store.candidates().unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, [1, 2, 10, 256, 300]);
    assert_eq!(store.next_id().unwrap(), 301);
    assert_eq!(store.len(), 5);
    assert_eq!(store.counts().unwrap().total(), 5);
    assert_eq!(store.candidate(7).unwrap(), None);
}

#[test]
fn the_last_checkpoint_is_the_largest_step() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    assert_eq!(store.last_checkpoint().unwrap(), None);
    for step in [1u64, 255, 256, 3] {
        store.put_checkpoint(step, &step.to_le_bytes()).unwrap();
    }
    let (step, blob) = store.last_checkpoint().unwrap().unwrap();
    assert_eq!((step, blob), (256, 256u64.to_le_bytes().to_vec()));
    assert_eq!(store.prune_checkpoints(2).unwrap(), 2);
    assert_eq!(store.last_checkpoint().unwrap().unwrap().0, 256);
}

#[test]
fn weights_are_kept_listed_and_deleted() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store.put_weights(9, b"nine").unwrap();
    store.put_weights(4, b"four").unwrap();
    assert_eq!(store.weights_ids().unwrap(), [4, 9]);
    assert_eq!(store.weights(9).unwrap().as_deref(), Some(&b"nine"[..]));
    assert!(store.delete_weights(9).unwrap());
    assert!(!store.delete_weights(9).unwrap());
    assert_eq!(store.weights(9).unwrap(), None);
    assert_eq!(store.weights_ids().unwrap(), [4]);
}

#[test]
fn extra_meta_values_round_trip_but_created_fields_are_fixed() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    assert_eq!(store.meta_value("status").unwrap(), None);
    store.set_meta_value("status", "finished").unwrap();
    assert_eq!(
        store.meta_value("status").unwrap().as_deref(),
        Some("finished")
    );
    assert!(store.set_meta_value("schema_version", "9").is_err());
    assert_eq!(
        store.meta_value("space_name").unwrap().as_deref(),
        Some("tiny")
    );
}

#[test]
fn list_runs_shows_good_damaged_empty_and_locked_folders() {
    let root = tempfile::tempdir().unwrap();
    let good = RunStore::create(&root.path().join("a-good"), &meta()).unwrap();
    good.put_candidate(&candidate(0, "x", Status::Completed, 0.4))
        .unwrap();
    good.put_candidate(&candidate(1, "y", Status::Completed, 0.8))
        .unwrap();
    good.put_candidate(&candidate(2, "z", Status::Failed, 0.0))
        .unwrap();
    good.set_meta_value("status", "finished").unwrap();
    drop(good);
    drop(RunStore::create(&root.path().join("b-damaged"), &meta()).unwrap());
    damage(&root.path().join("b-damaged"));
    fs::create_dir(root.path().join("c-empty")).unwrap();
    let _held = RunStore::create(&root.path().join("d-locked"), &meta()).unwrap();
    fs::write(root.path().join("not-a-folder.txt"), "x").unwrap();

    let runs = list_runs(root.path()).unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a-good", "b-damaged", "c-empty", "d-locked"]);

    let good = &runs[0];
    assert_eq!(good.space_name.as_deref(), Some("tiny"));
    assert_eq!(good.strategy.as_deref(), Some("reinforce"));
    assert_eq!(good.samples, Some(3));
    assert_eq!((good.best_id, good.best_reward), (Some(1), Some(0.8)));
    assert_eq!(good.status, "finished");
    assert_eq!(good.error, None);

    assert_eq!(runs[1].status, "error");
    assert!(runs[1].error.as_deref().unwrap().contains("b-damaged"));
    assert_eq!(runs[2].status, "error");
    assert!(runs[2]
        .error
        .as_deref()
        .unwrap()
        .contains("no run database"));
    assert_eq!(runs[3].status, "running");
    assert_eq!(runs[3].samples, None);
}

#[test]
fn list_runs_of_a_missing_root_is_empty() {
    let root = tempfile::tempdir().unwrap();
    assert!(list_runs(&root.path().join("runs")).unwrap().is_empty());
}
