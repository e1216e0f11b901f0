//! The data set a user names on the command line (`mnist`, `idx:DIR`, `cifar10:DIR`,
//! `folder:DIR`, `synthetic`), parsed once into a typed spec that `load` dispatches on and that
//! prints back to the same string, so a run can record which data it used.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The accepted forms, for error messages.
const FORMS: &str = "mnist, idx:DIR, cifar10:DIR, folder:DIR, synthetic";

/// Where the MNIST copy shipped with the repository lives, relative to the current directory.
const MNIST_RELATIVE: &str = "data/mnist";

/// A data set by kind and location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DatasetSpec {
    /// The MNIST copy shipped in the repository's `data/mnist`.
    Mnist,
    /// A folder with the four standard IDX files (MNIST, Fashion-MNIST, KMNIST, ...).
    Idx(PathBuf),
    /// A folder with the CIFAR-10 binary batches.
    Cifar10(PathBuf),
    /// A folder of images, one sub-folder per class, optionally under `train/` and `test/`.
    Folder(PathBuf),
    /// A small learnable set generated from the seed.
    Synthetic,
}

impl DatasetSpec {
    /// A short name for reports: the kind, or the folder's own name for `idx:` and `folder:`.
    pub fn name(&self) -> String {
        let folder_name = |dir: &Path| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string())
        };
        match self {
            DatasetSpec::Mnist => "mnist".to_string(),
            DatasetSpec::Idx(dir) | DatasetSpec::Folder(dir) => folder_name(dir),
            DatasetSpec::Cifar10(_) => "cifar10".to_string(),
            DatasetSpec::Synthetic => "synthetic".to_string(),
        }
    }
}

impl FromStr for DatasetSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let invalid = |msg: String| Error::invalid("data set", msg);
        match s {
            "mnist" => return Ok(DatasetSpec::Mnist),
            "synthetic" => return Ok(DatasetSpec::Synthetic),
            _ => {}
        }
        let Some((kind, dir)) = s.split_once(':') else {
            return Err(invalid(format!(
                "unknown data set `{s}` (expected {FORMS})"
            )));
        };
        if dir.is_empty() {
            return Err(invalid(format!(
                "`{s}` names no folder (expected {kind}:DIR)"
            )));
        }
        let dir = PathBuf::from(dir);
        match kind {
            "idx" => Ok(DatasetSpec::Idx(dir)),
            "cifar10" => Ok(DatasetSpec::Cifar10(dir)),
            "folder" => Ok(DatasetSpec::Folder(dir)),
            _ => Err(invalid(format!(
                "unknown data set kind `{kind}` in `{s}` (expected {FORMS})"
            ))),
        }
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetSpec::Mnist => write!(f, "mnist"),
            DatasetSpec::Idx(dir) => write!(f, "idx:{}", dir.display()),
            DatasetSpec::Cifar10(dir) => write!(f, "cifar10:{}", dir.display()),
            DatasetSpec::Folder(dir) => write!(f, "folder:{}", dir.display()),
            DatasetSpec::Synthetic => write!(f, "synthetic"),
        }
    }
}

/// The shipped MNIST folder: `./data/mnist` when it exists, else the one in the crate's source.
pub(crate) fn mnist_dir() -> Result<PathBuf> {
    let local = PathBuf::from(MNIST_RELATIVE);
    if local.is_dir() {
        return Ok(local);
    }
    let shipped = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"));
    if shipped.is_dir() {
        return Ok(shipped);
    }
    Err(Error::Data {
        path: local,
        msg: format!(
            "MNIST folder not found (also looked in {}); use idx:DIR to point at a copy",
            shipped.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_prints_back() {
        for s in [
            "mnist",
            "synthetic",
            "idx:data/fashion",
            "cifar10:/tmp/c",
            "folder:pics",
        ] {
            let spec: DatasetSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        let spec: DatasetSpec = "idx:data/fashion".parse().unwrap();
        assert_eq!(spec, DatasetSpec::Idx(PathBuf::from("data/fashion")));
        assert_eq!(spec.name(), "fashion");
    }

    #[test]
    fn unknown_or_empty_forms_are_invalid() {
        for s in ["imagenet", "idx:", "svhn:dir", ""] {
            let err = s.parse::<DatasetSpec>().unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{s}: {err}");
        }
    }
}
