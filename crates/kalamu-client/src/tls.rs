//! TLS to the hub, trusting one key: the hub makes its own certificate (no
//! CA on a center's LAN), so a laptop trusts the key it pinned at enrolment,
//! and at enrolment itself only notes which key answered, for the code's
//! proof to vouch for ([`kalamu_core::sync::enrolment`]).

use std::sync::{Arc, Mutex};

use kalamu_core::sync::enrolment::fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Which hub keys a connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Any key, noted for the enrolment proof to vouch for: nothing secret is
    /// sent before the proof holds.
    FirstContact,
    /// Only the key with this fingerprint; none at all when no key was pinned.
    Pinned(Option<String>),
}

/// The key the last handshake presented (its fingerprint), shared with the client.
pub type Presented = Arc<Mutex<Option<String>>>;

/// A TLS configuration that trusts as `trust` says and notes each presented key in `presented`.
pub fn config(trust: Trust, presented: Presented) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let verifier = Arc::new(PinVerifier { trust, presented, algorithms });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct PinVerifier {
    trust: Trust,
    presented: Presented,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Names and dates do not matter: the key is the identity, and a
        // laptop's clock may be years off.
        let seen = fingerprint(end_entity.as_ref());
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen.clone());
        match &self.trust {
            Trust::FirstContact => Ok(ServerCertVerified::assertion()),
            Trust::Pinned(Some(pin)) if *pin == seen => Ok(ServerCertVerified::assertion()),
            Trust::Pinned(_) => Err(rustls::Error::General("not the hub key pinned at enrolment".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
