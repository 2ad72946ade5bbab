//! Client certificates of mutual TLS: how a certificate is named (the SHA-256 of its DER, in
//! lowercase hex) and how `izport org cert --add` reads one from a PEM file.

use sha2::{Digest, Sha256};

/// The certificate a client presented in the TLS handshake, verified against the client CA:
/// the server puts it on every request of the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    fingerprint: String,
}

impl ClientCertificate {
    /// The certificate whose DER encoding this is.
    pub fn from_der(der: &[u8]) -> Self {
        ClientCertificate {
            fingerprint: fingerprint(der),
        }
    }

    /// Its SHA-256 fingerprint, 64 lowercase hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Why a certificate file or a fingerprint was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("no PEM certificate (-----BEGIN CERTIFICATE-----) found")]
    NoCertificate,
    #[error("the PEM text cannot be read: {0}")]
    Pem(String),
    #[error("the first certificate is not a valid X.509 certificate: {0}")]
    NotX509(String),
    #[error(
        "'{0}' is not a SHA-256 fingerprint: 64 hex digits, with or without colons \
         (as `izport org cert CODE --list` or `openssl x509 -noout -fingerprint -sha256` print it)"
    )]
    Fingerprint(String),
}

/// The SHA-256 fingerprint of a DER-encoded certificate, in lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A fingerprint as typed: hex digits, in either case, with or without colons, optionally after
/// `SHA256:` or `sha256 Fingerprint=` (openssl's output); returns the 64 lowercase digits.
pub fn parse_fingerprint(text: &str) -> Result<String, CertError> {
    let trimmed = text.trim();
    let digits = trimmed
        .rsplit_once('=')
        .map_or(trimmed, |(_, d)| d)
        .trim_start_matches("SHA256:")
        .trim_start_matches("sha256:");
    let hex: String = digits.chars().filter(|c| *c != ':').collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(CertError::Fingerprint(trimmed.chars().take(100).collect()))
    }
}

/// The first certificate of a PEM text (the client's own; a chain after it is ignored): its
/// fingerprint and its PEM block. Refused unless it is a well-formed X.509 certificate.
pub fn read_pem_certificate(text: &str) -> Result<(String, String), CertError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let first = CertificateDer::pem_slice_iter(text.as_bytes())
        .next()
        .ok_or(CertError::NoCertificate)?
        .map_err(|e| CertError::Pem(e.to_string()))?;
    webpki::EndEntityCert::try_from(&first).map_err(|e| CertError::NotX509(format!("{e:?}")))?;
    Ok((fingerprint(first.as_ref()), pem_block(first.as_ref())))
}

/// The PEM form of a DER certificate (64 base64 characters a line).
fn pem_block(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = match chunk {
            [a, b, c] => u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c),
            [a, b] => u32::from(*a) << 16 | u32::from(*b) << 8,
            [a] => u32::from(*a) << 16,
            _ => 0,
        };
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_sha256_hex_and_typed_forms_are_read() {
        // SHA-256 of the empty input.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(fingerprint(b""), empty);
        assert_eq!(parse_fingerprint(empty).as_deref(), Ok(empty));
        let openssl = format!(
            "sha256 Fingerprint={}",
            empty
                .to_ascii_uppercase()
                .as_bytes()
                .chunks(2)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        );
        assert_eq!(parse_fingerprint(&openssl).as_deref(), Ok(empty));
        assert!(parse_fingerprint("abc").is_err());
        assert!(parse_fingerprint(&empty.replace('e', "g")).is_err());
    }

    #[test]
    fn pem_files_give_their_first_certificate_or_a_clear_error() {
        let cert =
            rcgen::generate_simple_self_signed(vec!["client".to_string()]).expect("certificate");
        let pem = cert.cert.pem();
        let (fp, block) = read_pem_certificate(&format!("junk before\n{pem}")).expect("read");
        assert_eq!(fp, fingerprint(cert.cert.der()));
        assert_eq!(block.replace("\r\n", "\n"), pem.replace("\r\n", "\n"));
        assert_eq!(
            read_pem_certificate("not a certificate"),
            Err(CertError::NoCertificate)
        );
        let key_only = cert.key_pair.serialize_pem();
        assert_eq!(
            read_pem_certificate(&key_only),
            Err(CertError::NoCertificate)
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            read_pem_certificate(garbage),
            Err(CertError::NotX509(_))
        ));
    }
}
