//! Stratified picks: a validation or test split carved from one set of files keeps the class
//! proportions of the whole, so a small split of an unbalanced folder neither misses a class nor
//! over-represents one, and the accuracy of always answering the largest class is the same on
//! every split.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Picks `n` of the indices `0..labels.len()`, each class contributing in proportion to its
/// size (largest remainders; a class keeps at least one image out of the pick while any other
/// class can give one instead). Returns (picked, rest), both sorted; the draw within each class
/// comes from `rng`, class by class, so the same seed gives the same split.
pub(crate) fn stratified(
    labels: &[u32],
    n: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i);
    }
    let counts: Vec<usize> = members.iter().map(Vec::len).collect();
    let quotas = quotas(&counts, n.min(labels.len()));
    let (mut picked, mut rest) = (Vec::with_capacity(n), Vec::new());
    for (mut indices, quota) in members.into_iter().zip(quotas) {
        indices.shuffle(rng);
        picked.extend_from_slice(&indices[..quota]);
        rest.extend_from_slice(&indices[quota..]);
    }
    picked.sort_unstable();
    rest.sort_unstable();
    (picked, rest)
}

/// How many of each class's `counts` to pick for `n` in all: floors of the proportional shares,
/// then one more by largest remainder; a class gives up its last image only when no other class
/// has one to give.
fn quotas(counts: &[usize], n: usize) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let share = |c: usize| (n * counts[c]) as f64 / total as f64;
    let mut quotas: Vec<usize> = (0..counts.len())
        .map(|c| (share(c).floor() as usize).min(counts[c].saturating_sub(1)))
        .collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let rem = |c: usize| share(c) - quotas[c] as f64;
        rem(b).total_cmp(&rem(a)).then(a.cmp(&b))
    });
    let mut left = n - quotas.iter().sum::<usize>();
    for keep_one in [1, 0] {
        while left > 0 && order.iter().any(|&c| quotas[c] + keep_one < counts[c]) {
            for &c in &order {
                if left > 0 && quotas[c] + keep_one < counts[c] {
                    quotas[c] += 1;
                    left -= 1;
                }
            }
        }
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn picks_keep_the_class_proportions() {
        // 80 of class 0, 20 of class 1: a pick of 10 takes 8 and 2.
        let labels: Vec<u32> = (0..100).map(|i| u32::from(i % 5 == 0)).collect();
        let (picked, rest) = stratified(&labels, 10, &mut rng(1));
        let ones = picked.iter().filter(|&&i| labels[i] == 1).count();
        assert_eq!((picked.len(), rest.len(), ones), (10, 90, 2));
        let mut all: Vec<usize> = picked.iter().chain(&rest).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_same_seed_gives_the_same_pick() {
        let labels: Vec<u32> = (0..60).map(|i| i % 3).collect();
        let a = stratified(&labels, 12, &mut rng(4));
        assert_eq!(a, stratified(&labels, 12, &mut rng(4)));
        assert_ne!(a.0, stratified(&labels, 12, &mut rng(5)).0);
    }

    #[test]
    fn a_small_class_keeps_an_image_out_of_the_pick() {
        assert_eq!(quotas(&[1, 9], 2), vec![0, 2]);
        assert_eq!(quotas(&[2, 2, 2], 3), vec![1, 1, 1]);
        // Remainders decide: 7 of (5, 3, 2) -> shares 3.5, 2.1, 1.4.
        assert_eq!(quotas(&[5, 3, 2], 7), vec![4, 2, 1]);
        // Everything asked for: every class gives all.
        assert_eq!(quotas(&[1, 2], 3), vec![1, 2]);
    }
}
