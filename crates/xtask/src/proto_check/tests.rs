#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use super::*;

fn fixture(dir: &str) -> Vec<FileDescriptorProto> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proto_check");
    compile(&root.join(dir)).unwrap()
}

#[test]
fn a_clean_contract_passes_every_rule() {
    assert_eq!(lint::lint(&fixture("lint/good")), vec![]);
}

#[test]
fn each_rule_catches_its_fixture() {
    let found: BTreeSet<(&str, String)> = lint::lint(&fixture("lint/bad"))
        .into_iter()
        .map(|v| (v.rule, v.element))
        .collect();
    for (rule, element) in [
        ("PACKAGE_DIRECTORY_MATCH", "acme/v1/moved.proto"),
        ("PACKAGE_VERSION_SUFFIX", "acme/stable/unversioned.proto"),
        ("SERVICE_PASCAL_CASE", "acme.v1.widget_service"),
        ("RPC_PASCAL_CASE", "acme.v1.widget_service.getWidget"),
        (
            "RPC_REQUEST_STANDARD_NAME",
            "acme.v1.widget_service.ListWidgets",
        ),
        (
            "RPC_RESPONSE_STANDARD_NAME",
            "acme.v1.widget_service.ListWidgets",
        ),
        ("MESSAGE_PASCAL_CASE", "acme.v1.WidgetPage.part_list"),
        (
            "FIELD_LOWER_SNAKE_CASE",
            "acme.v1.GetWidgetRequest.widgetId",
        ),
        ("ENUM_PASCAL_CASE", "acme.v1.shade"),
        ("ENUM_VALUE_UPPER_SNAKE_CASE", "acme.v1.Size.SIZE_large"),
        ("ENUM_VALUE_PREFIX", "acme.v1.Size.SMALL"),
        ("ENUM_ZERO_VALUE_SUFFIX", "acme.v1.Size.SIZE_NONE"),
    ] {
        assert!(
            found.contains(&(rule, element.to_string())),
            "{rule} {element} not found in {found:#?}"
        );
    }
    // Right names are not reported: the nested enum's prefix is its own.
    assert!(!found.iter().any(|(_, e)| e.contains("SHADE_UNSPECIFIED")));
    assert!(!found.iter().any(|(_, e)| e == "acme.v1.GetWidgetResponse"));
}

#[test]
fn exceptions_silence_only_what_they_name_and_must_stay_used() {
    let violations = lint::lint(&fixture("lint/bad"));
    let all = violations.len();
    let left = unexcepted(
        violations,
        "ENUM_PASCAL_CASE acme.v1.shade  # why\n# a comment\nMESSAGE_PASCAL_CASE acme.v1.Nope\n",
    );
    assert_eq!(left.len(), all, "{left:#?}"); // one silenced, one stale
    assert!(left
        .iter()
        .any(|l| l.starts_with("stale exception MESSAGE_PASCAL_CASE")));
    assert!(!left.iter().any(|l| l.contains("acme.v1.shade")));
}

#[test]
fn additions_and_reserved_removals_are_not_breaking() {
    let base = breaking::summary(&fixture("breaking/base"));
    let additive = breaking::summary(&fixture("breaking/additive"));
    assert_eq!(breaking::breaking(&base, &additive), Vec::<String>::new());
    assert_eq!(breaking::breaking(&base, &base), Vec::<String>::new());
}

#[test]
fn every_kind_of_break_is_reported() {
    let base = breaking::summary(&fixture("breaking/base"));
    let broken = breaking::breaking(&base, &breaking::summary(&fixture("breaking/broken")));
    for expected in [
        "rpc acme.v1.WidgetService.DeleteWidget removed",
        "rpc acme.v1.WidgetService.WatchWidget changed",
        "field 2 (\"colour\") of acme.v1.GetWidgetRequest: name \"colour\" -> \"owner\"",
        "field 3 (\"size\") of acme.v1.GetWidgetRequest: type \"int64\" -> \"int32\"",
        "field 4 (\"owner\") of acme.v1.GetWidgetRequest: name \"owner\" -> \"colour\"",
        "field 5 (\"retired\") of acme.v1.GetWidgetRequest removed without reserving",
        "field 6 (\"tags\") of acme.v1.GetWidgetRequest: label \"repeated\" -> \"\"",
        "message acme.v1.Gone removed",
        "value 1 of acme.v1.Colour renamed \"COLOUR_RED\" -> \"COLOUR_CRIMSON\"",
        "value 2 (\"COLOUR_BLUE\") of acme.v1.Colour removed",
    ] {
        assert!(
            broken.iter().any(|b| b.starts_with(expected)),
            "{expected:?} not in {broken:#?}"
        );
    }
    assert_eq!(broken.len(), 10, "{broken:#?}");
}

#[test]
fn the_repository_contract_passes_against_its_baseline() {
    let dir = proto_dir();
    let files = compile(&dir).unwrap();
    let exceptions = std::fs::read_to_string(dir.join("lint-exceptions.txt")).unwrap();
    assert_eq!(
        unexcepted(lint::lint(&files), &exceptions),
        Vec::<String>::new()
    );
    let old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("baseline.json")).unwrap()).unwrap();
    assert_eq!(
        breaking::breaking(&old, &breaking::summary(&files)),
        Vec::<String>::new()
    );
}
