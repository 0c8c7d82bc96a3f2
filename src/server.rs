//! Serving the router on a bound listener, over TLS or plain HTTP, with graceful shutdown.
//!
//! A connection goes through three stages, each bounded so that sockets which never speak
//! cannot starve the ones that do:
//! - silent (accepted, no byte yet): at most [`MAX_SILENT`], the oldest closed when more
//!   arrive, each closed after 10 to 20 s, spread so that a flood opened at once does not close,
//!   and reconnect, at once;
//! - handshaking: holding one of [`MAX_CONNECTIONS`] slots, with a shorter deadline when slots
//!   run low;
//! - serving: the same slot, until the connection closes.
//!
//! So at most `MAX_SILENT + MAX_CONNECTIONS` sockets are open at once.

mod silent;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use silent::Silent;

/// How long a TLS handshake or a request head may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The handshake deadline once fewer than a quarter of the connection slots are free: a real
/// client finishes in a few round trips, a stalled one gives its slot back sooner.
const PRESSED_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections handshaking or served at once, so that open connections cannot exhaust file
/// descriptors. Clients keep one or a few connections each.
const MAX_CONNECTIONS: usize = 4096;
/// Accepted sockets that have not sent their first byte, at most (see `silent`): past the
/// connection slots, so that a flood of a few thousand costs nothing but descriptors; beyond
/// it, and whenever descriptors run out, the oldest are closed.
const MAX_SILENT: usize = 8192;

/// Connections the kernel queues before they are accepted (Linux caps it at
/// `net.core.somaxconn`, 4096 by default). tokio's `bind` asks for 1024, and when thousands of
/// sockets connect at once a full queue drops the SYN of a real client, which retries after a
/// whole second.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with a deep accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let silent = Silent::new(MAX_SILENT);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: close the socket that has waited longest for its
                    // first byte, and back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    silent.evict_oldest();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            acceptor: acceptor.clone(),
            watcher: graceful.watcher(),
            connections: Arc::clone(&connections),
            silent: Arc::clone(&silent),
        };
        tokio::spawn(async move {
            if let Err(e) = connection.run(stream).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown timed out with connections still open");
    }
    Ok(())
}

/// What one accepted socket needs.
struct Connection {
    app: Router,
    acceptor: Option<TlsAcceptor>,
    watcher: Watcher,
    connections: Arc<Semaphore>,
    silent: Arc<Silent>,
}

type ConnResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

impl Connection {
    async fn run(self, stream: TcpStream) -> ConnResult {
        let started = Instant::now();
        let Some(permit) = self.admit(&stream, started).await else {
            return Ok(());
        };
        let Some(acceptor) = self.acceptor.clone() else {
            return self.serve(stream, permit).await;
        };
        let limit = if self.connections.available_permits() < MAX_CONNECTIONS / 4 {
            PRESSED_HANDSHAKE_TIMEOUT
        } else {
            HANDSHAKE_TIMEOUT
        };
        let deadline = (started + HANDSHAKE_TIMEOUT).min(Instant::now() + limit);
        match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => self.serve(tls, permit).await,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// Waits, as a silent socket that may be evicted, for the first byte and then for a
    /// connection slot; `None` if the socket is evicted, times out or shutdown begins.
    async fn admit(&self, stream: &TcpStream, started: Instant) -> Option<OwnedSemaphorePermit> {
        let (place, mut evicted) = self.silent.admit();
        let deadline = started + HANDSHAKE_TIMEOUT + place.spread(HANDSHAKE_TIMEOUT);
        let first_byte_then_slot = async {
            // `peek`, not `readable`: readiness may be reported for a socket with nothing to
            // read (it is, for every socket, when it is registered), which would let a silent
            // socket take a slot. `peek` waits for a byte that is really there, or the close.
            let mut first = [0u8; 1];
            match stream.peek(&mut first).await {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
            Arc::clone(&self.connections).acquire_owned().await.ok()
        };
        tokio::select! {
            permit = tokio::time::timeout_at(deadline, first_byte_then_slot) => permit.ok()?,
            _ = &mut evicted => None,
        }
    }

    async fn serve<I>(self, io: I, permit: OwnedSemaphorePermit) -> ConnResult
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _permit = permit;
        let service =
            TowerToHyperService::new(self.app.map_request(|request: hyper::Request<Incoming>| {
                request.map(axum::body::Body::new)
            }));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HANDSHAKE_TIMEOUT)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        self.watcher.watch(conn).await.map_err(Into::into)
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
