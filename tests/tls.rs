//! HTTPS with a test CA made here (rcgen): `HttpCheck` healthy with the CA and unhealthy with
//! the TLS error without it, `TlsCertCheck` degraded for a certificate expiring in 5 days, and
//! a signed webhook posted over HTTPS — against a real TLS server on 127.0.0.1.
#![cfg(feature = "tls")]

#[path = "support/skip.rs"]
mod skip;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tower_vitals::checks::{HttpCheck, TlsCertCheck};
use tower_vitals::{Check, HealthChecker, HealthStatus, WebhookNotifier};

/// A CA, its PEM, and leaf certificates for 127.0.0.1 it signs.
struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for 127.0.0.1 valid for `days` more days, and its key.
    fn leaf(&self, days: i64) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (certificate.der().clone(), key)
    }
}

type Posted = Arc<Mutex<Vec<(http::HeaderMap, String)>>>;

/// An HTTPS server answering 200 and keeping what is POSTed to it.
async fn serve_tls(
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Posted) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let posted: Posted = Arc::default();
    let kept = posted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, kept) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let kept = kept.clone();
                    async move {
                        let headers = request.headers().clone();
                        let body = request.into_body().collect().await?.to_bytes();
                        kept.lock()
                            .push((headers, String::from_utf8_lossy(&body).into_owned()));
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, posted)
}

async fn run(check: impl tower_vitals::HealthCheck + 'static) -> tower_vitals::ComponentStatus {
    let checker = HealthChecker::builder()
        .register(
            Check::new("tls", check)
                .retries(0)
                .timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    checker.report().await.components.remove(0)
}

#[tokio::test]
async fn an_https_dependency_is_checked_with_the_ca_given_and_fails_with_the_tls_error_without() {
    let pki = Pki::new();
    let (certificate, key) = pki.leaf(365);
    let (address, _) = serve_tls(certificate, key).await;
    let url = format!("https://{address}/healthz");

    let trusted = HttpCheck::new(&url)
        .unwrap()
        .root_certificate_pem(pki.pem.as_bytes())
        .unwrap();
    let component = run(trusted).await;
    assert_eq!(component.status, HealthStatus::Healthy, "{component:?}");
    assert_eq!(component.metadata["status"], 200);

    let component = run(HttpCheck::new(&url).unwrap()).await;
    assert_eq!(component.status, HealthStatus::Unhealthy);
    let message = component.message.unwrap();
    assert!(
        message.contains("invalid peer certificate") && message.contains("UnknownIssuer"),
        "{message}"
    );
}

#[tokio::test]
async fn a_certificate_expiring_in_five_days_degrades_the_check() {
    let pki = Pki::new();
    let (soon, soon_key) = pki.leaf(5);
    let (later, later_key) = pki.leaf(365);
    let (expiring, _) = serve_tls(soon, soon_key).await;
    let (fine, _) = serve_tls(later, later_key).await;
    let check = |address: SocketAddr| {
        TlsCertCheck::new(address.to_string())
            .unwrap()
            .root_certificate_pem(pki.pem.as_bytes())
            .unwrap()
    };

    let component = run(check(expiring)).await;
    assert_eq!(component.status, HealthStatus::Degraded, "{component:?}");
    let days = component.metadata["days_left"].as_f64().unwrap();
    assert!((4.5..=5.1).contains(&days), "{days}");
    assert!(component.message.unwrap().contains("days left"));

    let component = run(check(fine)).await;
    assert_eq!(component.status, HealthStatus::Healthy, "{component:?}");

    let untrusted = run(TlsCertCheck::new(fine.to_string()).unwrap()).await;
    assert_eq!(untrusted.status, HealthStatus::Unhealthy);
    assert!(untrusted.message.unwrap().contains("UnknownIssuer"));

    // Nothing listening: the OS's own words.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let refused = run(check(address)).await;
    assert_eq!(refused.status, HealthStatus::Unhealthy);
    let message = refused.message.unwrap();
    assert!(message.contains("Connection refused"), "{message}");
}

#[tokio::test]
async fn a_signed_webhook_is_posted_over_https() {
    let pki = Pki::new();
    let (certificate, key) = pki.leaf(365);
    let (address, posted) = serve_tls(certificate, key).await;
    let webhook = WebhookNotifier::builder(&format!("https://{address}/hooks"))
        .root_certificate_pem(pki.pem.as_bytes())
        .signing_secret("tls-secret")
        .batch(1, Duration::from_millis(1))
        .build()
        .unwrap();
    let checker = HealthChecker::builder()
        .check("db", || async { Err::<(), _>("down") })
        .on_change(webhook.listener())
        .build()
        .unwrap();
    checker.report().await;
    for _ in 0..200 {
        if !posted.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = posted.lock().first().cloned();
    let (headers, body) =
        first.unwrap_or_else(|| panic!("no post over HTTPS: {:?}", webhook.stats()));
    let timestamp = headers["x-vitals-timestamp"].to_str().unwrap();
    let signature = headers["x-vitals-signature"].to_str().unwrap();
    if !skip::on_path("python3") {
        skip::unavailable(
            "python3",
            "REQUIRE_PYTHON",
            "not on PATH; it computes the HMAC apart",
        );
        return;
    }
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,hmac,sys; print(hmac.new(b'tls-secret', sys.argv[1].encode(), hashlib.sha256).hexdigest())",
            &format!("{timestamp}.{body}"),
        ])
        .output()
        .unwrap();
    let expected = String::from_utf8(output.stdout).unwrap();
    assert_eq!(signature, format!("sha256={}", expected.trim()));
    assert!(body.contains("\"check\":\"db\""));
    // The receiver kept the body before answering: the count follows the answer.
    for _ in 0..200 {
        if webhook.stats().delivered_events == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not counted as delivered: {:?}", webhook.stats());
}
