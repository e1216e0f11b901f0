//! The run's metadata: the schema version it was written with, and a copy of its search space and
//! settings so that a resume cannot silently change them. Stored in the `meta` tree under string
//! keys; small extra state (such as `status`) lives beside it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The store schema this build reads and writes. Bump it when a record or key layout changes.
pub const SCHEMA_VERSION: u32 = 2;

/// The keys of the `meta` tree that `RunMeta` owns; `set_meta_value` refuses them.
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
pub(crate) const SPACE_NAME_KEY: &str = "space_name";
pub(crate) const SPACE_KEY: &str = "space";
pub(crate) const SETTINGS_KEY: &str = "settings";
pub(crate) const CREATED_AT_KEY: &str = "created_at";
pub(crate) const NAS_VERSION_KEY: &str = "nas_version";
pub(crate) const RESERVED_KEYS: [&str; 6] = [
    SCHEMA_VERSION_KEY,
    SPACE_NAME_KEY,
    SPACE_KEY,
    SETTINGS_KEY,
    CREATED_AT_KEY,
    NAS_VERSION_KEY,
];

/// What a run records about itself when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The store schema the run was written with (`create` always writes `SCHEMA_VERSION`).
    pub schema_version: u32,
    /// The search space's name (`resnet-cells`) or the path it was given by.
    pub space_name: String,
    /// The search-space file's full text.
    pub space_text: String,
    /// The search settings (strategy, budget, seed, ...) as JSON.
    pub settings: serde_json::Value,
    /// When the run was created, in unix seconds or RFC 3339.
    pub created_at: String,
    /// The version of nas that created the run.
    pub nas_version: String,
}

impl RunMeta {
    /// Metadata for a new run, created now by this build of nas.
    pub fn new(space_name: &str, space_text: &str, settings: serde_json::Value) -> RunMeta {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        RunMeta {
            schema_version: SCHEMA_VERSION,
            space_name: space_name.to_string(),
            space_text: space_text.to_string(),
            settings,
            created_at: secs.to_string(),
            nas_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The `(key, value)` pairs written to the `meta` tree, schema version included.
    pub(crate) fn entries(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(vec![
            (SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_string().into_bytes()),
            (SPACE_NAME_KEY, self.space_name.clone().into_bytes()),
            (SPACE_KEY, self.space_text.clone().into_bytes()),
            (SETTINGS_KEY, serde_json::to_vec(&self.settings)?),
            (CREATED_AT_KEY, self.created_at.clone().into_bytes()),
            (NAS_VERSION_KEY, self.nas_version.clone().into_bytes()),
        ])
    }

    /// Rebuilds the metadata from a lookup of the `meta` tree; a missing key is an error.
    pub(crate) fn from_lookup(
        run: &Path,
        mut get: impl FnMut(&str) -> Result<Option<Vec<u8>>>,
    ) -> Result<RunMeta> {
        let mut text = |key: &str| -> Result<String> {
            let bytes = get(key)?.ok_or_else(|| missing(run, key))?;
            String::from_utf8(bytes).map_err(|_| Error::Store {
                run: run.to_path_buf(),
                msg: format!("meta key `{key}` is not UTF-8 text; the database is damaged"),
            })
        };
        let schema_version = parse_schema_version(run, &text(SCHEMA_VERSION_KEY)?)?;
        let settings = text(SETTINGS_KEY)?;
        let settings = serde_json::from_str(&settings).map_err(|e| Error::Store {
            run: run.to_path_buf(),
            msg: format!("meta key `settings` is not valid JSON ({e}); the database is damaged"),
        })?;
        Ok(RunMeta {
            schema_version,
            space_name: text(SPACE_NAME_KEY)?,
            space_text: text(SPACE_KEY)?,
            settings,
            created_at: text(CREATED_AT_KEY)?,
            nas_version: text(NAS_VERSION_KEY)?,
        })
    }
}

/// Parses the stored schema version text.
pub(crate) fn parse_schema_version(run: &Path, text: &str) -> Result<u32> {
    text.trim().parse().map_err(|_| Error::Store {
        run: run.to_path_buf(),
        msg: format!(
            "meta key `schema_version` holds `{text}`, not a number; the database is damaged"
        ),
    })
}

/// Checks a run's schema version against the one this build reads.
pub(crate) fn check_schema_version(run: &Path, found: u32) -> Result<()> {
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    Err(Error::SchemaMismatch {
        run: run.to_path_buf(),
        found,
        expected: SCHEMA_VERSION,
    })
}

fn missing(run: &Path, key: &str) -> Error {
    Error::Store {
        run: run.to_path_buf(),
        msg: format!("meta key `{key}` is missing; the run's creation was interrupted or the database is damaged"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    #[test]
    fn meta_round_trips_through_its_entries() {
        let meta = RunMeta::new(
            "tiny",
            "version = 1\n",
            serde_json::json!({"strategy": "random"}),
        );
        let map: BTreeMap<String, Vec<u8>> = meta
            .entries()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let back = RunMeta::from_lookup(Path::new("runs/x"), |k| Ok(map.get(k).cloned())).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn schema_mismatch_says_what_to_do() {
        let run = PathBuf::from("runs/x");
        let newer = check_schema_version(&run, SCHEMA_VERSION + 1).unwrap_err();
        let text = newer.to_string();
        assert!(text.contains("runs/x"), "{text}");
        assert!(text.contains("upgrade nas"), "{text}");
        let older = check_schema_version(&run, 0).unwrap_err().to_string();
        assert!(older.contains("re-run the search"), "{older}");
        assert!(check_schema_version(&run, SCHEMA_VERSION).is_ok());
    }
}
