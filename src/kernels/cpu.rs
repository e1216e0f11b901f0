//! Access to the f32 data behind CPU storages, and per-thread scratch buffers.

use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};
use std::cell::Cell;

/// The contiguous f32 slice that `layout` describes inside `storage`.
pub(crate) fn slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("kernels: expected a contiguous tensor, got {:?}", layout),
    }
}

/// Runs `f` on the contiguous f32 data of a CPU tensor.
pub(crate) fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout)?),
        _ => bail!("kernels: expected a CPU tensor"),
    }
}

/// Whether the fast path applies: every tensor on the CPU and f32.
pub(crate) fn fast_path(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == candle_core::DType::F32)
}

/// Scratch buffers bigger than this (in floats) are not kept between calls.
const MAX_KEPT_SCRATCH: usize = 1 << 24;

thread_local! {
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static PARTIALS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a per-thread buffer of `len` floats with unspecified contents.
/// The buffer is taken out of the thread-local slot while in use, so a re-entrant
/// call (rayon work stealing) gets a fresh one instead of a borrow panic.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_slot(&SCRATCH, len, f)
}

/// As [`with_scratch`], from a second slot, for partial sums that hold while tasks inside
/// them use the first. Reused rather than allocated per call: the allocator hands freed
/// pages back to the system, and faulting them in again every step cost a tenth of a step.
pub(crate) fn with_partials<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_slot(&PARTIALS, len, f)
}

fn with_slot<R>(
    slot: &'static std::thread::LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = slot.with(|s| s.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = f(&mut buf[..len]);
    if buf.len() <= MAX_KEPT_SCRATCH {
        slot.with(|s| s.set(buf));
    }
    out
}
