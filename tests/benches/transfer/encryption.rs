//! The encrypted phase of the transfer benchmark: a Garage region that
//! encrypts at rest (its `[regions.encryption]` written into the stack's
//! configuration before the services start), and the raw cost of sealing
//! against hashing, measured in process on the same bytes.

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use sha2::Digest;
use xregion_tests::stack::Stack;

/// Gives region `id` a fresh key: its `[regions.encryption]` table goes
/// right after the region's own tables, before the next `[[regions]]`.
pub fn encrypt_region(stack: &Stack, id: &str) -> anyhow::Result<()> {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let path = stack.dir.path().join(format!("{id}.key"));
    std::fs::write(&path, key)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let config = std::fs::read_to_string(&stack.config_path)?;
    let at = config
        .find(&format!("id = \"{id}\""))
        .ok_or_else(|| anyhow::anyhow!("region {id} not in the configuration"))?;
    let end = config[at..]
        .find("[[regions]]")
        .map(|i| at + i)
        .or_else(|| config[at..].find("\n[worker]").map(|i| at + i))
        .unwrap_or(config.len());
    let table = format!(
        "\n[regions.encryption]\nkey_id = \"bench-{id}\"\nkey_file = \"{}\"\n\n",
        path.display()
    );
    let config = format!("{}{table}{}", &config[..end], &config[end..]);
    std::fs::write(&stack.config_path, config)?;
    Ok(())
}

/// MB/s of AES-256-GCM sealing (1 MiB chunks) and of sha256 over the same
/// 256 MiB, one core each, in this process.
pub fn raw_rates() -> (f64, f64) {
    let data = vec![0x5au8; 256 * 1024 * 1024];
    let key = xregion_crypt::DataKey::generate();
    let cipher = xregion_crypt::FileCipher::new(
        &key,
        0,
        "bench",
        xregion_crypt::CHUNK_SIZE,
        data.len() as u64,
    );
    let mb = data.len() as f64 / 1e6;
    let started = Instant::now();
    let sealed = cipher.seal_range(0, &data).map(|s| s.len()).unwrap_or(0);
    let seal = mb / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let digest = sha2::Sha256::digest(&data);
    let sha = mb / started.elapsed().as_secs_f64();
    // Both results used, so neither computation is optimised away.
    assert!(sealed > data.len() && digest.len() == 32);
    (seal, sha)
}
