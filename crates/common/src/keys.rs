//! Keys no service reads are errors: a typo must stop a service at start,
//! naming the key and where it was set, instead of leaving the setting at
//! its default without a word.
//!
//! Inside a section every struct denies unknown fields (serde); this module
//! checks the top level, which serde cannot (services flatten the common
//! sections into their own), and turns figment's errors into messages that
//! name the key, its section and its origin (file, variable or flag).

use figment::error::{Kind, OneOf};
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Source};

use crate::error::{Error, Result};

/// Every top-level section some xregion binary reads. One file is shared by
/// all services, so each accepts the others' sections (it does not read
/// them); inside the sections it reads every key must be known.
pub const SECTIONS: [&str; 10] = [
    "bus",
    "telemetry",
    "http",
    "regions",
    "catalog",
    "watcher",
    "worker",
    "cleanup",
    "gateway",
    "drill",
];

/// The name of the command-line layer, so errors can say a flag set a key.
pub(crate) const COMMAND_LINE: &str = "command line";

/// Fails on the first top-level key of the merged layers that is neither a
/// key of `own` (the loaded type's defaults) nor one of [`SECTIONS`].
pub(crate) fn check_sections(figment: &Figment, own: &Dict) -> Result<()> {
    let merged: Dict = figment.extract().map_err(explain)?;
    for (key, value) in &merged {
        if own.contains_key(key) || SECTIONS.contains(&key.as_str()) {
            continue;
        }
        let mut known: Vec<&str> = SECTIONS.to_vec();
        known.extend(
            own.keys()
                .map(String::as_str)
                .filter(|k| !SECTIONS.contains(k)),
        );
        return Err(Error::UnknownSection {
            section: key.clone(),
            origin: origin(figment.get_metadata(value.tag()), &first_leaf(key, value)),
            known: known.join(", "),
        });
    }
    Ok(())
}

/// Figment's error as one naming the key, its section and where it was set:
/// [`Error::UnknownKey`] or [`Error::BadValue`]; errors without a key (a
/// file that cannot be read) stay as they are.
pub(crate) fn explain(error: figment::Error) -> Error {
    let Some(section) = error.path.first().cloned() else {
        return Error::Config(Box::new(error));
    };
    let key = key_path(&error.path);
    let origin = origin(error.metadata.as_ref(), &error.path);
    match &error.kind {
        Kind::UnknownField(_, expected) => Error::UnknownKey {
            key,
            section,
            origin,
            expected: OneOf(expected).to_string(),
        },
        kind => Error::BadValue {
            key,
            section,
            origin,
            reason: kind.to_string(),
        },
    }
}

/// `regions[0].url` from `["regions", "0", "url"]`.
fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// The path to the first leaf under `key`: an environment variable's name
/// needs the whole path, not only its section.
fn first_leaf(key: &str, value: &Value) -> Vec<String> {
    let mut path = vec![key.to_string()];
    let mut value = value;
    while let Value::Dict(_, dict) = value {
        let Some((k, v)) = dict.iter().next() else {
            break;
        };
        path.push(k.clone());
        value = v;
    }
    path
}

/// Where a key was set, as a user would look for it.
fn origin(metadata: Option<&Metadata>, path: &[String]) -> String {
    let Some(md) = metadata else {
        return "(origin unknown)".into();
    };
    if md.name == COMMAND_LINE {
        return format!("set on the command line (`--set {}=…`)", path.join("."));
    }
    if let Some(Source::File(file)) = &md.source {
        return format!("in file {}", file.display());
    }
    if md.name.contains("environment") {
        return format!(
            "in environment variable XREGION_{}",
            path.join("__").to_uppercase()
        );
    }
    format!("in {}", md.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_show_array_indices() {
        let path: Vec<String> = ["regions", "0", "url"].map(String::from).to_vec();
        assert_eq!(key_path(&path), "regions[0].url");
        assert_eq!(key_path(&["bus".into(), "tls".into()]), "bus.tls");
    }
}
