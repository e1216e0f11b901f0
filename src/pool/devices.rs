//! Parsing `--device`: `cpu`, or `cuda:0,cuda:1` when built with the `cuda` feature.

use candle_core::Device;

use crate::error::{Error, Result};

/// The devices named in `text`, in order.
pub fn parse_devices(text: &str) -> Result<Vec<Device>> {
    let mut devices = Vec::new();
    for part in text.split(',').map(str::trim) {
        devices.push(parse_one(part)?);
    }
    if devices.is_empty() {
        return Err(Error::invalid("--device", "no device given"));
    }
    Ok(devices)
}

fn parse_one(part: &str) -> Result<Device> {
    if part == "cpu" {
        return Ok(Device::Cpu);
    }
    let Some(ordinal) = part
        .strip_prefix("cuda:")
        .or((part == "cuda").then_some("0"))
    else {
        return Err(Error::invalid(
            "--device",
            format!("`{part}`: expected cpu or cuda:N"),
        ));
    };
    let ordinal: usize = ordinal.parse().map_err(|_| {
        Error::invalid(
            "--device",
            format!("`{part}`: `{ordinal}` is not a GPU number"),
        )
    })?;
    cuda(ordinal)
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal)
        .map_err(|e| Error::invalid("--device", format!("cuda:{ordinal}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(ordinal: usize) -> Result<Device> {
    Err(Error::invalid(
        "--device",
        format!("cuda:{ordinal}: this nas was built without the cuda feature (cargo build --release --features cuda)"),
    ))
}
