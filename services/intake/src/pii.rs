//! Personal data at rest: resident ids and phone numbers are sealed with
//! AES-256-GCM (`<key id>:<base64 nonce‖ciphertext>`, so keys can rotate),
//! found again by keyed hashes (HMAC-SHA-256) and shown masked.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use fengqiao_platform::{secrets, Settings};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

/// Seals, opens and hashes personal data.
pub struct Vault {
    key_id: String,
    ciphers: HashMap<String, Aes256Gcm>,
    hash_key: Vec<u8>,
}

fn decode_key(text: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text.trim()))
        .map_err(|_| anyhow::anyhow!("{what} is not base64"))?;
    anyhow::ensure!(bytes.len() == 32, "{what} must be 32 bytes, base64 encoded");
    Ok(bytes)
}

impl Vault {
    /// The vault the settings describe (standalone: keys kept in `data_dir`).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let pd = &settings.personal_data;
        let key = secrets::resolve(settings, &pd.key, "personal-data-key", "personal_data.key")?;
        let hash_key = secrets::resolve(settings, &pd.hash_key, "personal-data-hash-key", "personal_data.hash_key")?;
        let mut keys = vec![(pd.key_id.clone(), decode_key(key.expose_secret(), "personal_data.key")?)];
        for entry in pd.previous_keys.expose_secret().split(',').filter(|e| !e.trim().is_empty()) {
            let (id, k) = entry.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("personal_data.previous_keys: write each as id=base64, separated by commas")
            })?;
            keys.push((id.trim().to_string(), decode_key(k, "a key in personal_data.previous_keys")?));
        }
        Self::new(&pd.key_id, keys, decode_key(hash_key.expose_secret(), "personal_data.hash_key")?)
    }

    /// A vault sealing with `key_id` and opening with any of `keys`.
    pub fn new(key_id: &str, keys: Vec<(String, Vec<u8>)>, hash_key: Vec<u8>) -> anyhow::Result<Self> {
        let mut ciphers = HashMap::new();
        for (id, k) in keys {
            ciphers.insert(
                id,
                Aes256Gcm::new_from_slice(&k).map_err(|_| anyhow::anyhow!("an AES-256 key must be 32 bytes"))?,
            );
        }
        anyhow::ensure!(ciphers.contains_key(key_id), "no key with the current key id");
        Ok(Self { key_id: key_id.to_string(), ciphers, hash_key })
    }

    /// Seals `plain` with the current key and a fresh nonce.
    pub fn seal(&self, plain: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let sealed =
            self.ciphers[&self.key_id].encrypt(&nonce, plain.as_bytes()).expect("AES-GCM seals any length we store");
        let mut out = nonce_bytes.to_vec();
        out.extend(sealed);
        format!("{}:{}", self.key_id, URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value (with whichever key sealed it).
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let (id, body) = sealed.split_once(':').ok_or_else(|| anyhow::anyhow!("not a sealed value"))?;
        let cipher =
            self.ciphers.get(id).ok_or_else(|| anyhow::anyhow!("sealed with key {id}, which is not configured"))?;
        let bytes = URL_SAFE_NO_PAD.decode(body)?;
        anyhow::ensure!(bytes.len() > 12, "sealed value too short");
        let nonce = Nonce::from(<[u8; 12]>::try_from(&bytes[..12]).expect("12 bytes"));
        let plain = cipher
            .decrypt(&nonce, &bytes[12..])
            .map_err(|_| anyhow::anyhow!("sealed value does not open: wrong key or altered"))?;
        Ok(String::from_utf8(plain)?)
    }

    /// The keyed hash of a normalised value of `kind` (`id`, `phone`, `name+phone`).
    pub fn hash(&self, kind: &str, normalised: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.hash_key).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// `6208**********123X`: the first four and last four characters.
pub fn mask_resident_id(id: &str) -> String {
    mask(id, 4, 4)
}

/// `138****5678`: the first three and last four digits.
pub fn mask_phone(phone: &str) -> String {
    mask(&normalise_phone(phone), 3, 4)
}

fn mask(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Digits only, without the country code.
pub fn normalise_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("0086").unwrap_or(&digits);
    match digits.strip_prefix("86") {
        Some(rest) if rest.len() >= 10 => rest.to_string(),
        _ => digits.to_string(),
    }
}

/// Upper-case X, no spaces.
pub fn normalise_resident_id(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

/// No spaces or middle dots, lower case.
pub fn normalise_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(id: &str, key: u8) -> Vault {
        Vault::new(id, vec![(id.into(), vec![key; 32])], vec![9; 32]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_hides_its_text() {
        let v = vault("k1", 1);
        let sealed = v.seal("11010519491231002X");
        assert!(sealed.starts_with("k1:"));
        assert!(!sealed.contains("11010519491231002X"));
        assert_ne!(sealed, v.seal("11010519491231002X"), "a fresh nonce each time");
        assert_eq!(v.open(&sealed).unwrap(), "11010519491231002X");
        assert!(vault("k1", 2).open(&sealed).is_err(), "another key does not open it");
        let mut altered = sealed.clone();
        altered.pop();
        assert!(v.open(&altered).is_err());
    }

    #[test]
    fn a_rotated_vault_still_opens_old_values() {
        let old = vault("k1", 1);
        let sealed = old.seal("13812345678");
        let rotated =
            Vault::new("k2", vec![("k2".into(), vec![2; 32]), ("k1".into(), vec![1; 32])], vec![9; 32]).unwrap();
        assert_eq!(rotated.open(&sealed).unwrap(), "13812345678");
        assert!(rotated.seal("x").starts_with("k2:"));
    }

    #[test]
    fn hashes_match_for_the_same_person_and_depend_on_the_key() {
        let v = vault("k1", 1);
        assert_eq!(
            v.hash("phone", &normalise_phone("+86 138-1234-5678")),
            v.hash("phone", &normalise_phone("13812345678"))
        );
        assert_ne!(v.hash("phone", "13812345678"), v.hash("id", "13812345678"));
        let other = Vault::new("k1", vec![("k1".into(), vec![1; 32])], vec![8; 32]).unwrap();
        assert_ne!(v.hash("phone", "13812345678"), other.hash("phone", "13812345678"));
    }

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask_resident_id("62080219800101123X"), "6208**********123X");
        assert_eq!(mask_phone("+86 138 1234 5678"), "138****5678");
        assert_eq!(mask_phone("0933-8212345"), "093****2345");
        assert_eq!(normalise_name(" 买买提·艾力 "), "买买提艾力");
    }
}
