//! Opening client WebSockets from a chosen loopback source address, so that more connections
//! than one address has ephemeral ports can reach one server.

use anyhow::{Context, bail};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Socket = WebSocketStream<TcpStream>;

/// Connections per source address when the count is left to the harness.
const PER_SOURCE: u64 = 10_000;

/// Source addresses 127.0.0.1, 127.0.0.2, ... used in turn.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    count: u8,
}

impl Sources {
    /// `asked` addresses, or one per 10,000 of `connections` when `asked` is 0.
    pub fn new(asked: u8, connections: u64) -> Self {
        let count = if asked == 0 {
            connections.div_ceil(PER_SOURCE).clamp(1, 250) as u8
        } else {
            asked.min(250)
        };
        Self { count }
    }

    pub fn for_connection(&self, index: u64) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (index % u64::from(self.count)) as u8))
    }
}

/// The loopback address of `url` (`ws://` or `http://`); anything else is refused.
pub fn loopback_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .with_context(|| format!("not a URL: {url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = authority
        .parse()
        .with_context(|| format!("{url}: give an IP address and port (127.0.0.1:PORT)"))?;
    if !addr.ip().is_loopback() {
        bail!("{url}: load tests only target loopback addresses (127.0.0.0/8, [::1])");
    }
    Ok(addr)
}

/// Opens `url` (a `ws://` URL on loopback) from `source`, with a read buffer of `read_buffer`
/// bytes (small for idle connections).
pub async fn connect(url: &str, source: IpAddr, read_buffer: usize) -> anyhow::Result<Socket> {
    let addr = loopback_addr(url)?;
    let stream = connect_tcp(addr, source).await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(1 << 20));
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .with_context(|| format!("websocket handshake with {addr}"))?;
    Ok(socket)
}

/// A TCP connection to `addr` (loopback only) from `source`, Nagle off: the WebSockets above,
/// and the peers' own protocols (XMPP streams).
pub async fn connect_tcp(addr: SocketAddr, source: IpAddr) -> anyhow::Result<TcpStream> {
    if !addr.ip().is_loopback() {
        bail!("{addr}: load tests only target loopback addresses (127.0.0.0/8, [::1])");
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if addr.is_ipv4() {
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("bind {source}"))?;
    }
    let stream = socket.connect(addr).await.with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `ping` on a native `/ws` connection and waits for its answer: once answered, the server
/// has registered the connection and routes pushes to it.
pub async fn ready(socket: &mut Socket) -> anyhow::Result<()> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    socket
        .send(Message::Text(r#"{"action":"ping","reqId":0}"#.into()))
        .await?;
    let wait = async {
        while let Some(frame) = socket.next().await {
            if let Message::Text(text) = frame?
                && text.contains(r#""ping""#)
                && text.contains(r#""reqId":0"#)
            {
                return Ok(());
            }
        }
        bail!("closed before answering ping")
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .context("no answer to ping within 30s")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_over_source_addresses() {
        let sources = Sources::new(0, 25_000);
        assert_eq!(sources.for_connection(0).to_string(), "127.0.0.1");
        assert_eq!(sources.for_connection(1).to_string(), "127.0.0.2");
        assert_eq!(sources.for_connection(3).to_string(), "127.0.0.1");
        assert_eq!(Sources::new(0, 10).for_connection(5).to_string(), "127.0.0.1");
    }

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_addr("ws://127.0.0.1:8088/ws?token=x").is_ok());
        assert!(loopback_addr("http://127.0.0.5:1").is_ok());
        assert!(loopback_addr("http://[::1]:1/x").is_ok());
        assert!(loopback_addr("http://10.0.0.1:80").is_err());
        assert!(loopback_addr("http://example.com:80").is_err());
    }
}
