//! Benchmarks: training and inference throughput of a fixed set of reference nets, on nas's
//! kernels or candle's, to compare with PyTorch on the same nets (`bench/pytorch_bench.py`); and
//! search strategies compared on table spaces (`search`).

mod nets;
mod peak;
pub mod search;
mod timing;

pub use nets::{all_net_names, net, net_names, residual_net, SAMPLE_SEED};
pub use peak::{gemm_peak_gflops, peak_rss_bytes};
pub use timing::{run_bench, BenchConfig, BenchReport, NetTiming};
