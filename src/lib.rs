pub mod error;
pub mod kernels;
