//! The routing table: which gateways hold connections of which (app, session), and the feed
//! of its presence changes (a session's first route added, its last one removed).

use herald_protocol::{AppId, GatewayId, SessionId};
use std::collections::HashMap;
use std::sync::RwLock;
use tokio::sync::broadcast;

/// Presence changes buffered for a slow subscriber; one that falls further behind is told how
/// many it missed and resynchronizes from a snapshot.
pub const PRESENCE_FEED: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    pub app: AppId,
    pub session: SessionId,
}

/// A session came online (its first route anywhere) or went offline (its last route removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub key: RouteKey,
    pub online: bool,
}

#[derive(Debug)]
pub struct RouteTable {
    routes: RwLock<HashMap<RouteKey, Vec<GatewayId>>>,
    changes: broadcast::Sender<PresenceChange>,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self {
            routes: RwLock::default(),
            changes: broadcast::channel(PRESENCE_FEED).0,
        }
    }
}

impl RouteTable {
    pub fn add(&self, key: RouteKey, gateway: GatewayId) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let gateways = routes.entry(key.clone()).or_default();
        if !gateways.contains(&gateway) {
            gateways.push(gateway);
            if gateways.len() == 1 {
                // sent under the lock, so the feed's order is the table's order
                let _ = self.changes.send(PresenceChange { key, online: true });
            }
        }
    }

    pub fn remove(&self, key: &RouteKey, gateway: &GatewayId) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(gateways) = routes.get_mut(key) {
            gateways.retain(|g| g != gateway);
            if gateways.is_empty() {
                routes.remove(key);
                let _ = self.changes.send(PresenceChange {
                    key: key.clone(),
                    online: false,
                });
            }
        }
    }

    /// Every presence change from now on, in the table's order. Subscribe before taking the
    /// `snapshot` a subscriber starts from: a change then shows in both at worst, never in neither.
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceChange> {
        self.changes.subscribe()
    }

    /// Groups `sessions` of `app` by the gateways holding them; sessions held nowhere are skipped.
    /// One lock for the whole batch.
    pub fn plan<'a>(
        &self,
        app: &AppId,
        sessions: impl IntoIterator<Item = &'a SessionId>,
    ) -> HashMap<GatewayId, Vec<SessionId>> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut plan: HashMap<GatewayId, Vec<SessionId>> = HashMap::new();
        let mut key = RouteKey {
            app: app.clone(),
            session: SessionId::parse("-").expect("valid"),
        };
        for session in sessions {
            key.session = session.clone();
            if let Some(gateways) = routes.get(&key) {
                for gateway in gateways {
                    plan.entry(gateway.clone()).or_default().push(session.clone());
                }
            }
        }
        plan
    }

    /// True when the table routes (app, session) to `gateway`.
    pub fn holds(&self, key: &RouteKey, gateway: &GatewayId) -> bool {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .is_some_and(|gateways| gateways.contains(gateway))
    }

    /// A copy of the whole table (the presence tracker diffs successive copies).
    pub fn snapshot(&self) -> HashMap<RouteKey, Vec<GatewayId>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn len(&self) -> usize {
        self.routes.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> RouteKey {
        RouteKey {
            app: AppId::parse("a").unwrap(),
            session: SessionId::parse(s).unwrap(),
        }
    }

    #[test]
    fn plan_groups_sessions_by_gateway() {
        let table = RouteTable::default();
        let (g1, g2) = (GatewayId::parse("g1").unwrap(), GatewayId::parse("g2").unwrap());
        table.add(key("alice"), g1.clone());
        table.add(key("alice"), g2.clone());
        table.add(key("bob"), g1.clone());
        let sessions: Vec<SessionId> = ["alice", "bob", "carol"]
            .iter()
            .map(|s| SessionId::parse(*s).unwrap())
            .collect();
        let plan = table.plan(&AppId::parse("a").unwrap(), &sessions);
        assert_eq!(plan[&g1].len(), 2);
        assert_eq!(plan[&g2], vec![sessions[0].clone()]);
        assert!(table.plan(&AppId::parse("other").unwrap(), &sessions).is_empty());
        table.remove(&key("alice"), &g2);
        assert!(!table.plan(&AppId::parse("a").unwrap(), &sessions).contains_key(&g2));
    }

    /// Presence is event-driven: the first route of a session is "online", the removal of its
    /// last one "offline", however briefly it was held; other adds and removes say nothing.
    #[test]
    fn the_feed_reports_first_and_last_routes_only() {
        let table = RouteTable::default();
        let mut feed = table.subscribe();
        let (g1, g2) = (GatewayId::parse("g1").unwrap(), GatewayId::parse("g2").unwrap());
        table.add(key("alice"), g1.clone());
        table.add(key("alice"), g1.clone());
        table.add(key("alice"), g2.clone());
        table.remove(&key("alice"), &g1);
        table.remove(&key("bob"), &g1);
        table.remove(&key("alice"), &g2);
        table.add(key("bob"), g2.clone());
        table.remove(&key("bob"), &g2);
        let mut seen = Vec::new();
        while let Ok(change) = feed.try_recv() {
            seen.push((change.key.session.to_string(), change.online));
        }
        let expected = [("alice", true), ("alice", false), ("bob", true), ("bob", false)];
        assert_eq!(seen, expected.map(|(s, online)| (s.to_owned(), online)).to_vec());
    }
}
