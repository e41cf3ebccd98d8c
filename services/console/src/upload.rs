//! A form as it arrives: url-encoded, or multipart when it carries files (the
//! grid worker's photos at the counter, a case file's document). A file is
//! reduced to its metadata — file name,
//! media type, size, SHA-256 and the GPS position it records, if any — and
//! its bytes are dropped: only the
//! fingerprint passes through fengqiao (the photo stays on the worker's device
//! or in the county's document store, and its hash proves it unchanged later).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use fengqiao_proto::fengqiao::common::v1::{Attachment, GeoPoint};
use sha2::{Digest, Sha256};

/// The largest form accepted, files included.
pub const MAX_FORM_BYTES: usize = 64 * 1024 * 1024;

/// The form's text fields and the metadata of its files.
#[derive(Debug, Default)]
pub struct UploadForm {
    /// Text fields by name.
    pub fields: HashMap<String, String>,
    /// One per file chosen, in the order sent.
    pub files: Vec<Attachment>,
    /// The GPS position of the first photo whose metadata records one (when asked for).
    pub photo_point: Option<GeoPoint>,
}

/// The metadata of one file.
pub fn fingerprint(name: &str, media_type: &str, bytes: &[u8]) -> Attachment {
    Attachment {
        name: name.to_string(),
        media_type: media_type.to_string(),
        size_bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// Reads the form from `request`; with `position`, also the GPS position the
/// first photo that has one records. `None` when it cannot be read (cut off,
/// too large, malformed).
pub async fn read(request: Request, position: bool) -> Option<UploadForm> {
    let multipart = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES).await.ok()?;
        let fields = form_urlencoded::parse(&body).into_owned().collect();
        return Some(UploadForm { fields, ..Default::default() });
    }
    let mut parts = Multipart::from_request(request, &()).await.ok()?;
    let mut form = UploadForm::default();
    while let Some(part) = parts.next_field().await.ok()? {
        let name = part.name().unwrap_or_default().to_string();
        let file_name = part.file_name().map(str::to_string);
        let media_type = part.content_type().unwrap_or("application/octet-stream").to_string();
        let bytes = part.bytes().await.ok()?;
        match file_name {
            // A file input left empty still sends a part, with no name and no bytes.
            Some(file_name) if !(file_name.is_empty() && bytes.is_empty()) => {
                form.files.push(fingerprint(&file_name, &media_type, &bytes));
                if position && form.photo_point.is_none() {
                    form.photo_point = crate::position::from_photo(&bytes);
                }
            }
            Some(_) => {}
            None => {
                form.fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Some(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_kept_as_its_name_type_size_and_sha256() {
        let a = fingerprint("现场.jpg", "image/jpeg", b"abc");
        assert_eq!(a.size_bytes, 3);
        assert_eq!(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!((a.name.as_str(), a.media_type.as_str()), ("现场.jpg", "image/jpeg"));
    }
}
