//! For the configuration tests of every service: load with one `--set`, and
//! check a table of bad values in one call instead of one loop per crate.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::Result;
use crate::validate::Validate;

/// [`crate::load`] with no file and one `--set key=value`.
pub fn load_set<T>(key: &str, value: &str) -> Result<T>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    crate::load(None, &[(key.into(), value.into())])
}

/// Ok when loading `T` with each `--set key=value` of `cases` fails with an
/// error that names `` `key` ``; else the cases that did not, each with
/// what happened instead (all of them, so one run shows every gap).
pub fn each_refused_naming_its_key<T>(cases: &[(&str, &str)]) -> std::result::Result<(), String>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let gaps: Vec<String> = cases
        .iter()
        .filter_map(|&(key, value)| match load_set::<T>(key, value) {
            Ok(_) => Some(format!("{key}={value}: accepted")),
            Err(e) if !e.to_string().contains(&format!("`{key}`")) => Some(format!(
                "{key}={value}: the error does not name the key: {e}"
            )),
            Err(_) => None,
        })
        .collect();
    if gaps.is_empty() {
        Ok(())
    } else {
        Err(gaps.join("\n"))
    }
}
