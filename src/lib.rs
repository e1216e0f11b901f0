//! nas: neural architecture search with a REINFORCE controller, child CNN training on the CPU
//! (or CUDA), a durable sled history and Rust code export.

pub mod arch;
pub mod child;
pub mod data;
pub mod error;
pub mod graph;
pub mod pool;
pub mod space;
pub mod train;

pub use error::{Error, Result};
