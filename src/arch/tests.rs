//! Parameter and MAC counts of the cell kinds added after the first four, computed by hand
//! from the layer shapes (as torchvision counts: weights and BN affine, no buffers), against
//! the counts the lowered graph gives.

use super::{Architecture, Block, Cell, Stage, Stem};
use crate::graph::Op;

/// An 8x8 one-channel input, a 3x3 stem of `stem` channels, one cell, ten classes.
fn one_cell(stem: usize, block: Block) -> Architecture {
    Architecture {
        input: [1, 8, 8],
        classes: 10,
        stem: Stem {
            channels: stem,
            kernel: 3,
        },
        stages: vec![Stage {
            reduce: None,
            channels: stem,
            cells: vec![Cell {
                block,
                skips: vec![],
            }],
        }],
        dropout: 0.0,
    }
}

fn counts(arch: &Architecture) -> (u64, u64) {
    let g = arch.lower().unwrap();
    (g.params(), g.macs())
}

#[test]
fn a_fire_cell_counts_its_squeeze_and_both_expansions() {
    let fire = Block::Fire {
        kernel: 3,
        squeeze: 2,
        expand1: 3,
        expand3: 5,
    };
    // stem 1*4*9 + bn 8; squeeze 4*2 + bn 4; expand1 2*3 + bn 6; expand3 2*5*9 + bn 10;
    // classifier 8*10 + 10
    let params = 36 + 8 + (8 + 4) + (6 + 6) + (90 + 10) + 90;
    // conv weights times 64 positions, plus the classifier's 80
    let macs = (36 + 8 + 6 + 90) * 64 + 80;
    assert_eq!(counts(&one_cell(4, fire)), (params, macs));
}

#[test]
fn a_preact_residual_cell_normalises_before_each_conv_and_after_the_last_cell() {
    let cell = Block::Residual {
        kernel: 3,
        out: 6,
        preact: true,
    };
    // stem 36 + 8; a.bn 2*4, a.conv 4*6*9, b.bn 2*6, b.conv 6*6*9, proj.conv 4*6 (no BN);
    // head.bn 2*6; classifier 6*10 + 10
    let params = 36 + 8 + 8 + 216 + 12 + 324 + 24 + 12 + 70;
    let macs = (36 + 216 + 324 + 24) * 64 + 60;
    assert_eq!(counts(&one_cell(4, cell)), (params, macs));
    // ResNet v2: nothing after the sum, the head's BN and ReLU follow it
    let g = one_cell(4, cell).lower().unwrap();
    let sum = g
        .nodes
        .iter()
        .position(|n| n.name == "stage1.cell1.add")
        .unwrap();
    assert!(matches!(g.nodes[sum + 1].op, Op::BatchNorm { .. }));
    assert_eq!(g.nodes[sum + 1].name, "head.bn");
}

#[test]
fn a_fractal_cell_counts_its_units_and_joins_where_columns_meet() {
    let fractal = |columns| Block::Fractal {
        kernel: 3,
        out: 6,
        columns,
    };
    // two columns: column 1 one unit 4->6, column 2 two units 4->6 and 6->6, each conv 3x3
    // with a BN of 12; classifier 6*10 + 10
    let params = 36 + 8 + (216 + 12) * 2 + (324 + 12) + 70;
    let macs = (36 + 216 * 2 + 324) * 64 + 60;
    assert_eq!(counts(&one_cell(4, fractal(2))), (params, macs));
    // four columns: 2^4 - 1 = 15 units, four reading the cell input; joins at steps 2, 4, 6
    // and 8 of the deepest column's 8
    let params = 36 + 8 + (216 + 12) * 4 + (324 + 12) * 11 + 70;
    let macs = (36 + 216 * 4 + 324 * 11) * 64 + 60;
    let arch = one_cell(4, fractal(4));
    assert_eq!(counts(&arch), (params, macs));
    let g = arch.lower().unwrap();
    let joins: Vec<usize> = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Join { .. }))
        .map(|n| n.inputs.len())
        .collect();
    assert_eq!(joins, vec![2, 3, 2, 4]);
}

#[test]
fn a_grouped_bottleneck_counts_its_grouped_conv_in_either_ordering() {
    let block = |preact| Block::Bottleneck {
        kernel: 3,
        out: 8,
        expansion: 2,
        groups: 2,
        preact,
    };
    // mid = 8 / 2 = 4; stem 1*8*9 + 16; reduce 8*4, grouped 4*(4/2)*9 = 72, expand 4*8;
    // identity shortcut; classifier 8*10 + 10
    let convs = 32 + 72 + 32;
    let macs = (72 + convs) * 64 + 80;
    // post-activation: BN after each conv (4, 4 and 8 channels)
    let post = 72 + 16 + convs + 8 + 8 + 16 + 90;
    assert_eq!(counts(&one_cell(8, block(false))), (post, macs));
    // pre-activation: BN before each conv (8, 4 and 4 channels) and the head's BN (8)
    let pre = 72 + 16 + convs + 16 + 8 + 8 + 16 + 90;
    assert_eq!(counts(&one_cell(8, block(true))), (pre, macs));
}
