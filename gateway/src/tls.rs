//! The gateway's certificate for local runs (`cargo xtask cluster`, the cluster tests): a
//! private CA and a certificate it signs for `localhost` and 127.0.0.1, generated on first use
//! into a directory and reused afterwards. Clients trust the CA ([`LocalTls::ca_pem`]), never
//! the whole system's roots. Compose and Nomad take a real certificate from a mounted file or a
//! Nomad variable instead (docs/deploy.md).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The names the local certificate is valid for.
const LOCAL_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The files of a local gateway certificate.
#[derive(Debug, Clone)]
pub struct LocalTls {
    /// The CA's certificate, PEM: what a client adds as its root.
    pub ca_pem: String,
    /// The gateway's certificate (PEM) as the gateway serves it.
    pub cert_file: PathBuf,
    /// Its private key (PEM, readable by the owner only).
    pub key_file: PathBuf,
}

impl LocalTls {
    /// The certificate in `dir` (`ca.pem`, `gateway.pem`, `gateway-key.pem`), generated when
    /// any of the three is missing.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let ca_file = dir.join("ca.pem");
        let tls = Self {
            ca_pem: String::new(),
            cert_file: dir.join("gateway.pem"),
            key_file: dir.join("gateway-key.pem"),
        };
        if !(ca_file.exists() && tls.cert_file.exists() && tls.key_file.exists()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let generated = generate().context("generating the local certificate")?;
            write_private(&tls.key_file, &generated.key_pem)?;
            std::fs::write(&tls.cert_file, &generated.cert_pem)?;
            std::fs::write(&ca_file, &generated.ca_pem)?;
        }
        let ca_pem = std::fs::read_to_string(&ca_file)
            .with_context(|| format!("reading {}", ca_file.display()))?;
        Ok(Self { ca_pem, ..tls })
    }

    /// The certificate followed by its private key, in one PEM: the file HAProxy's `crt`
    /// loads.
    pub fn combined_pem(&self) -> anyhow::Result<String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let (cert, key) = (read(&self.cert_file)?, read(&self.key_file)?);
        Ok(format!("{}\n{}", cert.trim_end(), key))
    }
}

struct Generated {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn generate() -> anyhow::Result<Generated> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "shop local gateway CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(LOCAL_NAMES.map(str::to_owned).to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "shop local gateway");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes `contents` readable by the owner only (a private key, generated secrets). The mode
/// is given at creation, so the file is never readable by others, not even before a chmod.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("gateway-tls-{}", std::process::id()));
        let first = LocalTls::load_or_create(&dir).unwrap();
        let cert = std::fs::read_to_string(&first.cert_file).unwrap();
        assert!(first.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let second = LocalTls::load_or_create(&dir).unwrap();
        assert_eq!(second.ca_pem, first.ca_pem, "reused, not regenerated");
        assert_eq!(std::fs::read_to_string(&second.cert_file).unwrap(), cert);
        let combined = first.combined_pem().unwrap();
        assert!(combined.starts_with(&cert), "the certificate first");
        assert!(
            combined.trim_end().ends_with("-----END PRIVATE KEY-----"),
            "then its key"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
