use super::*;

fn app() -> AppId {
    AppId::parse("app").unwrap()
}

/// A stored row of a job as the queue left it.
fn row(lane: &str, order: i64, event: &str) -> JobRow {
    (
        lane.into(),
        order,
        event.into(),
        Some(format!("body of {event}")),
        None,
        Some(0),
        None,
        Some(order),
        None,
        None,
        None,
    )
}

fn dead(mut row: JobRow) -> JobRow {
    row.8 = Some(true);
    row
}

/// Runs the scan over rows in lane order like `due` does: a skipped lane's later rows are not read.
fn scan(rows: Vec<JobRow>, now_ms: i64, limit: usize) -> (Vec<String>, usize) {
    let mut heads = Heads::new(now_ms);
    let mut skipping: Option<String> = None;
    for row in rows {
        if skipping.as_deref() == Some(row.0.as_str()) {
            continue;
        }
        let lane = row.0.clone();
        if heads.see(&lane, job(&app(), "hook", 3, row)) == Next::SkipLane {
            skipping = Some(lane);
        }
    }
    let read = heads.scanned;
    let due = heads.into_due(limit).into_iter().map(|job| job.event_id).collect();
    (due, read)
}

#[test]
fn a_fresh_row_reads_as_a_fresh_job() {
    let job = job(&app(), "hook", 3, row("conv", 7, "ev")).unwrap();
    assert_eq!(
        job,
        WebhookJob {
            app: app(),
            endpoint: "hook".into(),
            event_id: "ev".into(),
            partition: 3,
            lane: "conv".into(),
            order: 7,
            body: "body of ev".into(),
            attempts: 0,
            next_at_ms: 0,
            created_at_ms: 7,
            dead: false,
            last_error: String::new(),
            trace: None,
        }
    );
}

#[test]
fn a_retry_overrides_the_enqueued_due_time() {
    let mut retried = row("conv", 7, "ev");
    (retried.4, retried.5, retried.6, retried.9) = (Some(2), Some(100), Some(900), Some("503".into()));
    let job = job(&app(), "hook", 3, retried).unwrap();
    assert_eq!((job.attempts, job.next_at_ms, job.last_error.as_str()), (2, 900, "503"));
}

#[test]
fn a_row_without_a_body_is_no_job() {
    let mut fragment = row("conv", 7, "ev");
    fragment.3 = None;
    assert_eq!(job(&app(), "hook", 3, fragment), None);
}

#[test]
fn each_lane_gives_its_first_live_job() {
    let rows = vec![
        row("a", 5, "a-5"),
        row("a", 6, "a-6"),
        dead(row("b", 1, "b-1")),
        row("b", 2, "b-2"),
        row("c", 0, "c-0"),
    ];
    let (due, read) = scan(rows, 0, 10);
    assert_eq!(due, ["c-0", "b-2", "a-5"], "oldest first by order");
    assert_eq!(read, 5, "a-6 read, then its lane skipped");
}

#[test]
fn a_head_not_yet_due_blocks_its_lane() {
    let mut waiting = row("a", 1, "a-1");
    waiting.6 = Some(500);
    let (due, _) = scan(vec![waiting.clone(), row("a", 2, "a-2"), row("b", 3, "b-3")], 499, 10);
    assert_eq!(due, ["b-3"]);
    let (due, _) = scan(vec![waiting, row("a", 2, "a-2"), row("b", 3, "b-3")], 500, 10);
    assert_eq!(due, ["a-1", "b-3"]);
}

#[test]
fn a_lane_of_dead_letters_has_no_head_and_is_read_through() {
    let rows = vec![dead(row("a", 1, "a-1")), dead(row("a", 2, "a-2")), row("b", 0, "b-0")];
    let (due, read) = scan(rows, 0, 10);
    assert_eq!((due, read), (vec!["b-0".to_owned()], 3));
}

#[test]
fn the_limit_keeps_the_oldest_and_ties_go_by_lane() {
    let rows = vec![row("x", 4, "x-4"), row("y", 4, "y-4"), row("z", 1, "z-1")];
    assert_eq!(scan(rows.clone(), 0, 2).0, ["z-1", "x-4"]);
    assert!(scan(rows, 0, 0).0.is_empty());
}

#[test]
fn a_skip_is_asked_only_after_the_head() {
    let mut heads = Heads::new(0);
    assert_eq!(
        heads.see("a", job(&app(), "hook", 0, dead(row("a", 1, "a-1")))),
        Next::Read
    );
    assert_eq!(heads.see("a", job(&app(), "hook", 0, row("a", 2, "a-2"))), Next::Read);
    assert_eq!(
        heads.see("a", job(&app(), "hook", 0, row("a", 3, "a-3"))),
        Next::SkipLane
    );
    assert_eq!(heads.see("b", job(&app(), "hook", 0, row("b", 1, "b-1"))), Next::Read);
}

#[test]
fn places_name_the_whole_job_key_in_statement_order() {
    let place = Place::from_row(("ev".into(), 9, "conv".into(), 7, None));
    assert_eq!(place.created_at_ms, 0);
    assert_eq!(place.key(&app(), "hook"), ("app", "hook", 9, "conv", 7, "ev"));
    assert!(
        super::super::cql::JOB_DELETE.text.ends_with(
            "app_id = ? AND endpoint_id = ? AND log_partition = ? AND lane = ? AND lane_order = ? AND event_id = ?"
        ),
        "the key's order"
    );
    let job = job(&app(), "hook", 9, row("conv", 7, "ev")).unwrap();
    assert_eq!(
        Place::of(&job).unwrap(),
        Place {
            created_at_ms: 7,
            ..place
        }
    );
    assert!(cql_partition(u32::MAX).is_err());
    assert_eq!(cql_attempts(u32::MAX), i32::MAX);
}

#[test]
fn an_endpoint_row_without_a_url_is_none() {
    let full: EndpointRow = (
        "app".into(),
        "e1".into(),
        Some("https://example.com/hook".into()),
        None,
        Some("s".into()),
        Some(4),
    );
    let read = endpoint(full.clone()).unwrap().unwrap();
    assert_eq!(
        (read.events.len(), read.created_at_ms),
        (0, 4),
        "an empty list is stored as null"
    );
    let mut fragment = full;
    fragment.2 = None;
    assert_eq!(endpoint(fragment).unwrap(), None);
}
