//! Value parsers for numeric flags. Each refuses what makes no sense for its kind of number
//! (zero counts, negative or non-finite rates, fractions outside their interval) at parse time,
//! so clap reports the flag, the value and the allowed range, and exits with status 2 before
//! anything is read or written.
//!
//! Use them as `#[arg(long, value_parser = values::positive_usize)]`.

use std::fmt::Display;
use std::str::FromStr;

fn parse<T: FromStr>(s: &str, kind: &str) -> Result<T, String>
where
    T::Err: Display,
{
    s.trim()
        .parse::<T>()
        .map_err(|e| format!("not {kind} ({e})"))
}

fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = parse(s, "a number")?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{v} is not a finite number"))
    }
}

/// A whole number of at least 1 (counts, sizes, epochs).
pub fn positive_usize(s: &str) -> Result<usize, String> {
    let v: usize = parse(s, "a whole number")?;
    if v == 0 {
        return Err("must be at least 1".into());
    }
    Ok(v)
}

/// A whole number from 1 to `MAX` (thread and worker counts, layer sizes).
pub fn count_up_to<const MAX: usize>(s: &str) -> Result<usize, String> {
    let v: usize = parse(s, "a whole number")?;
    if !(1..=MAX).contains(&v) {
        return Err(format!("{v} is out of range: must be 1 to {MAX}"));
    }
    Ok(v)
}

/// A count from 0 to `MAX` (`--workers 0`: no local worker, with a broker).
pub fn count_from_zero<const MAX: usize>(s: &str) -> Result<usize, String> {
    let v: usize = parse(s, "a whole number")?;
    if v > MAX {
        return Err(format!(
            "{v} is out of range: must be 1 to {MAX} (or 0 with --broker)"
        ));
    }
    Ok(v)
}

/// Most threads or workers a command starts.
pub const MAX_THREADS: usize = 1024;

/// A whole number of at least 1, as a `u64` (limits such as `--max-params`).
pub fn positive_u64(s: &str) -> Result<u64, String> {
    let v: u64 = parse(s, "a whole number")?;
    if v == 0 {
        return Err("must be at least 1".into());
    }
    Ok(v)
}

/// A whole number of at least 2 (reduction factors such as `--eta`).
#[allow(dead_code)]
pub fn at_least_two(s: &str) -> Result<usize, String> {
    let v: usize = parse(s, "a whole number")?;
    if v < 2 {
        return Err("must be at least 2".into());
    }
    Ok(v)
}

/// A number of classes: 2 to [`nas::graph::MAX_CLASSES`].
pub fn class_count(s: &str) -> Result<usize, String> {
    let v: usize = parse(s, "a whole number")?;
    let max = nas::graph::MAX_CLASSES;
    if !(2..=max).contains(&v) {
        return Err(format!("{v} is out of range: must be 2 to {max}"));
    }
    Ok(v)
}

/// A finite number greater than 0 (learning rates, temperatures, scales).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v <= 0.0 {
        return Err(format!("{v} is out of range: must be greater than 0"));
    }
    Ok(v)
}

/// A finite number of at least 0 (weights of penalties and bonuses).
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v < 0.0 {
        return Err(format!("{v} is out of range: must be 0 or more"));
    }
    Ok(v)
}

/// A number in [0, 1) (decays, dropout and drop-path rates, momentum).
pub fn unit_fraction(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!(
            "{v} is out of range: must be at least 0 and below 1"
        ));
    }
    Ok(v)
}

/// EfficientNet's compound coefficient: a whole number from 0 to `nas::arch::MAX_PHI`.
pub fn phi(s: &str) -> Result<u32, String> {
    let v: i64 = parse(s, "a whole number")?;
    let max = nas::arch::MAX_PHI;
    if !(0..=max as i64).contains(&v) {
        return Err(format!("{v} is out of range 0 to {max}"));
    }
    Ok(v as u32)
}

/// A per-channel mean on the 0..1 pixel scale.
pub fn pixel_mean(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is out of range: must be between 0 and 1"));
    }
    Ok(v as f32)
}

/// A per-channel standard deviation on the 0..1 pixel scale.
pub fn pixel_std(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(format!(
            "{v} is out of range: must be above 0 and at most 1"
        ));
    }
    Ok(v as f32)
}

/// An image size, `N` or `HxW`, each side 1 to 4096 pixels.
pub fn image_size(s: &str) -> Result<nas::data::ImageSize, String> {
    s.parse().map_err(|e: nas::Error| match e {
        nas::Error::Invalid { msg, .. } => msg,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refuse_zero_negative_and_junk() {
        assert_eq!(positive_usize("3"), Ok(3));
        assert!(positive_usize("0").unwrap_err().contains("at least 1"));
        assert!(positive_usize("-1").is_err());
        assert!(positive_usize("1.5").is_err());
        assert!(positive_u64("0").is_err());
        assert!(at_least_two("1").unwrap_err().contains("at least 2"));
        assert_eq!(count_up_to::<8>("8"), Ok(8));
        assert!(count_up_to::<8>("9").unwrap_err().contains("1 to 8"));
        assert!(count_up_to::<8>("0").is_err());
        assert_eq!(class_count("10"), Ok(10));
        assert!(class_count("1").is_err());
        assert!(class_count("18446744073709551615")
            .unwrap_err()
            .contains("2 to 100000"));
    }

    #[test]
    fn rates_refuse_non_finite_and_out_of_range_values() {
        assert_eq!(positive_f64("0.5"), Ok(0.5));
        for bad in ["nan", "NaN", "inf", "-inf", "0", "-0.1", "x"] {
            assert!(positive_f64(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative_f64("0"), Ok(0.0));
        assert!(non_negative_f64("-1e-9").is_err());
        assert_eq!(unit_fraction("0.95"), Ok(0.95));
        assert!(unit_fraction("1").is_err());
        assert!(unit_fraction("nan").unwrap_err().contains("finite"));
    }

    #[test]
    fn image_sizes_are_n_or_h_by_w() {
        assert_eq!(image_size("32").unwrap().to_string(), "32");
        assert_eq!(image_size("24x40").unwrap().to_string(), "24x40");
        assert!(image_size("0").unwrap_err().contains("out of range"));
        assert!(image_size("24x").unwrap_err().contains("HxW"));
    }
}
