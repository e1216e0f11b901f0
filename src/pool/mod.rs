//! Workers that train children in parallel: K threads, each on its device with its own rayon
//! thread pool, taking jobs from one channel and answering every job on another, with a shared
//! stop flag that every trainer checks before each batch.

mod device;
#[allow(clippy::module_inception)]
mod pool;
mod split;

pub use device::parse_devices;
pub use pool::{Job, JobResult, Pool, PoolConfig, PoolEvent, PoolMessage};
pub use split::{split_cores, SMALL_CHILD_MACS};

#[cfg(test)]
mod tests;
