//! The InnoDB settings a physical copy was taken with, from the
//! `backup-my.cnf` in its stream: a server on the restored datadir must
//! start with the same page size, system tablespace layout and undo
//! tablespaces, or it cannot open the files. The file comes from the
//! store (whoever can write the bucket wrote it): only an allowlist of
//! keys is passed on, each value checked; a path anywhere is refused
//! (`mariabackup --prepare` reads the file too).

/// Largest backup-my.cnf read (mariabackup writes a few hundred bytes).
pub const MAX_BYTES: u64 = 64 * 1024;

/// The `mariadbd` options (`--key=value`) for the copy described by
/// `text`; an error names the line or key, never echoes a value.
pub fn server_options(text: &str) -> Result<Vec<String>, String> {
    let mut section = String::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut options = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            if section != "mysqld" {
                return Err(format!(
                    "backup-my.cnf line {}: only a [mysqld] section is expected",
                    n + 1
                ));
            }
            continue;
        }
        if section != "mysqld" {
            return Err(format!(
                "backup-my.cnf line {}: a setting outside [mysqld]",
                n + 1
            ));
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("backup-my.cnf line {}: expected key=value", n + 1))?;
        let key = key.trim().replace('-', "_");
        let value = value.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!("backup-my.cnf line {}: not a setting name", n + 1));
        }
        if !seen.insert(key.clone()) {
            return Err(format!("backup-my.cnf sets {key} twice"));
        }
        if !check(&key, value) {
            return Err(format!("backup-my.cnf: refusing the value of {key}"));
        }
        if PASSED.contains(&key.as_str()) {
            options.push(format!("--{key}={value}"));
        }
    }
    Ok(options)
}

/// The settings a server needs to open the copy's files.
const PASSED: [&str; 5] = [
    "innodb_page_size",
    "innodb_data_file_path",
    "innodb_undo_tablespaces",
    "innodb_log_file_size",
    "innodb_checksum_algorithm",
];

/// Whether `value` is acceptable for `key` (known keys: their own rule;
/// any other key: a plain word, no path).
fn check(key: &str, value: &str) -> bool {
    let number = |max: u64| value.parse::<u64>().is_ok_and(|v| v <= max);
    match key {
        "innodb_page_size" => [
            "4096", "8192", "16384", "32768", "65536", "4k", "8k", "16k", "32k", "64k",
        ]
        .contains(&value.to_ascii_lowercase().as_str()),
        "innodb_data_file_path" => data_file_path(value),
        "innodb_undo_tablespaces" => number(127),
        "innodb_log_file_size" => number(512 << 30),
        "innodb_compression_level" => number(9),
        "innodb_checksum_algorithm" => [
            "crc32",
            "strict_crc32",
            "full_crc32",
            "strict_full_crc32",
            "innodb",
            "strict_innodb",
            "none",
            "strict_none",
        ]
        .contains(&value),
        // The datadir itself: the only place undo files may be.
        "innodb_undo_directory" => value == "./" || value == ".",
        _ => {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:+-".contains(c))
                && !value.contains("..")
        }
    }
}

/// `ibdata1:12M;ibdata2:50M:autoextend[:max:1G]`: plain file names in
/// the datadir, sizes with an optional K/M/G.
fn data_file_path(value: &str) -> bool {
    let size = |s: &str| {
        let digits = s.trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g']);
        !digits.is_empty()
            && digits.len() <= 12
            && digits.chars().all(|c| c.is_ascii_digit())
            && s.len() - digits.len() <= 1
    };
    !value.is_empty()
        && value.len() <= 256
        && value.split(';').all(|spec| {
            let parts: Vec<&str> = spec.split(':').collect();
            let name_ok = parts.first().is_some_and(|n| {
                !n.is_empty()
                    && !n.starts_with('.')
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            });
            name_ok
                && match parts.as_slice() {
                    [_, s] => size(s),
                    [_, s, "autoextend"] => size(s),
                    [_, s, "autoextend", "max", m] => size(s) && size(m),
                    _ => false,
                }
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WRITTEN: &str = "# This options file was generated by innobackupex.\n\n# The server\n[mysqld]\ninnodb_checksum_algorithm=crc32\ninnodb_data_file_path=ibdata1:12M:autoextend\ninnodb_log_file_size=100663296\ninnodb_page_size=16384\ninnodb_undo_directory=./\ninnodb_undo_tablespaces=0\ninnodb_compression_level=6\n";

    #[test]
    fn what_mariabackup_writes_becomes_server_options() {
        assert_eq!(
            server_options(WRITTEN).unwrap(),
            [
                "--innodb_checksum_algorithm=crc32",
                "--innodb_data_file_path=ibdata1:12M:autoextend",
                "--innodb_log_file_size=100663296",
                "--innodb_page_size=16384",
                "--innodb_undo_tablespaces=0",
            ]
        );
        let small = "[mysqld]\ninnodb_page_size=4k\ninnodb_data_file_path=ibdata1:10M;ibdata2:10M:autoextend:max:1G\nsome_new_setting=on\n";
        assert_eq!(
            server_options(small).unwrap(),
            [
                "--innodb_page_size=4k",
                "--innodb_data_file_path=ibdata1:10M;ibdata2:10M:autoextend:max:1G"
            ]
        );
    }

    #[test]
    fn hostile_values_are_refused_without_echoing_them() {
        for (text, says) in [
            (
                "[mysqld]\ninnodb_page_size=16384 --init-file=/x",
                "innodb_page_size",
            ),
            ("[mysqld]\ninnodb_page_size=12345", "innodb_page_size"),
            (
                "[mysqld]\ninnodb_data_file_path=/etc/passwd:12M",
                "innodb_data_file_path",
            ),
            (
                "[mysqld]\ninnodb_data_file_path=../ibdata1:12M",
                "innodb_data_file_path",
            ),
            (
                "[mysqld]\ninnodb_data_file_path=ibdata1:12M:autoextend\n",
                "",
            ),
            (
                "[mysqld]\ninnodb_undo_directory=/var/lib/secret",
                "innodb_undo_directory",
            ),
            (
                "[mysqld]\ninnodb_undo_tablespaces=1000",
                "innodb_undo_tablespaces",
            ),
            (
                "[mysqld]\ninnodb_checksum_algorithm=crc32;x",
                "innodb_checksum_algorithm",
            ),
            (
                "[mysqld]\ninnodb_log_group_home_dir=/tmp/evil",
                "innodb_log_group_home_dir",
            ),
            ("[mysqld]\nplugin_dir=../../evil", "plugin_dir"),
            (
                "[mysqld]\ninnodb_page_size=4k\ninnodb_page_size=64k",
                "twice",
            ),
            ("[client]\npassword=x", "only a [mysqld]"),
            ("innodb_page_size=4k", "outside [mysqld]"),
            ("[mysqld]\n--init-file /etc/shadow", "expected key=value"),
            ("[mysqld]\ninit file=/etc/shadow", "not a setting name"),
        ] {
            match server_options(text) {
                Ok(opts) if says.is_empty() => assert_eq!(opts.len(), 1),
                Ok(opts) => panic!("{text:?} accepted: {opts:?}"),
                Err(e) => {
                    assert!(e.contains(says), "{text:?}: {e}");
                    for secret in ["/etc", "/x", "/var", "/tmp", "evil", "12345", "1000"] {
                        assert!(!e.contains(secret), "{e} echoes the value");
                    }
                }
            }
        }
    }
}
