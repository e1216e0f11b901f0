//! Space validation, decoding and hashing tests.

use std::path::Path;

use rand::SeedableRng;

use super::*;

fn parse(text: &str) -> crate::Result<Space> {
    Space::parse(text, Path::new("bad.toml"))
}

const GOOD: &str = r#"version = 1
name = "t"
[skeleton]
stem_channels = 8
stages = 2
reduce = "conv"
channel_growth = 2.0
[choices]
cells_per_stage = [1, 2]
cell = ["residual"]
kernel = [3, 5]
width = [0.5, 1.0]
skip_inputs = true
"#;

/// Replaces `from` by `to` in the good file and returns the error message.
fn broken(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    parse(&GOOD.replacen(from, to, 1)).unwrap_err().to_string()
}

#[test]
fn the_good_file_parses() {
    let space = parse(GOOD).unwrap();
    assert_eq!(space.kind(), "cells");
    // per stage: 1 cell (2*2 ways) or 2 cells (4 * 4 * 2 skip ways) = 4 + 32 = 36; 36^2
    assert_eq!(space.size().to_string(), "1296");
}

#[test]
fn broken_space_files_name_file_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        // an unknown field
        (
            "stages = 2",
            "stages = 2\nstagez = 3",
            "bad.toml:6:1: field `stagez`: unknown field",
        ),
        // a wrong version
        (
            "version = 1",
            "version = 7",
            "bad.toml:1:11: field `version`: format version 7",
        ),
        // a missing required field
        (
            "stem_channels = 8\n",
            "",
            "field `stem_channels`: missing field",
        ),
        // a wrong type
        (
            "stages = 2",
            "stages = \"two\"",
            "bad.toml:5:10: field `skeleton.stages`: invalid type",
        ),
        // an even kernel
        (
            "kernel = [3, 5]",
            "kernel = [3, 4]",
            "bad.toml:11:10: field `choices.kernel`: kernel 4 must be odd",
        ),
        // an unknown cell type
        (
            "cell = [\"residual\"]",
            "cell = [\"resnet\"]",
            "field `choices.cell`: unknown cell type `resnet`",
        ),
        // a setting for a cell kind the space does not offer
        (
            "skip_inputs = true",
            "skip_inputs = true\ngrowth = [8]",
            "field `choices.growth`: applies only to dense cells",
        ),
        // a setting required by a cell kind that is missing
        (
            "cell = [\"residual\"]",
            "cell = [\"bottleneck\"]",
            "field `choices.expansion`: required because `cell` includes bottleneck",
        ),
        // an empty list
        (
            "cells_per_stage = [1, 2]",
            "cells_per_stage = []",
            "field `choices.cells_per_stage`: must list at least one option",
        ),
        // a duplicate option
        (
            "width = [0.5, 1.0]",
            "width = [0.5, 0.5]",
            "field `choices.width`: 0.5 is listed twice",
        ),
        // an out-of-range value
        (
            "stages = 2",
            "stages = 40",
            "field `skeleton.stages`: 40 is out of range 1 to 6",
        ),
        // an unknown reduction
        (
            "reduce = \"conv\"",
            "reduce = \"strided\"",
            "bad.toml:6:10: field `skeleton.reduce`: unknown reduction `strided`",
        ),
        // a stride reduction needs mobile cells throughout
        (
            "reduce = \"conv\"",
            "reduce = \"stride\"",
            "bad.toml:6:10: field `skeleton.reduce`: \"stride\" strides the first cell of a stage",
        ),
        // an unknown kind
        (
            "name = \"t\"",
            "name = \"t\"\nkind = \"graph\"",
            "field `kind`: unknown kind `graph`",
        ),
        // not TOML at all
        ("[choices]", "[choices", "bad.toml:8:"),
        // a bad input shape
        (
            "name = \"t\"",
            "name = \"t\"\n[input]\nshape = [1, 28]\nclasses = 10",
            "field `input.shape`: must be three positive numbers",
        ),
    ];
    for (from, to, want) in cases {
        let got = broken(from, to);
        assert!(
            got.contains(want),
            "replacing {from:?} by {to:?}:\n got: {got}\nwant: {want}"
        );
        assert!(got.starts_with("bad.toml:"), "{got}");
    }
}

#[test]
fn every_shipped_space_loads_and_decodes() {
    let spaces = shipped().unwrap();
    let names: Vec<&str> = spaces.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "resnet-cells",
        "bottleneck-cells",
        "inception-cells",
        "dense-cells",
        "mixed-cells",
        "mobile-cells",
        "toy-table",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for space in spaces.iter().filter(|s| s.kind() == "cells") {
        for _ in 0..20 {
            let arch = space.decode(&space.sample(&mut rng)).unwrap();
            let graph = arch
                .lower()
                .unwrap_or_else(|e| panic!("{}: {e}", space.name));
            graph.validate().unwrap();
            assert_eq!(graph.classes(), 10);
        }
    }
}

#[test]
fn hash_ignores_field_order_and_unused_decisions() {
    let space = Space::load("resnet-cells").unwrap();
    let n = space.decisions().len();
    // stage1.cells = 1 (index 0): every later cell decision of stage 1 is unused.
    let base = vec![0; n];
    let mut other = base.clone();
    let unused = space
        .decisions()
        .iter()
        .position(|d| d.name.starts_with("stage1.cell3"))
        .unwrap();
    other[unused] = 1;
    let a = space.decode(&base).unwrap();
    let b = space.decode(&other).unwrap();
    assert_eq!(a.hash(), b.hash());
    // a used decision changes it
    let used = space
        .decisions()
        .iter()
        .position(|d| d.name == "stage1.cell1.kernel")
        .unwrap();
    let mut third = base.clone();
    third[used] = 1;
    assert_ne!(a.hash(), space.decode(&third).unwrap().hash());
    // field order in JSON does not matter
    let json = a.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obj = value.as_object().unwrap();
    let mut reversed = String::from("{");
    let items: Vec<String> = obj
        .iter()
        .rev()
        .map(|(k, v)| format!("{}:{}", serde_json::Value::String(k.clone()), v))
        .collect();
    reversed.push_str(&items.join(","));
    reversed.push('}');
    let back = crate::arch::Architecture::from_json(&reversed, None).unwrap();
    assert_eq!(back.hash(), a.hash());
    // a stable value: changing the hash breaks de-duplication of stored runs
    assert_eq!(a.hash().len(), 16);
}

#[test]
fn table_space_reads_its_csv_and_knows_its_optimum() {
    let space = Space::load("toy-table").unwrap();
    let SpaceBody::Table(table) = &space.body else {
        panic!("not a table")
    };
    assert_eq!(space.decisions().len(), 6);
    assert_eq!(space.size().to_string(), "4096");
    let best = table.lookup(&[3, 0, 3, 1, 0, 1]).unwrap();
    assert_eq!(best.reward, 0.95);
    assert!(best.metrics.contains_key("params"));
    assert!(table.rows.values().all(|r| r.reward <= 0.95));
}

#[test]
fn decode_refuses_wrong_lengths_and_indices() {
    let space = Space::load("resnet-cells").unwrap();
    assert!(space
        .decode(&[0])
        .unwrap_err()
        .to_string()
        .contains("expected"));
    let mut values = vec![0; space.decisions().len()];
    values[0] = 99;
    assert!(space
        .decode(&values)
        .unwrap_err()
        .to_string()
        .contains("has 3 options"));
}
