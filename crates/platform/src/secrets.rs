//! Keys a component needs: from configuration, or — in standalone mode only —
//! generated once and kept in the data directory, so a newcomer needs no set-up
//! and a restart keeps reading what was written before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use crate::Settings;

/// The configured secret, or in standalone mode the one kept in
/// `<data_dir>/<file>` (created with 32 random bytes if missing). `key` is the
/// setting's dotted name, for the error a distributed process gets without it.
pub fn resolve(settings: &Settings, configured: &SecretString, file: &str, key: &str) -> anyhow::Result<SecretString> {
    if !configured.expose_secret().is_empty() {
        return Ok(configured.clone());
    }
    if !settings.standalone {
        let var = format!("FENGQIAO_{}", key.replace('.', "__").to_uppercase());
        anyhow::bail!("{key} is not set: set {var} (32 random bytes, base64) in distributed mode");
    }
    let path = settings.data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(SecretString::from(existing.trim().to_string()));
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let fresh = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    write_private(&path, &fresh)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}; check data_dir's permissions", path.display()))?;
    Ok(SecretString::from(fresh))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_keeps_one_generated_secret_and_distributed_must_configure_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings { data_dir: dir.path().to_path_buf(), standalone: true, ..Settings::default() };
        let empty = SecretString::from(String::new());
        let first = resolve(&settings, &empty, "k", "personal_data.key").unwrap();
        let again = resolve(&settings, &empty, "k", "personal_data.key").unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        assert_eq!(URL_SAFE_NO_PAD.decode(first.expose_secret()).unwrap().len(), 32);
        settings.standalone = false;
        let err = resolve(&settings, &empty, "k", "personal_data.key").unwrap_err().to_string();
        assert!(err.contains("FENGQIAO_PERSONAL_DATA__KEY"), "{err}");
        let configured = SecretString::from("configured".to_string());
        assert_eq!(resolve(&settings, &configured, "k", "x").unwrap().expose_secret(), "configured");
    }
}
