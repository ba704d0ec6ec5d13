//! The JetStream baseline: raw publish (pipelined, file storage, as Herald publishes commands)
//! and consume (an ordered pull consumer, as Herald reads its logs) on the same NATS server.

use crate::tracker::{AckedRange, SeqTracker, Tally};
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct JetStreamFigures {
    pub published: u64,
    pub consumed: u64,
    pub seconds: f64,
    /// Publishes acknowledged (stored) per second.
    pub publish_rate: f64,
    /// Publish → consume, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Publish → stored ack, ms.
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub tally: Tally,
}

fn payload(seq: u64, sent_us: u64, size: usize) -> Bytes {
    let mut bytes = BytesMut::with_capacity(size.max(16));
    bytes.put_u64(seq);
    bytes.put_u64(sent_us);
    bytes.resize(size.max(16), b'x');
    bytes.freeze()
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Reads the stream until it has every message published (`published` says how many once the
/// publishing ends): the sequence tracker and the publish-to-read latencies in µs.
async fn read_all(
    mut messages: pull::Ordered,
    mut published_rx: tokio::sync::watch::Receiver<Option<u64>>,
    epoch: Instant,
) -> (SeqTracker, Histogram<u64>) {
    let now_us = move || epoch.elapsed().as_micros() as u64;
    let mut tracker = SeqTracker::default();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
    loop {
        let target = *published_rx.borrow();
        if target.is_some_and(|total| tracker.received >= total) {
            break;
        }
        let next = tokio::select! {
            next = messages.next() => next,
            _ = published_rx.changed() => continue,
        };
        let Some(Ok(message)) = next else { break };
        let mut data = &message.payload[..];
        if data.len() < 16 {
            continue;
        }
        let seq = u64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
        data = &data[8..];
        let sent = u64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
        tracker.record(seq);
        latency.saturating_record(now_us().saturating_sub(sent).max(1));
    }
    (tracker, latency)
}

/// Publishes for `duration` with `window` publishes in flight, consuming at the same time, then
/// waits up to `drain` for the consumer to catch up.
pub async fn run(
    url: &str,
    duration: Duration,
    window: usize,
    size: usize,
    drain: Duration,
) -> anyhow::Result<JetStreamFigures> {
    let client = async_nats::connect(url)
        .await
        .with_context(|| format!("NATS at {url}"))?;
    let js = jetstream::new(client);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let name = format!("LOADTEST_{}_{nanos}", std::process::id());
    let subject = format!("loadtest.{}", name.to_lowercase());
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            max_bytes: 1 << 30,
            ..Default::default()
        })
        .await
        .context("create the stream")?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.clone(),
            ..Default::default()
        })
        .await
        .context("create the consumer")?;
    let epoch = Instant::now();
    let now_us = move || epoch.elapsed().as_micros() as u64;
    let (published_tx, published_rx) = tokio::sync::watch::channel(None::<u64>);
    let messages = consumer.messages().await?;
    let reader = tokio::spawn(read_all(messages, published_rx, epoch));

    let mut acks = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
    let mut in_flight = VecDeque::with_capacity(window);
    let mut acked = AckedRange::default();
    let mut seq = 0u64;
    let end = Instant::now() + duration;
    while Instant::now() < end {
        seq += 1;
        let sent = now_us();
        let ack = js.publish(subject.clone(), payload(seq, sent, size)).await?;
        in_flight.push_back((seq, sent, ack));
        if in_flight.len() >= window {
            let (seq, sent, ack) = in_flight.pop_front().expect("full");
            ack.await?;
            acks.saturating_record(now_us().saturating_sub(sent).max(1));
            acked.record(seq);
        }
    }
    for (seq, sent, ack) in in_flight {
        ack.await?;
        acks.saturating_record(now_us().saturating_sub(sent).max(1));
        acked.record(seq);
    }
    let seconds = epoch.elapsed().as_secs_f64();
    let _ = published_tx.send(Some(seq));
    let (tracker, latency) = match tokio::time::timeout(drain, reader).await {
        Ok(joined) => joined?,
        Err(_) => anyhow::bail!("the consumer did not catch up within {drain:?}"),
    };
    let tally = crate::tracker::tally(&HashMap::from([("js".to_owned(), acked)]), [("js", &tracker)]);
    let _ = js.delete_stream(&name).await;
    Ok(JetStreamFigures {
        published: seq,
        consumed: tracker.received,
        seconds,
        publish_rate: seq as f64 / seconds,
        p50_ms: ms(&latency, 0.5),
        p99_ms: ms(&latency, 0.99),
        ack_p50_ms: ms(&acks, 0.5),
        ack_p99_ms: ms(&acks, 0.99),
        tally,
    })
}
