//! Fingerprints of what a job's answer depends on besides the job itself: the data set a
//! worker trains on and the table it looks candidates up in. Both sides compute them the same
//! way, so a worker can tell that its files differ from the coordinator's before it trains.

use sha2::{Digest, Sha256};

use crate::data::{Dataset, Split};
use crate::space::TableSpace;

/// SHA-256 of the training and validation splits (images and labels) and the shape.
pub fn data(data: &Dataset) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{:?} {} ", data.input, data.classes).as_bytes());
    for split in [&data.train, &data.val] {
        add_split(&mut hash, split);
    }
    hex(&hash.finalize())
}

fn add_split(hash: &mut Sha256, split: &Split) {
    hash.update((split.len as u64).to_be_bytes());
    hash.update(&split.images);
    for label in &split.labels {
        hash.update(label.to_be_bytes());
    }
}

/// SHA-256 of a table's rows in key order, its reward column and fidelities.
pub fn table(table: &TableSpace) -> String {
    let mut hash = Sha256::new();
    hash.update(table.reward.as_bytes());
    for f in &table.fidelities {
        hash.update(format!("|{}:{}", f.column, f.epochs).as_bytes());
    }
    let mut keys: Vec<&String> = table.rows.keys().collect();
    keys.sort();
    for key in keys {
        let row = &table.rows[key];
        hash.update(format!("\n{key},{}", row.reward).as_bytes());
        for (name, value) in &row.metrics {
            hash.update(format!(",{name}={value}").as_bytes());
        }
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_fingerprint_is_stable_and_sees_a_changed_reward() {
        let space = crate::space::Space::load("toy-table").unwrap();
        let crate::space::SpaceBody::Table(t) = space.body else {
            panic!("toy-table is a table space")
        };
        let first = table(&t);
        assert_eq!(first, table(&t.clone()));
        let mut changed = t.clone();
        let key = changed.rows.keys().next().unwrap().clone();
        changed.rows.get_mut(&key).unwrap().reward += 0.001;
        assert_ne!(first, table(&changed));
    }
}
