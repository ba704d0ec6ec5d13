//! The shape of every statement in `cql.rs`, checked against the schema of `schema/cql/` without
//! a node.
//!
//! No maintained Rust CQL parser fits: `cqlparser` (0.1.0, 2021) calls itself an early stage,
//! `cql3-parser` builds a tree-sitter grammar of Cassandra 3's dialect in C. So this is a small
//! parser of exactly the subset the store uses — `SELECT [DISTINCT] … FROM … WHERE … [ORDER BY]
//! [LIMIT]`, `INSERT … VALUES … [IF NOT EXISTS] [USING …]`, `UPDATE … [USING …] SET … WHERE …
//! [IF …]`, `DELETE FROM … WHERE … [IF …]` — that refuses anything else, and the rules a node
//! would enforce (or that Herald relies on) for each statement:
//!
//! - the table exists in the migrations (store tables unqualified: they live in the keyspace
//!   `herald migrate` creates), every column named exists in it;
//! - the bind markers number what the statement's type says callers pass;
//! - reads name the whole partition key (`=` or `IN`) and nothing outside the primary key, ranges
//!   only on clustering columns; writes name the whole primary key (an update of static columns
//!   only, the partition key); `DISTINCT` only partition key and static columns;
//! - an `IF` exactly on the statements declared lightweight transactions, no `USING TIMESTAMP` on
//!   those, `LOCAL_SERIAL` reads only of tables written by them;
//! - the app id is part of the partition key of every table of an app's data.

use super::cql::{ALL, Entry, Kind};
use super::migrate::{LEDGER, LOCK, MIGRATIONS, statements};
use parse::{Condition, Verb, parse};
use std::collections::{BTreeMap, BTreeSet};

mod parse;

/// A table: its columns (true: static), partition key and clustering columns.
#[derive(Debug, Default, Clone)]
struct Table {
    columns: BTreeMap<String, bool>,
    partition: Vec<String>,
    clustering: Vec<String>,
}

impl Table {
    fn is_primary(&self, column: &str) -> bool {
        self.partition.iter().chain(&self.clustering).any(|c| c == column)
    }

    fn is_static(&self, column: &str) -> bool {
        self.columns.get(column).copied().unwrap_or(false)
    }
}

/// Tables that hold no app's data, so no app id in their partition key: server-wide lookups,
/// console accounts and orgs, fences (scoped by partition), the revocation feed (by day), the
/// registry of apps with webhook endpoints (the dispatcher's one read of every app), and the
/// migration ledger. Any other table must be partitioned by app.
const TENANTLESS: &[&str] = &[
    "apps_by_secret",
    "apps_by_org",
    "console_users",
    "fences",
    "org_members",
    "org_members_by_user",
    "orgs",
    "revocation_days",
    "revocation_feed",
    "schema_migrations",
    "schema_migrations_lock",
    "server_keys",
    "webhook_apps",
];

/// Reads of a whole (small) table: the migration ledger.
const SCANS: &[&str] = &["MIGRATIONS_SELECT"];

/// The lightweight transactions, each for a reason: create-once rows and compare-and-set.
const LWTS: &[&str] = &[
    "ACCOUNT_INSERT",       // a user name is taken once
    "ACCOUNT_SET_PASSWORD", // only an existing account
    "APP_INSERT",           // an app id is taken once
    "APP_SET_SECRET",       // only an existing app
    "APP_SET_SETTINGS",     // only an existing app
    "CONSOLE_USER_INSERT",  // an email signs up once
    "CONV_INSERT",          // a conversation id is taken once (409 otherwise)
    "ENDPOINT_SET_SECRET",  // only an existing endpoint (a rotation never recreates a deleted one)
    "FENCE_EXTEND",         // only while our epoch holds the fence
    "FENCE_INSERT",         // the first claim of a scope
    "FENCE_RAISE",          // compare-and-set of the fence
    "MIGRATION_LOCK",       // one `herald migrate` at a time
    "MIGRATION_UNLOCK",     // only the holder releases
    "ORG_INSERT",           // an org id is taken once
    "PAIR_INSERT",          // one single conversation per pair of sessions
    "REQUEST_TAKE",         // a friend request is taken once
    "SERVER_KEY_INSERT",    // a server key is created once
];

/// System tables `herald migrate` reads (ScyllaDB's own; not in the migrations).
fn system_tables() -> BTreeMap<String, Table> {
    let table = |key: &str, others: &[&str]| Table {
        columns: std::iter::once(key)
            .chain(others.iter().copied())
            .map(|c| (c.to_owned(), false))
            .collect(),
        partition: vec![key.to_owned()],
        clustering: Vec::new(),
    };
    BTreeMap::from([
        (
            "system.local".to_owned(),
            table("key", &["release_version", "supported_features"]),
        ),
        ("system.scylla_local".to_owned(), table("key", &["value"])),
        (
            "system_schema.scylla_keyspaces".to_owned(),
            table("keyspace_name", &["initial_tablets"]),
        ),
    ])
}

/// Splits at commas outside parentheses and angle brackets.
fn split_top(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0_i32);
    for c in text.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

fn names(list: &str) -> Vec<String> {
    list.trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The index of the parenthesis closing the one at `open`.
fn matching(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (index, c) in text.char_indices().skip_while(|(index, _)| *index < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses: {text}");
}

/// The schema every migration (and the ledger) builds.
fn schema() -> BTreeMap<String, Table> {
    let mut tables = BTreeMap::new();
    let files = MIGRATIONS.iter().flat_map(|m| statements(m.cql));
    for statement in [LEDGER.to_owned(), LOCK.to_owned()].into_iter().chain(files) {
        if let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let (name, rest) = rest.split_once(' ').expect("a table name");
            let open = rest.find('(').expect("a column list");
            let close = matching(rest, open);
            let mut table = Table::default();
            for part in split_top(&rest[open + 1..close]) {
                if let Some(key) = part.strip_prefix("PRIMARY KEY") {
                    let key = key.trim();
                    let inner = &key[1..key.len() - 1];
                    let parts = split_top(inner);
                    table.partition = names(&parts[0]);
                    table.clustering = parts[1..].iter().flat_map(|p| names(p)).collect();
                    continue;
                }
                let words: Vec<&str> = part.split_whitespace().collect();
                table.columns.insert(words[0].to_owned(), part.ends_with(" STATIC"));
                if part.ends_with(" PRIMARY KEY") {
                    table.partition = vec![words[0].to_owned()];
                }
            }
            assert!(!table.partition.is_empty(), "{name}: no primary key");
            tables.insert(name.to_owned(), table);
        } else if let Some(rest) = statement.strip_prefix("ALTER TABLE ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(words[1], "ADD", "only ADD is used: {statement}");
            let table: &mut Table = tables.get_mut(words[0]).expect("altering a known table");
            table.columns.insert(words[2].to_owned(), false);
        } else {
            panic!("a migration statement this checker does not know: {statement}");
        }
    }
    tables
}

/// Every rule of the module comment for one statement; the first broken one.
fn check(entry: &Entry, schema: &BTreeMap<String, Table>) -> Result<(), String> {
    let parsed = parse(entry.text)?;
    let system = system_tables();
    let is_system = parsed.table.contains('.');
    let table = if is_system {
        if entry.kind != Kind::Read {
            return Err("system tables are only read".into());
        }
        system.get(&parsed.table)
    } else {
        schema.get(&parsed.table)
    }
    .ok_or_else(|| format!("no table {} in schema/cql", parsed.table))?;

    if parsed.markers != entry.arity {
        return Err(format!(
            "{} bind markers, but callers pass {} values",
            parsed.markers, entry.arity
        ));
    }
    let condition_columns = match &parsed.condition {
        Condition::Columns(columns) => columns.clone(),
        _ => Vec::new(),
    };
    let named = parsed
        .selected
        .iter()
        .chain(&parsed.written)
        .chain(parsed.restrictions.iter().map(|(c, _)| c))
        .chain(&parsed.order_by)
        .chain(&condition_columns);
    for column in named {
        if !table.columns.contains_key(column) {
            return Err(format!("no column {column} in {}", parsed.table));
        }
    }

    let conditional = parsed.condition != Condition::None;
    match (parsed.verb, entry.kind) {
        (Verb::Select, Kind::Read | Kind::SerialRead) => {}
        (Verb::Select, _) => return Err("a SELECT declared as a write".into()),
        (_, Kind::Read | Kind::SerialRead) => return Err("a write declared as a read".into()),
        (_, Kind::Lwt) if !conditional => return Err("declared a lightweight transaction, but has no IF".into()),
        (_, Kind::Write) if conditional => {
            return Err("has an IF, but is not declared a lightweight transaction".into());
        }
        _ => {}
    }
    if conditional && parsed.using_timestamp {
        return Err("a lightweight transaction cannot set its own timestamp".into());
    }

    let restricted = |column: &str, ops: &[&str]| {
        parsed
            .restrictions
            .iter()
            .any(|(c, op)| c == column && ops.contains(op))
    };
    for (column, op) in &parsed.restrictions {
        if !table.is_primary(column) {
            return Err(format!("WHERE on {column}, outside the primary key"));
        }
        if table.partition.contains(column) && !["=", "IN"].contains(op) {
            return Err(format!("a range on the partition key column {column}"));
        }
        if *op == "IN" && !table.partition.contains(column) {
            return Err(format!("IN on {column}, not a partition key column"));
        }
    }
    let whole_partition_key = table.partition.iter().all(|c| restricted(c, &["=", "IN"]));
    let whole_clustering_key = table.clustering.iter().all(|c| restricted(c, &["="]));
    match parsed.verb {
        Verb::Select => {
            if !whole_partition_key && !SCANS.contains(&entry.name) {
                return Err("does not name the whole partition key".into());
            }
            if let Some(column) = &parsed.order_by
                && !table.clustering.contains(column)
            {
                return Err(format!("ORDER BY {column}, not a clustering column"));
            }
            if parsed.distinct {
                let allowed = |c: &String| table.partition.contains(c) || table.is_static(c);
                if !parsed.selected.iter().all(allowed) || !table.partition.iter().all(|c| parsed.selected.contains(c))
                {
                    return Err("DISTINCT selects the whole partition key and static columns only".into());
                }
            }
        }
        Verb::Insert => {
            if let Some(missing) = table
                .partition
                .iter()
                .chain(&table.clustering)
                .find(|c| !parsed.written.contains(c))
            {
                return Err(format!("inserts without the primary key column {missing}"));
            }
        }
        Verb::Update | Verb::Delete => {
            if parsed.restrictions.iter().any(|(_, op)| *op != "=") {
                return Err("a write names its rows with = only".into());
            }
            let static_only = parsed.verb == Verb::Update && parsed.written.iter().all(|c| table.is_static(c));
            let whole_partition =
                parsed.verb == Verb::Delete && !table.clustering.iter().any(|c| restricted(c, &["="])) && !conditional;
            if !whole_partition_key || !(whole_clustering_key || static_only || whole_partition) {
                return Err("does not name the whole primary key".into());
            }
            if let Some(key) = parsed.written.iter().find(|c| table.is_primary(c)) {
                return Err(format!("sets the primary key column {key}"));
            }
        }
    }

    if !is_system {
        let tenantless = TENANTLESS.contains(&parsed.table.as_str());
        let by_app = table.partition.iter().any(|c| c == "app_id");
        if !tenantless && !by_app {
            return Err(format!(
                "{}: an app's data without the app id in its partition key",
                parsed.table
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
