//! The run store: everything a search records, in the run folder `runs/RUN/`.
//!
//! # Design
//! - **`journal`**: an append-only file of framed, checksummed entries (`Entry`): the run's
//!   creation, every candidate record, the kept weights and training states as blobs, status
//!   changes and strategy statistics. Each entry is fsynced before the call that writes it
//!   returns, so a candidate reported as finished is never lost. The journal is the truth.
//! - **`db/`**: the sled database (trees `candidate_by_id`, `id_by_arch_hash`, `meta`, big-endian
//!   integer keys), the writer's index for lookups during a search. Each change is applied to
//!   it after the journal, atomically with the journal offset it has reached; on open, what
//!   it misses is replayed. sled's half-written snapshots (`snap.*.generating`) are removed
//!   before it opens, and a database that sled still reports damaged is moved aside and
//!   rebuilt from the journal.
//! - **`checkpoint`**: the strategy's latest checkpoint, a file replaced atomically.
//! - **`lock`**: the run lock. One writer (`RunStore`) at a time; a second is refused.
//!
//! # Live reads
//! Readers (`RunView`) read the journal and nothing else: no lock, no sled. sled 0.34 admits
//! one process per database, so a reader of sled would have to wait for the search to end; a
//! second copy published by the writer would cost a snapshot per record. The journal is
//! already written and fsynced for durability, appends never rewrite what a reader has seen,
//! and a torn last frame fails its checksum, so a reader at any moment sees exactly the
//! candidates recorded so far. Every use of sled in the crate stays inside this module.

mod checkpoint_file;
mod create;
mod entry;
mod history;
mod index;
mod journal;
mod keys;
mod list;
mod lock;
mod meta;
mod record;
mod recover;
mod run_store;
mod view;

#[cfg(test)]
mod tests;

pub use history::StatusCounts;
pub use keys::{decode_u64, encode_u64, BadKey};
pub use list::{list_runs, RunSummary};
pub use meta::{RunMeta, SCHEMA_VERSION};
pub use record::{Candidate, Finalist, Rung, Status};
pub use run_store::RunStore;
pub use view::{RunStatus, RunView};
