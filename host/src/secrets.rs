//! Secrets at rest: the key that encrypts the integrations' API keys and
//! passwords, kept outside the database, and the sealing of one value with
//! it (XChaCha20-Poly1305). Only `integration` seals and opens values, so
//! everything else sees them in clear and never needs to know.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use zeroize::Zeroizing;

/// The key itself, as base64 or hex; it wins over any key file.
pub const KEY_VARIABLE: &str = "MAPSYNC_SECRET_KEY";
/// Where the key file is, when not beside the database.
pub const KEY_FILE_VARIABLE: &str = "MAPSYNC_SECRET_KEY_FILE";

/// What a sealed value starts with: the scheme and its version, so a later
/// scheme can tell its values from these.
const SEALED: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

const KEY_FORMS: &str = "32 bytes as base64 (44 characters, e.g. from `openssl rand -base64 32`) or as 64 hex digits (`openssl rand -hex 32`)";

/// Where the key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `MAPSYNC_SECRET_KEY`.
    Variable,
    /// A key file; `named` when `MAPSYNC_SECRET_KEY_FILE` chose it rather
    /// than the database's own path.
    File { path: PathBuf, named: bool },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Variable => write!(f, "the key in {KEY_VARIABLE}"),
            KeySource::File { path, named: true } => write!(
                f,
                "the key file {} (from {KEY_FILE_VARIABLE})",
                path.display()
            ),
            KeySource::File { path, named: false } => {
                write!(f, "the key file {}", path.display())
            }
        }
    }
}

/// Whether the environment names the key (or its file), rather than
/// leaving it beside the database.
pub fn key_is_named() -> bool {
    std::env::var_os(KEY_VARIABLE).is_some()
        || std::env::var_os(KEY_FILE_VARIABLE).is_some_and(|f| !f.is_empty())
}

impl KeySource {
    /// `MAPSYNC_SECRET_KEY` if set, else the file `MAPSYNC_SECRET_KEY_FILE`
    /// names, else `<database>.key` beside the database.
    pub fn for_database(database: &Path) -> KeySource {
        KeySource::choose(
            std::env::var_os(KEY_VARIABLE).is_some(),
            std::env::var_os(KEY_FILE_VARIABLE),
            database,
        )
    }

    fn choose(variable_set: bool, file: Option<std::ffi::OsString>, database: &Path) -> KeySource {
        if variable_set {
            return KeySource::Variable;
        }
        match file.filter(|f| !f.is_empty()) {
            Some(path) => KeySource::File {
                path: path.into(),
                named: true,
            },
            None => {
                let mut path = database.as_os_str().to_owned();
                path.push(".key");
                KeySource::File {
                    path: path.into(),
                    named: false,
                }
            }
        }
    }
}

pub struct Key {
    bytes: Zeroizing<[u8; 32]>,
    pub source: KeySource,
}

impl Key {
    /// The key of this database, or `None` when its key file does not exist
    /// (yet). A malformed key is an error.
    pub fn find(database: &Path) -> Result<Option<Key>> {
        let source = KeySource::for_database(database);
        match &source {
            KeySource::Variable => {
                let text = Zeroizing::new(std::env::var(KEY_VARIABLE).map_err(|_| {
                    anyhow::anyhow!("{KEY_VARIABLE} is not a key: give {KEY_FORMS}")
                })?);
                let bytes = parse(&text)
                    .with_context(|| format!("{KEY_VARIABLE} is not a key: give {KEY_FORMS}"))?;
                Ok(Some(Key { bytes, source }))
            }
            KeySource::File { path, .. } => {
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => Zeroizing::new(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => bail!("reading {source}: {e}"),
                };
                let bytes = parse(&text).with_context(|| {
                    format!("{source} holds no key: it must hold {KEY_FORMS}, as mapsync writes it")
                })?;
                Ok(Some(Key { bytes, source }))
            }
        }
    }

    /// The key of this database, its key file created (owner-only) when
    /// there is none yet.
    pub fn find_or_create(database: &Path) -> Result<Key> {
        if let Some(key) = Key::find(database)? {
            return Ok(key);
        }
        let KeySource::File { path, .. } = KeySource::for_database(database) else {
            unreachable!("a key in the environment is always found")
        };
        // Whoever runs the first command (root, say), the key belongs to
        // the database's owner, who runs the service.
        let owner = std::fs::metadata(database).ok().map(|m| (m.uid(), m.gid()));
        create_key_file(&path, owner)?;
        Key::find(database)?
            .with_context(|| format!("the key file {} vanished as it was made", path.display()))
    }

    /// `plain` encrypted, bound to its row and column so it cannot be moved
    /// to another integration or swapped with the other secret.
    pub fn seal(&self, plain: &str, row: &str, column: &str) -> String {
        // From the thread's CSPRNG: 24 random bytes do not repeat in
        // practice, which is why XChaCha rather than ChaCha.
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &associated_data(row, column),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any value this short");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        format!("{SEALED}{}", BASE64.encode(stored))
    }

    /// The value `seal` sealed for this row and column; `None` when this is
    /// not the key it was sealed with, or it was altered or moved.
    pub fn open(&self, stored: &str, row: &str, column: &str) -> Option<String> {
        let bytes = BASE64.decode(stored.strip_prefix(SEALED)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &associated_data(row, column),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.bytes[..]))
    }
}

/// Whether a stored value is sealed (rather than left in clear by a mapsync
/// from before encryption).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// The row and column a value belongs to; NUL cannot occur in either.
fn associated_data(row: &str, column: &str) -> Vec<u8> {
    format!("mapsync\0integrations\0{row}\0{column}").into_bytes()
}

/// A key written as 64 hex digits or as base64 of 32 bytes; surrounding
/// whitespace (a file's newline) is ignored. The error never echoes it.
fn parse(text: &str) -> Result<Zeroizing<[u8; 32]>> {
    let text = text.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)?;
        }
        return Ok(key);
    }
    let decoded = Zeroizing::new(
        BASE64
            .decode(text)
            .map_err(|_| anyhow::anyhow!("neither 64 hex digits nor base64"))?,
    );
    if decoded.len() != 32 {
        bail!("base64 of {} bytes, not 32", decoded.len());
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// A fresh random key written to `path`, created owner-only (never widened
/// and then narrowed). It is written aside and linked into place, which
/// fails if the file exists: two processes making it at once agree on the
/// first one's key, and nobody ever reads a half-written file.
fn create_key_file(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(&mut key[..])
        .context("drawing a random key from the operating system")?;
    let text = Zeroizing::new(format!("{}\n", BASE64.encode(&key[..])));
    let name = path
        .file_name()
        .with_context(|| format!("the key file {} has no file name", path.display()))?;
    let mut aside = name.to_owned();
    aside.push(format!(".{}.tmp", std::process::id()));
    let aside = path.with_file_name(aside);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            if let Some((uid, gid)) = owner
                && file.metadata()?.uid() != uid
            {
                // Only root can give a file away; anyone else keeps it.
                let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
            }
            Ok(())
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&aside);
        bail!("creating the key file {}: {e}", path.display());
    }
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(()),
        // Another process made it first: its key is the one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => bail!("creating the key file {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key {
            bytes: Zeroizing::new([byte; 32]),
            source: KeySource::Variable,
        }
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_row_and_column() {
        let k = key(1);
        let sealed = k.seal("PW-secret", "row1", "password");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("PW-secret"));
        assert_eq!(
            k.open(&sealed, "row1", "password").as_deref(),
            Some("PW-secret")
        );
        assert_eq!(
            k.open(&sealed, "row2", "password"),
            None,
            "moved to another row"
        );
        assert_eq!(k.open(&sealed, "row1", "api_key"), None, "swapped columns");
        assert_eq!(
            key(2).open(&sealed, "row1", "password"),
            None,
            "another key"
        );
        assert_ne!(
            sealed,
            k.seal("PW-secret", "row1", "password"),
            "the nonce is not fresh"
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.open(&altered, "row1", "password"), None);
        assert_eq!(k.open("PW-secret", "row1", "password"), None);
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_and_never_echoed() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse(&hex).unwrap()[31], 0xff);
        let base64 = BASE64.encode([7u8; 32]);
        assert_eq!(*parse(&format!("{base64}\n")).unwrap(), [7u8; 32]);
        let (sixteen, not_hex) = (BASE64.encode([7u8; 16]), "zz".repeat(32));
        for bad in ["", "short", sixteen.as_str(), not_hex.as_str()] {
            let error = format!("{:#}", parse(bad).unwrap_err());
            assert!(bad.is_empty() || !error.contains(bad), "{error}");
        }
    }

    #[test]
    fn the_key_lives_in_the_variable_the_named_file_or_beside_the_database() {
        let db = Path::new("/var/lib/mapsync/mapsync.db");
        assert_eq!(
            KeySource::choose(true, Some("/etc/k".into()), db),
            KeySource::Variable
        );
        assert_eq!(
            KeySource::choose(false, Some("/etc/k".into()), db),
            KeySource::File {
                path: "/etc/k".into(),
                named: true
            }
        );
        assert_eq!(
            KeySource::choose(false, None, db),
            KeySource::File {
                path: "/var/lib/mapsync/mapsync.db.key".into(),
                named: false
            }
        );
    }

    #[test]
    fn a_key_file_is_created_owner_only_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create_key_file(&path, None).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        create_key_file(&path, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        assert_eq!(parse(&first).unwrap().len(), 32);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
