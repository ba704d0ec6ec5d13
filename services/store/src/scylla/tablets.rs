//! Tablets or vnodes: what `herald migrate` asks the cluster before it creates the keyspace.
//!
//! Herald needs lightweight transactions: the fences of partition owners, the migration lock, and
//! every create-once row (apps, conversations, accounts, server keys) are conditional statements.
//! ScyllaDB distributes a keyspace either by vnodes, where lightweight transactions always worked,
//! or by tablets (from 6.0, the default for new keyspaces on many versions), where they work only
//! once the whole cluster has the `LWT_WITH_TABLETS` feature (ScyllaDB's documentation up to
//! 2025.3 says "not supported in keyspaces with tablets"). So the keyspace option comes from the
//! cluster's enabled features, not from a version number: no tablets feature, no option (the
//! server would not know it); tablets without LWT on them, `tablets = {'enabled': false}`; both,
//! the configured choice or the cluster's default.

use super::cql;
use crate::StoreError;
use scylla::client::session::Session;
use scylla::statement::Statement;
use scylla::value::{CqlValue, Row};
use std::collections::BTreeSet;

/// The cluster feature of tablets.
pub const TABLETS: &str = "TABLETS";
/// The cluster feature of lightweight transactions on tablets.
pub const LWT_WITH_TABLETS: &str = "LWT_WITH_TABLETS";

/// What the server says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Server {
    /// `system.local.release_version` (Cassandra-compatible: ScyllaDB answers `3.0.8`).
    pub release_version: Option<String>,
    /// Features enabled on the whole cluster (ScyllaDB); `None` on a server without a feature
    /// list (Cassandra).
    pub features: Option<BTreeSet<String>>,
}

impl Server {
    /// From `system.local`'s `release_version` and `supported_features` (this node) and
    /// `system.scylla_local`'s `enabled_features` (the cluster: what every node has), each a
    /// comma-separated list. The cluster's list wins: a feature only some nodes have is not usable.
    pub fn from_lists(release_version: Option<String>, supported: Option<&str>, enabled: Option<&str>) -> Self {
        let features = enabled.or(supported).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|feature| !feature.is_empty())
                .map(str::to_owned)
                .collect()
        });
        Self {
            release_version,
            features,
        }
    }

    fn has(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .is_some_and(|features| features.contains(feature))
    }

    pub fn has_tablets(&self) -> bool {
        self.has(TABLETS)
    }

    pub fn has_lwt_on_tablets(&self) -> bool {
        self.has(LWT_WITH_TABLETS)
    }

    fn describe(&self) -> String {
        format!(
            "release {}, {}",
            self.release_version.as_deref().unwrap_or("unknown"),
            if self.features.is_some() {
                "ScyllaDB features"
            } else {
                "no feature list"
            }
        )
    }
}

/// The `tablets = {'enabled': …}` option of the keyspace `herald migrate` creates (`None`: no
/// option), from the configured choice (`HERALD_SCYLLA_TABLETS`) and the server. Fails rather
/// than create a keyspace where Herald's conditional statements would be refused.
pub fn keyspace_tablets(configured: Option<bool>, server: &Server) -> Result<Option<bool>, StoreError> {
    match (server.has_tablets(), server.has_lwt_on_tablets(), configured) {
        (false, _, Some(true)) => Err(StoreError::Fatal(format!(
            "HERALD_SCYLLA_TABLETS=true, but this server ({}) has no tablets",
            server.describe()
        ))),
        // vnodes only: the option is unknown there
        (false, _, _) => Ok(None),
        (true, true, configured) => Ok(configured),
        (true, false, Some(true)) => Err(StoreError::Fatal(format!(
            "HERALD_SCYLLA_TABLETS=true, but this cluster ({}) has no lightweight transactions on tablets \
             (feature {LWT_WITH_TABLETS} not enabled on every node), which Herald needs: leave it unset",
            server.describe()
        ))),
        (true, false, _) => Ok(Some(false)),
    }
}

/// Fails when the keyspace exists on tablets in a cluster without lightweight transactions on
/// them (created by hand, or before an upgrade changed nothing for it).
pub fn check_keyspace(keyspace: &str, on_tablets: bool, server: &Server) -> Result<(), StoreError> {
    if on_tablets && !server.has_lwt_on_tablets() {
        return Err(StoreError::Fatal(format!(
            "keyspace {keyspace} uses tablets, and this cluster ({}) has no lightweight transactions on \
             tablets (feature {LWT_WITH_TABLETS}): Herald's fences and creations would be refused. \
             Create the keyspace with tablets = {{'enabled': false}} (or let `herald migrate` create it), \
             or upgrade every node to a ScyllaDB with {LWT_WITH_TABLETS}",
            server.describe()
        )));
    }
    Ok(())
}

fn text_column(row: &Row, names: &[String], name: &str) -> Option<String> {
    names
        .iter()
        .position(|column| column == name)
        .and_then(|index| row.columns.get(index).cloned().flatten())
        .and_then(|value| match value {
            CqlValue::Text(text) | CqlValue::Ascii(text) => Some(text),
            _ => None,
        })
}

/// Asks the node what it is and what the cluster has enabled.
pub async fn inspect(session: &Session) -> Result<Server, StoreError> {
    let result = session
        .query_unpaged(Statement::new(cql::SERVER_LOCAL.text), ())
        .await?
        .into_rows_result()?;
    let names: Vec<String> = result
        .column_specs()
        .iter()
        .map(|spec| spec.name().to_owned())
        .collect();
    let Some(row) = result.maybe_first_row::<Row>()? else {
        return Ok(Server::default());
    };
    let release = text_column(&row, &names, "release_version");
    let supported = text_column(&row, &names, "supported_features");
    if supported.is_none() {
        return Ok(Server::from_lists(release, None, None));
    }
    let enabled = match session
        .query_unpaged(Statement::new(cql::SERVER_ENABLED_FEATURES.text), ())
        .await
    {
        Ok(result) => result
            .into_rows_result()?
            .maybe_first_row::<(Option<String>,)>()?
            .and_then(|(value,)| value),
        Err(err) => {
            tracing::warn!(error = %err, "no cluster-wide feature list: deciding from this node's features");
            None
        }
    };
    Ok(Server::from_lists(release, supported.as_deref(), enabled.as_deref()))
}

/// Whether `keyspace` is distributed by tablets (ScyllaDB keeps a row with `initial_tablets` for
/// those); false on servers without the table.
pub async fn keyspace_on_tablets(session: &Session, keyspace: &str, server: &Server) -> Result<bool, StoreError> {
    if !server.has_tablets() {
        return Ok(false);
    }
    let result = session
        .query_unpaged(Statement::new(cql::KEYSPACE_TABLETS.text), (keyspace,))
        .await?
        .into_rows_result()?;
    // any non-null value (its type is not part of the contract): tablets
    let row = result.maybe_first_row::<Row>()?;
    Ok(row.is_some_and(|row| row.columns.first().is_some_and(Option::is_some)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scylla(features: &str) -> Server {
        Server::from_lists(Some("3.0.8".into()), Some(features), None)
    }

    fn cassandra() -> Server {
        Server::from_lists(Some("4.1.3".into()), None, None)
    }

    #[test]
    fn the_cluster_list_wins_over_the_node_list() {
        let server = Server::from_lists(None, Some("TABLETS,LWT_WITH_TABLETS"), Some("TABLETS, X"));
        assert!(server.has_tablets());
        assert!(
            !server.has_lwt_on_tablets(),
            "a feature one node lacks is not enabled on the cluster"
        );
        assert_eq!(cassandra().features, None);
        assert!(!cassandra().has_tablets());
    }

    #[test]
    fn without_tablets_the_keyspace_gets_no_option() {
        for server in [cassandra(), scylla("CDC,UDF")] {
            assert_eq!(keyspace_tablets(None, &server).unwrap(), None);
            assert_eq!(keyspace_tablets(Some(false), &server).unwrap(), None);
            assert!(
                keyspace_tablets(Some(true), &server).is_err(),
                "asked for what is not there"
            );
        }
    }

    #[test]
    fn tablets_without_lwt_on_them_are_turned_off() {
        let server = scylla("TABLETS,CDC");
        assert_eq!(keyspace_tablets(None, &server).unwrap(), Some(false));
        assert_eq!(keyspace_tablets(Some(false), &server).unwrap(), Some(false));
        let refused = keyspace_tablets(Some(true), &server).unwrap_err().to_string();
        assert!(refused.contains(LWT_WITH_TABLETS), "{refused}");
    }

    #[test]
    fn tablets_with_lwt_follow_the_configuration() {
        let server = scylla("TABLETS,LWT_WITH_TABLETS");
        assert_eq!(keyspace_tablets(None, &server).unwrap(), None, "the cluster's default");
        assert_eq!(keyspace_tablets(Some(true), &server).unwrap(), Some(true));
        assert_eq!(keyspace_tablets(Some(false), &server).unwrap(), Some(false));
    }

    #[test]
    fn an_existing_keyspace_on_tablets_needs_lwt_on_them() {
        assert!(check_keyspace("herald", true, &scylla("TABLETS")).is_err());
        assert!(check_keyspace("herald", true, &scylla("TABLETS,LWT_WITH_TABLETS")).is_ok());
        assert!(check_keyspace("herald", false, &scylla("TABLETS")).is_ok(), "vnodes");
        assert!(check_keyspace("herald", false, &cassandra()).is_ok());
    }
}
