//! Where the cluster is and how to talk to it: contact points, keyspace, timeouts, and the session
//! every statement runs on (token-aware, shard-aware, `LOCAL_QUORUM`, retries for idempotent
//! statements only).

use super::retry::IdempotentRetryPolicy;
use crate::StoreError;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::statement::{Consistency, SerialConsistency};
use std::sync::Arc;
use std::time::Duration;

/// How to reach the cluster and lay out the keyspace.
#[derive(Clone)]
pub struct ScyllaConfig {
    /// Contact points, `host` or `host:port` (port 9042 when omitted); the rest of the cluster is
    /// discovered from them.
    pub nodes: Vec<String>,
    /// Keyspace holding Herald's tables.
    pub keyspace: String,
    /// Replicas per datacenter when `herald migrate` creates the keyspace (3 in production, 1 on a
    /// single dev node). An existing keyspace is left as it is.
    pub replication_factor: u32,
    /// `tablets = {'enabled': ...}` when `herald migrate` creates the keyspace; `None` lets the
    /// cluster decide (see `tablets.rs`: a cluster without lightweight transactions on tablets gets
    /// `false` whatever is configured here, and `true` there is refused).
    pub tablets: Option<bool>,
    /// The datacenter this process is in: queries go to its replicas (`LOCAL_QUORUM`).
    pub local_datacenter: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Client-side timeout of one statement; lightweight transactions get twice as long.
    pub request_timeout: Duration,
    /// Most statements one store call has in flight at once (fan-out writes and reads).
    pub concurrency: usize,
}

impl ScyllaConfig {
    pub fn new(nodes: Vec<String>, keyspace: impl Into<String>) -> Self {
        Self {
            nodes,
            keyspace: keyspace.into(),
            replication_factor: 1,
            tablets: None,
            local_datacenter: None,
            username: None,
            password: None,
            request_timeout: Duration::from_secs(5),
            concurrency: 32,
        }
    }

    /// Contact points from a comma-separated list (`HERALD_SCYLLA_NODES`).
    pub fn parse_nodes(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Checks what the cluster cannot: a usable keyspace name, at least one node.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.nodes.is_empty() {
            return Err(StoreError::Fatal("no ScyllaDB node given".into()));
        }
        if !is_valid_keyspace(&self.keyspace) {
            return Err(StoreError::Fatal(format!(
                "keyspace {:?}: 1 to 48 letters, digits or '_', not starting with '_'",
                self.keyspace
            )));
        }
        if self.replication_factor == 0 {
            return Err(StoreError::Fatal("replication factor must be at least 1".into()));
        }
        Ok(())
    }
}

impl std::fmt::Debug for ScyllaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaConfig")
            .field("nodes", &self.nodes)
            .field("keyspace", &self.keyspace)
            .field("replication_factor", &self.replication_factor)
            .field("tablets", &self.tablets)
            .field("local_datacenter", &self.local_datacenter)
            .field("username", &self.username)
            .field("request_timeout", &self.request_timeout)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Unquoted CQL keyspace names: the keyspace is spliced into DDL, so only these are accepted.
pub fn is_valid_keyspace(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with('_')
}

/// Opens a session: token-aware routing (each statement goes to a replica of its partition) and,
/// on ScyllaDB, shard-aware connections (the driver opens one connection per shard, through the
/// shard-aware port 19042 when reachable, and sends each statement to the owning shard).
pub async fn connect(config: &ScyllaConfig, keyspace: Option<&str>) -> Result<Session, StoreError> {
    config.validate()?;
    let mut balancing = DefaultPolicy::builder().token_aware(true).permit_dc_failover(false);
    if let Some(datacenter) = &config.local_datacenter {
        balancing = balancing.prefer_datacenter(datacenter.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(config.request_timeout))
        .load_balancing_policy(balancing.build())
        // retries only what is declared idempotent, and never a lightweight transaction
        .retry_policy(Arc::new(IdempotentRetryPolicy))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        .connection_timeout(config.request_timeout);
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.user(user, password);
    }
    if let Some(keyspace) = keyspace {
        builder = builder.use_keyspace(keyspace, false);
    }
    Ok(builder.build().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_a_comma_separated_list() {
        assert_eq!(
            ScyllaConfig::parse_nodes(" 10.0.0.1:9042, db2 ,,db3:19042"),
            vec!["10.0.0.1:9042", "db2", "db3:19042"]
        );
        assert!(ScyllaConfig::parse_nodes(" , ").is_empty());
    }

    #[test]
    fn keyspace_names_are_checked() {
        assert!(is_valid_keyspace("herald"));
        assert!(is_valid_keyspace("herald_test_18a2f"));
        assert!(!is_valid_keyspace(""));
        assert!(!is_valid_keyspace("_herald"));
        assert!(!is_valid_keyspace("herald; DROP KEYSPACE x"));
        assert!(!is_valid_keyspace(&"k".repeat(49)));
        let mut config = ScyllaConfig::new(vec![], "herald");
        assert!(config.validate().is_err(), "no nodes");
        config.nodes.push("127.0.0.1".into());
        assert!(config.validate().is_ok());
        config.replication_factor = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_password_is_not_printed() {
        let mut config = ScyllaConfig::new(vec!["db".into()], "herald");
        config.password = Some("hunter2".into());
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
