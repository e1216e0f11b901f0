//! Generated image folders for the tests that drive `folder:DIR` data sets: colour shapes of
//! mixed sizes on noisy backgrounds, saved as PNG and JPEG, some of them grey.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Class names, in the sorted order nas labels them.
pub const CLASSES: [&str; 4] = ["disc", "square", "stripe", "triangle"];
/// Each class's colour (grey images keep the shape and the brightness).
const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [60, 80, 230], [230, 210, 40]];

/// How to generate a folder.
pub struct Shapes {
    pub classes: usize,
    pub per_class: usize,
    /// Side lengths are drawn from this range (inclusive), width and height separately.
    pub sides: (u32, u32),
    pub seed: u64,
    /// Put each image in a class folder drawn at random (balanced) instead of its own.
    pub random_labels: bool,
    /// Prefix of the file names, so that several sets can share one folder.
    pub prefix: &'static str,
}

impl Default for Shapes {
    fn default() -> Self {
        Shapes {
            classes: 3,
            per_class: 100,
            sides: (10, 28),
            seed: 0,
            random_labels: false,
            prefix: "",
        }
    }
}

impl Shapes {
    /// Writes `root/CLASS/NNN.{png,jpg}`; returns the files written.
    pub fn write(&self, root: &Path) -> Vec<PathBuf> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let total = self.classes * self.per_class;
        let mut folders: Vec<usize> = (0..total).map(|i| i % self.classes).collect();
        if self.random_labels {
            use rand::seq::SliceRandom;
            folders.shuffle(&mut rng);
        }
        for class in &CLASSES[..self.classes] {
            std::fs::create_dir_all(root.join(class)).unwrap();
        }
        let mut files = Vec::new();
        for (i, &folder) in folders.iter().enumerate() {
            let shape = i % self.classes;
            let (w, h) = (
                rng.random_range(self.sides.0..=self.sides.1),
                rng.random_range(self.sides.0..=self.sides.1),
            );
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            let path = root
                .join(CLASSES[folder])
                .join(format!("{}{i:03}.{ext}", self.prefix));
            let image = draw(shape, w, h, &mut rng);
            if i % 5 == 4 {
                image::DynamicImage::ImageRgb8(image)
                    .to_luma8()
                    .save(&path)
                    .unwrap();
            } else {
                image.save(&path).unwrap();
            }
            files.push(path);
        }
        files
    }
}

/// One `w`x`h` image of `shape` in its colour (jittered) on dark noise, placed at random.
pub fn draw(shape: usize, w: u32, h: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let side = w.min(h) as f32;
    let radius = side * rng.random_range(0.25..0.4f32);
    let cx = w as f32 / 2.0 + rng.random_range(-0.1..0.1f32) * w as f32;
    let cy = h as f32 / 2.0 + rng.random_range(-0.1..0.1f32) * h as f32;
    let colour =
        COLOURS[shape].map(|c| (c as i32 + rng.random_range(-25..=25)).clamp(0, 255) as u8);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let inside = match shape {
            0 => dx * dx + dy * dy <= radius * radius,
            1 => dx.abs() <= radius && dy.abs() <= radius,
            2 => dy.abs() <= radius * 0.35,
            _ => dy <= radius && dy >= -radius && dx.abs() <= (dy + radius) / 2.0,
        };
        if inside {
            Rgb(colour)
        } else {
            let v = rng.random_range(0..60u8);
            Rgb([v, v, v])
        }
    })
}
