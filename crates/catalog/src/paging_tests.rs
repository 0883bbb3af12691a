#![allow(clippy::unwrap_used)]

use super::*;

fn bound() -> Binding {
    Binding::of(&["tenant-a", "r1", ""])
}

fn at(data_end: i64, id: &str) -> BackupPosition {
    BackupPosition {
        data_end,
        backup_id: id.into(),
    }
}

fn refused<P: Position + std::fmt::Debug>(tokens: &PageToken<P>, b: &Binding, token: &str) {
    match tokens.parse(b, token) {
        Err(CatalogError::Invalid(e)) => assert_eq!(e.field(), "page_token", "{token}"),
        other => panic!("{token:?} accepted: {other:?}"),
    }
}

#[test]
fn tokens_round_trip_and_say_nothing_readable() {
    let b = bound();
    assert_eq!(LIVE_SERVICES.parse(&b, "").unwrap(), None);
    let t = LIVE_SERVICES.token(&b, &42);
    assert_eq!(LIVE_SERVICES.parse(&b, &t).unwrap(), Some(42));
    assert!(!t.contains("42") && !t.contains('.'), "{t}");
    let t = PENDING_BACKUPS.token(&b, &at(-5, "b-1"));
    let after = PENDING_BACKUPS.parse(&b, &t).unwrap().unwrap();
    assert!(!after.precedes(-5, "b-1"));
    assert!(after.precedes(-5, "b-2"));
    assert!(after.precedes(0, "a"));
    assert!(!after.precedes(-6, "z"));
}

#[test]
fn another_listing_filter_or_tenant_is_refused() {
    let b = bound();
    let t = SERVICES.token(&b, &42);
    refused(&LIVE_SERVICES, &b, &t);
    refused(&SERVICES, &Binding::of(&["tenant-b", "r1", ""]), &t);
    refused(&SERVICES, &Binding::of(&["tenant-a", "r2", ""]), &t);
    // Length-prefixed parts: moving a boundary is another filter.
    assert_ne!(Binding::of(&["ab", "c"]), Binding::of(&["a", "bc"]));
}

#[test]
fn edited_and_made_up_tokens_are_refused() {
    let b = bound();
    let t = SERVICES.token(&b, &42);
    let mut bytes = URL_SAFE_NO_PAD.decode(&t).unwrap();
    for i in 0..bytes.len() {
        bytes[i] ^= 1;
        refused(&SERVICES, &b, &URL_SAFE_NO_PAD.encode(&bytes));
        bytes[i] ^= 1;
    }
    for bad in ["42", "p1.42", "o1.7", "!!!", "AAAA", &t[..t.len() - 2]] {
        refused(&SERVICES, &b, bad);
    }
    // A well-formed record with an unreadable position.
    let forged = |pos: &str| {
        let mut r = vec![VERSION, b'p'];
        r.extend_from_slice(&b.0);
        r.extend_from_slice(pos.as_bytes());
        let sum = check(&r);
        r.extend_from_slice(&sum);
        URL_SAFE_NO_PAD.encode(r)
    };
    assert_eq!(SERVICES.parse(&b, &forged("7")).unwrap(), Some(7));
    refused(&SERVICES, &b, &forged("-1"));
    refused(&SERVICES, &b, &forged("x"));
}

#[test]
fn a_page_has_a_token_only_when_more_follows() {
    let b = bound();
    let (page, next) = SERVICES.page(&b, vec![1, 2, 3], 2, |n| *n * 10);
    assert_eq!(page, vec![1, 2]);
    assert_eq!(SERVICES.parse(&b, &next).unwrap(), Some(20));
    let (page, next) = SERVICES.page(&b, vec![1, 2], 2, |n| *n * 10);
    assert_eq!((page, next.as_str()), (vec![1, 2], ""));
}

#[test]
fn page_sizes_are_bounded() {
    assert_eq!(page_size(0, 200), 200);
    assert_eq!(page_size(1000, 200), 1000);
    assert_eq!(page_size(1001, 200), 1000);
    assert_eq!(page_size(u32::MAX, 200), 1000);
}
