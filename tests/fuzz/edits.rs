//! Text mutations: the ways a hand-edited or damaged file differs from a good one.

use std::ops::Range;

use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Numbers and near-numbers that a value may be replaced with.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "3",
    "4",
    "7",
    "12",
    "4097",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "99999999999999999999999999",
    "1e308",
    "1e999",
    "-1e999",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "0.0",
    "-0.0",
    "0.5",
    "1.5",
    "1e-300",
    "0.0625",
    "8.0",
    "4.0001",
    "\"3\"",
    "[]",
    "[1]",
    "true",
    "{}",
    "null",
    "1_000",
    "0x10",
];

/// Whole lines a file may gain: section headers, keys of every kind, and junk.
const LINES: &[&str] = &[
    "[choices]",
    "[skeleton]",
    "[input]",
    "[[decision]]",
    "version = 1",
    "version = 2",
    "kind = \"table\"",
    "kind = \"cells\"",
    "kind = 3",
    "name = \"\"",
    "name = \"a b\"",
    "name = \"op1\"",
    "cell = []",
    "cell = [\"dense\", \"dense\"]",
    "cell = [\"inception\"]",
    "cell = [\"bottleneck\", \"dense\"]",
    "skip_inputs = true",
    "skip_inputs = 1",
    "width = [0.0625, 8.0]",
    "width = [nan]",
    "groups = [64]",
    "expansion = [16]",
    "branches = [4]",
    "growth = [256]",
    "layers = [16]",
    "stages = 6",
    "stem_channels = 4096",
    "stem_kernel = 11",
    "channel_growth = 4.0",
    "dropout = 0.99",
    "dropout = nan",
    "shape = [1024, 8192, 8192]",
    "shape = [1, 1, 1]",
    "classes = 100000",
    "reduce = \"transition\"",
    "reduce = \"max_pool\"",
    "cells_per_stage = [8]",
    "kernel = [11]",
    "kernel = [1]",
    "table = \"../t.csv\"",
    "table = \"/dev/null\"",
    "table = \"\"",
    "table = \".\"",
    "reward = \"params\"",
    "reward = \"arch\"",
    "choices = [\"a\"]",
    "choices = []",
    "choices = [\"a\", \"b\", \"c\", \"d\", \"e\"]",
    "\"\"\"",
    "'''",
    "= 1",
    "a.b.c = 1",
    "x = { y = 1 }",
    "\u{feff}",
    "arch,val_acc,params",
    "0-0-0-0-0-0,0.5,1",
    "0-0-0-0-0,0.5,1",
    "3-3-3-3-3-3,nan,1",
    "3-3-3-3-3-9,0.5,1",
    "-,0.5",
    ",,,,,,,,",
    "\"a,b\",1",
    "{\"block\": {\"type\": \"dense\", \"kernel\": 3, \"growth\": 4, \"layers\": 64}, \"skips\": [0]},",
    "\"skips\": [0, 0, 0],",
    "\"skips\": [18446744073709551615],",
    "\"dropout\": NaN,",
];

/// Characters a flipped or inserted character may be.
const CHARS: &[char] = &[
    '"', '\'', '[', ']', '{', '}', '=', ',', '.', '-', '+', '#', '\n', '\r', '\t', ' ', '0', '9',
    'e', 'x', '_', '\\', '\0', 'é', '€', '𝔸', '\u{feff}', '\u{7f}',
];

/// One change to a text.
#[derive(Clone, Debug)]
pub enum Edit {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, &'static str),
    ReplaceChar(Index, char),
    InsertChar(Index, char),
    DeleteChars(Index, u8),
    ReplaceNumber(Index, String),
    Truncate(Index),
}

fn character() -> impl Strategy<Value = char> {
    prop_oneof![4 => select(CHARS), 1 => any::<char>()]
}

/// A plausible small number as often as an extreme one.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..17).prop_map(|n| n.to_string()),
        select(&[32u32, 64, 100, 256, 1024, 4096][..]).prop_map(|n| n.to_string()),
        select(NUMBERS).prop_map(String::from),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<Index>().prop_map(Edit::DeleteLine),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        3 => (any::<Index>(), select(LINES)).prop_map(|(i, l)| Edit::InsertLine(i, l)),
        1 => (any::<Index>(), character()).prop_map(|(i, c)| Edit::ReplaceChar(i, c)),
        1 => (any::<Index>(), character()).prop_map(|(i, c)| Edit::InsertChar(i, c)),
        1 => (any::<Index>(), 1u8..20).prop_map(|(i, n)| Edit::DeleteChars(i, n)),
        8 => (any::<Index>(), number()).prop_map(|(i, n)| Edit::ReplaceNumber(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// Between `count.start` and `count.end - 1` edits: two times in three any edits, else only
/// numbers changed (which keeps more files parseable, so the checks after parsing run too).
pub fn edits(count: Range<usize>) -> impl Strategy<Value = Vec<Edit>> {
    let numbers = (any::<Index>(), number()).prop_map(|(i, n)| Edit::ReplaceNumber(i, n));
    prop_oneof![
        2 => proptest::collection::vec(edit(), count.clone()),
        1 => proptest::collection::vec(numbers, count),
    ]
}

/// `text` with `edits` applied in order.
pub fn mutate(text: &str, edits: &[Edit]) -> String {
    edits
        .iter()
        .fold(text.to_string(), |text, edit| apply(&text, edit))
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    let mut chars: Vec<char> = text.chars().collect();
    match edit {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let k = i.index(lines.len());
            lines.insert(k, lines[k].clone());
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Edit::InsertLine(i, line) => {
            lines.insert(i.index(lines.len() + 1), format!("{line}\n"));
        }
        Edit::ReplaceChar(i, c) if !chars.is_empty() => {
            let k = i.index(chars.len());
            chars[k] = *c;
            return chars.into_iter().collect();
        }
        Edit::InsertChar(i, c) => {
            chars.insert(i.index(chars.len() + 1), *c);
            return chars.into_iter().collect();
        }
        Edit::DeleteChars(i, n) if !chars.is_empty() => {
            let start = i.index(chars.len());
            let end = (start + *n as usize).min(chars.len());
            chars.drain(start..end);
            return chars.into_iter().collect();
        }
        Edit::ReplaceNumber(i, number) => {
            let spans = super::number_spans(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let span = spans[i.index(spans.len())].clone();
            return format!("{}{number}{}", &text[..span.start], &text[span.end..]);
        }
        Edit::Truncate(i) => {
            chars.truncate(i.index(chars.len() + 1));
            return chars.into_iter().collect();
        }
        _ => {}
    }
    lines.concat()
}
