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
use std::collections::{BTreeMap, BTreeSet};

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
/// console accounts and orgs, fences (scoped by partition), the revocation feed (by day), and the
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Literal,
    Marker,
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated string".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => i += 2,
                    Some('\'') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            out.push(Token::Literal);
        } else if c.is_ascii_digit() {
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            out.push(Token::Literal);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '?' {
            i += 1;
            out.push(Token::Marker);
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = ["<=", ">="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["(", ")", ",", "=", "<", ">", "*"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| format!("unexpected {c:?}"))?;
            i += symbol.len();
            out.push(Token::Symbol(symbol));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Select,
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    None,
    Exists,
    NotExists,
    Columns(Vec<String>),
}

/// What a statement names.
#[derive(Debug, Clone)]
struct Parsed {
    verb: Verb,
    table: String,
    distinct: bool,
    star: bool,
    selected: Vec<String>,
    written: Vec<String>,
    /// (column, operator) of the WHERE clause.
    restrictions: Vec<(String, &'static str)>,
    order_by: Option<String>,
    condition: Condition,
    using_timestamp: bool,
    markers: usize,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    markers: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
        self.at += 1;
        if token == Token::Marker {
            self.markers += 1;
        }
        Ok(token)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(format!("expected {keyword}, found {other:?}")),
        }
    }

    fn eat(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn symbol(&mut self, symbol: &str) -> Result<(), String> {
        match self.next()? {
            Token::Symbol(s) if s == symbol => Ok(()),
            other => Err(format!("expected {symbol}, found {other:?}")),
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.at += 1;
        }
        found
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Word(w) if !is_reserved(&w) => Ok(w),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// A bind marker, a literal, `true`/`false`, or a function call of those.
    fn term(&mut self) -> Result<(), String> {
        match self.next()? {
            Token::Marker | Token::Literal => Ok(()),
            Token::Word(w) if w == "true" || w == "false" => Ok(()),
            Token::Word(_) => {
                self.symbol("(")?;
                if !self.eat_symbol(")") {
                    loop {
                        self.term()?;
                        if self.eat_symbol(")") {
                            break;
                        }
                        self.symbol(",")?;
                    }
                }
                Ok(())
            }
            other => Err(format!("expected a value, found {other:?}")),
        }
    }

    fn name_list(&mut self) -> Result<Vec<String>, String> {
        let mut list = vec![self.name()?];
        while self.eat_symbol(",") {
            list.push(self.name()?);
        }
        Ok(list)
    }

    fn relation(&mut self) -> Result<(String, &'static str), String> {
        let column = self.name()?;
        if self.eat("IN") {
            self.term()?;
            return Ok((column, "IN"));
        }
        let op = match self.next()? {
            Token::Symbol(op @ ("=" | "<" | ">" | "<=" | ">=")) => op,
            other => return Err(format!("expected an operator, found {other:?}")),
        };
        self.term()?;
        Ok((column, op))
    }

    fn relations(&mut self) -> Result<Vec<(String, &'static str)>, String> {
        let mut list = vec![self.relation()?];
        while self.eat("AND") {
            list.push(self.relation()?);
        }
        Ok(list)
    }

    /// `USING TIMESTAMP ? [AND TTL ?]` and the like; true when a timestamp is given.
    fn using(&mut self) -> Result<bool, String> {
        let mut timestamp = false;
        if self.eat("USING") {
            loop {
                if self.eat("TIMESTAMP") {
                    timestamp = true;
                } else {
                    self.keyword("TTL")?;
                }
                self.term()?;
                if !self.eat("AND") {
                    break;
                }
            }
        }
        Ok(timestamp)
    }

    fn condition(&mut self) -> Result<Condition, String> {
        if !self.eat("IF") {
            return Ok(Condition::None);
        }
        if self.eat("EXISTS") {
            return Ok(Condition::Exists);
        }
        if self.eat("NOT") {
            self.keyword("EXISTS")?;
            return Ok(Condition::NotExists);
        }
        Ok(Condition::Columns(
            self.relations()?.into_iter().map(|(column, _)| column).collect(),
        ))
    }

    fn statement(&mut self) -> Result<Parsed, String> {
        let mut parsed = Parsed {
            verb: Verb::Select,
            table: String::new(),
            distinct: false,
            star: false,
            selected: Vec::new(),
            written: Vec::new(),
            restrictions: Vec::new(),
            order_by: None,
            condition: Condition::None,
            using_timestamp: false,
            markers: 0,
        };
        if self.eat("SELECT") {
            parsed.distinct = self.eat("DISTINCT");
            if self.eat_symbol("*") {
                parsed.star = true;
            } else {
                parsed.selected = self.name_list()?;
            }
            self.keyword("FROM")?;
            parsed.table = self.name()?;
            if self.eat("WHERE") {
                parsed.restrictions = self.relations()?;
            }
            if self.eat("ORDER") {
                self.keyword("BY")?;
                parsed.order_by = Some(self.name()?);
                if !self.eat("ASC") {
                    self.keyword("DESC")?;
                }
            }
            if self.eat("LIMIT") {
                self.term()?;
            }
        } else if self.eat("INSERT") {
            parsed.verb = Verb::Insert;
            self.keyword("INTO")?;
            parsed.table = self.name()?;
            self.symbol("(")?;
            parsed.written = self.name_list()?;
            self.symbol(")")?;
            self.keyword("VALUES")?;
            self.symbol("(")?;
            let mut values = 1;
            self.term()?;
            while self.eat_symbol(",") {
                self.term()?;
                values += 1;
            }
            self.symbol(")")?;
            if values != parsed.written.len() {
                return Err(format!("{} columns, {values} values", parsed.written.len()));
            }
            parsed.condition = self.condition()?;
            parsed.using_timestamp = self.using()?;
        } else if self.eat("UPDATE") {
            parsed.verb = Verb::Update;
            parsed.table = self.name()?;
            parsed.using_timestamp = self.using()?;
            self.keyword("SET")?;
            loop {
                parsed.written.push(self.name()?);
                self.symbol("=")?;
                self.term()?;
                if !self.eat_symbol(",") {
                    break;
                }
            }
            self.keyword("WHERE")?;
            parsed.restrictions = self.relations()?;
            parsed.condition = self.condition()?;
        } else if self.eat("DELETE") {
            parsed.verb = Verb::Delete;
            self.keyword("FROM")?;
            parsed.table = self.name()?;
            parsed.using_timestamp = self.using()?;
            self.keyword("WHERE")?;
            parsed.restrictions = self.relations()?;
            parsed.condition = self.condition()?;
        } else {
            return Err("not SELECT, INSERT, UPDATE or DELETE".into());
        }
        if let Some(extra) = self.peek() {
            return Err(format!("unexpected {extra:?} after the statement"));
        }
        parsed.markers = self.markers;
        Ok(parsed)
    }
}

fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "IF", "IN", "USING",
        "ORDER", "BY", "LIMIT", "DISTINCT", "EXISTS", "NOT",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

fn parse(text: &str) -> Result<Parsed, String> {
    Parser {
        tokens: tokens(text)?,
        at: 0,
        markers: 0,
    }
    .statement()
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
mod tests {
    use super::*;

    fn entry(kind: Kind, arity: usize, text: &'static str) -> Entry {
        Entry {
            name: "TEST",
            kind,
            arity,
            text,
        }
    }

    #[test]
    fn every_statement_of_the_store_is_well_formed() {
        let schema = schema();
        let broken: Vec<String> = ALL
            .iter()
            .filter_map(|entry| {
                check(entry, &schema)
                    .err()
                    .map(|why| format!("{}: {why}\n  {}", entry.name, entry.text))
            })
            .collect();
        assert!(broken.is_empty(), "malformed statements:\n{}", broken.join("\n"));
        assert!(ALL.len() > 80, "the catalogue holds every statement ({})", ALL.len());
    }

    #[test]
    fn statement_names_are_unique() {
        let names: BTreeSet<&str> = ALL.iter().map(|entry| entry.name).collect();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn lightweight_transactions_are_exactly_the_intended_ones() {
        let declared: BTreeSet<&str> = ALL
            .iter()
            .filter(|entry| entry.kind == Kind::Lwt)
            .map(|entry| entry.name)
            .collect();
        assert_eq!(declared, LWTS.iter().copied().collect());
    }

    #[test]
    fn serial_reads_only_read_what_lightweight_transactions_write() {
        let lwt_tables: BTreeSet<String> = ALL
            .iter()
            .filter(|entry| entry.kind == Kind::Lwt)
            .map(|entry| parse(entry.text).unwrap().table)
            .collect();
        for entry in ALL.iter().filter(|entry| entry.kind == Kind::SerialRead) {
            let table = parse(entry.text).unwrap().table;
            assert!(
                lwt_tables.contains(&table),
                "{}: LOCAL_SERIAL read of {table}",
                entry.name
            );
        }
    }

    #[test]
    fn every_table_of_an_app_is_partitioned_by_app() {
        let schema = schema();
        let without_app: BTreeSet<&str> = schema
            .iter()
            .filter(|(_, table)| !table.partition.iter().any(|c| c == "app_id"))
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            without_app,
            TENANTLESS.iter().copied().collect(),
            "a table without the app id in its partition key must be listed (and justified) in TENANTLESS"
        );
    }

    #[test]
    fn the_schema_is_read_as_written() {
        let schema = schema();
        let members = &schema["members"];
        assert_eq!(members.partition, ["app_id", "conv_id"]);
        assert_eq!(members.clustering, ["session"]);
        assert!(members.is_static("member_count"));
        assert_eq!(schema["apps"].partition, ["app_id"]);
        assert!(
            schema["apps"].columns.contains_key("max_members"),
            "ALTER TABLE applied"
        );
        assert_eq!(
            schema["revocation_feed"].clustering,
            ["created_at", "app_id", "kind", "key"]
        );
        assert!(
            schema["sender_counts"].columns.contains_key("counts"),
            "frozen<map<…>> column"
        );
    }

    /// The checker itself: each rule refuses what breaks it.
    #[test]
    fn the_checker_refuses_what_a_node_would_refuse() {
        let schema = schema();
        let refused = |kind, arity, text| check(&entry(kind, arity, text), &schema).unwrap_err();
        let read = Kind::Read;
        assert!(
            check(
                &entry(
                    read,
                    2,
                    "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ?"
                ),
                &schema
            )
            .is_ok()
        );
        assert!(
            refused(
                read,
                3,
                "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ?"
            )
            .contains("markers")
        );
        assert!(refused(read, 1, "SELECT seq FROM conversation_heads WHERE conv_id = ?").contains("partition key"));
        assert!(
            refused(
                read,
                2,
                "SELECT nope FROM conversation_heads WHERE app_id = ? AND conv_id = ?"
            )
            .contains("no column")
        );
        assert!(refused(read, 2, "SELECT seq FROM nowhere WHERE app_id = ? AND conv_id = ?").contains("no table"));
        assert!(
            refused(
                read,
                3,
                "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ? AND seq = ?"
            )
            .contains("outside")
        );
        assert!(
            refused(
                read,
                2,
                "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id > ?"
            )
            .contains("range")
        );
        assert!(
            refused(
                read,
                2,
                "SELECT herald.seq FROM conversation_heads WHERE app_id = ? AND conv_id = ?"
            )
            .contains("no column")
        );
        assert!(
            refused(
                read,
                2,
                "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ? ALLOW FILTERING"
            )
            .contains("unexpected")
        );
        assert!(refused(read, 1, "SELECT epoch FROM fences WHERE scope = ? ORDER BY epoch ASC").contains("ORDER BY"));
        assert!(
            refused(
                read,
                2,
                "SELECT DISTINCT conv_id, member_count FROM members WHERE app_id = ? AND conv_id IN ?"
            )
            .contains("DISTINCT")
        );
        assert!(refused(Kind::Write, 2, "INSERT INTO friends (app_id, session) VALUES (?, ?)").contains("friend"));
        assert!(
            refused(
                Kind::Write,
                2,
                "INSERT INTO friends (app_id, session, friend) VALUES (?, ?)"
            )
            .contains("values")
        );
        assert!(
            refused(
                Kind::Write,
                3,
                "INSERT INTO apps (app_id, name) VALUES (?, ?) IF NOT EXISTS USING TTL ?"
            )
            .contains("IF")
        );
        assert!(refused(Kind::Lwt, 2, "UPDATE apps SET name = ? WHERE app_id = ?").contains("no IF"));
        assert!(
            refused(
                Kind::Lwt,
                3,
                "UPDATE apps USING TIMESTAMP ? SET name = ? WHERE app_id = ? IF EXISTS"
            )
            .contains("timestamp")
        );
        assert!(
            refused(
                Kind::Write,
                3,
                "UPDATE members SET active = ? WHERE app_id = ? AND conv_id = ?"
            )
            .contains("primary key")
        );
        assert!(
            refused(
                Kind::Write,
                3,
                "UPDATE friends SET session = ? WHERE app_id = ? AND session = ?"
            )
            .contains("primary key")
        );
        assert!(refused(Kind::Write, 1, "SELECT name FROM apps WHERE app_id = ?").contains("declared as a write"));
        assert!(refused(read, 1, "DELETE FROM apps WHERE app_id = ?").contains("declared as a read"));
        assert!(refused(Kind::Write, 1, "INSERT INTO system.local (key) VALUES (?)").contains("only read"));
        assert!(
            check(
                &entry(
                    Kind::Write,
                    3,
                    "UPDATE members USING TIMESTAMP ? SET member_count = ? WHERE app_id = ? AND conv_id = ?"
                ),
                &schema
            )
            .is_err(),
            "arity"
        );
        assert!(
            check(
                &entry(
                    Kind::Write,
                    4,
                    "UPDATE members USING TIMESTAMP ? SET member_count = ? WHERE app_id = ? AND conv_id = ?"
                ),
                &schema
            )
            .is_ok(),
            "a static column is set by partition"
        );
    }

    #[test]
    fn tables_of_an_app_without_the_app_in_their_key_are_refused() {
        let mut schema = schema();
        schema.insert(
            "leaky".into(),
            Table {
                columns: [("conv_id".to_owned(), false), ("app_id".to_owned(), false)].into(),
                partition: vec!["conv_id".into()],
                clustering: vec!["app_id".into()],
            },
        );
        let why = check(
            &entry(Kind::Read, 1, "SELECT app_id FROM leaky WHERE conv_id = ?"),
            &schema,
        )
        .unwrap_err();
        assert!(why.contains("app id"), "{why}");
    }
}
