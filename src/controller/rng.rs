//! Seeded random number generators and their exact, serialisable state. Every strategy draws from
//! a ChaCha8 stream so that a search is reproducible from its seed and resumable mid-stream.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A ChaCha8 generator for `seed`, on its own `stream` so that two uses of one seed do not share
/// draws.
pub fn seeded(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The position of a ChaCha8 generator: enough to rebuild it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    seed: [u8; 32],
    stream: u64,
    // JSON numbers cannot carry a u128 everywhere, so the word position travels as two halves.
    word_pos_hi: u64,
    word_pos_lo: u64,
}

impl RngState {
    /// The state of `rng` now.
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        let pos = rng.get_word_pos();
        Self {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos_hi: (pos >> 64) as u64,
            word_pos_lo: pos as u64,
        }
    }

    /// A generator that continues exactly where the captured one stood.
    pub fn rebuild(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(((self.word_pos_hi as u128) << 64) | self.word_pos_lo as u128);
        rng
    }
}

/// Index drawn from the softmax of `logits` (computed in f64 so the draw does not depend on how
/// the logits were batched beyond their own rounding).
pub fn sample_logits(logits: &[f32], rng: &mut ChaCha8Rng) -> usize {
    use rand::Rng;
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &l| m.max(l as f64));
    let weights: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn rebuilt_rng_continues_the_same_stream() {
        let mut rng = seeded(7, 3);
        for _ in 0..13 {
            rng.random::<u32>();
        }
        let mut copy = RngState::capture(&rng).rebuild();
        let json = serde_json::to_string(&RngState::capture(&rng)).unwrap();
        let mut from_json = serde_json::from_str::<RngState>(&json).unwrap().rebuild();
        for _ in 0..50 {
            let x = rng.random::<u64>();
            assert_eq!(x, copy.random::<u64>());
            assert_eq!(x, from_json.random::<u64>());
        }
    }
}
