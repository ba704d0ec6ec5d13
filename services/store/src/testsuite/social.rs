//! The `SocialStore` part of the suite: friend requests and friendships.

use super::{app_id, session};
use crate::{FriendRequest, Store};

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    friends(store, run).await;
    pending(store, run).await;
}

/// A recipient's pending requests: by sender, paged, without the ones taken or sent elsewhere.
async fn pending(store: &dyn Store, run: &str) {
    let app = app_id(run, "pending");
    let dan = session("dan");
    let request = |from: &str, to: &herald_protocol::SessionId, at: i64| FriendRequest {
        app: app.clone(),
        from: session(from),
        to: to.clone(),
        information: format!("{from} here"),
        created_at: at,
    };
    for (from, at) in [("zed", 1), ("amy", 2), ("kim", 3)] {
        store.put_friend_request(&request(from, &dan, at)).await.unwrap();
    }
    store
        .put_friend_request(&request("amy", &session("eve"), 4))
        .await
        .unwrap();
    let all = store.friend_requests_to(&app, &dan, None, 10).await.unwrap();
    assert_eq!(
        all,
        vec![
            request("amy", &dan, 2),
            request("kim", &dan, 3),
            request("zed", &dan, 1)
        ],
        "pending: the recipient's, by sender"
    );
    let first = store.friend_requests_to(&app, &dan, None, 2).await.unwrap();
    assert_eq!(first.len(), 2, "pending: at most the limit");
    let rest = store
        .friend_requests_to(&app, &dan, Some(&first[1].from), 2)
        .await
        .unwrap();
    assert_eq!(rest, vec![request("zed", &dan, 1)], "pending: after the sender named");
    store.take_friend_request(&app, &session("kim"), &dan).await.unwrap();
    let senders: Vec<String> = store
        .friend_requests_to(&app, &dan, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.from.as_str().to_owned())
        .collect();
    assert_eq!(senders, ["amy", "zed"], "pending: a taken request is gone");
    assert!(
        store
            .friend_requests_to(&app_id(run, "other"), &dan, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "pending: per app"
    );
}

async fn friends(store: &dyn Store, run: &str) {
    let app = app_id(run, "friends");
    let (ann, ben, cat) = (session("ann"), session("ben"), session("cat"));
    let request = FriendRequest {
        app: app.clone(),
        from: ann.clone(),
        to: ben.clone(),
        information: "hi".into(),
        created_at: 1,
    };
    store.put_friend_request(&request).await.unwrap();
    assert_eq!(
        store.take_friend_request(&app, &ben, &ann).await.unwrap(),
        None,
        "requests: directed"
    );
    assert_eq!(
        store.take_friend_request(&app, &ann, &ben).await.unwrap(),
        Some(request),
        "requests: taken"
    );
    assert_eq!(
        store.take_friend_request(&app, &ann, &ben).await.unwrap(),
        None,
        "requests: taken once"
    );
    store.set_friends(&app, &ann, &ben, true, 2).await.unwrap();
    store.set_friends(&app, &ann, &cat, true, 2).await.unwrap();
    assert!(store.are_friends(&app, &ben, &ann).await.unwrap(), "friends: both ways");
    assert!(!store.are_friends(&app, &ben, &cat).await.unwrap());
    assert_eq!(
        store.friends_of(&app, &ann).await.unwrap(),
        vec![ben.clone(), cat.clone()]
    );
    store.set_friends(&app, &ben, &ann, false, 3).await.unwrap();
    assert!(
        !store.are_friends(&app, &ann, &ben).await.unwrap(),
        "friends: unfriended both ways"
    );
    assert_eq!(store.friends_of(&app, &ann).await.unwrap(), vec![cat]);
    assert!(
        store.friends_of(&app_id(run, "other"), &ann).await.unwrap().is_empty(),
        "friends: per app"
    );
}
