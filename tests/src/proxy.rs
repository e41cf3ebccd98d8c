//! A TCP proxy the test controls, put between fengqiao and a server it
//! depends on (PostgreSQL, NATS) to make the network fail: `pause` holds every
//! byte in both directions while connections stay open (a stalled link: only
//! timeouts notice), `sever` closes every connection and refuses new ones (a
//! link that is down), `restore` lets traffic flow again.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `host:port` of a `scheme://[user@]host:port[/path]` URL.
pub fn authority(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).parse().expect("a numeric host:port")
}

/// What the link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow.
    Open,
    /// Bytes wait; connections stay open.
    Paused,
    /// Connections are closed and new ones refused.
    Severed,
}

/// A proxy from a local port to `upstream`.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    link: watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (link, watch) = watch::channel(Link::Open);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watch.borrow() == Link::Severed {
                    continue; // dropped: the client sees the connection closed
                }
                let watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = pump(client_read, server_write, watch.clone()) => {}
                        _ = pump(server_read, client_write, watch) => {}
                    }
                });
            }
        });
        Ok(Self { addr, link, task })
    }

    /// The URL of `upstream_url` rewritten to go through the proxy.
    pub fn url(&self, upstream_url: &str, upstream: SocketAddr) -> String {
        upstream_url.replacen(&upstream.to_string(), &self.addr.to_string(), 1)
    }

    /// Holds every byte until [`Proxy::restore`].
    pub fn pause(&self) {
        self.link.send_replace(Link::Paused);
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    pub fn sever(&self) {
        self.link.send_replace(Link::Severed);
    }

    /// Lets traffic flow again.
    pub fn restore(&self) {
        self.link.send_replace(Link::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.link.send_replace(Link::Severed);
    }
}

/// Copies one direction, obeying the link; returns when either side closes or the link is severed.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut link: watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = link.changed() => {
                if changed.is_err() || *link.borrow() == Link::Severed {
                    return;
                }
                continue;
            }
        };
        loop {
            let now = *link.borrow_and_update();
            match now {
                Link::Open => break,
                Link::Severed => return,
                Link::Paused => {
                    if link.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
