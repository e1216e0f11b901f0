//! Training and inference throughput of a fixed set of reference nets, on nas's kernels or
//! candle's, to compare with PyTorch on the same nets (`bench/pytorch_bench.py`).

mod nets;
mod timing;

pub use nets::{net, net_names, residual_net};
pub use timing::{run_bench, BenchConfig, BenchReport, NetTiming};
