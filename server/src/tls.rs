//! TLS without PKI work for the user (the anchors: kubeadm's CA-hash pinning, SSH's host
//! keys). `prisn server init` makes a CA and a server certificate signed by it (or takes the
//! user's `--cert/--key`); the client trusts exactly one key: the SHA-256 of the server
//! certificate's SubjectPublicKeyInfo ([`fingerprint`]), which `init` prints. A changed key
//! is refused by [`PinnedVerifier`] with an error that names both fingerprints. The names in
//! the certificate are not checked: the pin is stronger than a name, and the seed's
//! `server = "prod.example.com:7331"` may be reached through any address.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Where `init` puts the certificates, below the data directory (0700; keys 0600).
pub fn dir(data: &Path) -> PathBuf {
    data.join("tls")
}

/// The server certificate chain (PEM) the server presents.
pub fn cert_file(data: &Path) -> PathBuf {
    dir(data).join("server.pem")
}

/// Its private key (PEM, 0600).
pub fn key_file(data: &Path) -> PathBuf {
    dir(data).join("server.key")
}

/// `sha256:<hex>` of the SubjectPublicKeyInfo of a DER certificate.
///
/// # Errors
/// When the bytes are not an X.509 certificate.
pub fn fingerprint(cert: &CertificateDer<'_>) -> Result<String> {
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| Error::invalid(format!("not a usable X.509 certificate: {e}"), None))?;
    let spki = ee.subject_public_key_info();
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(spki.as_ref()))
    ))
}

/// The certificate chain of a PEM file.
///
/// # Errors
/// A missing or unreadable file, or one without a certificate.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display()), None))?;
    if chain.is_empty() {
        return Err(Error::invalid(
            format!("{}: no certificate in it", path.display()),
            Some("give a PEM file with -----BEGIN CERTIFICATE-----".into()),
        ));
    }
    Ok(chain)
}

/// The fingerprint of the server certificate in `data`.
///
/// # Errors
/// When there is none yet (`prisn server init` makes one).
pub fn server_fingerprint(data: &Path) -> Result<String> {
    fingerprint(&read_chain(&cert_file(data))?[0])
}

/// Write a PEM file with mode 0600 (keys) whole or not at all.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("write", path))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io("write", path))?;
    tmp.write_all(text.as_bytes())
        .map_err(Error::io("write", path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("write", path)(e.error))?;
    Ok(())
}

/// Make a CA and a server certificate for `hosts` (DNS names or IP addresses) in
/// `data/tls/`, or copy the user's `cert`/`key` there. Returns the fingerprint to pin.
///
/// # Errors
/// Unreadable or mismatched user files, or a failure to write.
pub fn init(data: &Path, hosts: &[String], user: Option<(&Path, &Path)>) -> Result<String> {
    let dir = dir(data);
    prisn_local::paths::create_private_dir(&dir).map_err(Error::io("create", &dir))?;
    if let Some((cert, key)) = user {
        let chain = read_chain(cert)?;
        PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::invalid(format!("--key {}: {e}", key.display()), None))?;
        let cert_text = std::fs::read_to_string(cert).map_err(Error::io("read", cert))?;
        let key_text = std::fs::read_to_string(key).map_err(Error::io("read", key))?;
        write_private(&cert_file(data), &cert_text)?;
        write_private(&key_file(data), &key_text)?;
        // Fails now, not at the first connection, when key and certificate do not match.
        server_config(data)?;
        return fingerprint(&chain[0]);
    }
    let (cert_pem, key_pem, ca_pem, ca_key_pem) =
        generate(hosts).map_err(|e| Error::Unavailable {
            message: format!("cannot make the certificates: {e}"),
            hint: None,
        })?;
    write_private(&dir.join("ca.pem"), &ca_pem)?;
    write_private(&dir.join("ca.key"), &ca_key_pem)?;
    write_private(&key_file(data), &key_pem)?;
    write_private(&cert_file(data), &cert_pem)?;
    server_fingerprint(data)
}

/// (server chain PEM, server key PEM, CA PEM, CA key PEM).
fn generate(
    hosts: &[String],
) -> std::result::Result<(String, String, String, String), rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = std::time::SystemTime::now();
    let ten_years = std::time::Duration::from_secs(10 * 365 * 24 * 3600);
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "prisn server CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now.into();
    ca.not_after = (now + ten_years).into();
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(hosts.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map_or("prisn", |h| h.as_str()),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now.into();
    params.not_after = (now + ten_years).into();
    let cert = params.signed_by(&key, &issuer)?;
    Ok((
        format!("{}{}", cert.pem(), ca_cert.pem()),
        key.serialize_pem(),
        ca_cert.pem(),
        ca_key.serialize_pem(),
    ))
}

/// The provider of the whole workspace: ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's TLS configuration from `data/tls/`.
///
/// # Errors
/// No certificate yet, or a key that does not fit it.
pub fn server_config(data: &Path) -> Result<rustls::ServerConfig> {
    let chain = read_chain(&cert_file(data)).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::invalid(
            message,
            Some("`prisn server init` makes a certificate (or takes --cert/--key)".into()),
        ),
        e => e,
    })?;
    let key_path = key_file(data);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| Error::invalid(format!("{}: {e}", key_path.display()), None))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Unavailable {
            message: format!("the TLS provider refuses its default protocol versions: {e}"),
            hint: None,
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::invalid(
                format!(
                    "{} does not fit {}: {e}",
                    key_path.display(),
                    cert_file(data).display()
                ),
                None,
            )
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A client configuration that trusts exactly the key with fingerprint `pin`.
pub fn pinned_client_config(pin: &str) -> rustls::ClientConfig {
    let provider = provider();
    let verifier = PinnedVerifier {
        pin: pin.trim().to_ascii_lowercase(),
        algorithms: provider.signature_verification_algorithms,
    };
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// Accepts the server certificate whose SPKI hash is the pin, and checks that the server
/// holds its key (the handshake signature); nothing else.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: String,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why a server was refused: its key is not the pinned one.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server's TLS key changed: its certificate's key is {got}, the context pins {pinned} (someone may be in between, or the server got a new key). If the server's owner confirms the new key, run `prisn context add … --fingerprint {got}` again"
)]
pub struct KeyChanged {
    pub pinned: String,
    pub got: String,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity).map_err(|e| rustls::Error::General(e.to_string()))?;
        if got == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::Other(rustls::OtherError(Arc::new(
            KeyChanged {
                pinned: self.pin.clone(),
                got,
            },
        ))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
