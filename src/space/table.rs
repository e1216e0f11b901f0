//! Table spaces (the NAS-Bench style): plain categorical decisions whose rewards are looked up
//! in a CSV file instead of trained, so strategies can be compared, and the controller tested,
//! at thousands of candidates a minute.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

use super::decision::{Decision, DecisionKind};
use super::location::Source;
use super::raw::RawTableSpace;
use super::validate::check_version;
use crate::error::{one_line, Error, Result};

/// One row of the table: the reward and every other numeric column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub reward: f64,
    pub metrics: BTreeMap<String, f64>,
}

/// A reward column and its cost: the accuracy a NAS-Bench table gives after so many epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    pub column: String,
    pub epochs: usize,
}

/// A validated table space with its rows loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSpace {
    pub decisions: Vec<(String, Vec<String>)>,
    pub table: PathBuf,
    pub reward: String,
    /// The fidelities, cheapest first; empty when the space names none.
    pub fidelities: Vec<Fidelity>,
    #[serde(skip)]
    pub rows: HashMap<String, TableRow>,
}

impl TableSpace {
    /// The decision points (all plain choices).
    pub fn decisions(&self) -> Vec<Decision> {
        self.decisions
            .iter()
            .map(|(name, options)| Decision {
                name: name.clone(),
                options: options.clone(),
                kind: DecisionKind::Choice,
                anchor: None,
            })
            .collect()
    }

    /// The table key of an assignment, e.g. `3-0-3-1-0-1`.
    pub fn key(values: &[usize]) -> String {
        values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The row for an assignment, or `None` when the table lacks it.
    pub fn lookup(&self, values: &[usize]) -> Option<&TableRow> {
        self.rows.get(&Self::key(values))
    }

    /// What measuring the plain reward costs, in epochs (1 when no fidelity names its column).
    pub fn reward_epochs(&self) -> usize {
        self.fidelities
            .iter()
            .find(|f| f.column == self.reward)
            .map_or(1, |f| f.epochs)
    }

    /// The value of `column` in an assignment's row (the reward column included).
    pub fn value(&self, values: &[usize], column: &str) -> Option<f64> {
        let row = self.lookup(values)?;
        match column == self.reward {
            true => Some(row.reward),
            false => row.metrics.get(column).copied(),
        }
    }

    /// Number of assignments (rows present or not).
    pub fn size(&self) -> BigUint {
        self.decisions
            .iter()
            .fold(BigUint::from(1u32), |acc, (_, o)| acc * o.len())
    }
}

/// Validates a raw table space and loads its CSV, which lives relative to the space file.
pub fn table(src: &Source, raw: RawTableSpace) -> Result<TableSpace> {
    check_version(src, &raw.version)?;
    if raw.decision.is_empty() {
        return Err(src.error(
            raw.kind.span(),
            "decision",
            "a table space needs at least one [[decision]]",
        ));
    }
    let mut decisions = Vec::new();
    for d in &raw.decision {
        let name = d.name.get_ref().clone();
        if decisions
            .iter()
            .any(|(n, _): &(String, Vec<String>)| *n == name)
        {
            return Err(src.error(
                d.name.span(),
                "decision.name",
                format!("`{name}` is used twice"),
            ));
        }
        if d.choices.get_ref().len() < 2 {
            return Err(src.error(
                d.choices.span(),
                "decision.choices",
                "needs at least two choices",
            ));
        }
        decisions.push((name, d.choices.get_ref().clone()));
    }
    let base = src.path.parent().unwrap_or(Path::new("."));
    let table = base.join(raw.table.get_ref());
    if !table.is_file() {
        return Err(src.error(
            raw.table.span(),
            "table",
            format!("table file {} does not exist", table.display()),
        ));
    }
    let rows = read_rows(&table, raw.reward.get_ref(), &decisions)?;
    let fidelities = fidelities(src, &raw, &rows)?;
    Ok(TableSpace {
        decisions,
        table,
        reward: raw.reward.get_ref().clone(),
        fidelities,
        rows,
    })
}

/// The `[[fidelity]]` entries, checked: columns of the table, costs increasing from 1 up.
fn fidelities(
    src: &Source,
    raw: &RawTableSpace,
    rows: &HashMap<String, TableRow>,
) -> Result<Vec<Fidelity>> {
    let mut out: Vec<Fidelity> = Vec::new();
    for f in &raw.fidelity {
        let column = f.column.get_ref().clone();
        let epochs = *f.epochs.get_ref();
        let known = column == *raw.reward.get_ref()
            || rows
                .values()
                .next()
                .is_none_or(|r| r.metrics.contains_key(&column));
        if !known {
            return Err(src.error(
                f.column.span(),
                "fidelity.column",
                format!("`{column}` is not a numeric column of the table"),
            ));
        }
        if epochs == 0 {
            return Err(src.error(f.epochs.span(), "fidelity.epochs", "must be at least 1"));
        }
        if let Some(last) = out.last() {
            if epochs <= last.epochs {
                return Err(src.error(
                    f.epochs.span(),
                    "fidelity.epochs",
                    format!(
                        "fidelities must cost more and more: {epochs} after {}",
                        last.epochs
                    ),
                ));
            }
        }
        out.push(Fidelity { column, epochs });
    }
    Ok(out)
}

fn csv_error(path: &Path, line: u64, msg: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        msg: format!("line {line}: {}", one_line(&msg.into())),
    }
}

fn read_rows(
    path: &Path,
    reward: &str,
    decisions: &[(String, Vec<String>)],
) -> Result<HashMap<String, TableRow>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, 1, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let arch_col =
        column("arch").ok_or_else(|| csv_error(path, 1, "no `arch` column in the header"))?;
    let reward_col = column(reward).ok_or_else(|| {
        csv_error(
            path,
            1,
            format!("no `{reward}` column (the space's reward) in the header"),
        )
    })?;
    let mut rows = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            csv_error(path, line, e.to_string())
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let key = record.get(arch_col).unwrap_or("").trim().to_string();
        check_key(&key, decisions).map_err(|msg| csv_error(path, line, msg))?;
        let value = |i: usize| record.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        let reward = value(reward_col)
            .filter(|r| r.is_finite())
            .ok_or_else(|| csv_error(path, line, format!("`{reward}` is not a number")))?;
        let metrics = headers
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != arch_col && i != reward_col)
            .filter_map(|(i, h)| value(i).map(|v| (h.trim().to_string(), v)))
            .collect();
        if rows
            .insert(key.clone(), TableRow { reward, metrics })
            .is_some()
        {
            return Err(csv_error(path, line, format!("key `{key}` appears twice")));
        }
    }
    Ok(rows)
}

fn check_key(key: &str, decisions: &[(String, Vec<String>)]) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('-').collect();
    if parts.len() != decisions.len() {
        return Err(format!(
            "key `{key}` has {} parts, the space has {} decisions",
            parts.len(),
            decisions.len()
        ));
    }
    for (part, (name, options)) in parts.iter().zip(decisions) {
        match part.parse::<usize>() {
            Ok(i) if i < options.len() => {}
            _ => {
                return Err(format!(
                    "key `{key}`: `{part}` is not an option index of `{name}` (0 to {})",
                    options.len() - 1
                ))
            }
        }
    }
    Ok(())
}
