//! Turning a split into training batches: shuffling, augmentation (random crop with padding 4
//! and horizontal flip, the standard CIFAR recipe) and normalisation by the training statistics.
//! This runs every training step, so it fills one `Vec<f32>` per batch through a per-channel
//! lookup table of the 256 normalised byte values and hands it to candle in one move.

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::dataset::{Dataset, Split, SplitKind};
use crate::error::{Error, Result};

/// Padding of the random crop, in pixels on each side.
const CROP_PADDING: usize = 4;

/// An iterator over `(images f32 [B, C, H, W], labels u32 [B])` batches of one split; the last
/// batch may be smaller.
pub struct Batcher<'a> {
    split: &'a Split,
    input: [usize; 3],
    order: Vec<usize>,
    next: usize,
    batch_size: usize,
    rng: Option<&'a mut dyn RngCore>,
    augment: bool,
    /// `lut[c * 256 + v]` is byte `v` of channel `c`, normalised.
    lut: Vec<f32>,
    device: Device,
}

impl Dataset {
    /// Batches of `split`. With an `rng` the order is shuffled; with `augment` (which needs the
    /// `rng`) each image is randomly cropped from a 4-pixel zero padding and flipped.
    pub fn batches<'a>(
        &'a self,
        split: SplitKind,
        batch_size: usize,
        rng: Option<&'a mut dyn RngCore>,
        augment: bool,
        device: &Device,
    ) -> Result<Batcher<'a>> {
        if batch_size == 0 {
            return Err(Error::invalid("batch size", "must be at least 1"));
        }
        if augment && rng.is_none() {
            return Err(Error::invalid(
                "augmentation",
                "needs an RNG to draw crops and flips",
            ));
        }
        let split_data = self.split(split);
        let mut order: Vec<usize> = (0..split_data.len).collect();
        let mut rng = rng;
        if let Some(rng) = rng.as_deref_mut() {
            order.shuffle(rng);
        }
        Ok(Batcher {
            split: split_data,
            input: self.input,
            order,
            next: 0,
            batch_size,
            rng,
            augment,
            lut: normalisation_table(&self.mean, &self.std),
            device: device.clone(),
        })
    }
}

/// The normalised value of every byte for every channel: `(v / 255 - mean) / std`.
fn normalisation_table(mean: &[f32], std: &[f32]) -> Vec<f32> {
    mean.iter()
        .zip(std)
        .flat_map(|(&m, &s)| (0..256).map(move |v| (v as f32 / 255.0 - m) / s))
        .collect()
}

impl Batcher<'_> {
    /// The number of batches this iterator yields in all.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Builds the batch of the images at `indices`.
    fn build(&mut self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let [c, h, w] = self.input;
        let image_len = c * h * w;
        let mut xs = vec![0f32; indices.len() * image_len];
        let mut labels = Vec::with_capacity(indices.len());
        for (out, &i) in xs.chunks_exact_mut(image_len).zip(indices) {
            let image = &self.split.images[i * image_len..(i + 1) * image_len];
            labels.push(self.split.labels[i]);
            match (self.augment, self.rng.as_deref_mut()) {
                (true, Some(rng)) => augment_into(image, self.input, &self.lut, rng, out),
                _ => normalise_into(image, h * w, &self.lut, out),
            }
        }
        let b_sz = indices.len();
        let xs = Tensor::from_vec(xs, (b_sz, c, h, w), &self.device)?;
        let ys = Tensor::from_vec(labels, b_sz, &self.device)?;
        Ok((xs, ys))
    }
}

impl Iterator for Batcher<'_> {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let indices = self.order[self.next..end].to_vec();
        self.next = end;
        Some(self.build(&indices))
    }
}

/// Writes `image` normalised into `out`, plane by plane.
fn normalise_into(image: &[u8], plane: usize, lut: &[f32], out: &mut [f32]) {
    for (c, (src, dst)) in image.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
        let table = &lut[c * 256..(c + 1) * 256];
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = table[v as usize];
        }
    }
}

/// Writes a random crop of `image` padded with zeros by [`CROP_PADDING`], flipped with
/// probability one half, normalised into `out`.
fn augment_into(
    image: &[u8],
    input: [usize; 3],
    lut: &[f32],
    rng: &mut dyn RngCore,
    out: &mut [f32],
) {
    let [c, h, w] = input;
    let pad = CROP_PADDING as i32;
    let dy = rng.random_range(-pad..=pad) as isize;
    let dx = rng.random_range(-pad..=pad) as isize;
    let flip = rng.random_bool(0.5);
    for ch in 0..c {
        let table = &lut[ch * 256..(ch + 1) * 256];
        let src = &image[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * h * w..(ch + 1) * h * w];
        for y in 0..h {
            let sy = y as isize + dy;
            let row = &mut dst[y * w..(y + 1) * w];
            if sy < 0 || sy >= h as isize {
                row.fill(table[0]);
                continue;
            }
            let src_row = &src[sy as usize * w..(sy as usize + 1) * w];
            for (x, d) in row.iter_mut().enumerate() {
                let ox = if flip { w - 1 - x } else { x };
                let sx = ox as isize + dx;
                *d = if sx < 0 || sx >= w as isize {
                    table[0]
                } else {
                    table[src_row[sx as usize] as usize]
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::tests::numbered;
    use crate::data::LoadOptions;
    use candle_core::DType;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn dataset(n: usize) -> Dataset {
        Dataset::from_source("t".into(), numbered(n, 4), &LoadOptions::default()).unwrap()
    }

    #[test]
    fn batches_have_the_right_shapes_and_keep_the_last_partial_one() {
        let data = dataset(26); // 24 training images after the carve of 2
        let batcher = data
            .batches(SplitKind::Train, 10, None, false, &Device::Cpu)
            .unwrap();
        assert_eq!(batcher.num_batches(), 3);
        let batches: Vec<_> = batcher.map(|b| b.unwrap()).collect();
        let sizes: Vec<usize> = batches.iter().map(|(xs, _)| xs.dims()[0]).collect();
        assert_eq!(sizes, vec![10, 10, 4]);
        let (xs, ys) = &batches[2];
        assert_eq!((xs.dims(), xs.dtype()), (&[4, 1, 2, 2][..], DType::F32));
        assert_eq!((ys.dims(), ys.dtype()), (&[4][..], DType::U32));
    }

    #[test]
    fn batches_are_normalised_by_the_training_statistics() {
        let data = dataset(26);
        let (xs, ys) = data
            .batches(SplitKind::Test, 8, None, false, &Device::Cpu)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let got = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (m, s) = (data.mean[0], data.std[0]);
        let want: Vec<f32> = [1u8, 2, 3, 4]
            .iter()
            .map(|&v| (v as f32 / 255.0 - m) / s)
            .collect();
        assert_eq!(got, want);
        assert_eq!(ys.to_vec1::<u32>().unwrap(), vec![0]);
    }

    #[test]
    fn shuffling_is_reproducible_and_covers_every_image_once() {
        let data = dataset(60);
        let labels = |seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let batches = data.batches(SplitKind::Train, 7, Some(&mut rng), false, &Device::Cpu);
            let xs: Vec<Tensor> = batches.unwrap().map(|b| b.unwrap().0).collect();
            Tensor::cat(&xs, 0)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(labels(1), labels(1));
        assert_ne!(labels(1), labels(2));
        let unshuffled = data
            .batches(SplitKind::Train, 7, None, false, &Device::Cpu)
            .unwrap();
        let xs: Vec<Tensor> = unshuffled.map(|b| b.unwrap().0).collect();
        let mut plain = Tensor::cat(&xs, 0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut shuffled = labels(1);
        plain.sort_by(f32::total_cmp);
        shuffled.sort_by(f32::total_cmp);
        assert_eq!(plain, shuffled);
    }

    #[test]
    fn augmentation_crops_from_zero_padding_and_is_reproducible() {
        let (h, w) = (8, 8);
        let image = vec![200u8; 2 * h * w];
        let lut: Vec<f32> = (0..512).map(|v| (v % 256) as f32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut first = vec![0f32; image.len()];
        for round in 0..20 {
            let mut out = vec![0f32; image.len()];
            augment_into(&image, [2, h, w], &lut, &mut rng, &mut out);
            let kept = out.iter().filter(|&&v| v == 200.0).count();
            assert!(out.iter().all(|&v| v == 200.0 || v == 0.0));
            assert!(kept >= 2 * (h - 4) * (w - 4), "{kept}");
            if round == 0 {
                first = out;
            }
        }
        let mut again = vec![0f32; image.len()];
        augment_into(
            &image,
            [2, h, w],
            &lut,
            &mut ChaCha8Rng::seed_from_u64(0),
            &mut again,
        );
        assert_eq!(first, again);
    }

    #[test]
    fn augmentation_flips_rows() {
        // With no padding drawn the crop is the identity, so a flip shows as reversed rows.
        let image: Vec<u8> = (0..16).collect();
        let lut: Vec<f32> = (0..256).map(|v| v as f32).collect();
        let mut seen_flip = false;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..2000 {
            let mut out = vec![0f32; 16];
            augment_into(&image, [1, 4, 4], &lut, &mut rng, &mut out);
            seen_flip |= out[..4] == [3.0, 2.0, 1.0, 0.0];
        }
        assert!(seen_flip);
    }

    #[test]
    fn augmentation_without_rng_and_empty_batches_are_errors() {
        let data = dataset(26);
        assert!(data
            .batches(SplitKind::Train, 4, None, true, &Device::Cpu)
            .is_err());
        assert!(data
            .batches(SplitKind::Train, 0, None, false, &Device::Cpu)
            .is_err());
    }
}
