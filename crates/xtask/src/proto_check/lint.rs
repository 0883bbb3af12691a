//! buf DEFAULT-like lint rules over compiled descriptors: the rules a
//! client team's `buf lint` would hold xregion's contracts to.

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

/// One broken rule: which, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub rule: &'static str,
    /// The element's full name (or the file's path for file rules).
    pub element: String,
    pub message: String,
}

pub fn lint(files: &[FileDescriptorProto]) -> Vec<Violation> {
    let mut out = Vec::new();
    for file in files {
        lint_file(file, &mut out);
    }
    out.sort();
    out
}

fn lint_file(file: &FileDescriptorProto, out: &mut Vec<Violation>) {
    let package = file.package();
    let path = file.name();
    let mut v = |rule, element: &str, message: String| {
        out.push(Violation {
            rule,
            element: element.to_string(),
            message,
        })
    };
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    if dir != package.replace('.', "/") {
        v(
            "PACKAGE_DIRECTORY_MATCH",
            path,
            format!(
                "package {package:?} must live in {:?}",
                package.replace('.', "/")
            ),
        );
    }
    if !package.rsplit('.').next().is_some_and(is_version) {
        v(
            "PACKAGE_VERSION_SUFFIX",
            path,
            format!("package {package:?} must end in a version such as v1"),
        );
    }
    for m in &file.message_type {
        lint_message(package, m, &mut v);
    }
    for e in &file.enum_type {
        lint_enum(package, e, &mut v);
    }
    for s in &file.service {
        let service = format!("{package}.{}", s.name());
        if !is_pascal(s.name()) {
            v("SERVICE_PASCAL_CASE", &service, "must be PascalCase".into());
        }
        for m in &s.method {
            let rpc = format!("{service}.{}", m.name());
            if !is_pascal(m.name()) {
                v("RPC_PASCAL_CASE", &rpc, "must be PascalCase".into());
            }
            let short = |t: &str| t.rsplit('.').next().unwrap_or("").to_string();
            let (input, output) = (short(m.input_type()), short(m.output_type()));
            if input != format!("{}Request", m.name()) {
                v(
                    "RPC_REQUEST_STANDARD_NAME",
                    &rpc,
                    format!("takes {input}, not {}Request", m.name()),
                );
            }
            if output != format!("{}Response", m.name()) {
                v(
                    "RPC_RESPONSE_STANDARD_NAME",
                    &rpc,
                    format!("returns {output}, not {}Response", m.name()),
                );
            }
        }
    }
}

fn lint_message(scope: &str, m: &DescriptorProto, v: &mut impl FnMut(&'static str, &str, String)) {
    let name = format!("{scope}.{}", m.name());
    if !is_pascal(m.name()) {
        v("MESSAGE_PASCAL_CASE", &name, "must be PascalCase".into());
    }
    for f in &m.field {
        if !is_lower_snake(f.name()) {
            v(
                "FIELD_LOWER_SNAKE_CASE",
                &format!("{name}.{}", f.name()),
                "must be lower_snake_case".into(),
            );
        }
    }
    for nested in &m.nested_type {
        // Map entries are generated, not written.
        if !nested.options.as_ref().is_some_and(|o| o.map_entry()) {
            lint_message(&name, nested, v);
        }
    }
    for e in &m.enum_type {
        lint_enum(&name, e, v);
    }
}

fn lint_enum(scope: &str, e: &EnumDescriptorProto, v: &mut impl FnMut(&'static str, &str, String)) {
    let name = format!("{scope}.{}", e.name());
    if !is_pascal(e.name()) {
        v("ENUM_PASCAL_CASE", &name, "must be PascalCase".into());
    }
    let prefix = format!("{}_", upper_snake(e.name()));
    for value in &e.value {
        let element = format!("{name}.{}", value.name());
        if !is_upper_snake(value.name()) {
            v(
                "ENUM_VALUE_UPPER_SNAKE_CASE",
                &element,
                "must be UPPER_SNAKE_CASE".into(),
            );
        }
        if !value.name().starts_with(&prefix) {
            v(
                "ENUM_VALUE_PREFIX",
                &element,
                format!("must start with {prefix}"),
            );
        }
        if value.number() == 0 && value.name() != format!("{prefix}UNSPECIFIED") {
            v(
                "ENUM_ZERO_VALUE_SUFFIX",
                &element,
                format!("the zero value must be {prefix}UNSPECIFIED"),
            );
        }
    }
}

fn is_version(s: &str) -> bool {
    // v1, v2, v1alpha1, v1beta, v1test…: buf's PACKAGE_VERSION_SUFFIX.
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let tail = &rest[digits..];
    digits > 0
        && !rest.starts_with('0')
        && ["", "alpha", "beta", "test", "p"].iter().any(|k| {
            tail.strip_prefix(k)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
}

fn is_pascal(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_lower_snake(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_upper_snake(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `BackupKindFilter` → `BACKUP_KIND_FILTER`.
pub fn upper_snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
