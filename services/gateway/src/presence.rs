//! Presence: a session is online while any live gateway holds a connection of it. One gateway
//! at a time (a singleton lease) follows the routing table's change feed and pushes online
//! (2001) when a session's first route appears anywhere and offline (2000) when its last one
//! goes, however briefly it was held. Gateways heartbeat; the tracker withdraws the routes of
//! gateways that died without closing cleanly, so nobody stays online forever.

use crate::hub::Hub;
use crate::pushes::Pushes;
use bytes::Bytes;
use herald_bus::ownership::{self, Grant, OwnershipConfig};
use herald_bus::{Bucket, PresenceChange, RouteKey};
use herald_bus::{Bus, RouteTable};
use herald_protocol::ws::{self, code};
use herald_protocol::{GatewayId, SessionId};
use herald_store::SocialStore;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A gateway silent this long is dead: its sessions go offline, its routes are withdrawn.
/// What presence needs: the bus (heartbeats, the tracker's lease), the routing table and the hub
/// (routes to reassert), the friends to tell, and the way to push to them.
#[derive(Clone)]
pub struct Tracker {
    pub gateway: GatewayId,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    pub routes: Arc<RouteTable>,
    pub social: Arc<dyn SocialStore>,
    pub pushes: Pushes,
    /// `presence.changed` for the app's endpoints that asked for it.
    pub hooks: crate::hooks::Hooks,
    pub shutdown: CancellationToken,
}

pub const GATEWAY_TTL: Duration = Duration::from_secs(5);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long one heartbeat's write may wait for its answer before the next one is sent: a put
/// lost with a dropped NATS connection would otherwise hold the loop for the 5 s JetStream
/// timeout, as long as the heartbeat's TTL.
const BEAT_WAIT: Duration = Duration::from_millis(1500);
/// After a heartbeat lapse, every route is published again at once and once more this much
/// later: a tracker whose point read found the heartbeat expired just before the beat landed
/// may still be withdrawing the routes one by one meanwhile.
const REPUBLISH_AGAIN_AFTER: Duration = Duration::from_secs(4);
/// How often the tracker looks for dead gateways (presence itself follows the change feed).
const TRACK_EVERY: Duration = Duration::from_millis(500);
/// How long a gateway must be missing from the heartbeat listing before a point read may
/// confirm it dead: longer than two heartbeats, so one late or stale write never condemns it.
const DEAD_AFTER: Duration = Duration::from_millis(2500);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn heartbeat_key(gateway: &GatewayId) -> String {
    format!("gw.{gateway}")
}

/// Writes this gateway's heartbeat once (before it accepts connections).
pub async fn beat(tracker: &Tracker, expires_ms: u64) -> Result<(), herald_bus::BusError> {
    let value = Bytes::from(json!({"expires_ms": expires_ms}).to_string());
    tracker
        .bus
        .kv_put(Bucket::Leases, &heartbeat_key(&tracker.gateway), value)
        .await
        .map(|_| ())
}

pub async fn heartbeat(tracker: Tracker) {
    // the routes are kept by a task of their own: publishing many of them never holds a beat
    let (lapses, lapses_rx) = watch::channel(None);
    tokio::spawn(keep_routes(tracker.clone(), lapses_rx));
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    // after an outage, one beat per period again, not a burst of the missed ones
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    loop {
        tokio::select! {
            _ = tracker.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let expires_ms = now_ms() + GATEWAY_TTL.as_millis() as u64;
        match tokio::time::timeout(BEAT_WAIT, beat(&tracker, expires_ms)).await {
            Ok(Ok(())) => {
                // no beat landed for a TTL: a tracker may have taken this gateway for dead and
                // withdrawn its routes, which the local replica may not show yet
                let lapsed = last_beat.elapsed();
                last_beat = Instant::now();
                if lapsed >= GATEWAY_TTL {
                    tracing::warn!(
                        lapsed_ms = lapsed.as_millis() as u64,
                        "gateway heartbeat back after lapsing; publishing every route again"
                    );
                    lapses.send_replace(Some(last_beat));
                }
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "gateway heartbeat failed"),
            Err(_) => tracing::warn!(
                wait_ms = BEAT_WAIT.as_millis() as u64,
                "gateway heartbeat unanswered; beating again"
            ),
        }
    }
}

/// Keeps this gateway's routes in the routing table: every period, the routes its replica does
/// not show; after a heartbeat lapse, every route, once at once and once more when a tracker
/// that condemned the gateway just before its beat landed has finished withdrawing
/// (`REPUBLISH_AGAIN_AFTER`), each pass repeated until none of its puts failed.
async fn keep_routes(tracker: Tracker, mut lapses: watch::Receiver<Option<Instant>>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // when the next passes over every route are due, earliest first
    let mut full_passes: Vec<Instant> = Vec::new();
    loop {
        tokio::select! {
            _ = tracker.shutdown.cancelled() => break,
            _ = tick.tick() => {}
            changed = lapses.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(at) = *lapses.borrow_and_update() {
                    full_passes = vec![at, at + REPUBLISH_AGAIN_AFTER];
                }
            }
        }
        let full = full_passes.first().is_some_and(|due| *due <= Instant::now());
        let published = if full {
            tracker.hub.republish_routes().await
        } else {
            tracker.hub.reassert_routes(&tracker.routes).await
        };
        if full && published.failed == 0 {
            full_passes.remove(0);
        }
        if published.ok > 0 && !full {
            tracing::warn!(
                sessions = published.ok,
                "routes of live connections were missing from the routing table; published them again"
            );
        }
        if published.ok > 0 {
            metrics::counter!("herald_routes_reasserted_total").increment(published.ok as u64);
        }
        if published.failed > 0 {
            tracing::warn!(failed = published.failed, full, "routes not published; retrying");
        }
    }
}

/// Competes for the presence singleton and tracks while holding it.
pub async fn track(tracker: Tracker) {
    let config = OwnershipConfig {
        role: "presence",
        instance: tracker.gateway.to_string(),
        lease_ttl: GATEWAY_TTL,
        partitions: 1,
    };
    let bus = tracker.bus.clone();
    let stop = tracker.shutdown.clone();
    ownership::run(bus, config, stop, move |grant| serve(tracker.clone(), grant)).await;
}

async fn live_gateways(tracker: &Tracker) -> Result<HashSet<String>, herald_bus::BusError> {
    let now = now_ms();
    Ok(tracker
        .bus
        .kv_scan(Bucket::Leases, "gw.")
        .await?
        .into_iter()
        .filter(|(_, value)| {
            serde_json::from_slice::<serde_json::Value>(value)
                .ok()
                .and_then(|v| v["expires_ms"].as_u64())
                .is_some_and(|expires| expires > now)
        })
        .filter_map(|(key, _)| key.strip_prefix("gw.").map(str::to_owned))
        .collect())
}

/// True when a point read of the gateway's heartbeat confirms that it expired (or is gone).
async fn heartbeat_expired(tracker: &Tracker, gateway: &GatewayId) -> bool {
    match tracker.bus.kv_get(Bucket::Leases, &heartbeat_key(gateway)).await {
        Ok(None) => true,
        Ok(Some(entry)) => serde_json::from_slice::<serde_json::Value>(&entry.value)
            .ok()
            .and_then(|v| v["expires_ms"].as_u64())
            .is_none_or(|expires| expires <= now_ms()),
        Err(err) => {
            tracing::warn!(%gateway, error = %err, "presence: could not read a gateway's heartbeat");
            false
        }
    }
}

async fn serve(tracker: Tracker, grant: Grant) {
    tracing::info!("tracking presence");
    // subscribe before the snapshot: a change then shows in both at worst, never in neither.
    // On taking over, every session the table lists counts as online already; one whose gateway
    // died meanwhile goes offline when its routes are withdrawn below.
    let mut changes = tracker.routes.subscribe();
    let mut online: HashSet<RouteKey> = tracker.routes.snapshot().into_keys().collect();
    // gateways missing from the heartbeat listing, since when: a gateway is taken for dead only
    // after it stayed missing for `DEAD_AFTER` and a point read confirms it
    let mut missing_since: HashMap<GatewayId, tokio::time::Instant> = HashMap::new();
    let mut tick = tokio::time::interval(TRACK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = grant.cancel.cancelled() => return,
            change = changes.recv() => match change {
                Ok(PresenceChange { key, online: true }) => {
                    if online.insert(key.clone()) {
                        announce(&tracker, &key, true).await;
                    }
                }
                Ok(PresenceChange { key, online: false }) => {
                    if online.remove(&key) {
                        announce(&tracker, &key, false).await;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "presence: fell behind the routing table's changes; resynchronizing from a snapshot");
                    metrics::counter!("herald_presence_resyncs_total").increment(1);
                    resync(&tracker, &mut online).await;
                }
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => withdraw_dead_gateways(&tracker, &grant, &mut missing_since).await,
        }
        metrics::gauge!("herald_sessions_online").set(online.len() as f64);
    }
}

/// Brings `online` to the table's current state, announcing every difference.
async fn resync(tracker: &Tracker, online: &mut HashSet<RouteKey>) {
    let now: HashSet<RouteKey> = tracker.routes.snapshot().into_keys().collect();
    for key in now.difference(online) {
        announce(tracker, key, true).await;
    }
    for key in online.difference(&now) {
        announce(tracker, key, false).await;
    }
    *online = now;
}

/// Withdraws the routes of gateways whose heartbeat stayed missing for `DEAD_AFTER` and whose
/// expiry a point read confirms; the withdrawals come back through the feed as offline changes.
async fn withdraw_dead_gateways(
    tracker: &Tracker,
    grant: &Grant,
    missing_since: &mut HashMap<GatewayId, tokio::time::Instant>,
) {
    // the table first: a route in it belongs to a gateway whose heartbeat was already written
    let snapshot = tracker.routes.snapshot();
    let live = match live_gateways(tracker).await {
        Ok(live) => live,
        Err(err) => {
            tracing::warn!(error = %err, "presence: could not read gateway heartbeats");
            return;
        }
    };
    let listed: HashSet<&GatewayId> = snapshot.values().flatten().collect();
    missing_since.retain(|gateway, _| listed.contains(gateway) && !live.contains(gateway.as_str()));
    let mut dead = HashSet::new();
    for gateway in listed {
        if live.contains(gateway.as_str()) {
            continue;
        }
        let since = *missing_since
            .entry(gateway.clone())
            .or_insert_with(tokio::time::Instant::now);
        if since.elapsed() >= DEAD_AFTER && heartbeat_expired(tracker, gateway).await {
            dead.insert(gateway.clone());
        }
    }
    if dead.is_empty() || !grant.is_valid() {
        return;
    }
    for (key, gateways) in &snapshot {
        for gateway in gateways.iter().filter(|g| dead.contains(*g)) {
            tracing::warn!(%gateway, session = %key.session, "withdrawing the route of a dead gateway");
            metrics::counter!("herald_routes_withdrawn_total").increment(1);
            if let Err(err) = tracker.bus.route_remove(&key.app, &key.session, gateway).await {
                tracing::warn!(%gateway, error = %err, "presence: could not withdraw a dead gateway's route");
            }
        }
    }
}

/// `presence.changed` (protocol §10, opt-in: only endpoints that list it get it).
fn presence_event(key: &RouteKey, online: bool) -> herald_webhooks::events::Outgoing {
    use herald_webhooks::events::{Lane, Outgoing, PRESENCE_CHANGED};
    let now = herald_protocol::timefmt::now_nanos();
    Outgoing {
        app: key.app.clone(),
        id: format!("presence:{}:{online}:{now}", key.session),
        kind: PRESENCE_CHANGED,
        lane: Lane::Session(key.session.clone()),
        order: now,
        data: serde_json::json!({"session": key.session, "online": online}),
        created_at: now,
        // the presence tracker runs on its own: no request's trace
        trace: None,
    }
}

async fn announce(tracker: &Tracker, key: &RouteKey, online: bool) {
    let friends: Vec<SessionId> = match tracker.social.friends_of(&key.app, &key.session).await {
        Ok(friends) => friends,
        Err(err) => {
            tracing::warn!(error = %err, "presence: could not read friends");
            return;
        }
    };
    metrics::counter!("herald_presence_changes_total", "state" => if online { "online" } else { "offline" })
        .increment(1);
    tracker.hooks.emit(vec![presence_event(key, online)]).await;
    if friends.is_empty() {
        return;
    }
    let push_code = if online { code::ONLINE } else { code::OFFLINE };
    let frame = ws::push(
        "presence",
        Some(push_code),
        json!({"linkKey": key.session, "online": online}),
    );
    tracker.pushes.to_sessions(&key.app, &friends, frame).await;
}
