//! TLS to PostgreSQL, chosen by libpq's `sslmode` in the connection URL.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and nothing of a CA file, so the
//! URL is read here first: `sslmode` (and `sslrootcert`) are taken out, the mode decides the
//! rustls verifier, and tokio-postgres gets the rest of the URL with the mode it understands.
//!
//! | `sslmode` | on the wire | the server's certificate |
//! |---|---|---|
//! | `disable`, `prefer` (default) | plain text, as before TLS support | — |
//! | `require` | TLS, or no connection | not checked (as libpq without a root certificate) |
//! | `verify-ca` | TLS | signed by a CA of `DATABASE_CA_FILE` |
//! | `verify-full` | TLS | that, and issued for the host in the URL |
//!
//! `prefer` does not try TLS, unlike libpq: the default stays what it was, and production
//! warns about a plain-text connection (see `startup`).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use shop_config::ConfigError;

/// libpq's `sslmode` values (`allow` is taken as `prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// The libpq spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether the connection is encrypted.
    pub fn encrypts(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }

    /// What tokio-postgres is told: TLS or not (the verifier does the rest). Never its
    /// `prefer`, which would try TLS now that the connector can.
    pub fn wire(self) -> tokio_postgres::config::SslMode {
        if self.encrypts() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        }
    }
}

/// A connection URL read for TLS: the tokio-postgres configuration, and how to connect.
#[derive(Debug)]
pub struct TlsUrl {
    /// Without `sslmode` and `sslrootcert`; its `ssl_mode` is [`SslMode::wire`].
    pub config: tokio_postgres::Config,
    pub mode: SslMode,
    /// `sslrootcert` from the URL, which wins over `DATABASE_CA_FILE`.
    pub root_cert: Option<String>,
}

/// Reads `url` (`postgres://…`, or libpq's `key=value` form, which knows only tokio-postgres's
/// modes); `key` names the setting in errors.
pub fn read_url(key: &str, url: &str) -> Result<TlsUrl, ConfigError> {
    let invalid = |error: &dyn std::fmt::Display| ConfigError::new(key, format!("{error}"));
    let (rest, mode, root_cert) =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_tls_parameters(key, url)?
        } else {
            (url.to_owned(), None, None)
        };
    let mut config: tokio_postgres::Config = rest.parse().map_err(|error| invalid(&error))?;
    let mode = mode.unwrap_or(match config.get_ssl_mode() {
        tokio_postgres::config::SslMode::Require => SslMode::Require,
        tokio_postgres::config::SslMode::Disable => SslMode::Disable,
        _ => SslMode::Prefer,
    });
    config.ssl_mode(mode.wire());
    Ok(TlsUrl {
        config,
        mode,
        root_cert,
    })
}

/// `url` without `sslmode` and `sslrootcert`, and their values.
fn split_tls_parameters(
    key: &str,
    url: &str,
) -> Result<(String, Option<SslMode>, Option<String>), ConfigError> {
    let mut parsed =
        url::Url::parse(url).map_err(|error| ConfigError::new(key, format!("{error}")))?;
    if !parsed
        .query_pairs()
        .any(|(name, _)| name == "sslmode" || name == "sslrootcert")
    {
        return Ok((url.to_owned(), None, None));
    }
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (name, value) in parsed.query_pairs() {
        match &*name {
            "sslmode" => {
                mode = Some(SslMode::parse(&value).ok_or_else(|| {
                    ConfigError::new(
                        key,
                        format!(
                            "sslmode={value} is not one of disable, prefer, require, verify-ca, \
                             verify-full"
                        ),
                    )
                })?);
            }
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => kept.push((name.into_owned(), value.into_owned())),
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.into(), mode, root_cert))
}

/// The rustls connector for `mode`; `ca_file` (PEM) is required by the `verify-*` modes.
pub fn connector(
    key: &str,
    mode: SslMode,
    ca_file: Option<&str>,
) -> Result<MakeRustlsConnect, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ConfigError::new(key, format!("TLS: {error}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        // Never used (tokio-postgres is told not to use TLS), but the connector has one type.
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(EncryptOnly(provider)),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let ca_file = ca_file.ok_or_else(|| {
                ConfigError::new(
                    "DATABASE_CA_FILE",
                    format!("is required by the sslmode=verify-ca/verify-full of {key}"),
                )
            })?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_file)?), provider)
                    .build()
                    .map_err(|error| ConfigError::new("DATABASE_CA_FILE", format!("{error}")))?;
            if mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots(ca_file: &str) -> Result<RootCertStore, ConfigError> {
    let fail = |why: String| ConfigError::new("DATABASE_CA_FILE", format!("{ca_file}: {why}"));
    let mut roots = RootCertStore::empty();
    for certificate in
        CertificateDer::pem_file_iter(ca_file).map_err(|error| fail(error.to_string()))?
    {
        let certificate = certificate.map_err(|error| fail(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| fail(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no PEM certificate".to_owned()));
    }
    Ok(roots)
}

/// `sslmode=require`: any certificate, as libpq does without a root certificate; the handshake
/// signatures are still checked, so the channel is encrypted to whoever holds the key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted CA; the host name is not compared
/// (webpki checks the name only after the chain, so a name error means the chain passed).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::SslMode as Wire;

    #[test]
    fn without_sslmode_the_connection_stays_plain_text() {
        let read = read_url("DATABASE_URL", "postgres://shop:p%40ss@db:5432/users").unwrap();
        assert_eq!(read.mode, SslMode::Prefer);
        assert_eq!(read.config.get_ssl_mode(), Wire::Disable);
        assert_eq!(read.config.get_password(), Some(&b"p@ss"[..]));
    }

    #[test]
    fn tls_parameters_are_taken_out_for_tokio_postgres() {
        let read = read_url(
            "DATABASE_URL",
            "postgres://u@db/users?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(read.mode, SslMode::VerifyFull);
        assert_eq!(read.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(read.config.get_ssl_mode(), Wire::Require);
        assert_eq!(
            read.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn prefer_stays_plain_text_and_require_encrypts() {
        let prefer = read_url("DATABASE_URL", "postgres://u@db/users?sslmode=prefer").unwrap();
        assert_eq!(prefer.config.get_ssl_mode(), Wire::Disable);
        let require = read_url("DATABASE_URL", "host=db dbname=users sslmode=require").unwrap();
        assert_eq!(require.mode, SslMode::Require);
        assert_eq!(require.config.get_ssl_mode(), Wire::Require);
    }

    #[test]
    fn an_unknown_mode_names_the_key() {
        let error = read_url("DATABASE_MIGRATION_URL", "postgres://u@db/x?sslmode=on").unwrap_err();
        assert_eq!(error.key, "DATABASE_MIGRATION_URL");
    }

    #[test]
    fn verify_modes_need_a_ca_file() {
        let key = |outcome: Result<MakeRustlsConnect, ConfigError>| outcome.err().map(|e| e.key);
        let missing = connector("DATABASE_URL", SslMode::VerifyFull, None);
        assert_eq!(key(missing).as_deref(), Some("DATABASE_CA_FILE"));
        let unreadable = connector("DATABASE_URL", SslMode::VerifyCa, Some("/nonexistent.pem"));
        assert_eq!(key(unreadable).as_deref(), Some("DATABASE_CA_FILE"));
        assert!(connector("DATABASE_URL", SslMode::Require, None).is_ok());
    }
}
