//! Children trained anywhere: a Redis Streams queue per run, read by `nas worker` processes
//! through a consumer group (at-least-once delivery, XAUTOCLAIM for dead workers), behind the
//! same interface as the local pool.

mod coordinator;
mod fingerprint;
mod heartbeat;
mod link;
mod relay;
mod wire;
mod worker;
mod worker_jobs;

pub use coordinator::{Attach, Broker, BrokerConfig};
pub use fingerprint::{data as data_fingerprint, table as table_fingerprint};
pub use link::{check, hide_password};
pub use wire::{DataSpec, WIRE_VERSION};
pub use worker::{host_name, serve, WorkerConfig, WorkerEvent};
