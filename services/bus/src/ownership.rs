//! Partition ownership: each partition of a role is held by exactly one live process at a time,
//! through a lease in the `Leases` bucket, and moves to a live process within a lease TTL when
//! its holder dies. The lease's revision at acquisition is the owner's fencing epoch.
//!
//! Each process heartbeats a membership key, counts the live members of its role and holds at
//! most its fair share (`ceil(partitions / members)`), so partitions spread as processes join.

use crate::{Bucket, Bus, BusError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct OwnershipConfig {
    /// `sequencer` or `delivery`: each role's partitions are leased separately.
    pub role: &'static str,
    /// This process; letters, digits, `-` and `_` only.
    pub instance: String,
    /// A dead holder's partitions move after at most this long.
    pub lease_ttl: Duration,
    /// How many partitions the role has (the logs' count, or 1 for a singleton).
    pub partitions: u32,
}

impl OwnershipConfig {
    fn renew_every(&self) -> Duration {
        self.lease_ttl / 5
    }
}

/// A held partition, handed to the partition's task.
#[derive(Clone)]
pub struct Grant {
    pub partition: u32,
    /// Fencing epoch: strictly greater than any earlier holder's.
    pub epoch: u64,
    valid_until_ms: Arc<AtomicU64>,
    /// Cancelled when the lease is lost, released or the process stops.
    pub cancel: CancellationToken,
}

impl Grant {
    /// True while no other process can have taken the partition. Check before every write.
    pub fn is_valid(&self) -> bool {
        !self.cancel.is_cancelled() && now_ms() < self.valid_until_ms.load(Ordering::Acquire)
    }

    /// A grant that never expires, for a process that owns every partition by construction.
    pub fn standalone(partition: u32, epoch: u64, cancel: CancellationToken) -> Self {
        Self {
            partition,
            epoch,
            valid_until_ms: Arc::new(AtomicU64::new(u64::MAX)),
            cancel,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LeaseValue {
    owner: String,
    expires_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn encode(value: &LeaseValue) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn lease_key(role: &str, partition: u32) -> String {
    format!("lease.{role}.{partition}")
}

fn member_prefix(role: &str) -> String {
    format!("member.{role}.")
}

struct Held {
    grant: Grant,
    revision: u64,
    task: JoinHandle<()>,
}

/// How many partitions a process should hold with `members` live processes.
pub fn fair_share(partitions: u32, members: usize) -> usize {
    (partitions as usize).div_ceil(members.max(1))
}

/// Runs until `shutdown`, starting `start(grant)` as a task for each partition acquired and
/// cancelling it when the lease is lost. On shutdown, stops the tasks and releases the leases
/// at once so another process takes over without waiting for them to expire.
pub async fn run<F, Fut>(bus: Arc<dyn Bus>, config: OwnershipConfig, shutdown: CancellationToken, start: F)
where
    F: Fn(Grant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    let mut tick = tokio::time::interval(config.renew_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(err) = round(bus.as_ref(), &config, &mut held, &start).await {
            tracing::warn!(role = config.role, error = %err, "ownership round failed");
        }
        metrics::gauge!("herald_partitions_owned", "role" => config.role).set(held.len() as f64);
    }
    for (partition, lease) in std::mem::take(&mut held) {
        release(bus.as_ref(), &config, partition, lease).await;
    }
    let _ = bus
        .kv_put(
            Bucket::Leases,
            &format!("{}{}", member_prefix(config.role), config.instance),
            encode(&LeaseValue {
                owner: config.instance.clone(),
                expires_ms: 0,
            }),
        )
        .await;
}

/// Renews a held lease by compare-and-set on its last known revision; `Ok(None)` when another
/// process holds it now. A mismatch may also be our own earlier renewal, written although its
/// answer never came (a timeout): a lease that still names this process is ours, at its
/// current revision.
async fn renew(
    bus: &dyn Bus,
    config: &OwnershipConfig,
    key: &str,
    value: Bytes,
    revision: u64,
) -> Result<Option<u64>, BusError> {
    if let Some(revision) = bus.kv_update(Bucket::Leases, key, value.clone(), revision).await? {
        return Ok(Some(revision));
    }
    let Some(current) = bus.kv_get(Bucket::Leases, key).await? else {
        return Ok(None);
    };
    let ours = serde_json::from_slice::<LeaseValue>(&current.value)
        .is_ok_and(|v| v.owner == config.instance && v.expires_ms > now_ms());
    if !ours {
        return Ok(None);
    }
    bus.kv_update(Bucket::Leases, key, value, current.revision).await
}

/// `call`, or an error once `limit` has passed.
async fn bounded<T>(limit: Duration, call: impl Future<Output = Result<T, BusError>>) -> Result<T, BusError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(BusError::unavailable("timed out")))
}

async fn release(bus: &dyn Bus, config: &OwnershipConfig, partition: u32, lease: Held) {
    lease.grant.cancel.cancel();
    let _ = tokio::time::timeout(config.lease_ttl, lease.task).await;
    let value = encode(&LeaseValue {
        owner: config.instance.clone(),
        expires_ms: 0,
    });
    // bounded like a renewal: a release only hands the partition over early, and a slow bucket
    // must not hold the round (and the renewal of every other lease) behind it
    let released = bounded(
        config.renew_every(),
        bus.kv_update(
            Bucket::Leases,
            &lease_key(config.role, partition),
            value,
            lease.revision,
        ),
    )
    .await;
    match released {
        Ok(_) => tracing::info!(role = config.role, partition, "released partition"),
        Err(err) => {
            tracing::warn!(role = config.role, partition, error = %err, "release failed; the lease will expire")
        }
    }
}

async fn round<F, Fut>(
    bus: &dyn Bus,
    config: &OwnershipConfig,
    held: &mut BTreeMap<u32, Held>,
    start: &F,
) -> Result<(), BusError>
where
    F: Fn(Grant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let now = now_ms();
    // 1. renew what we hold first, independently of the bookkeeping below: a failing
    //    membership write or scan must not let every lease lapse; drop what we lost or what
    //    stopped by itself
    renew_held(bus, config, held, now).await;
    // 2. heartbeat and count the live members of the role; without a count, no rebalancing
    //    this round (the leases above are renewed whatever happens here)
    let share = fair_share(config.partitions, live_members(bus, config, now).await?);
    // 3. give back partitions above our share (highest first)
    while held.len() > share {
        let (partition, lease) = held.pop_last().expect("non-empty");
        release(bus, config, partition, lease).await;
    }

    // 4. take free or expired partitions up to our share
    acquire_up_to(bus, config, held, share, now, start).await
}

/// Renews every held lease at once (dropping those lost, or whose task stopped by itself).
async fn renew_held(bus: &dyn Bus, config: &OwnershipConfig, held: &mut BTreeMap<u32, Held>, now: u64) {
    let ttl_ms = config.lease_ttl.as_millis() as u64;
    let stopped: Vec<u32> = held
        .iter()
        .filter(|(_, lease)| lease.task.is_finished())
        .map(|(partition, _)| *partition)
        .collect();
    for partition in stopped {
        let lease = held.remove(&partition).expect("held");
        tracing::warn!(role = config.role, partition, "partition task stopped; releasing");
        release(bus, config, partition, lease).await;
    }
    // all at once, each bounded by one renewal period: a slow or leaderless bucket (a NATS
    // election) must not hold one round for a request timeout per partition
    let renewals = held.iter().map(|(partition, lease)| {
        let value = encode(&LeaseValue {
            owner: config.instance.clone(),
            expires_ms: now + ttl_ms,
        });
        let key = lease_key(config.role, *partition);
        let (partition, revision) = (*partition, lease.revision);
        async move {
            let outcome = bounded(config.renew_every(), renew(bus, config, &key, value, revision)).await;
            (partition, outcome)
        }
    });
    for (partition, outcome) in futures::future::join_all(renewals).await {
        let lease = held.get_mut(&partition).expect("held");
        match outcome {
            Ok(Some(revision)) => {
                lease.revision = revision;
                // stop writing a third of a TTL before anyone else may take over
                lease
                    .grant
                    .valid_until_ms
                    .store(now + ttl_ms * 2 / 3, Ordering::Release);
            }
            Ok(None) => {
                tracing::warn!(role = config.role, partition, "lease lost to another process");
                let lease = held.remove(&partition).expect("held");
                lease.grant.cancel.cancel();
            }
            Err(err) => {
                tracing::warn!(role = config.role, partition, error = %err, "lease renewal failed");
                if !lease.grant.is_valid() {
                    let lease = held.remove(&partition).expect("held");
                    lease.grant.cancel.cancel();
                }
            }
        }
    }
}

/// Writes this process's membership heartbeat and counts the role's live members.
async fn live_members(bus: &dyn Bus, config: &OwnershipConfig, now: u64) -> Result<usize, BusError> {
    let ttl_ms = config.lease_ttl.as_millis() as u64;
    let me = LeaseValue {
        owner: config.instance.clone(),
        expires_ms: now + ttl_ms,
    };
    // each bookkeeping call is bounded by half a renewal period and the first failure ends the
    // bookkeeping for this round, so a slow bucket delays the next renewal by little
    let limit = config.renew_every() / 2;
    bounded(
        limit,
        bus.kv_put(
            Bucket::Leases,
            &format!("{}{}", member_prefix(config.role), config.instance),
            encode(&me),
        ),
    )
    .await?;
    let listed = bounded(limit, bus.kv_scan(Bucket::Leases, &member_prefix(config.role))).await?;
    let members = listed
        .iter()
        .filter_map(|(_, v)| serde_json::from_slice::<LeaseValue>(v).ok())
        .filter(|v| v.expires_ms > now)
        .count();
    Ok(members)
}

/// Takes free or expired partitions up to `share`, starting at a per-instance offset (so
/// processes starting together try different partitions first).
async fn acquire_up_to<F, Fut>(
    bus: &dyn Bus,
    config: &OwnershipConfig,
    held: &mut BTreeMap<u32, Held>,
    share: usize,
    now: u64,
    start: &F,
) -> Result<(), BusError>
where
    F: Fn(Grant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ttl_ms = config.lease_ttl.as_millis() as u64;
    let limit = config.renew_every() / 2;
    let partitions = config.partitions.max(1);
    let offset = config
        .instance
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % partitions;
    for i in 0..partitions {
        if held.len() >= share {
            break;
        }
        let partition = (offset + i) % partitions;
        if held.contains_key(&partition) {
            continue;
        }
        let key = lease_key(config.role, partition);
        let value = encode(&LeaseValue {
            owner: config.instance.clone(),
            expires_ms: now + ttl_ms,
        });
        let acquired = match bounded(limit, bus.kv_get(Bucket::Leases, &key)).await? {
            None => bounded(limit, bus.kv_create(Bucket::Leases, &key, value)).await?,
            Some(current) => {
                let expired = serde_json::from_slice::<LeaseValue>(&current.value)
                    .map(|v| v.expires_ms <= now)
                    .unwrap_or(true);
                if expired {
                    bounded(limit, bus.kv_update(Bucket::Leases, &key, value, current.revision)).await?
                } else {
                    None
                }
            }
        };
        if let Some(revision) = acquired {
            let grant = Grant {
                partition,
                epoch: revision,
                valid_until_ms: Arc::new(AtomicU64::new(now + ttl_ms * 2 / 3)),
                cancel: CancellationToken::new(),
            };
            tracing::info!(role = config.role, partition, epoch = revision, "acquired partition");
            metrics::counter!("herald_partition_acquisitions_total", "role" => config.role).increment(1);
            let task = tokio::spawn(start(grant.clone()));
            held.insert(partition, Held { grant, revision, task });
        }
    }
    Ok(())
}

/// Where a role's consumer of a partition has finished, in this bus's log positions.
pub async fn load_checkpoint(bus: &dyn Bus, role: &str, partition: u32) -> Result<u64, BusError> {
    let key = checkpoint_key(bus, role, partition);
    Ok(bus
        .kv_get(Bucket::Checkpoints, &key)
        .await?
        .and_then(|v| std::str::from_utf8(&v.value).ok()?.parse().ok())
        .unwrap_or(0))
}

/// Moves a role's checkpoint of a partition forward to `position`, never back: compare-and-set on
/// the stored revision, so a stale owner that wakes up late cannot rewind what the current owner
/// recorded (which would replay deliveries), and two writers cannot cross.
pub async fn store_checkpoint(bus: &dyn Bus, role: &str, partition: u32, position: u64) -> Result<(), BusError> {
    let key = checkpoint_key(bus, role, partition);
    let value = Bytes::from(position.to_string());
    // each lost compare-and-set means another writer moved it: with a handful of writers at
    // most (an owner and a stale one), this ends long before the bound
    for _ in 0..64 {
        let written = match bus.kv_get(Bucket::Checkpoints, &key).await? {
            None => bus.kv_create(Bucket::Checkpoints, &key, value.clone()).await?,
            Some(current) => {
                let stored: u64 = std::str::from_utf8(&current.value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if stored >= position {
                    return Ok(());
                }
                bus.kv_update(Bucket::Checkpoints, &key, value.clone(), current.revision)
                    .await?
            }
        };
        if written.is_some() {
            return Ok(());
        }
    }
    Err(BusError::unavailable(format!(
        "checkpoint {key}: kept losing the compare-and-set"
    )))
}

fn checkpoint_key(bus: &dyn Bus, role: &str, partition: u32) -> String {
    format!("{}.{role}.{partition}", bus.scope())
}

#[cfg(test)]
mod tests;
