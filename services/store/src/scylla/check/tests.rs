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
