//! Parsing of `CxHxW` input shapes given on the command line.

use anyhow::{bail, Result};

/// `1x28x28` -> `[1, 28, 28]`.
pub fn parse_input(text: &str) -> Result<[usize; 3]> {
    let parts: Vec<&str> = text.split('x').collect();
    let dims: Option<Vec<usize>> = parts
        .iter()
        .map(|p| p.trim().parse().ok().filter(|&d| d > 0))
        .collect();
    match dims.as_deref() {
        Some(&[c, h, w]) => Ok([c, h, w]),
        _ => bail!(
            "invalid --input `{text}`: expected CxHxW with three positive numbers, e.g. 1x28x28"
        ),
    }
}
