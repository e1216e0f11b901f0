//! The run database: one sled database per run folder (`runs/RUN/db/`) behind an exclusive run
//! lock, with trees named for what maps to what (`candidate_by_id`, `id_by_arch_hash`,
//! `checkpoint_by_step`, `weights_by_id`, `meta`), big-endian integer keys and a schema version
//! checked on open. Every use of sled in the crate stays inside this module.

mod history;
mod keys;
mod list;
mod lock;
mod meta;
mod record;
mod run_store;

#[cfg(test)]
mod tests;

pub use history::StatusCounts;
pub use keys::{decode_u64, encode_u64, BadKey};
pub use list::{list_runs, RunSummary};
pub use meta::{RunMeta, SCHEMA_VERSION};
pub use record::{Candidate, Status};
pub use run_store::RunStore;
