//! The largest inputs a network may be built for. They are far above any image data set this
//! tool is meant for, and low enough that every shape, parameter and MAC count of a network
//! built within them stays cheap to work out and far from overflowing, so a file that asks for
//! a network of absurd size is refused at once instead of allocating or wrapping around.

use crate::error::{Error, Result};

/// Most input channels (images have 1 or 3; multispectral ones a few hundred).
pub const MAX_INPUT_CHANNELS: usize = 1024;
/// Longest input side, in pixels.
pub const MAX_INPUT_SIDE: usize = 8192;
/// Most classes a classifier may have.
pub const MAX_CLASSES: usize = 100_000;

/// Checks an input shape (C, H, W) and class count against the limits; `what` names the
/// network in the error.
pub fn check_input(what: &str, input: [usize; 3], classes: usize) -> Result<()> {
    let [c, h, w] = input;
    let msg = if c == 0 || h == 0 || w == 0 {
        format!("input {c}x{h}x{w} has a zero dimension")
    } else if c > MAX_INPUT_CHANNELS {
        format!("input {c}x{h}x{w} has more than {MAX_INPUT_CHANNELS} channels")
    } else if h > MAX_INPUT_SIDE || w > MAX_INPUT_SIDE {
        format!("input {c}x{h}x{w} has a side longer than {MAX_INPUT_SIDE}")
    } else if !(2..=MAX_CLASSES).contains(&classes) {
        format!("{classes} classes is out of range 2 to {MAX_CLASSES}")
    } else {
        return Ok(());
    };
    Err(Error::invalid(what, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_outside_the_limits_are_refused() {
        assert!(check_input("net", [3, 32, 32], 10).is_ok());
        for (input, classes) in [
            ([0, 32, 32], 10),
            ([3, 8193, 32], 10),
            ([2000, 32, 32], 10),
            ([3, 32, 32], 1),
            ([3, 32, 32], usize::MAX),
        ] {
            let err = check_input("net", input, classes).unwrap_err().to_string();
            assert!(err.starts_with("invalid net: "), "{err}");
        }
    }
}
