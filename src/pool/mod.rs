//! Workers that train children in parallel: K threads, each on its device with its own rayon
//! thread pool, taking jobs from one channel and answering every job on another, with a shared
//! stop flag that every trainer checks before each batch.

mod device;
#[allow(clippy::module_inception)]
mod pool;

pub use device::parse_devices;
pub use pool::{Job, JobResult, Pool, PoolConfig, PoolEvent, PoolMessage};

#[cfg(test)]
mod tests;
