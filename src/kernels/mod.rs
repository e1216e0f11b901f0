//! Fast CPU kernels for the ops that dominate child training: 2-D convolution
//! (im2col + GEMM, with its own backward), batch norm (fused statistics, affine
//! and optional ReLU, with its own backward) and max, average and global average
//! pooling (with their own backward), depthwise convolution on a direct kernel, and the gates
//! of squeeze-and-excitation (SiLU, sigmoid, per-channel scale, adaptive average pooling),
//! and the per-example masks of drop-path and FractalNet's joins.
//! Each is a candle custom op, so it plugs into autograd, and each falls back to
//! candle's own ops off the CPU or for dtypes other than f32, so it is always safe
//! to call.

pub(crate) mod batch_norm;
pub(crate) mod conv;
pub(crate) mod cpu;
pub(crate) mod depthwise;
pub(crate) mod direct;
pub(crate) mod drop_path;
pub(crate) mod gates;
pub(crate) mod im2col;
pub(crate) mod planes;
pub(crate) mod pool;

#[cfg(test)]
mod batch_norm_tests;
#[cfg(test)]
mod conv_tests;
#[cfg(test)]
mod mobile_tests;
#[cfg(test)]
mod pool_tests;

pub use batch_norm::{batch_norm_eval, batch_norm_relu_train, batch_norm_train};
pub use conv::{conv2d, ConvParams};
pub use drop_path::{drop_path, join_drop};
pub use pool::{avg_pool2d, global_avg_pool2d, max_pool2d};
