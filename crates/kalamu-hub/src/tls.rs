//! The hub's TLS: a key and certificate of its own, made on first start and
//! kept in its database (no CA, no internet), which laptops pin at
//! enrolment. Handshakes run inside each connection's task, never in the
//! accept loop, so a client that stalls mid-handshake delays nobody.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use kalamu_core::store::now_millis;
use kalamu_core::sync::enrolment;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use crate::error::{HubError, Result};
use crate::listener::GuardedStream;
use crate::storage::Storage;

/// The hub's TLS key in service.
#[derive(Clone)]
pub struct HubTls {
    /// Accepts connections with the hub's certificate.
    pub acceptor: TlsAcceptor,
    /// The certificate's fingerprint, which laptops pin.
    pub fingerprint: String,
}

/// The hub's certificate and private key (DER): the ones its database
/// holds, or new ones kept there.
fn key_pair(store: &dyn Storage) -> Result<(Vec<u8>, Vec<u8>)> {
    match store.tls_identity()? {
        Some(pair) => Ok(pair),
        None => {
            let made = rcgen::generate_simple_self_signed(vec!["kalamu-hub".to_owned()])
                .map_err(|e| HubError::Tls(format!("could not make a TLS key: {e}")))?;
            store.keep_tls_identity(made.cert.der(), &made.signing_key.serialize_der(), now_millis())
        }
    }
}

/// The hub's bundle key ([`kalamu_core::sync::seal`]), derived from its TLS
/// private key: every process serving this database holds the same one,
/// and it lives exactly as long as the key laptops pin.
pub fn bundle_key(store: &dyn Storage) -> Result<kalamu_core::sync::seal::SigningKey> {
    let (_, private_key) = key_pair(store)?;
    let seed = blake3::derive_key("kalamu 2026 hub bundle key", &private_key);
    Ok(kalamu_core::sync::seal::SigningKey::from_bytes(&seed))
}

/// The fingerprint of the certificate a TLS proxy presents for the hub
/// (the first in a PEM file), which laptops then pin.
pub fn proxy_fingerprint(pem: &std::path::Path) -> Result<String> {
    use rustls::pki_types::pem::PemObject;
    let certificate = CertificateDer::from_pem_file(pem)
        .map_err(|e| HubError::Tls(format!("{} holds no PEM certificate: {e}", pem.display())))?;
    Ok(enrolment::fingerprint(&certificate))
}

/// The hub's TLS key: the one its database holds, or a new one kept there.
pub fn identity(store: &dyn Storage) -> Result<HubTls> {
    let (certificate, key) = key_pair(store)?;
    let fingerprint = enrolment::fingerprint(&certificate);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth().with_single_cert(
                vec![CertificateDer::from(certificate)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
        })
        .map_err(|e| HubError::Tls(format!("the stored TLS key does not load: {e}")))?;
    Ok(HubTls { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint })
}

/// A connection to the hub, plain or TLS; a TLS one shakes hands on first use.
pub enum Conn {
    /// Plain HTTP, as the operator asked.
    Plain(GuardedStream),
    /// TLS, handshake under way.
    Handshaking(Box<tokio_rustls::Accept<GuardedStream>>),
    /// TLS, ready.
    Tls(Box<tokio_rustls::server::TlsStream<GuardedStream>>),
    /// The handshake failed; the connection only closes now.
    Failed,
}

impl Conn {
    /// Drives the handshake; ready once there is a stream to use.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Conn::Handshaking(accept) = self {
            match Pin::new(accept.as_mut()).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(stream)) => *self = Conn::Tls(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    *self = Conn::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self {
            Conn::Failed => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "TLS handshake failed")))
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Runs `$op` on the connection's stream once the handshake is done.
macro_rules! on_stream {
    ($self:ident, $cx:ident, |$s:ident| $op:expr) => {{
        let this = $self.get_mut();
        match this.poll_ready($cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        match this {
            Conn::Plain($s) => $op,
            Conn::Tls(tls) => {
                let $s = tls.as_mut();
                $op
            }
            Conn::Handshaking(_) | Conn::Failed => unreachable!("poll_ready leaves a stream or an error"),
        }
    }};
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, cx, |s| Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        on_stream!(self, cx, |s| Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, cx, |s| Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, cx, |s| Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_stream!(self, cx, |s| Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
            Conn::Handshaking(_) | Conn::Failed => false,
        }
    }
}
