//! Memory checks before training: an estimate of the activations a batch needs, against the
//! memory the machine has available, so a child too big to train fails at once with a clear
//! reason instead of taking the machine into swap or the allocator into an abort.

use crate::graph::Graph;

/// Forward values are kept for the backward pass, which makes gradients of about the same size
/// and temporaries besides: about three times the forward activations in all.
const FORWARD_BACKWARD_FACTOR: u64 = 3;

/// Estimated bytes of activations for training `graph` on batches of `batch_size` (f32):
/// every node's output, times the batch, times 4 bytes, times 3 for forward and backward.
pub fn activation_bytes(graph: &Graph, batch_size: usize) -> u64 {
    let per_example = graph
        .nodes
        .iter()
        .fold(0u64, |sum, n| sum.saturating_add(n.shape.numel() as u64));
    per_example
        .saturating_mul(batch_size as u64)
        .saturating_mul(4 * FORWARD_BACKWARD_FACTOR)
}

/// `MemAvailable` of `/proc/meminfo` in bytes, when the system has one.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes in human units, for failure reasons.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Conv, Op};

    #[test]
    fn estimate_counts_every_node_output() {
        let mut g = Graph::new("t", [1, 4, 4]);
        let x = g.conv("c", 0, Conv::same(2, 3)).unwrap();
        let x = g.unary(Op::Flatten, x).unwrap();
        g.linear("fc", x, 10).unwrap();
        // (16 + 32 + 32 + 10) values * 8 images * 4 bytes * 3
        assert_eq!(activation_bytes(&g, 8), 90 * 8 * 4 * 3);
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert!(mem_available().is_none_or(|b| b > 0));
    }
}
