//! Sending queued jobs: for each partition a process owns, one worker per endpoint takes the
//! due head of each of the endpoint's lanes there, posts them (a lane's next job only after its
//! head is done: in order per conversation), and records the outcome: a 2xx answer finishes the
//! job, anything else is retried with exponential backoff and jitter until it is `give_up` old,
//! then dead-lettered. A worker per endpoint: a slow or failing endpoint holds only its own
//! lanes, never another app's.

use crate::events::now_ms;
use crate::sign::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature};
use herald_store::{WebhookEndpoint, WebhookJob, WebhookStore};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Jobs one endpoint worker sends at once (its lanes' heads, in parallel).
pub const PER_ROUND: usize = 16;
/// How often a partition's endpoint list is read again.
const ENDPOINTS_EVERY: Duration = Duration::from_secs(1);
/// How long a worker with nothing due waits before it looks again, unless the partition's
/// dispatcher queues something first (it wakes the workers): retries coming due, and events
/// the gateways queue themselves, are found within this.
const IDLE: Duration = Duration::from_secs(1);

/// How sending retries and when it gives up.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The first retry's delay; each next one doubles, up to `max`.
    pub base: Duration,
    pub max: Duration,
    /// A job older than this is dead-lettered after its next failure (24 h).
    pub give_up: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            give_up: Duration::from_secs(24 * 3600),
        }
    }
}

impl Retry {
    /// The delay before attempt `attempts + 1`: exponential, with jitter (50–100 %).
    pub fn delay(&self, attempts: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempts.min(20));
        let capped = exp.min(self.max);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// What an endpoint worker needs.
#[derive(Clone)]
pub struct Sending {
    pub store: Arc<dyn WebhookStore>,
    pub client: reqwest::Client,
    pub retry: Retry,
}

/// Sends the jobs of `partition`'s lanes until `cancel`: one worker per endpoint, started and
/// stopped as endpoints come and go.
pub async fn run_partition(sending: Sending, partition: u32, wake: Arc<Notify>, cancel: CancellationToken) {
    let mut workers: HashMap<(String, String), CancellationToken> = HashMap::new();
    while !cancel.is_cancelled() {
        match sending.store.all_endpoints().await {
            Ok(endpoints) => {
                let live: HashMap<(String, String), WebhookEndpoint> = endpoints
                    .into_iter()
                    .map(|e| ((e.app.to_string(), e.id.clone()), e))
                    .collect();
                workers.retain(|key, token| {
                    let keep = live.contains_key(key);
                    if !keep {
                        token.cancel();
                    }
                    keep
                });
                for (key, endpoint) in live {
                    if workers.get(&key).is_some_and(|token| !token.is_cancelled()) {
                        continue;
                    }
                    let token = cancel.child_token();
                    workers.insert(key, token.clone());
                    tokio::spawn(endpoint_worker(
                        sending.clone(),
                        endpoint,
                        partition,
                        wake.clone(),
                        token,
                    ));
                }
            }
            Err(err) => tracing::warn!(partition, error = %err, "webhook endpoints not read; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(ENDPOINTS_EVERY) => {}
        }
    }
    for token in workers.values() {
        token.cancel();
    }
}

/// Sends one endpoint's due jobs in one partition until `cancel`. The endpoint's secret is read
/// again every round, so a rotation applies at once.
async fn endpoint_worker(
    sending: Sending,
    endpoint: WebhookEndpoint,
    partition: u32,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut secret = endpoint.secret.clone();
    let mut secret_read = Instant::now();
    while !cancel.is_cancelled() {
        if secret_read.elapsed() > ENDPOINTS_EVERY {
            if let Ok(list) = sending.store.endpoints(&endpoint.app).await {
                match list.into_iter().find(|e| e.id == endpoint.id) {
                    Some(current) => secret = current.secret,
                    None => return,
                }
            }
            secret_read = Instant::now();
        }
        // listening before the read: a job queued while it runs still wakes this worker
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let due = sending
            .store
            .due_jobs(&endpoint.app, &endpoint.id, partition, now_ms(), PER_ROUND)
            .await;
        let jobs = match due {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(endpoint = %endpoint.id, partition, error = %err, "webhook queue not read; retrying");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut woken => continue,
                _ = tokio::time::sleep(IDLE) => continue,
            }
        }
        let sends = jobs.into_iter().map(|job| {
            // the event's trace goes on: its request is a span of it, and the receiver is handed
            // that span's `traceparent` to go on with
            let span = tracing::info_span!("webhooks.send", endpoint = %endpoint.id, event = %job.event_id, attempt = job.attempts + 1);
            herald_bus::trace::continue_trace(&span, job.trace.as_deref());
            send_one(&sending, &endpoint, &secret, job).instrument(span)
        });
        futures::future::join_all(sends).await;
    }
}

/// Posts one job and records how it went.
async fn send_one(sending: &Sending, endpoint: &WebhookEndpoint, secret: &str, job: WebhookJob) {
    let started = Instant::now();
    let t = now_ms() / 1000;
    let request = sending
        .client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header(EVENT_ID_HEADER, &job.event_id)
        .header(SIGNATURE_HEADER, signature(secret, t, &job.body));
    let request = match herald_bus::trace::current_traceparent() {
        Some(traceparent) => request.header(herald_bus::trace::HEADER, traceparent),
        None => request,
    };
    let outcome = request.body(job.body.clone()).send().await;
    let app = endpoint.app.to_string();
    metrics::histogram!("herald_webhook_request_seconds", "app" => app.clone()).record(started.elapsed().as_secs_f64());
    let failure = match outcome {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("answered {}", response.status().as_u16())),
        Err(err) => Some(describe(&err)),
    };
    let store = sending.store.as_ref();
    let recorded = match failure {
        None => {
            metrics::counter!("herald_webhook_deliveries_total", "app" => app.clone(), "outcome" => "ok").increment(1);
            let lag = (now_ms() - job.created_at_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("herald_webhook_lag_seconds", "app" => app).record(lag);
            store.finish_job(&job.app, &job.endpoint, &job.event_id).await
        }
        Some(error) => {
            let age = Duration::from_millis((now_ms() - job.created_at_ms).max(0) as u64);
            if age >= sending.retry.give_up {
                metrics::counter!("herald_webhook_deliveries_total", "app" => app, "outcome" => "dead").increment(1);
                tracing::warn!(endpoint = %job.endpoint, event = %job.event_id, %error, "webhook dead-lettered");
                store.kill_job(&job.app, &job.endpoint, &job.event_id, &error).await
            } else {
                metrics::counter!("herald_webhook_deliveries_total", "app" => app, "outcome" => "retry").increment(1);
                tracing::info!(endpoint = %job.endpoint, event = %job.event_id, %error, attempts = job.attempts + 1, "webhook failed; will retry");
                let next = now_ms() + sending.retry.delay(job.attempts).as_millis() as i64;
                store
                    .retry_job(&job.app, &job.endpoint, &job.event_id, job.attempts + 1, next, &error)
                    .await
            }
        }
    };
    if let Err(err) = recorded {
        // the job stays due: it is sent again (the receiver dedupes on the event id)
        tracing::warn!(endpoint = %job.endpoint, event = %job.event_id, error = %err, "webhook outcome not recorded");
    }
}

/// A request error in a few words (no URL with its query: it may hold the receiver's secrets).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer in time".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let retry = Retry {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            give_up: Duration::from_secs(60),
        };
        for attempts in 0..8 {
            let full = Duration::from_millis(100 * (1 << attempts)).min(Duration::from_secs(2));
            let delay = retry.delay(attempts);
            assert!(
                delay <= full && delay >= full / 2,
                "attempt {attempts}: {delay:?} of {full:?}"
            );
        }
        assert!(retry.delay(60) <= Duration::from_secs(2), "no overflow");
    }
}
