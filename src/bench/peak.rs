//! The two yardsticks the throughput figures are read against: the machine's measured f32
//! GEMM peak (what a training step could reach if it were all GEMM) and the process's peak
//! resident memory.

use std::time::Instant;

use gemm::Parallelism;

use crate::kernels::im2col::matmul;

/// Side of the square GEMM that measures the peak: big enough that packing is amortised,
/// small enough to take a fraction of a second.
const PEAK_SIZE: usize = 1024;

/// The best GFLOP/s of a few `PEAK_SIZE`-cubed f32 GEMMs on the current rayon pool's threads,
/// with the same GEMM the kernels use.
pub fn gemm_peak_gflops(repeats: usize) -> f64 {
    let n = PEAK_SIZE;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0f32; n * n];
    let par = match rayon::current_num_threads() {
        1 => Parallelism::None,
        t => Parallelism::Rayon(t),
    };
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) + 1 {
        let start = Instant::now();
        matmul((n, n, n), &mut c, false, &a, (n, 1), &b, (n, 1), par);
        best = best.min(start.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best.max(1e-9) / 1e9
}

/// The peak resident memory of this process so far (`VmHWM` in `/proc/self/status`), where
/// the system reports it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gemm_peak_is_a_positive_finite_rate_and_the_peak_rss_covers_a_touched_buffer() {
        let gflops = gemm_peak_gflops(1);
        assert!(gflops.is_finite() && gflops > 0.0, "{gflops}");
        if let Some(before) = peak_rss_bytes() {
            let buf = vec![1u8; 64 << 20];
            assert!(buf.iter().map(|b| *b as u64).sum::<u64>() == 64 << 20);
            assert!(peak_rss_bytes().unwrap() >= (64 << 20).max(before));
        }
    }
}
