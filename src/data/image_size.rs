//! The size folder images are fitted to (`--image-size N` or `HxW`), and the rule that picks one
//! when a folder's images differ in size and none was given. It is recorded with a run as the
//! string the user would type, so a resumed search and an export fit images exactly as the
//! search did.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The largest side accepted, a guard against typos (`--image-size 22400`) that would ask for
/// tens of gigabytes.
pub const MAX_SIDE: usize = 4096;
/// The default side never exceeds this: children train on the CPU, a 64x64 image already costs
/// four times the compute of CIFAR's 32x32, and a small searched CNN gains little from more.
pub const DEFAULT_CAP: usize = 64;
/// The default side never goes below this, so a few down-sampling stages still fit.
pub const DEFAULT_FLOOR: usize = 8;

/// A target height and width in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageSize {
    pub height: usize,
    pub width: usize,
}

impl ImageSize {
    /// A square size.
    pub fn square(side: usize) -> ImageSize {
        ImageSize {
            height: side,
            width: side,
        }
    }
}

impl FromStr for ImageSize {
    type Err = Error;

    /// `N` (square) or `HxW` (height first, as in `CxHxW` shapes).
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |msg: String| Error::invalid("--image-size", msg);
        let side = |part: &str| -> Result<usize> {
            let v: usize = part.trim().parse().map_err(|_| {
                invalid(format!(
                    "`{s}` is not N or HxW (whole numbers, e.g. 64 or 48x64)"
                ))
            })?;
            if v == 0 || v > MAX_SIDE {
                return Err(invalid(format!(
                    "{v} is out of range: each side must be 1 to {MAX_SIDE} pixels"
                )));
            }
            Ok(v)
        };
        match s.trim().split_once(['x', 'X']) {
            Some((h, w)) => Ok(ImageSize {
                height: side(h)?,
                width: side(w)?,
            }),
            None => Ok(ImageSize::square(side(s)?)),
        }
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.height == self.width {
            write!(f, "{}", self.height)
        } else {
            write!(f, "{}x{}", self.height, self.width)
        }
    }
}

impl Serialize for ImageSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The size picked for a folder whose images differ in size, with the one-line reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeChoice {
    pub size: ImageSize,
    pub reason: String,
}

/// The default for images of `dims` (width, height) that are not all the same size: a square
/// whose side is the median shorter side, clamped to [`DEFAULT_FLOOR`]..=[`DEFAULT_CAP`].
/// A square, because photos come in both orientations; the median, because it resizes half the
/// images down and half up, whatever a few outliers look like.
pub fn default_size(dims: &[(u32, u32)]) -> SizeChoice {
    let mut shorter: Vec<usize> = dims.iter().map(|&(w, h)| w.min(h) as usize).collect();
    shorter.sort_unstable();
    let median = shorter.get(shorter.len().saturating_sub(1) / 2).copied();
    let median = median.unwrap_or(DEFAULT_CAP);
    let side = median.clamp(DEFAULT_FLOOR, DEFAULT_CAP);
    let (min, max) = extremes(dims);
    let why = if side < median {
        format!("the median shorter side {median} capped at {DEFAULT_CAP}")
    } else if side > median {
        format!("the median shorter side {median} raised to {DEFAULT_FLOOR}")
    } else {
        "the median shorter side".to_string()
    };
    SizeChoice {
        size: ImageSize::square(side),
        reason: format!(
            "images differ in size ({min} to {max}): fitting them to {side}x{side}, {why}; give --image-size N or HxW to choose"
        ),
    }
}

/// The smallest and largest `WxH` by area, for the message.
fn extremes(dims: &[(u32, u32)]) -> (String, String) {
    let area = |&&(w, h): &&(u32, u32)| (w as u64 * h as u64, w, h);
    let show = |d: Option<&(u32, u32)>| d.map(|(w, h)| format!("{w}x{h}")).unwrap_or_default();
    (
        show(dims.iter().min_by_key(area)),
        show(dims.iter().max_by_key(area)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_n_or_h_by_w_and_print_back() {
        let square: ImageSize = "32".parse().unwrap();
        assert_eq!(square, ImageSize::square(32));
        let wide: ImageSize = "48x64".parse().unwrap();
        assert_eq!((wide.height, wide.width), (48, 64));
        assert_eq!(
            (square.to_string(), wide.to_string()),
            ("32".into(), "48x64".into())
        );
        let json = serde_json::to_string(&wide).unwrap();
        assert_eq!(json, "\"48x64\"");
        assert_eq!(serde_json::from_str::<ImageSize>(&json).unwrap(), wide);
    }

    #[test]
    fn bad_sizes_name_the_flag() {
        for bad in ["0", "12x", "x12", "axb", "-3", "5000", "12x0", ""] {
            let err = bad.parse::<ImageSize>().unwrap_err().to_string();
            assert!(err.contains("--image-size"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_default_is_the_median_shorter_side_clamped() {
        let choice = default_size(&[(96, 96), (120, 80), (64, 100)]);
        assert_eq!(choice.size, ImageSize::square(64));
        assert!(choice.reason.contains("capped at 64"), "{}", choice.reason);
        assert!(
            choice.reason.contains("64x100 to 120x80"),
            "{}",
            choice.reason
        );
        let small = default_size(&[(20, 30), (16, 40), (12, 12), (40, 18)]);
        assert_eq!(small.size, ImageSize::square(16));
        assert_eq!(default_size(&[(3, 5), (4, 9)]).size, ImageSize::square(8));
    }
}
