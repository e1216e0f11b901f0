//! The shared weights themselves: named blocks of f32 values with their momentum buffers,
//! created on first use with a seeded initialisation that depends only on the seed and the
//! block's name, so a block appears with the same values whenever and in whatever order the
//! architectures that need it come (which keeps a resumed search exact).

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// How a new block is filled.
#[derive(Clone, Copy, Debug)]
pub(super) enum Init {
    /// Uniform in ±bound (PyTorch's default for conv and linear weights: 1 / sqrt(fan_in)).
    Uniform(f64),
    Const(f32),
}

/// One shared tensor and its SGD velocity.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Block {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub velocity: Vec<f32>,
}

/// Every block of a shared network, by name.
#[derive(Clone, Debug)]
pub(super) struct Blocks {
    seed: u64,
    index: HashMap<String, usize>,
    names: Vec<String>,
    pub list: Vec<Block>,
}

impl Blocks {
    pub fn new(seed: u64) -> Self {
        Blocks {
            seed,
            index: HashMap::new(),
            names: Vec::new(),
            list: Vec::new(),
        }
    }

    /// The index of block `name`, created with `init` if it does not exist yet.
    pub fn get_or_create(&mut self, name: String, shape: Vec<usize>, init: Init) -> Result<usize> {
        if let Some(&i) = self.index.get(&name) {
            if self.list[i].shape != shape {
                return Err(Error::invalid(
                    "shared network",
                    format!(
                        "block `{name}` has shape {:?}, a child asked for {shape:?}",
                        self.list[i].shape
                    ),
                ));
            }
            return Ok(i);
        }
        let len: usize = shape.iter().product();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ fnv1a(&name));
        let values = match init {
            Init::Uniform(bound) => (0..len)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect(),
            Init::Const(v) => vec![v; len],
        };
        self.list.push(Block {
            shape,
            values,
            velocity: vec![0.0; len],
        });
        self.index.insert(name.clone(), self.list.len() - 1);
        self.names.push(name);
        Ok(self.list.len() - 1)
    }

    /// Number of shared values (velocities not counted).
    pub fn params(&self) -> usize {
        self.list.iter().map(|b| b.values.len()).sum()
    }

    /// The blocks as safetensors tensors `value/NAME` and `velocity/NAME`, sorted by name.
    pub fn tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for (name, block) in self.names.iter().zip(&self.list) {
            let t = |v: &[f32]| Tensor::from_slice(v, block.shape.as_slice(), &Device::Cpu);
            out.insert(format!("value/{name}"), t(&block.values)?);
            out.insert(format!("velocity/{name}"), t(&block.velocity)?);
        }
        Ok(out)
    }

    /// Blocks back from what [`Blocks::tensors`] wrote.
    pub fn from_tensors(seed: u64, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let mut blocks = Blocks::new(seed);
        let mut names: Vec<&str> = tensors
            .keys()
            .filter_map(|k| k.strip_prefix("value/"))
            .collect();
        names.sort_unstable();
        for name in names {
            let values = &tensors[&format!("value/{name}")];
            let velocity = tensors
                .get(&format!("velocity/{name}"))
                .ok_or_else(|| bad_checkpoint(format!("block `{name}` has no velocity")))?;
            blocks.list.push(Block {
                shape: values.dims().to_vec(),
                values: values.flatten_all()?.to_vec1()?,
                velocity: velocity.flatten_all()?.to_vec1()?,
            });
            blocks.index.insert(name.to_string(), blocks.list.len() - 1);
            blocks.names.push(name.to_string());
        }
        Ok(blocks)
    }
}

pub(super) fn bad_checkpoint(msg: impl Into<String>) -> Error {
    Error::Checkpoint {
        what: "enas".into(),
        msg: msg.into(),
    }
}

/// FNV-1a: a stable 64-bit hash of a block name (std's hasher may change between releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
