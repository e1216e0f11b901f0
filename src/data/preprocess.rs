//! Fitting an image file of any size to a network's input: decode it (PNG, JPEG or BMP), turn
//! it upright by its EXIF orientation, scale it with a Catmull-Rom filter so that it just covers
//! the target (for a square target: the shorter side becomes the target's side), and cut the
//! centre. The result is one plane of bytes per channel, the layout the network reads after
//! normalising each byte `v` of channel `c` to `(v / 255 - MEAN[c]) / STD[c]`.
//!
//! nas fits its training images with this file, and `nas export` writes the same file, word for
//! word, beside the exported code, so an exported model sees any image as training saw it.
//! It needs only the `image` crate (0.25, features `png`, `jpeg`, `bmp`).

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageReader, ImageResult, Pixel};

/// The resampling filter: bicubic (Catmull-Rom), widened when shrinking so that it averages
/// over every source pixel it covers instead of skipping some (no aliasing).
pub const FILTER: FilterType = FilterType::CatmullRom;

/// Decodes an image file's bytes, turned upright by its EXIF orientation when it has one.
pub fn decode(bytes: &[u8]) -> ImageResult<DynamicImage> {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The size (width, height) a `width`x`height` image is scaled to before the centre crop to
/// `to_height`x`to_width`: the smallest scaling that covers the target.
pub fn scaled_size(width: u32, height: u32, to_height: u32, to_width: u32) -> (u32, u32) {
    let scale = f64::max(
        to_width as f64 / width as f64,
        to_height as f64 / height as f64,
    );
    let scaled = |side: u32, at_least: u32| ((side as f64 * scale).round() as u32).max(at_least);
    (scaled(width, to_width), scaled(height, to_height))
}

/// `image` as `channels` planes (1: grey, 3: red, green, blue) of `height`x`width` bytes:
/// scaled to cover the target, then cropped at the centre. An image of the target size is
/// returned as it is.
pub fn fit(image: &DynamicImage, channels: usize, height: usize, width: usize) -> Vec<u8> {
    let (height, width) = (height as u32, width as u32);
    if channels == 1 {
        planes(&cover(&image.to_luma8(), height, width), height, width)
    } else {
        planes(&cover(&image.to_rgb8(), height, width), height, width)
    }
}

/// The buffer scaled by [`FILTER`] to the [`scaled_size`] of the target.
fn cover<P>(buffer: &ImageBuffer<P, Vec<u8>>, height: u32, width: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = scaled_size(buffer.width(), buffer.height(), height, width);
    if (w, h) == buffer.dimensions() {
        return buffer.clone();
    }
    imageops::resize(buffer, w, h, FILTER)
}

/// The centre `height`x`width` of an interleaved buffer, as one plane per channel.
fn planes<P>(buffer: &ImageBuffer<P, Vec<u8>>, height: u32, width: u32) -> Vec<u8>
where
    P: Pixel<Subpixel = u8>,
{
    let channels = P::CHANNEL_COUNT as usize;
    let (left, top) = ((buffer.width() - width) / 2, (buffer.height() - height) / 2);
    let plane = (height * width) as usize;
    let mut out = vec![0u8; plane * channels];
    for y in 0..height {
        for x in 0..width {
            let pixel = buffer.get_pixel(left + x, top + y).channels();
            let at = (y * width + x) as usize;
            for (c, &v) in pixel.iter().enumerate() {
                out[c * plane + at] = v;
            }
        }
    }
    out
}
