//! The score of a search: one column of the table (the metric) of the candidate it rated best,
//! and where that candidate stands among all the table's rows by the metric.

use crate::error::{Error, Result};
use crate::space::TableSpace;

/// Every row's metric, highest first, to rank any row against the whole table.
#[derive(Clone, Debug)]
pub struct Ranking {
    /// The column scored.
    pub metric: String,
    descending: Vec<f64>,
}

impl Ranking {
    /// The ranking of `table` by column `metric` (the reward column included); an error naming
    /// `--metric` when a row lacks it.
    pub fn new(table: &TableSpace, metric: &str) -> Result<Self> {
        let mut descending = Vec::with_capacity(table.rows.len());
        for (key, row) in &table.rows {
            match Self::value_of(table, metric, key) {
                Some(v) => descending.push(v),
                None => {
                    let mut columns: Vec<&str> = row.metrics.keys().map(String::as_str).collect();
                    columns.push(&table.reward);
                    columns.sort_unstable();
                    return Err(Error::invalid(
                        "--metric",
                        format!(
                            "`{metric}` is not a number in row `{key}` of {} (columns: {})",
                            table.table.display(),
                            columns.join(", ")
                        ),
                    ));
                }
            }
        }
        descending.sort_unstable_by(|a, b| b.total_cmp(a));
        Ok(Self {
            metric: metric.to_string(),
            descending,
        })
    }

    /// The metric of the row under `key`, if the table has that row and column.
    pub fn value_of(table: &TableSpace, metric: &str, key: &str) -> Option<f64> {
        let row = table.rows.get(key)?;
        if metric == table.reward {
            return Some(row.reward);
        }
        row.metrics.get(metric).copied()
    }

    /// 1 plus the number of rows whose metric is higher than `value`: the best row is rank 1,
    /// and rows that tie share a rank.
    pub fn rank(&self, value: f64) -> usize {
        1 + self.descending.partition_point(|&v| v > value)
    }

    /// The highest metric in the table.
    pub fn best(&self) -> Option<f64> {
        self.descending.first().copied()
    }

    /// Number of rows ranked.
    pub fn len(&self) -> usize {
        self.descending.len()
    }

    /// True for a table without rows.
    pub fn is_empty(&self) -> bool {
        self.descending.is_empty()
    }
}

/// Mean and sample standard deviation (0 for fewer than two values; NaN mean for none).
pub fn mean_and_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
