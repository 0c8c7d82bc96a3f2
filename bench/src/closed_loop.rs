//! A lean HTTPS/1.1 connection for the per-request rows: a closed loop per connection, each
//! request written when the previous answer has been read, as wrk drives its connections.
//!
//! The load generator shares the machine's two cores with the server, so every microsecond it
//! spends per request is one the server waits for a core. hyper's pooled client takes a pool
//! checkout, a connection task and the channels between them per request (36.5 µs of CPU per
//! request on average in five runs on a machine whose system calls are slow); this loop writes
//! the request in one TLS record and reads the answer with `httparse`, and nothing else runs
//! between the two (31.2 µs in the five runs alternating with those).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The most an answer's head may take; the bench server's are a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// The most an answer's body may take.
const MAX_BODY: usize = 1024 * 1024;

/// One keep-alive connection to `https://127.0.0.1:PORT`.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    authority: String,
    request: Vec<u8>,
    buf: Vec<u8>,
}

/// An answer: its status, its body and how long the request took.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
    pub took: Duration,
}

impl Conn {
    /// Connects to `base` (`https://HOST:PORT`) and completes the TLS handshake.
    pub async fn open(base: &str, config: Arc<rustls::ClientConfig>) -> anyhow::Result<Conn> {
        let authority = base
            .strip_prefix("https://")
            .context("an https:// base")?
            .trim_end_matches('/')
            .to_owned();
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host);
        let name = ServerName::try_from(host.to_owned()).context("the server's name")?;
        let tcp = TcpStream::connect(&authority).await?;
        tcp.set_nodelay(true)?;
        let stream = TlsConnector::from(config).connect(name, tcp).await?;
        Ok(Conn {
            stream,
            authority,
            request: Vec::with_capacity(1024),
            buf: Vec::with_capacity(8 * 1024),
        })
    }

    /// `POST path` with `body`, and its answer once it has been read whole.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<Answer<'_>> {
        use std::io::Write as _;
        self.request.clear();
        write!(
            self.request,
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: {content_type}\r\n\
             content-length: {}\r\n\r\n",
            self.authority,
            body.len()
        )?;
        self.request.extend_from_slice(body);
        let start = Instant::now();
        self.stream.write_all(&self.request).await?;
        self.stream.flush().await?;
        self.buf.clear();
        let (status, head, length) = loop {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection before answering");
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf)? {
                httparse::Status::Complete(head) => {
                    let length = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .context("an answer without content-length")?;
                    let length: usize = std::str::from_utf8(length.value)?.trim().parse()?;
                    if length > MAX_BODY {
                        bail!("an answer of {length} bytes");
                    }
                    break (response.code.unwrap_or(0), head, length);
                }
                httparse::Status::Partial if self.buf.len() > MAX_HEAD => {
                    bail!("an answer's head over {MAX_HEAD} bytes")
                }
                httparse::Status::Partial => {}
            }
        };
        while self.buf.len() < head + length {
            self.buf.reserve(head + length - self.buf.len());
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection inside an answer");
            }
        }
        if self.buf.len() > head + length {
            bail!("bytes after the answer to a request that was not pipelined");
        }
        Ok(Answer {
            status,
            body: &self.buf[head..head + length],
            took: start.elapsed(),
        })
    }
}
