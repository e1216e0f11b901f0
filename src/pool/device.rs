//! The `--device` flag: `cpu`, or CUDA devices as `cuda:0,cuda:1` (with the `cuda` feature).

use candle_core::Device;

use crate::error::{Error, Result};

/// Parses a comma-separated list of devices: `cpu`, `cuda` (device 0) or `cuda:N`.
pub fn parse_devices(s: &str) -> Result<Vec<Device>> {
    let devices = s
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(parse_one)
        .collect::<Result<Vec<_>>>()?;
    if devices.is_empty() {
        return Err(Error::invalid(
            "--device",
            "no device given (expected cpu or cuda:N,...)",
        ));
    }
    Ok(devices)
}

fn parse_one(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::invalid("--device", format!("`{name}` (expected cuda:N)")))?,
        None => {
            return Err(Error::invalid(
                "--device",
                format!("unknown device `{name}` (expected cpu or cuda:N)"),
            ))
        }
    };
    cuda_device(ordinal)
}

#[cfg(feature = "cuda")]
fn cuda_device(ordinal: usize) -> Result<Device> {
    Ok(Device::new_cuda(ordinal)?)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_ordinal: usize) -> Result<Device> {
    Err(Error::invalid(
        "--device",
        "this nas was built without the cuda feature (rebuild with --features cuda)",
    ))
}
