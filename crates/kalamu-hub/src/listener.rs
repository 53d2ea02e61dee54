//! The hub's listening socket, made to resist the LAN it serves: at most
//! [`MAX_CONNECTIONS`] connections at once (the others wait in the kernel's
//! queue), and a connection on which nothing moved for [`IDLE`] is closed,
//! so a request sent one byte now and then, or never finished, cannot hold
//! a connection for long. The idle clock runs under TLS too, handshakes
//! included.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::tls::Conn;

/// Connections served at once: a center's laptops, with room for its staff.
pub const MAX_CONNECTIONS: usize = 2048;
/// A connection on which nothing was read or written for this long is closed.
pub const IDLE: Duration = Duration::from_secs(20);

/// A listener that caps connections and closes idle ones.
pub struct Guarded {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
}

impl Guarded {
    /// Guards `inner`; its connections speak TLS with `tls`, or plain HTTP without.
    pub fn new(inner: TcpListener, tls: Option<TlsAcceptor>) -> Guarded {
        Guarded { inner, slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)), tls }
    }
}

impl axum::serve::Listener for Guarded {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let idle = Box::pin(tokio::time::sleep(IDLE));
                    let guarded = GuardedStream { stream, idle, _slot: slot };
                    let conn = match &self.tls {
                        Some(tls) => Conn::Handshaking(Box::new(tls.accept(guarded))),
                        None => Conn::Plain(guarded),
                    };
                    return (conn, addr);
                }
                // Out of descriptors, or a connection reset before it was
                // accepted: wait a moment rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that holds one of the listener's slots until it closes.
pub struct GuardedStream {
    stream: TcpStream,
    idle: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl GuardedStream {
    /// Something moved: the idle clock starts again.
    fn moved(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE);
    }

    /// Nothing can move now: fails once the connection has been idle too long.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long"))
            }
            Poll::Pending => Ok(()),
        }
    }

    /// What a write did, with the idle clock kept.
    fn wrote(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                self.moved();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
