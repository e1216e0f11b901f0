//! Data sets in their standard formats (IDX, CIFAR-10 binary, image folders, plus a generated
//! one), split into train, validation and test, normalised and batched for training children.

mod batch;
mod cifar;
mod dataset;
mod files;
mod folder;
mod idx;
mod spec;
mod synthetic;

pub use batch::Batcher;
pub use dataset::{load, Dataset, LoadOptions, Split, SplitKind};
pub use spec::DatasetSpec;
