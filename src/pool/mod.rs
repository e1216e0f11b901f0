//! Workers that train children in parallel: K threads, each on its device with its own rayon
//! thread pool, taking jobs from one channel and answering every job on another, with a shared
//! stop flag that every trainer checks before each batch; or `nas worker` processes anywhere,
//! reached through a Redis Streams broker. `Workers` is the seam the search loop sees.

pub mod broker;
mod device;
#[allow(clippy::module_inception)]
mod pool;
mod split;
mod workers;

pub use device::parse_devices;
pub use pool::{Job, JobResult, Pool, PoolConfig, PoolEvent, PoolMessage};
pub use split::{split_cores, SMALL_CHILD_MACS};
pub use workers::{Looked, Lookup, Workers};

#[cfg(test)]
mod tests;
