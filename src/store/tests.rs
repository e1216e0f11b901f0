//! Tests of a whole run folder: create and open, the lock, schema checks, repairs of what a
//! crash leaves, the trees, live reads through `RunView`, and `list_runs`.

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
        rungs: vec![],
        finalist: None,
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
    assert!(matches!(err, Error::RunExists { .. }), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
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
    let mut newer = meta();
    newer.schema_version = SCHEMA_VERSION + 1;
    drop(RunStore::create(root.path(), &newer).unwrap_err());
    let err = RunStore::open(root.path()).unwrap_err();
    match &err {
        Error::SchemaMismatch {
            found, expected, ..
        } => assert_eq!((*found, *expected), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("expected a schema mismatch, got {other}"),
    }
    assert!(err.to_string().contains("upgrade nas"), "{err}");
    assert!(RunView::open(root.path()).is_err());
}

#[test]
fn a_damaged_database_is_rebuilt_from_the_journal_with_nothing_lost() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    for id in 0..20 {
        store
            .put_candidate(&candidate(id, &format!("h{id}"), Status::Completed, 0.5))
            .unwrap();
    }
    store.put_weights(3, b"three").unwrap();
    store.set_meta_value("status", "running").unwrap();
    drop(store);
    damage(root.path());
    let store = RunStore::open(root.path()).unwrap();
    assert_eq!(store.len(), 20);
    assert_eq!(store.id_by_hash("h7").unwrap(), Some(7));
    assert_eq!(store.weights(3).unwrap().as_deref(), Some(&b"three"[..]));
    assert_eq!(
        store.meta_value("status").unwrap().as_deref(),
        Some("running")
    );
    assert_eq!(store.meta().unwrap(), meta_of(root.path()));
    let notices = store.notices().join("\n");
    assert!(
        notices.contains("rebuilt from the run's journal"),
        "{notices}"
    );
    assert!(notices.contains("nothing was lost"), "{notices}");
    drop(store);
    // the rebuilt database opens quietly next time
    assert!(RunStore::open(root.path()).unwrap().notices().is_empty());
}

#[test]
fn a_half_written_snapshot_is_removed_before_the_database_opens() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store
        .put_candidate(&candidate(0, "h0", Status::Completed, 0.5))
        .unwrap();
    drop(store);
    let partial = root
        .path()
        .join("db")
        .join("snap.00000000000000AB.generating");
    fs::write(&partial, b"").unwrap();
    let store = RunStore::open(root.path()).unwrap();
    assert!(!partial.exists());
    assert!(
        store.notices()[0].contains("half-written"),
        "{:?}",
        store.notices()
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn a_lost_database_folder_is_rebuilt_from_the_journal() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    for id in 0..5 {
        store
            .put_candidate(&candidate(id, &format!("h{id}"), Status::Completed, 0.1))
            .unwrap();
    }
    drop(store);
    fs::remove_dir_all(root.path().join("db")).unwrap();
    let store = RunStore::open(root.path()).unwrap();
    assert_eq!(store.len(), 5);
    assert_eq!(store.next_id().unwrap(), 5);
}

#[test]
fn a_torn_write_at_the_end_of_the_journal_is_cut_and_reported() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store
        .put_candidate(&candidate(0, "h0", Status::Completed, 0.5))
        .unwrap();
    drop(store);
    let journal = root.path().join("journal");
    let mut bytes = fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    fs::write(&journal, &bytes).unwrap();
    assert_eq!(
        RunView::open(root.path()).unwrap().len(),
        1,
        "readers skip it"
    );
    let store = RunStore::open(root.path()).unwrap();
    assert!(
        store.notices()[0].contains("unfinished write"),
        "{:?}",
        store.notices()
    );
    store
        .put_candidate(&candidate(1, "h1", Status::Completed, 0.6))
        .unwrap();
    drop(store);
    assert_eq!(RunView::open(root.path()).unwrap().len(), 2);
}

#[test]
fn a_garbage_journal_is_an_error_naming_the_run_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    drop(RunStore::create(root.path(), &meta()).unwrap());
    fs::write(root.path().join("journal"), vec![0xA5u8; 4096]).unwrap();
    for err in [
        RunStore::open(root.path()).unwrap_err(),
        RunView::open(root.path()).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Store { .. }), "{err}");
        assert!(err.to_string().contains("not a nas journal"), "{err}");
    }
}

#[test]
fn opening_a_missing_or_empty_folder_names_the_run() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let err = RunStore::open(&missing).unwrap_err();
    assert!(err.to_string().contains("no such run folder"), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = RunStore::open(root.path()).unwrap_err();
    assert!(err.to_string().contains("holds no run"), "{err}");
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
fn the_last_checkpoint_written_is_the_one_read_back() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    assert_eq!(store.last_checkpoint().unwrap(), None);
    for step in [1u64, 255, 256] {
        store.put_checkpoint(step, &step.to_le_bytes()).unwrap();
    }
    drop(store);
    let store = RunStore::open(root.path()).unwrap();
    let (step, blob) = store.last_checkpoint().unwrap().unwrap();
    assert_eq!((step, blob), (256, 256u64.to_le_bytes().to_vec()));
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
    fs::write(root.path().join("b-damaged/journal"), b"garbage").unwrap();
    fs::create_dir(root.path().join("c-empty")).unwrap();
    let held = RunStore::create(&root.path().join("d-locked"), &meta()).unwrap();
    held.put_candidate(&candidate(0, "x", Status::Completed, 0.4))
        .unwrap();
    fs::create_dir(root.path().join(".e-being-created")).unwrap();
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
    assert!(runs[2].error.as_deref().unwrap().contains("holds no run"));
    assert_eq!(runs[3].status, "running");
    assert_eq!(runs[3].samples, Some(1));
}

#[test]
fn list_runs_of_a_missing_root_is_empty() {
    let root = tempfile::tempdir().unwrap();
    assert!(list_runs(&root.path().join("runs")).unwrap().is_empty());
}

#[test]
fn a_reader_sees_every_record_of_a_run_being_written() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store.set_meta_value("status", "running").unwrap();
    for id in 0..3 {
        store
            .put_candidate(&candidate(id, &format!("h{id}"), Status::Completed, 0.2))
            .unwrap();
        let view = RunView::open(root.path()).unwrap();
        assert_eq!(view.len() as u64, id + 1);
        assert_eq!(view.status(), RunStatus::Running);
    }
    store.put_weights(1, b"one").unwrap();
    store
        .put_update(1, &serde_json::json!({"mean_reward": 0.2}))
        .unwrap();
    let mut replaced = candidate(1, "h1", Status::Completed, 0.9);
    replaced.epochs_val_acc = vec![0.5, 0.9];
    store.put_candidate(&replaced).unwrap();
    let view = RunView::open(root.path()).unwrap();
    assert_eq!(view.candidate(1), Some(&replaced), "the latest record wins");
    assert_eq!(view.weights(1).unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(view.weights_ids(), [1]);
    assert_eq!(view.updates().len(), 1);
    assert_eq!(view.meta(), &meta_of(root.path()));
    assert!(
        RunStore::open(root.path()).is_err(),
        "a second writer is still refused"
    );
    drop(store);
    // the writer is gone but never said it finished: it was killed
    assert_eq!(
        RunView::open(root.path()).unwrap().status(),
        RunStatus::Interrupted
    );
    let store = RunStore::open(root.path()).unwrap();
    store.set_meta_value("status", "finished").unwrap();
    drop(store);
    assert_eq!(
        RunView::open(root.path()).unwrap().status(),
        RunStatus::Finished
    );
}

#[test]
fn training_states_and_finalist_weights_are_kept_apart_from_weights() {
    let root = tempfile::tempdir().unwrap();
    let store = RunStore::create(root.path(), &meta()).unwrap();
    store.put_state(4, b"state").unwrap();
    store.put_final_weights(4, b"final").unwrap();
    assert_eq!(store.weights(4).unwrap(), None);
    drop(store);
    let store = RunStore::open(root.path()).unwrap();
    assert_eq!(store.state(4).unwrap().as_deref(), Some(&b"state"[..]));
    assert!(store.delete_state(4).unwrap());
    assert!(!store.delete_state(4).unwrap());
    assert_eq!(store.state(4).unwrap(), None);
    assert_eq!(
        store.final_weights(4).unwrap().as_deref(),
        Some(&b"final"[..])
    );
    let view = RunView::open(root.path()).unwrap();
    assert_eq!(
        view.final_weights(4).unwrap().as_deref(),
        Some(&b"final"[..])
    );
}

#[test]
fn a_temporary_run_is_gone_when_it_drops() {
    let store = RunStore::temporary(&meta()).unwrap();
    let dir = store.path().to_path_buf();
    store
        .put_candidate(&candidate(0, "h0", Status::Completed, 0.5))
        .unwrap();
    assert_eq!(store.candidates().unwrap().len(), 1);
    drop(store);
    assert!(!dir.exists());
}

/// The meta the journal of the run in `dir` was created with.
fn meta_of(dir: &Path) -> RunMeta {
    RunView::open(dir).unwrap().meta().clone()
}
