//! Workers that train children in parallel on the devices given, with cancellation.

mod devices;
#[allow(clippy::module_inception)]
mod pool;

pub use devices::parse_devices;
pub use pool::{Job, JobResult, Pool, PoolEvent, PoolMessage};
