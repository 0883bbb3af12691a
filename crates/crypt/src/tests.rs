#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use proptest::prelude::*;

use crate::*;

const C: u64 = 4096;
const CTX: &str = "t/i/s|b1";

fn cipher(key: &DataKey, size: u64) -> FileCipher {
    FileCipher::new(key, 7, "t/i/s/backups/b1/f", C, size)
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_at_every_size_around_chunk_edges() {
    let key = DataKey::generate();
    for n in [
        0,
        1,
        C - 1,
        C,
        C + 1,
        2 * C - 1,
        2 * C,
        2 * C + 1,
        5 * C + 17,
    ] {
        let plain = data(n as usize);
        let c = cipher(&key, n);
        let sealed = c.seal_range(0, &plain).unwrap();
        assert_eq!(sealed.len() as u64, c.stored_size().unwrap(), "size {n}");
        if n > 0 {
            assert_ne!(&sealed[..plain.len()], &plain[..], "size {n}");
        }
        assert_eq!(c.open_file(&sealed).unwrap(), plain, "size {n}");
        assert_eq!(c.open_range(0, &sealed, n).unwrap(), plain, "size {n}");
    }
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let key = DataKey::generate();
    let plain = data(2 * C as usize + 100);
    let c = cipher(&key, plain.len() as u64);
    let sealed = c.seal_range(0, &plain).unwrap();
    for at in (0..sealed.len()).step_by(97).chain([sealed.len() - 1]) {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        assert!(
            matches!(
                c.open_range(0, &bad, plain.len() as u64),
                Err(CryptError::Tampered { .. })
            ),
            "byte {at}"
        );
    }
}

#[test]
fn truncated_reordered_or_appended_chunks_are_detected() {
    let key = DataKey::generate();
    let plain = data(3 * C as usize);
    let c = cipher(&key, plain.len() as u64);
    let sealed = c.seal_range(0, &plain).unwrap();
    let w = (C + TAG_LEN) as usize;
    // Cut at a chunk edge: the new end was not sealed as the last chunk.
    let short = cipher(&key, 2 * C);
    assert!(short.open_range(0, &sealed[..2 * w], 2 * C).is_err());
    // Cut at a chunk edge of a range before the file's end: too short.
    assert!(matches!(
        c.open_range(0, &sealed[..2 * w], 3 * C),
        Err(CryptError::Tampered { .. })
    ));
    assert_eq!(
        c.open_range(0, &sealed[..2 * w], 2 * C).unwrap(),
        &plain[..2 * C as usize]
    );
    assert!(c.open_file(&sealed[..2 * w]).is_err());
    assert!(c.open_file(&sealed[..sealed.len() - 1]).is_err());
    // Chunks 0 and 1 swapped.
    let mut swapped = sealed[w..2 * w].to_vec();
    swapped.extend_from_slice(&sealed[..w]);
    swapped.extend_from_slice(&sealed[2 * w..]);
    assert_eq!(
        c.open_range(0, &swapped, plain.len() as u64),
        Err(CryptError::Tampered { index: 0 })
    );
    // A chunk appended after the last.
    let mut longer = sealed.clone();
    longer.extend_from_slice(&sealed[..w]);
    assert!(c.open_range(0, &longer, plain.len() as u64).is_err());
    assert!(c.open_file(&longer).is_err());
    // Another file's chunk (other file index) does not open here.
    let other = FileCipher::new(&key, 8, "t/i/s/backups/b1/f", C, plain.len() as u64);
    assert!(other.open_range(0, &sealed, plain.len() as u64).is_err());
    // The same object moved to another key (other backup, service, tenant)
    // does not open there.
    let moved = FileCipher::new(&key, 7, "t/i/s/backups/b2/f", C, plain.len() as u64);
    assert!(moved.open_range(0, &sealed, plain.len() as u64).is_err());
    assert!(moved.open_file(&sealed).is_err());
}

#[test]
fn ranges_of_whole_chunks_seal_and_open_alone_identically() {
    // A resumed multipart upload re-produces part 1 byte for byte.
    let key = DataKey::generate();
    let plain = data(5 * C as usize + 3);
    let c = cipher(&key, plain.len() as u64);
    let whole = c.seal_range(0, &plain).unwrap();
    let part = 2 * C as usize;
    let again = cipher(&key, plain.len() as u64)
        .seal_range(2, &plain[part..2 * part])
        .unwrap();
    let w = c.stored_offset(2) as usize;
    assert_eq!(&whole[w..w + again.len()], &again[..]);
    let last = c.seal_range(4, &plain[2 * part..]).unwrap();
    assert_eq!(&whole[c.stored_offset(4) as usize..], &last[..]);
    assert_eq!(
        c.open_range(2, &again, part as u64).unwrap(),
        &plain[part..2 * part]
    );
    // A range that is not whole chunks is refused, not silently sealed.
    assert!(c.seal_range(0, &plain[..100]).is_err());
    assert!(c.seal_range(9, &plain[..1]).is_err());
}

fn local(id: &str, byte: u8) -> Arc<dyn KeyProvider> {
    Arc::new(LocalKey::new(id, [byte; 32]).unwrap())
}

#[test]
fn wrapped_keys_open_only_with_their_kek_and_errors_name_the_key_id() {
    let ring = Keyring::new(Some(local("k2", 2)), vec![local("k1", 1)]).unwrap();
    let (key, wrapped) = ring.new_data_key(CTX).unwrap().unwrap();
    assert_eq!(wrapped.key_id, "k2");
    assert_eq!(wrapped.bytes.len(), 60);
    let back = WrappedKey::from_base64("k2", &wrapped.to_base64()).unwrap();
    assert_eq!(ring.unwrap_key(&back, CTX).unwrap().0, key.0);
    // Rotation: a ring without k2 cannot open it, and says which key.
    let old_only = Keyring::new(Some(local("k1", 1)), vec![]).unwrap();
    let err = old_only.unwrap_key(&wrapped, CTX).unwrap_err();
    assert_eq!(
        err,
        CryptError::MissingKey {
            key_id: "k2".into()
        }
    );
    assert!(err.to_string().contains("\"k2\""), "{err}");
    // Same id, other material: wrong key, named.
    let wrong = Keyring::new(Some(local("k2", 9)), vec![]).unwrap();
    let err = wrong.unwrap_key(&wrapped, CTX).unwrap_err();
    assert_eq!(
        err,
        CryptError::WrongKey {
            key_id: "k2".into()
        }
    );
    // Relabelled under another id whose KEK is the same material: the id is
    // bound as AAD, so it does not open either.
    let twin = Keyring::new(Some(local("k3", 2)), vec![]).unwrap();
    let relabelled = WrappedKey {
        key_id: "k3".into(),
        ..wrapped.clone()
    };
    assert!(twin.unwrap_key(&relabelled, CTX).is_err());
    // A flipped bit of the wrapped key.
    let mut flipped = wrapped.clone();
    flipped.bytes[20] ^= 1;
    assert!(ring.unwrap_key(&flipped, CTX).is_err());
    assert!(WrappedKey::from_base64("k2", "AAAA").is_err());
    // Bound to where it belongs: another backup or service does not open it.
    assert_eq!(
        ring.unwrap_key(&wrapped, "t/i/s|b2").unwrap_err(),
        CryptError::WrongKey {
            key_id: "k2".into()
        }
    );
    assert!(ring.unwrap_key(&wrapped, "t/i/other|b1").is_err());
    assert!(Keyring::new(Some(local("k1", 1)), vec![local("k1", 2)]).is_err());
}

#[test]
fn key_files_hold_32_bytes_or_64_hex_and_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let write = |body: &[u8], mode: u32| {
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write(&[5u8; 32], 0o600);
    file_key("k1", &path).unwrap();
    write(format!("{}\n", "ab".repeat(32)).as_bytes(), 0o400);
    file_key("k1", &path).unwrap();
    write(b"short", 0o600);
    let err = file_key("k1", &path).unwrap_err().to_string();
    assert!(err.contains("k1") && err.contains("32 raw bytes"), "{err}");
    write(&[5u8; 32], 0o644);
    let err = file_key("k1", &path).unwrap_err().to_string();
    assert!(err.contains("chmod 600") && err.contains("k1"), "{err}");
    let err = file_key("k1", &dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("k1") && err.contains("nope"), "{err}");
    assert!(file_key("bad id", &path).is_err());
    let err = env_key("k1", "XREGION_CRYPT_TEST_SURELY_UNSET").unwrap_err();
    assert!(err.to_string().contains("XREGION_CRYPT_TEST_SURELY_UNSET"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_size_round_trips_and_any_flip_is_caught(n in 0usize..5 * C as usize, flip in any::<prop::sample::Index>()) {
        let key = DataKey::generate();
        let plain = data(n);
        let c = cipher(&key, n as u64);
        let sealed = c.seal_range(0, &plain).unwrap();
        prop_assert_eq!(sealed.len() as u64, stored_size(n as u64, C).unwrap());
        prop_assert_eq!(&c.open_range(0, &sealed, n as u64).unwrap(), &plain);
        let mut bad = sealed.clone();
        bad[flip.index(sealed.len())] ^= 0x80;
        prop_assert!(c.open_range(0, &bad, plain.len() as u64).is_err());
    }
}

/// `cargo test -p xregion-crypt --release -- --ignored --nocapture`: MB/s
/// of sealing and opening 256 MiB, and of sha256 over it, on one core.
#[test]
#[ignore]
fn rates_on_this_machine() {
    use sha2_free_rate::rate;
    let data = vec![0x5au8; 256 << 20];
    let c = FileCipher::new(&DataKey::generate(), 0, "k", CHUNK_SIZE, data.len() as u64);
    let mut sealed = Vec::new();
    let seal = rate(data.len(), || sealed = c.seal_range(0, &data).unwrap());
    let open = rate(data.len(), || {
        assert_eq!(c.open_file(&sealed).unwrap().len(), data.len())
    });
    println!("AES-256-GCM seal {seal:.0} MB/s, open {open:.0} MB/s (one core)");
}

mod sha2_free_rate {
    pub fn rate(bytes: usize, f: impl FnOnce()) -> f64 {
        let t = std::time::Instant::now();
        f();
        bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
    }
}
