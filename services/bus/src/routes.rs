//! The routing table: which gateways hold connections of which (app, session).

use herald_protocol::{AppId, GatewayId, SessionId};
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    pub app: AppId,
    pub session: SessionId,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: RwLock<HashMap<RouteKey, Vec<GatewayId>>>,
}

impl RouteTable {
    pub fn add(&self, key: RouteKey, gateway: GatewayId) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let gateways = routes.entry(key).or_default();
        if !gateways.contains(&gateway) {
            gateways.push(gateway);
        }
    }

    pub fn remove(&self, key: &RouteKey, gateway: &GatewayId) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(gateways) = routes.get_mut(key) {
            gateways.retain(|g| g != gateway);
            if gateways.is_empty() {
                routes.remove(key);
            }
        }
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
}
