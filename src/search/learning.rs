//! Noticing a search that learns nothing. When every trained child scores what a constant answer
//! scores (guessing, or always the largest class), the rewards carry no signal and the strategy
//! ranks noise; when every child scores exactly the same, it cannot rank them at all. Both are
//! cheap to see from the validation accuracies and the validation split's class counts, and
//! both have a likely cause and a flag to change, which a user should hear after the first
//! batch rather than after the whole budget.

use serde::Serialize;

/// What to change when children score at chance: the flag that gives a child more training.
const MORE_TRAINING: &str = "raise --epochs (or lower --batch-size, for more SGD steps per epoch)";
/// Completed candidates needed before identical accuracies count as a sign.
const MIN_FOR_IDENTICAL: usize = 4;
/// A child counts as learning only above the constant answer's rate by this many standard
/// deviations of that rate on the validation split (binomial), so noise alone rarely passes.
const SIGMAS: f64 = 3.0;
/// ... and by at least this much, for large validation splits.
const MIN_MARGIN: f64 = 0.02;

/// Which sign was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotLearningKind {
    /// No candidate beats the rate of a constant answer by more than noise.
    AtChance,
    /// Every candidate scores the same number of validation images (and not all of them).
    Identical,
}

/// A warning that the search is not learning, with the numbers behind it and what to do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotLearning {
    pub kind: NotLearningKind,
    /// Completed candidates looked at.
    pub candidates: usize,
    pub best: f64,
    pub worst: f64,
    /// 1 / classes.
    pub chance: f64,
    /// The largest class's share of the validation split: always answering it scores this.
    pub majority: f64,
    /// The accuracy a candidate had to pass to count as learning.
    pub threshold: f64,
    /// One line: what was seen, the likely cause and the flag to change.
    pub message: String,
}

/// Looks at the validation `accuracies` (0..1) of the completed candidates and the class counts
/// of the validation split; `None` when the search looks fine or there is nothing to judge.
pub fn check(accuracies: &[f64], val_counts: &[usize]) -> Option<NotLearning> {
    let val: usize = val_counts.iter().sum();
    if accuracies.is_empty() || val == 0 {
        return None;
    }
    let chance = 1.0 / val_counts.len() as f64;
    let majority = *val_counts.iter().max()? as f64 / val as f64;
    let baseline = chance.max(majority);
    let sd = (baseline * (1.0 - baseline) / val as f64).sqrt();
    let threshold = baseline + (SIGMAS * sd).max(MIN_MARGIN);
    let best = accuracies.iter().copied().fold(f64::MIN, f64::max);
    let worst = accuracies.iter().copied().fold(f64::MAX, f64::min);
    let n = accuracies.len();
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let range = if best - worst < 5e-4 {
        pct(best)
    } else {
        format!("{} to {}", pct(worst), pct(best))
    };
    let (kind, message) = if best <= threshold {
        let constant = if majority > chance + 1e-9 {
            format!(
                "always answering the largest class ({}) or guessing ({})",
                pct(majority),
                pct(chance)
            )
        } else {
            format!("guessing ({})", pct(chance))
        };
        (NotLearningKind::AtChance, format!(
            "the search is learning nothing: the {n} trained candidates score {range} on validation, no better than {constant}; likely cause: too little training per child, so {MORE_TRAINING}; if that does not help, check that the labels can be learned (one sub-folder per class)"
        ))
    } else if n >= MIN_FOR_IDENTICAL
        && (best - worst) * val as f64 <= 0.5
        && best * (val as f64) < val as f64 - 0.5
    {
        (NotLearningKind::Identical, format!(
            "the search cannot rank its candidates: all {n} trained candidates score {range} on the {val} validation images; likely cause: a validation split too small to tell them apart, so raise --val-size (or train children longer with --epochs)"
        ))
    } else {
        return None;
    };
    Some(NotLearning {
        kind,
        candidates: n,
        best,
        worst,
        chance,
        majority,
        threshold,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_answers_on_mnist_are_caught_at_the_majority_rate() {
        // The case that motivated this: 4 children at exactly 18% on 10 classes, 18% being
        // the largest class's share of 100 validation images.
        let counts = [18, 8, 9, 10, 11, 9, 8, 9, 9, 9];
        let warning = check(&[0.18; 4], &counts).unwrap();
        assert_eq!(warning.kind, NotLearningKind::AtChance);
        assert!((warning.majority - 0.18).abs() < 1e-12);
        assert!(warning.message.contains("--epochs"), "{}", warning.message);
        assert!(warning.message.contains("18.0%"), "{}", warning.message);
        // The same children trained for 8 epochs scored 74 to 86%: no warning.
        assert_eq!(check(&[0.74, 0.86, 0.80, 0.79], &counts), None);
    }

    #[test]
    fn noise_around_chance_is_not_learning_but_a_clear_gain_is() {
        let counts = [50, 50];
        assert!(check(&[0.55, 0.48, 0.61], &counts).is_some());
        assert_eq!(check(&[0.55, 0.48, 0.75], &counts), None);
        // One candidate that learns is enough.
        assert_eq!(check(&[0.5, 0.5, 0.5, 0.9], &counts), None);
    }

    #[test]
    fn identical_accuracies_warn_only_with_enough_candidates_and_room_to_improve() {
        let counts = [30, 30, 40];
        let warning = check(&[0.7; 4], &counts).unwrap();
        assert_eq!(warning.kind, NotLearningKind::Identical);
        assert!(
            warning.message.contains("--val-size"),
            "{}",
            warning.message
        );
        assert_eq!(check(&[0.7; 3], &counts), None, "three may agree by chance");
        assert_eq!(check(&[1.0; 6], &counts), None, "all perfect is success");
        assert_eq!(check(&[0.7, 0.7, 0.7, 0.72], &counts), None);
    }

    #[test]
    fn nothing_to_judge_is_no_warning() {
        assert_eq!(check(&[], &[5, 5]), None);
        assert_eq!(check(&[0.5], &[]), None);
    }
}
