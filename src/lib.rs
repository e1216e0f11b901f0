//! nas: neural architecture search with a REINFORCE controller, child CNN training on the CPU
//! (or CUDA), a durable sled history and Rust code export.

pub mod arch;
pub mod atomic_file;
pub mod bench;
pub mod child;
pub mod controller;
pub mod data;
pub mod enas;
pub mod error;
pub mod export;
pub mod graph;
pub mod kernels;
mod panics;
pub mod pool;
pub mod report;
pub mod search;
pub mod space;
pub mod store;
pub mod strategy;
pub mod train;
pub mod zoo;

pub use error::{Error, Result};
