//! The HTTP client's connector, and with feature `tls` the roots its TLS trusts: the webpki
//! roots (Mozilla's), the operating system's with `tls-native-roots`, and any CA given.

#[cfg(feature = "tls")]
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::pki_types::CertificateDer;
#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;

use crate::error::ConfigError;

/// What the HTTP check and the webhook connect with: plain TCP, or TLS as well with `tls`.
#[cfg(feature = "tls")]
pub(crate) type Connector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
/// What the HTTP check and the webhook connect with: plain TCP, or TLS as well with `tls`.
#[cfg(not(feature = "tls"))]
pub(crate) type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// Extra certificate authorities to trust, from PEM.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExtraRoots {
    #[cfg(feature = "tls")]
    certificates: Vec<CertificateDer<'static>>,
}

impl ExtraRoots {
    /// Adds the certificates in `pem` (one or more `CERTIFICATE` blocks).
    pub(crate) fn add_pem(&mut self, pem: &[u8]) -> Result<(), ConfigError> {
        #[cfg(feature = "tls")]
        {
            let found: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|_| ConfigError::InvalidCertificate("not readable as PEM"))?;
            if found.is_empty() {
                return Err(ConfigError::InvalidCertificate(
                    "no CERTIFICATE block in the PEM",
                ));
            }
            self.certificates.extend(found);
            Ok(())
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = pem;
            Err(ConfigError::InvalidCertificate(
                "a CA certificate needs the `tls` feature",
            ))
        }
    }

    /// The rustls client settings: the webpki roots, the system's with `tls-native-roots`, and
    /// these.
    #[cfg(feature = "tls")]
    pub(crate) fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(feature = "tls-native-roots")]
        for certificate in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(certificate);
        }
        for certificate in &self.certificates {
            let _ = roots.add(certificate.clone());
        }
        // The provider named, not the process default: an app may link another one too.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A connector for `http://` and, with `tls`, `https://`.
    pub(crate) fn connector(&self) -> Connector {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        #[cfg(feature = "tls")]
        {
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*self.client_config()).clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        }
        #[cfg(not(feature = "tls"))]
        http
    }
}
