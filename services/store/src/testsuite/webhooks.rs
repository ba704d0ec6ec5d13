//! The `WebhookStore` part of the suite: endpoints, the delivery queue (idempotent enqueue, one
//! head per lane of a partition, retries, dead letters and their replay), bots, tenancy, and the
//! before-send hook among an app's settings.

use super::{app_id, session};
use crate::{AppRecord, AppSettings, BeforeSend, Store, WebhookEndpoint, WebhookJob};
use herald_protocol::AppId;

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    endpoints(store, run).await;
    enqueue_is_idempotent(store, run).await;
    due_jobs(store, run).await;
    dead_letters(store, run).await;
    bots(store, run).await;
    apps_never_see_each_other(store, run).await;
    before_send(store, run).await;
}

fn endpoint(app: &AppId, id: &str, created_at_ms: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        app: app.clone(),
        id: id.into(),
        url: format!("http://127.0.0.1:9/{id}"),
        events: vec!["message.created".into(), "offline_push".into()],
        secret: format!("secret of {id}"),
        created_at_ms,
    }
}

/// A fresh job of `endpoint`, partition 1 unless changed, due at once.
fn job(app: &AppId, endpoint: &str, event: &str, lane: &str, order: i64) -> WebhookJob {
    WebhookJob {
        app: app.clone(),
        endpoint: endpoint.into(),
        event_id: event.into(),
        partition: 1,
        lane: lane.into(),
        order,
        body: format!("{{\"id\":\"{event}\"}}"),
        attempts: 0,
        next_at_ms: 0,
        created_at_ms: order,
        dead: false,
        last_error: String::new(),
        // kept as queued (every comparison below reads it back), traced or not
        trace: (order % 2 == 0).then(|| format!("00-{:032x}-{:016x}-01", order + 1, order + 1)),
    }
}

fn events(jobs: &[WebhookJob]) -> Vec<&str> {
    jobs.iter().map(|job| job.event_id.as_str()).collect()
}

async fn endpoints(store: &dyn Store, run: &str) {
    let app = app_id(run, "hooks");
    let (older, newer) = (endpoint(&app, "e-older", 10), endpoint(&app, "e-newer", 20));
    store.put_endpoint(&newer).await.unwrap();
    store.put_endpoint(&older).await.unwrap();
    assert_eq!(
        store.endpoints(&app).await.unwrap(),
        vec![older.clone(), newer.clone()],
        "endpoints: listed in creation order"
    );
    let moved = WebhookEndpoint {
        url: "http://127.0.0.1:9/moved".into(),
        events: vec!["message.recalled".into()],
        ..older.clone()
    };
    store.put_endpoint(&moved).await.unwrap();
    assert_eq!(
        store.endpoints(&app).await.unwrap(),
        vec![moved.clone(), newer.clone()],
        "endpoints: put replaces"
    );
    let all: Vec<WebhookEndpoint> = store
        .all_endpoints()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.app == app)
        .collect();
    assert_eq!(all.len(), 2, "endpoints: all apps' endpoints include these");
    assert!(all.contains(&moved) && all.contains(&newer));

    assert!(
        store.set_endpoint_secret(&app, "e-newer", "rotated").await.unwrap(),
        "endpoints: secret rotated"
    );
    assert_eq!(store.endpoints(&app).await.unwrap()[1].secret, "rotated");
    assert!(
        !store.set_endpoint_secret(&app, "e-missing", "rotated").await.unwrap(),
        "endpoints: rotating an unknown endpoint"
    );
    assert!(
        store.endpoints(&app).await.unwrap().iter().all(|e| e.id != "e-missing"),
        "endpoints: rotating an unknown endpoint creates none"
    );

    let live = job(&app, "e-newer", "ev-live", "conv-a", 1);
    let dead = job(&app, "e-newer", "ev-dead", "conv-b", 2);
    let kept = job(&app, "e-older", "ev-kept", "conv-a", 1);
    store.enqueue(&[live, dead, kept]).await.unwrap();
    store.kill_job(&app, "e-newer", "ev-dead", "gone").await.unwrap();
    assert!(
        store.delete_endpoint(&app, "e-newer").await.unwrap(),
        "endpoints: deleted"
    );
    assert!(
        !store.delete_endpoint(&app, "e-newer").await.unwrap(),
        "endpoints: deleted once"
    );
    assert_eq!(
        store.endpoints(&app).await.unwrap(),
        vec![moved],
        "endpoints: the other stays"
    );
    assert!(
        store
            .due_jobs(&app, "e-newer", 1, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty(),
        "endpoints: a deleted endpoint's live jobs go with it"
    );
    assert!(
        store.dead_jobs(&app, "e-newer", 10).await.unwrap().is_empty(),
        "endpoints: a deleted endpoint's dead letters go with it"
    );
    assert_eq!(
        events(&store.due_jobs(&app, "e-older", 1, i64::MAX, 10).await.unwrap()),
        ["ev-kept"],
        "endpoints: another endpoint's jobs stay"
    );
}

async fn enqueue_is_idempotent(store: &dyn Store, run: &str) {
    let app = app_id(run, "enqueue");
    let first = job(&app, "hook", "ev-1", "conv", 1);
    store.enqueue(std::slice::from_ref(&first)).await.unwrap();
    store.enqueue(std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(
        store.due_jobs(&app, "hook", 1, 0, 10).await.unwrap(),
        vec![first.clone()],
        "enqueue: one job per (endpoint, event id)"
    );
    store.retry_job(&app, "hook", "ev-1", 3, 1_000, "503").await.unwrap();
    store.enqueue(std::slice::from_ref(&first)).await.unwrap();
    assert!(
        store.due_jobs(&app, "hook", 1, 999, 10).await.unwrap().is_empty(),
        "enqueue: a re-enqueued retried job stays not due"
    );
    let retried = WebhookJob {
        attempts: 3,
        next_at_ms: 1_000,
        last_error: "503".into(),
        ..first.clone()
    };
    assert_eq!(
        store.due_jobs(&app, "hook", 1, 1_000, 10).await.unwrap(),
        vec![retried.clone()],
        "enqueue: a re-enqueued job keeps its attempts"
    );
    store.kill_job(&app, "hook", "ev-1", "gave up").await.unwrap();
    store.enqueue(std::slice::from_ref(&first)).await.unwrap();
    assert!(
        store.due_jobs(&app, "hook", 1, i64::MAX, 10).await.unwrap().is_empty(),
        "enqueue: a re-enqueued dead letter stays dead"
    );
    let dead = WebhookJob {
        dead: true,
        last_error: "gave up".into(),
        ..retried
    };
    assert_eq!(
        store.dead_jobs(&app, "hook", 10).await.unwrap(),
        vec![dead],
        "enqueue: a dead letter keeps its state"
    );
    store.finish_job(&app, "hook", "ev-missing").await.unwrap();
    store.enqueue(&[]).await.unwrap();
}

async fn due_jobs(store: &dyn Store, run: &str) {
    let app = app_id(run, "due");
    let due = |now: i64, limit: usize| store.due_jobs(&app, "hook", 1, now, limit);
    let mut later = job(&app, "hook", "z-later", "lane-z", 0);
    later.next_at_ms = 2_000;
    let mut elsewhere = job(&app, "hook", "p-other", "lane-p", 0);
    elsewhere.partition = 2;
    store
        .enqueue(&[
            job(&app, "hook", "a-3", "lane-a", 7),
            job(&app, "hook", "a-1", "lane-a", 5),
            job(&app, "hook", "a-2b", "lane-a", 6),
            job(&app, "hook", "a-2a", "lane-a", 6),
            job(&app, "hook", "b-1", "lane-b", 2),
            job(&app, "hook", "b-2", "lane-b", 3),
            later,
            elsewhere,
        ])
        .await
        .unwrap();
    assert_eq!(
        events(&due(100, 10).await.unwrap()),
        ["b-1", "a-1"],
        "due: one head per lane, oldest first by order, a job not yet due left out"
    );
    assert_eq!(events(&due(100, 1).await.unwrap()), ["b-1"], "due: at most limit");
    assert_eq!(
        events(&due(2_000, 10).await.unwrap()),
        ["z-later", "b-1", "a-1"],
        "due: a job is due at its next_at_ms"
    );
    assert_eq!(
        events(&store.due_jobs(&app, "hook", 2, 100, 10).await.unwrap()),
        ["p-other"],
        "due: only the lanes of the partition asked"
    );

    store.retry_job(&app, "hook", "a-1", 1, 300, "timeout").await.unwrap();
    assert_eq!(
        events(&due(100, 10).await.unwrap()),
        ["b-1"],
        "due: a retried head blocks its lane until due"
    );
    let heads = due(300, 10).await.unwrap();
    assert_eq!(
        events(&heads),
        ["b-1", "a-1"],
        "due: a retried head is sent again when due"
    );
    assert_eq!((heads[1].attempts, heads[1].last_error.as_str()), (1, "timeout"));

    store.kill_job(&app, "hook", "a-1", "gave up").await.unwrap();
    assert_eq!(
        events(&due(100, 10).await.unwrap()),
        ["b-1", "a-2a"],
        "due: a dead head frees its lane (ties by event id)"
    );
    store.finish_job(&app, "hook", "a-2a").await.unwrap();
    store.finish_job(&app, "hook", "b-1").await.unwrap();
    assert_eq!(
        events(&due(100, 10).await.unwrap()),
        ["b-2", "a-2b"],
        "due: a finished head is gone and the next one leads its lane"
    );
    assert!(
        store.due_jobs(&app, "other", 1, i64::MAX, 10).await.unwrap().is_empty(),
        "due: per endpoint"
    );
}

async fn dead_letters(store: &dyn Store, run: &str) {
    let app = app_id(run, "dead");
    store
        .enqueue(&[
            job(&app, "hook", "d-30", "lane-a", 30),
            job(&app, "hook", "d-10", "lane-b", 10),
            job(&app, "hook", "d-20", "lane-c", 20),
            job(&app, "hook", "live", "lane-d", 40),
        ])
        .await
        .unwrap();
    for event in ["d-30", "d-10", "d-20"] {
        store.kill_job(&app, "hook", event, "410").await.unwrap();
    }
    let dead = store.dead_jobs(&app, "hook", 10).await.unwrap();
    assert_eq!(events(&dead), ["d-10", "d-20", "d-30"], "dead: oldest first");
    assert!(
        dead.iter().all(|j| j.dead && j.last_error == "410"),
        "dead: marked, with why"
    );
    assert_eq!(
        events(&store.dead_jobs(&app, "hook", 2).await.unwrap()),
        ["d-10", "d-20"],
        "dead: at most limit"
    );

    let named = ["d-20".to_owned(), "missing".to_owned(), "live".to_owned()];
    assert_eq!(
        store.replay_jobs(&app, "hook", Some(&named), 500).await.unwrap(),
        1,
        "replay: only the named dead letters"
    );
    assert_eq!(
        events(&store.dead_jobs(&app, "hook", 10).await.unwrap()),
        ["d-10", "d-30"]
    );
    let replayed = store.due_jobs(&app, "hook", 1, 500, 10).await.unwrap();
    assert_eq!(events(&replayed), ["d-20", "live"], "replay: live again, due now");
    assert_eq!(
        (replayed[0].attempts, replayed[0].dead, replayed[0].next_at_ms),
        (0, false, 500),
        "replay: no attempts"
    );
    assert!(
        store
            .due_jobs(&app, "hook", 1, 499, 10)
            .await
            .unwrap()
            .iter()
            .all(|j| j.event_id != "d-20"),
        "replay: due at the replay's time"
    );
    assert_eq!(
        store.replay_jobs(&app, "hook", None, 600).await.unwrap(),
        2,
        "replay: all"
    );
    assert!(store.dead_jobs(&app, "hook", 10).await.unwrap().is_empty());
    assert_eq!(
        events(&store.due_jobs(&app, "hook", 1, 600, 10).await.unwrap()),
        ["d-10", "d-20", "d-30", "live"]
    );
    assert_eq!(
        store.replay_jobs(&app, "hook", None, 700).await.unwrap(),
        0,
        "replay: nothing left"
    );
}

async fn bots(store: &dyn Store, run: &str) {
    let app = app_id(run, "bots");
    store.set_bot(&app, &session("zed"), true).await.unwrap();
    store.set_bot(&app, &session("amy"), true).await.unwrap();
    store.set_bot(&app, &session("amy"), true).await.unwrap();
    store.set_bot(&app, &session("ben"), true).await.unwrap();
    assert_eq!(
        store.bots(&app).await.unwrap(),
        vec![session("amy"), session("ben"), session("zed")],
        "bots: set once each"
    );
    store.set_bot(&app, &session("ben"), false).await.unwrap();
    store.set_bot(&app, &session("nobody"), false).await.unwrap();
    assert_eq!(
        store.bots(&app).await.unwrap(),
        vec![session("amy"), session("zed")],
        "bots: unset"
    );
}

async fn apps_never_see_each_other(store: &dyn Store, run: &str) {
    let (one, two) = (app_id(run, "tenant-one"), app_id(run, "tenant-two"));
    store.put_endpoint(&endpoint(&one, "hook", 1)).await.unwrap();
    store.put_endpoint(&endpoint(&two, "hook", 1)).await.unwrap();
    store.enqueue(&[job(&one, "hook", "ev", "lane", 1)]).await.unwrap();
    store.enqueue(&[job(&two, "hook", "ev", "lane", 1)]).await.unwrap();
    store.set_bot(&one, &session("bot"), true).await.unwrap();

    store.kill_job(&two, "hook", "ev", "gone").await.unwrap();
    assert_eq!(
        store.due_jobs(&one, "hook", 1, 0, 10).await.unwrap(),
        vec![job(&one, "hook", "ev", "lane", 1)],
        "tenancy: another app's dead letter is not this app's"
    );
    assert!(
        store.dead_jobs(&one, "hook", 10).await.unwrap().is_empty(),
        "tenancy: dead letters"
    );
    store.finish_job(&one, "hook", "ev").await.unwrap();
    assert_eq!(
        events(&store.dead_jobs(&two, "hook", 10).await.unwrap()),
        ["ev"],
        "tenancy: finishing one app's job leaves the other's"
    );
    assert!(store.bots(&two).await.unwrap().is_empty(), "tenancy: bots");
    assert!(store.delete_endpoint(&two, "hook").await.unwrap());
    assert_eq!(
        store.endpoints(&one).await.unwrap(),
        vec![endpoint(&one, "hook", 1)],
        "tenancy: deleting one app's endpoint leaves the other's"
    );
    assert!(store.endpoints(&app_id(run, "tenant-none")).await.unwrap().is_empty());
}

async fn before_send(store: &dyn Store, run: &str) {
    let hook = BeforeSend {
        url: "http://127.0.0.1:9/moderate".into(),
        timeout_ms: 750,
        fail_open: true,
    };
    let app = AppRecord {
        id: app_id(run, "moderated"),
        org: "org".into(),
        name: "Moderated".into(),
        secret_hash: format!("moderated-{run}").into_bytes(),
        signing_key: vec![9; 32],
        created_at: 5,
        settings: AppSettings {
            before_send: Some(hook.clone()),
            ..AppSettings::default()
        },
    };
    assert!(store.create_app_if_absent(&app).await.unwrap());
    let stored = store.app(&app.id).await.unwrap().unwrap();
    assert_eq!(
        stored.settings.before_send,
        Some(hook.clone()),
        "before_send: stored with the app"
    );

    let off = AppSettings::default();
    assert!(store.set_app_settings(&app.id, &off).await.unwrap());
    assert_eq!(
        store.app(&app.id).await.unwrap().unwrap().settings.before_send,
        None,
        "before_send: removed"
    );
    let closed = BeforeSend {
        url: "http://127.0.0.1:9/strict".into(),
        timeout_ms: 2_000,
        fail_open: false,
    };
    let settings = AppSettings {
        before_send: Some(closed),
        ..off
    };
    assert!(store.set_app_settings(&app.id, &settings).await.unwrap());
    assert_eq!(
        store.app(&app.id).await.unwrap().unwrap().settings,
        settings,
        "before_send: set with the other settings"
    );
}
