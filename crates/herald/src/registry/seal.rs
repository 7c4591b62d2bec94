//! Hook secrets at rest: ChaCha20-Poly1305 under the key named by `[hooks] key`, a random
//! 96-bit nonce per value, kept beside the ciphertext. The hook's source and id are the
//! associated data, so a ciphertext copied to another hook's row does not open there.

use crate::secret::Secret;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use herald_store::model::SealedSecret;
use rand::TryRngCore as _;
use std::fmt;

/// Bytes of a fresh hook secret (shown as twice as many hex characters).
pub const SECRET_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key cannot open the value: another key sealed it, or the row was altered.
    #[error(
        "cannot decrypt the secret of hook `{id}` of source `{registry}`: is `[hooks] key` the key it was registered under?"
    )]
    Open { registry: String, id: String },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// The key hook secrets are sealed with: 32 bytes, from a named secret written as 64 hex
/// characters or in base64.
#[derive(Clone)]
pub struct HookKey {
    cipher: ChaCha20Poly1305,
    /// The `[secrets]` name it was read from (safe to show).
    name: String,
}

impl fmt::Debug for HookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookKey({:?}, [redacted])", self.name)
    }
}

impl HookKey {
    /// Read a key from a secret's value; the error says what is expected, never the value.
    pub fn from_secret(secret: &Secret) -> Result<HookKey, String> {
        let text = secret.expose().trim();
        let bytes = decode_key(text).ok_or_else(|| {
            format!(
                "secret `{}` is not a key of {SECRET_BYTES} bytes: write it as 64 hex characters or in base64 (e.g. `openssl rand -hex 32`)",
                secret.name()
            )
        })?;
        let key = Key::from(bytes);
        Ok(HookKey {
            cipher: ChaCha20Poly1305::new(&key),
            name: secret.name().to_string(),
        })
    }

    /// Encrypt `secret` for hook (source, id) under a fresh random nonce.
    pub fn seal(&self, source: &str, id: &str, secret: &str) -> Result<SealedSecret, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        random_bytes(&mut nonce)?;
        let aad = associated_data(source, id);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            // Only a message of many gigabytes is refused.
            .map_err(|_| SealError::Random("encryption refused the value".to_string()))?;
        Ok(SealedSecret {
            ciphertext,
            nonce: nonce.to_vec(),
        })
    }

    /// Decrypt the secret of hook (source, id).
    pub fn open(&self, source: &str, id: &str, sealed: &SealedSecret) -> Result<Secret, SealError> {
        let failed = || SealError::Open {
            registry: source.to_string(),
            id: id.to_string(),
        };
        let nonce: [u8; NONCE_BYTES] = sealed.nonce.as_slice().try_into().map_err(|_| failed())?;
        let aad = associated_data(source, id);
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| failed())?;
        let text = String::from_utf8(plain).map_err(|_| failed())?;
        Ok(Secret::new(format!("hook {source}/{id}"), text))
    }
}

fn decode_key(text: &str) -> Option<[u8; SECRET_BYTES]> {
    let bytes = if text.len() == 2 * SECRET_BYTES {
        hex::decode(text).ok()
    } else {
        None
    };
    let bytes = bytes.or_else(|| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .ok()
    })?;
    bytes.try_into().ok()
}

/// What binds a ciphertext to its hook.
fn associated_data(source: &str, id: &str) -> Vec<u8> {
    format!("herald hook secret\0{source}\0{id}").into_bytes()
}

fn random_bytes(buffer: &mut [u8]) -> Result<(), SealError> {
    rand::rngs::OsRng
        .try_fill_bytes(buffer)
        .map_err(|error| SealError::Random(error.to_string()))
}

/// A new hook secret: 32 random bytes as 64 lowercase hex characters.
pub fn fresh_secret() -> Result<Secret, SealError> {
    let mut bytes = [0u8; SECRET_BYTES];
    random_bytes(&mut bytes)?;
    Ok(Secret::new("new hook secret", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> HookKey {
        HookKey::from_secret(&Secret::new("hooks_key", KEY_HEX)).unwrap()
    }

    #[test]
    fn keys_are_read_from_hex_or_base64_and_must_be_32_bytes() {
        let base64 =
            base64::engine::general_purpose::STANDARD.encode(hex::decode(KEY_HEX).unwrap());
        let from_base64 = HookKey::from_secret(&Secret::new("k", base64)).unwrap();
        let sealed = key().seal("repos", "app", "s3cret").unwrap();
        assert_eq!(
            from_base64.open("repos", "app", &sealed).unwrap().expose(),
            "s3cret"
        );
        for bad in ["", "short", &KEY_HEX[..62], &format!("{KEY_HEX}00")] {
            let error = HookKey::from_secret(&Secret::new("hooks_key", bad)).unwrap_err();
            assert!(
                error.contains("secret `hooks_key` is not a key of 32 bytes"),
                "{error}"
            );
            assert!(bad.is_empty() || !error.contains(bad), "{error}");
        }
        assert_eq!(
            format!("{:?}", key()),
            r#"HookKey("hooks_key", [redacted])"#
        );
    }

    #[test]
    fn the_stored_value_is_not_the_plaintext_and_opens_only_for_its_hook() {
        let secret = fresh_secret().unwrap();
        let sealed = key().seal("repos", "app", secret.expose()).unwrap();
        // Ciphertext and tag; the plaintext (or its bytes) appears nowhere in what is stored.
        assert_eq!(sealed.ciphertext.len(), 64 + 16);
        assert_eq!(sealed.nonce.len(), 12);
        let stored = [sealed.ciphertext.as_slice(), sealed.nonce.as_slice()].concat();
        let plain = secret.expose().as_bytes();
        assert!(!stored.windows(8).any(|w| plain.windows(8).any(|p| p == w)));
        let raw = hex::decode(secret.expose()).unwrap();
        assert!(!stored.windows(8).any(|w| raw.windows(8).any(|p| p == w)));

        assert_eq!(
            key().open("repos", "app", &sealed).unwrap().expose(),
            secret.expose()
        );
        // Another hook, another key, a changed byte: refused.
        assert!(matches!(
            key().open("repos", "web", &sealed),
            Err(SealError::Open { .. })
        ));
        let other = HookKey::from_secret(&Secret::new("k", "ab".repeat(32))).unwrap();
        assert!(other.open("repos", "app", &sealed).is_err());
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(key().open("repos", "app", &altered).is_err());
    }

    #[test]
    fn every_seal_takes_a_new_nonce_and_every_secret_is_new() {
        let a = key().seal("repos", "app", "same").unwrap();
        let b = key().seal("repos", "app", "same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        let (x, y) = (fresh_secret().unwrap(), fresh_secret().unwrap());
        assert_ne!(x.expose(), y.expose());
        for secret in [x, y] {
            assert_eq!(secret.expose().len(), 64);
            assert!(
                secret
                    .expose()
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }
}
