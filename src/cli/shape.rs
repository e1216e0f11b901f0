//! Parsing of `CxHxW` input shapes given on the command line.

use anyhow::{bail, Result};
use nas::graph::{MAX_INPUT_CHANNELS, MAX_INPUT_SIDE};

/// `1x28x28` -> `[1, 28, 28]`, within the limits a network may be built for.
pub fn parse_input(text: &str) -> Result<[usize; 3]> {
    let parts: Vec<&str> = text.split('x').collect();
    let dims: Option<Vec<usize>> = parts
        .iter()
        .map(|p| p.trim().parse().ok().filter(|&d| d > 0))
        .collect();
    let Some(&[c, h, w]) = dims.as_deref() else {
        bail!("invalid --input `{text}`: expected CxHxW with three positive numbers, e.g. 1x28x28")
    };
    if c > MAX_INPUT_CHANNELS || h > MAX_INPUT_SIDE || w > MAX_INPUT_SIDE {
        bail!(
            "invalid --input `{text}`: at most {MAX_INPUT_CHANNELS} channels and sides of {MAX_INPUT_SIDE}"
        );
    }
    Ok([c, h, w])
}
