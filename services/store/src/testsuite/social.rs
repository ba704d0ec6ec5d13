//! The `SocialStore` part of the suite: friend requests and friendships.

use super::{app_id, session};
use crate::{FriendRequest, Store};

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    friends(store, run).await;
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
