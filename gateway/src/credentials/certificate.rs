//! Client certificates: the agency a verified certificate names in its URI
//! SAN (`spiffe://fengqiao/agency/<id>`), its fingerprint (the credential id
//! the registry knows it by), and issuing development CAs and certificates.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use sha2::{Digest, Sha256};

/// The URI SAN prefix that names an agency.
pub const SPIFFE_PREFIX: &str = "spiffe://fengqiao/agency/";

/// The credential id of a certificate: SHA-256 of its DER, hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The agency a certificate names in its URI SAN, if exactly one.
pub fn agency_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut agencies = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(SPIFFE_PREFIX).map(str::to_string),
        _ => None,
    });
    let one = agencies.next()?;
    agencies.next().is_none().then_some(one).filter(|a| !a.is_empty() && !a.contains('/'))
}

/// The last instant (seconds since the epoch) a certificate is valid.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// A PEM certificate and its PEM private key.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate's DER (for its fingerprint).
    pub der: Vec<u8>,
}

fn validity(params: &mut CertificateParams, from: time::OffsetDateTime, days: i64) {
    params.not_before = from;
    params.not_after = from + time::Duration::days(days);
}

/// A new self-signed CA for development and tests.
pub fn new_ca(name: &str, days: i64) -> anyhow::Result<Issued> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut params, time::OffsetDateTime::now_utc() - time::Duration::hours(1), days);
    let cert = params.self_signed(&key)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() })
}

/// What kind of certificate the CA signs.
pub enum Role<'a> {
    /// A server certificate for these DNS names / IP addresses.
    Server(&'a [String]),
    /// An agency's client certificate.
    Agency(&'a str),
}

/// A certificate signed by the CA (`ca_cert_pem`, `ca_key_pem`), valid from
/// `from` for `days` (a `from` in the past with few days makes an expired one, for tests).
pub fn issue(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    role: Role<'_>,
    from: time::OffsetDateTime,
    days: i64,
) -> anyhow::Result<Issued> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    match role {
        Role::Server(names) => {
            params.distinguished_name.push(DnType::CommonName, "fengqiao gateway");
            for name in names {
                params.subject_alt_names.push(match name.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(name.as_str().try_into()?),
                });
            }
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Role::Agency(agency) => {
            params.distinguished_name.push(DnType::CommonName, agency);
            params.subject_alt_names.push(SanType::URI(format!("{SPIFFE_PREFIX}{agency}").try_into()?));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
    validity(&mut params, from, days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_certificate_names_its_agency_and_has_a_stable_fingerprint() {
        let ca = new_ca("test CA", 30).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let cert = issue(&ca.cert_pem, &ca.key_pem, Role::Agency("court-620802"), now, 10).unwrap();
        assert_eq!(agency_of(&cert.der).as_deref(), Some("court-620802"));
        assert_eq!(fingerprint(&cert.der), fingerprint(&cert.der));
        assert_eq!(fingerprint(&cert.der).len(), 64);
        let days = (not_after(&cert.der).unwrap() - now.unix_timestamp()) / 86_400;
        assert_eq!(days, 10, "valid for ten days from now");
        let server = issue(&ca.cert_pem, &ca.key_pem, Role::Server(&["localhost".into()]), now, 10).unwrap();
        assert_eq!(agency_of(&server.der), None, "a server certificate names no agency");
    }
}
