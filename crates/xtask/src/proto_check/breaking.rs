//! buf-breaking-like checks against a committed baseline: a JSON summary of
//! every message's fields (by number), every enum's values and every
//! service's RPCs, taken from the last released contract. What a deployed
//! client or upstream publisher relies on must not change: a field removed
//! (unless its number is reserved), renumbered, renamed, retyped or
//! relabelled; an enum value removed or renamed; a message, enum, service or
//! RPC removed; an RPC's types or streaming changed. Additions pass.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};
use serde_json::{json, Map, Value};

/// The summary the baseline stores (keys sorted, so diffs stay small).
pub fn summary(files: &[FileDescriptorProto]) -> Value {
    let (mut messages, mut enums, mut services) = (Map::new(), Map::new(), Map::new());
    for file in files {
        let package = file.package();
        for m in &file.message_type {
            message(package, m, &mut messages, &mut enums);
        }
        for e in &file.enum_type {
            enums.insert(format!("{package}.{}", e.name()), enumeration(e));
        }
        for s in &file.service {
            let mut rpcs = Map::new();
            for m in &s.method {
                rpcs.insert(
                    m.name().to_string(),
                    json!({
                        "input": m.input_type(),
                        "output": m.output_type(),
                        "client_streaming": m.client_streaming(),
                        "server_streaming": m.server_streaming(),
                    }),
                );
            }
            services.insert(format!("{package}.{}", s.name()), Value::Object(rpcs));
        }
    }
    json!({ "messages": messages, "enums": enums, "services": services })
}

fn message(
    scope: &str,
    m: &DescriptorProto,
    messages: &mut Map<String, Value>,
    enums: &mut Map<String, Value>,
) {
    let name = format!("{scope}.{}", m.name());
    let mut fields = Map::new();
    for f in &m.field {
        let ty = match f.r#type() {
            Type::Message | Type::Enum | Type::Group => f.type_name().to_string(),
            scalar => scalar
                .as_str_name()
                .trim_start_matches("TYPE_")
                .to_lowercase(),
        };
        let label = match (f.label(), f.proto3_optional()) {
            (Label::Repeated, _) => "repeated",
            (_, true) => "optional",
            _ => "",
        };
        fields.insert(
            f.number().to_string(),
            json!({ "name": f.name(), "type": ty, "label": label }),
        );
    }
    let reserved: Vec<i32> = m
        .reserved_range
        .iter()
        .flat_map(|r| r.start()..r.end())
        .collect();
    messages.insert(
        name.clone(),
        json!({ "fields": fields, "reserved": reserved }),
    );
    for nested in &m.nested_type {
        message(&name, nested, messages, enums);
    }
    for e in &m.enum_type {
        enums.insert(format!("{name}.{}", e.name()), enumeration(e));
    }
}

fn enumeration(e: &EnumDescriptorProto) -> Value {
    let values: Map<String, Value> = e
        .value
        .iter()
        .map(|v| (v.number().to_string(), json!(v.name())))
        .collect();
    // An enum's reserved range is inclusive at both ends.
    let reserved: Vec<i32> = e
        .reserved_range
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .collect();
    json!({ "values": values, "reserved": reserved })
}

/// Every breaking change from `old` to `new`, one line each.
pub fn breaking(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let section = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let reserved = |v: &Value, n: &str| {
        v.get("reserved")
            .and_then(Value::as_array)
            .is_some_and(|r| {
                r.iter()
                    .any(|x| x.as_i64().is_some_and(|x| x.to_string() == n))
            })
    };
    let (new_messages, new_enums, new_services) = (
        section(new, "messages"),
        section(new, "enums"),
        section(new, "services"),
    );
    for (name, before) in section(old, "messages") {
        let Some(after) = new_messages.get(&name) else {
            out.push(format!("message {name} removed"));
            continue;
        };
        let now = section(after, "fields");
        for (number, field) in section(&before, "fields") {
            let what = format!("field {number} ({}) of {name}", field["name"]);
            match now.get(&number) {
                None if reserved(after, &number) => {}
                None => out.push(format!("{what} removed without reserving its number")),
                Some(f) => {
                    for key in ["name", "type", "label"] {
                        if f[key] != field[key] {
                            out.push(format!("{what}: {key} {} -> {}", field[key], f[key]));
                        }
                    }
                }
            }
        }
    }
    for (name, before) in section(old, "enums") {
        let Some(after) = new_enums.get(&name) else {
            out.push(format!("enum {name} removed"));
            continue;
        };
        let now = section(after, "values");
        for (number, value) in section(&before, "values") {
            match now.get(&number) {
                None if reserved(after, &number) => {}
                None => out.push(format!("value {number} ({value}) of {name} removed")),
                Some(v) if v != &value => {
                    out.push(format!("value {number} of {name} renamed {value} -> {v}"))
                }
                Some(_) => {}
            }
        }
    }
    for (name, before) in section(old, "services") {
        let Some(after) = new_services.get(&name) else {
            out.push(format!("service {name} removed"));
            continue;
        };
        for (rpc, shape) in before.as_object().cloned().unwrap_or_default() {
            match after.get(&rpc) {
                None => out.push(format!("rpc {name}.{rpc} removed")),
                Some(now) if now != &shape => {
                    out.push(format!("rpc {name}.{rpc} changed: {shape} -> {now}"))
                }
                Some(_) => {}
            }
        }
    }
    out
}
