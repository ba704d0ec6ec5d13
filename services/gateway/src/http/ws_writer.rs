//! A WebSocket connection's writing side: moves its queued frames (replies, pushes, a seed
//! dialect's renderings) to the socket, every write bounded by `WRITE_TIMEOUT`.

use super::seeds::Render;
use super::ws::{CLOSE_RECONNECT, CLOSE_TOO_SLOW, WRITE_TIMEOUT};
use crate::connections::Connections;
use crate::frames::Outbound;
use crate::outbound::OutboundRx;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Frames written between two flushes when they are queued together.
const WRITE_BATCH: usize = 64;

/// What wakes a connection's writer.
enum WriterEvent {
    /// The client sent a Close frame: answer it and stop.
    PeerClosed,
    /// The connection is being closed (drain, slow reader, reader gone).
    Closing,
    Frame(Option<Outbound>),
    Ping,
}

/// How one bounded write went.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Sent,
    /// The socket is gone or the WebSocket is closed.
    Failed,
    /// The client did not take the frame within `WRITE_TIMEOUT`.
    TimedOut,
}

/// Moves a connection's queued frames to its socket; every write bounded by `WRITE_TIMEOUT`.
pub(super) struct Writer {
    pub sink: SplitSink<WebSocket, Message>,
    pub rx: OutboundRx,
    pub close: CancellationToken,
    pub peer_closed: oneshot::Receiver<()>,
    pub conns: Connections,
    /// A seed-protocol connection's dialect: renders native pushes (`Outbound::Push`).
    pub render: Option<Arc<dyn Render>>,
}

impl Writer {
    pub async fn run(mut self) {
        let mut ping = tokio::time::interval(self.conns.limits.ping_interval);
        ping.tick().await;
        loop {
            let event = tokio::select! {
                biased;
                closed = &mut self.peer_closed => match closed {
                    Ok(()) => WriterEvent::PeerClosed,
                    Err(_) => WriterEvent::Closing,
                },
                _ = self.close.cancelled() => WriterEvent::Closing,
                frame = self.rx.recv() => WriterEvent::Frame(frame),
                _ = ping.tick() => WriterEvent::Ping,
            };
            match event {
                WriterEvent::PeerClosed => {
                    // tungstenite queued the reply echoing the client's code; nothing may follow it
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, self.sink.flush()).await;
                    break;
                }
                WriterEvent::Closing => {
                    self.say_goodbye().await;
                    break;
                }
                WriterEvent::Frame(None) => break,
                WriterEvent::Frame(Some(frame)) => {
                    if !self.write_queued(frame).await {
                        break;
                    }
                }
                WriterEvent::Ping => {
                    if !self.write_or_give_up(Message::Ping(Default::default())).await {
                        break;
                    }
                }
            }
        }
        self.close.cancel();
    }

    /// Flushes what is queued (replies, pushes), then says why the connection closes; all of
    /// it within one `WRITE_TIMEOUT`.
    async fn say_goodbye(&mut self) {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        while let Some(frame) = self.rx.try_recv() {
            let closing = matches!(frame, Outbound::Close { .. });
            for message in self.messages(frame).await {
                if self.write(message, deadline).await != Written::Sent {
                    return;
                }
            }
            if closing {
                return;
            }
        }
        let (code, reason) = if self.conns.stopping() {
            (CLOSE_RECONNECT, "server restarting, reconnect")
        } else {
            (CLOSE_TOO_SLOW, "outbound queue full")
        };
        let goodbye = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.write(goodbye, deadline).await;
    }

    /// One write within `WRITE_TIMEOUT`; false when the connection is to end (gone, or too slow:
    /// a client that does not read is not written to again, not even a close frame).
    async fn write_or_give_up(&mut self, message: Message) -> bool {
        match self.write(message, Instant::now() + WRITE_TIMEOUT).await {
            Written::Sent => true,
            Written::Failed => false,
            Written::TimedOut => self.timed_out(),
        }
    }

    /// Writes `first` and whatever else is queued behind it (up to `WRITE_BATCH` frames), then
    /// flushes once: one system call for a burst of pushes rather than one per frame. The whole
    /// batch must be taken within `WRITE_TIMEOUT`. False when the connection is done (a write
    /// failed or timed out, or a close frame was written).
    async fn write_queued(&mut self, first: Outbound) -> bool {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut next = Some(first);
        let mut written = 0;
        let mut open = true;
        while let Some(frame) = next.take() {
            let closing = matches!(frame, Outbound::Close { .. });
            for message in self.messages(frame).await {
                match tokio::time::timeout_at(deadline, self.sink.feed(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return false,
                    Err(_) => return self.timed_out(),
                }
            }
            written += 1;
            if closing {
                open = false;
                break;
            }
            if written < WRITE_BATCH {
                next = self.rx.try_recv();
            }
        }
        match tokio::time::timeout_at(deadline, self.sink.flush()).await {
            Ok(Ok(())) => open,
            Ok(Err(_)) => false,
            Err(_) => self.timed_out(),
        }
    }

    /// The socket messages of one queued frame: the frame itself, or a native push rendered in
    /// the connection's dialect (none, one or several frames).
    async fn messages(&self, frame: Outbound) -> Messages {
        match (frame, &self.render) {
            (Outbound::Push(json), Some(render)) => Messages::Many(
                render
                    .render(&json)
                    .await
                    .into_iter()
                    .map(|text| Message::Text(text.into()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            (frame, _) => Messages::One(Some(to_message(frame))),
        }
    }

    fn timed_out(&self) -> bool {
        metrics::counter!("herald_slow_consumer_disconnects_total").increment(1);
        tracing::info!("closing a connection that does not read: a write timed out");
        false
    }

    async fn write(&mut self, message: Message, deadline: Instant) -> Written {
        match tokio::time::timeout_at(deadline, self.sink.send(message)).await {
            Ok(Ok(())) => Written::Sent,
            Ok(Err(_)) => Written::Failed,
            Err(_) => Written::TimedOut,
        }
    }
}

/// One frame's socket messages, without an allocation for the usual single one.
enum Messages {
    One(Option<Message>),
    Many(std::vec::IntoIter<Message>),
}

impl Iterator for Messages {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        match self {
            Messages::One(message) => message.take(),
            Messages::Many(messages) => messages.next(),
        }
    }
}

fn to_message(frame: Outbound) -> Message {
    match frame {
        Outbound::Text { json, .. } | Outbound::Push(json) => Message::Text(json),
        Outbound::Binary(bytes) => Message::Binary(bytes),
        Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}
