//! One XMPP client connection of the workload: log in (SASL PLAIN, bind, session, initial
//! presence, stream management), then send 1:1 `<message type='chat'>` stanzas to the peer and
//! read what arrives.
//!
//! The server's acknowledgement is XEP-0198's: after each batch the sender writes (one message
//! at a target rate; up to the window at full speed) it asks `<r/>`, and the server answers
//! `<a h='N'/>`, N being how many of the client's stanzas it has handled. Each message is
//! acknowledged by the first `<a>` whose count covers it: ack latency is send → that answer.
//! Initial presence goes before `<enable/>`, so `h` counts messages only.

use super::xmpp::{NS_SASL, NS_SM, Stanza, StanzaReader, stream_header};
use crate::connection::Outcome;
use crate::peer::{Account, Link, body, parse_body};
use crate::recorder::{LocalRecorder, Sample};
use crate::run::{Counters, Run};
use crate::sender::Turns;
use crate::tracker::SeqTracker;
use anyhow::Context;
use base64::Engine;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Longest a login may take.
const LOGIN_WITHIN: Duration = Duration::from_secs(30);
/// Error texts kept per connection.
const ERRORS_KEPT: usize = 3;

type Reader = StanzaReader<OwnedReadHalf>;
type Writer = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

/// Messages sent and not yet acknowledged, oldest first: (number, send time in µs).
type Unacked = Arc<Mutex<VecDeque<(u64, u64)>>>;

/// Connects `link.me` to `c2s`, logs in, and starts the connection's tasks.
pub async fn open(
    c2s: SocketAddr,
    domain: &str,
    peer_jid: &str,
    link: Link,
    run: Arc<Run>,
) -> anyhow::Result<JoinHandle<Outcome>> {
    let stream = crate::ws::connect_tcp(c2s, link.source).await?;
    let (read, mut write) = stream.into_split();
    let mut reader = StanzaReader::new(read);
    tokio::time::timeout(LOGIN_WITHIN, login(&mut reader, &mut write, domain, &link.me))
        .await
        .with_context(|| format!("{} did not log in within {LOGIN_WITHIN:?}", link.me.user))?
        .with_context(|| format!("logging {} in", link.me.user))?;
    Counters::add(&run.counters.connections, 1);
    let writer: Writer = Arc::new(tokio::sync::Mutex::new(write));
    let unacked: Unacked = Arc::default();
    let permits = Arc::new(Semaphore::new(link.pace.window as usize));
    let sender = tokio::spawn(send(
        writer.clone(),
        unacked.clone(),
        permits.clone(),
        peer_jid.to_owned(),
        link.clone(),
        run.clone(),
    ));
    Ok(tokio::spawn(async move {
        let outcome = receive(reader, writer.clone(), unacked, permits, link, run).await;
        let _ = sender.await;
        let mut write = writer.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = write.write_all(b"</stream:stream>").await;
            let _ = write.shutdown().await;
        })
        .await;
        outcome
    }))
}

/// Stream, SASL PLAIN, restart, bind, session, initial presence, stream management.
async fn login(reader: &mut Reader, write: &mut OwnedWriteHalf, domain: &str, me: &Account) -> anyhow::Result<()> {
    write.write_all(stream_header(domain).as_bytes()).await?;
    reader.expect("stream features", |s| *s == Stanza::Features).await?;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", me.user, me.password));
    let auth = format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{credentials}</auth>");
    write.write_all(auth.as_bytes()).await?;
    reader.expect("SASL success", |s| *s == Stanza::Success).await?;
    write.write_all(stream_header(domain).as_bytes()).await?;
    reader.expect("stream features", |s| *s == Stanza::Features).await?;
    let is_result =
        |id: &'static str| move |s: &Stanza| matches!(s, Stanza::Iq { kind, id: i } if kind == "result" && i == id);
    write
        .write_all(
            b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
              <resource>loadtest</resource></bind></iq>",
        )
        .await?;
    reader.expect("resource binding", is_result("bind")).await?;
    write
        .write_all(b"<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        .await?;
    reader.expect("session", is_result("session")).await?;
    write
        .write_all(format!("<presence/><enable xmlns='{NS_SM}'/>").as_bytes())
        .await?;
    reader.expect("stream management", |s| *s == Stanza::Enabled).await?;
    Ok(())
}

/// Sends numbered messages to `peer_jid` per the link's pace, each batch followed by `<r/>`.
async fn send(writer: Writer, unacked: Unacked, permits: Arc<Semaphore>, peer_jid: String, link: Link, run: Arc<Run>) {
    let Some(turns) = Turns::begin(&run, link.pace, permits).await else {
        return;
    };
    let counters = &run.counters;
    let mut local = run.recorder.local();
    let mut out = String::new();
    let mut n: u64 = 0;
    while let Some(batch) = turns.next(n, counters).await {
        out.clear();
        for _ in 0..batch {
            n += 1;
            let now = run.now_us();
            unacked.lock().unwrap_or_else(|p| p.into_inner()).push_back((n, now));
            let text = body(now, n, run.content_size);
            let _ = write!(
                out,
                "<message type='chat' to='{peer_jid}' id='{n}'><body>{text}</body></message>"
            );
            Counters::add(&counters.requests, 1);
            Counters::add(&counters.sent, 1);
            Counters::add(&counters.expected, 1);
            local.record(Sample::Sent {
                second: Run::second_of(now),
            });
        }
        let _ = write!(out, "<r xmlns='{NS_SM}'/>");
        if writer.lock().await.write_all(out.as_bytes()).await.is_err() {
            break;
        }
    }
}

/// What the reading half keeps while the connection runs.
struct Receiving {
    outcome: Outcome,
    local: LocalRecorder,
    /// Stanzas received since `<enabled/>` (the answer to the server's `<r/>`).
    handled: u32,
    /// Messages the server has acknowledged so far.
    acked: u32,
}

impl Receiving {
    fn error(&mut self, run: &Run, text: String) {
        Counters::add(&run.counters.errors, 1);
        if self.outcome.errors.len() < ERRORS_KEPT {
            self.outcome.errors.push(text);
        }
    }

    /// `<a h='h'/>`: every message up to the `h`-th is acknowledged.
    fn on_ack(&mut self, h: u32, unacked: &Unacked, permits: &Semaphore, link: &Link, run: &Run) {
        let counters = &run.counters;
        let now = run.now_us();
        let mut queue = unacked.lock().unwrap_or_else(|p| p.into_inner());
        while self.acked < h {
            let Some((n, sent_us)) = queue.pop_front() else {
                drop(queue);
                self.error(run, format!("<a h='{h}'/> acknowledged more than was sent"));
                return;
            };
            self.acked += 1;
            self.outcome.acked.entry(link.send_key.clone()).or_default().record(n);
            Counters::add(&counters.acked, 1);
            Counters::add(&counters.answered, 1);
            Counters::add(&counters.expected_acked, 1);
            permits.add_permits(1);
            self.local.record(Sample::Acked {
                second: Run::second_of(now),
                us: now.saturating_sub(sent_us),
            });
        }
    }

    fn on_message(&mut self, kind: &str, text: Option<&str>, link: &Link, run: &Run) {
        let now = run.now_us();
        match (kind, text.and_then(parse_body)) {
            ("chat", Some((sent_us, n))) => {
                Counters::add(&run.counters.delivered, 1);
                self.outcome
                    .trackers
                    .entry(link.recv_key.clone())
                    .or_default()
                    .record(n);
                self.local.record(Sample::Delivered {
                    second: Run::second_of(now),
                    us: Some(now.saturating_sub(sent_us)),
                });
            }
            ("error", _) => self.error(run, "a message bounced (type='error')".to_owned()),
            _ => self.error(run, format!("an unexpected message (type='{kind}')")),
        }
    }
}

/// Reads until the run stops reading (or the server closes the stream).
async fn receive(
    mut reader: Reader,
    writer: Writer,
    unacked: Unacked,
    permits: Arc<Semaphore>,
    link: Link,
    run: Arc<Run>,
) -> Outcome {
    let mut state = Receiving {
        outcome: Outcome::default(),
        local: run.recorder.local(),
        handled: 0,
        acked: 0,
    };
    state
        .outcome
        .trackers
        .insert(link.recv_key.clone(), SeqTracker::default());
    loop {
        let stanza = tokio::select! {
            stanza = reader.next() => stanza,
            _ = run.stop_reading.cancelled() => break,
        };
        let stanza = match stanza {
            Ok(stanza) => stanza,
            Err(err) => {
                state.outcome.on_closed(format!("error: {err:#}"), &run);
                break;
            }
        };
        if stanza.counts() {
            state.handled = state.handled.wrapping_add(1);
        }
        match stanza {
            Stanza::Ack(h) => state.on_ack(h, &unacked, &permits, &link, &run),
            Stanza::Message { kind, body } => state.on_message(&kind, body.as_deref(), &link, &run),
            Stanza::Request => {
                let answer = format!("<a xmlns='{NS_SM}' h='{}'/>", state.handled);
                if writer.lock().await.write_all(answer.as_bytes()).await.is_err() {
                    state.outcome.on_closed("error: writing an ack".to_owned(), &run);
                    break;
                }
            }
            Stanza::Failure(why) => {
                state.outcome.on_closed(format!("stream error: {why}"), &run);
                break;
            }
            Stanza::End => {
                state.outcome.on_closed("the server closed the stream".to_owned(), &run);
                break;
            }
            _ => {}
        }
    }
    state.local.flush();
    state.outcome
}
