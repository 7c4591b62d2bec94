//! Registered hooks: created once per (source, id), listed in key order, their secret
//! rotated with a grace period, imported, deleted. The store sees only ciphertext.

use crate::fixtures::*;
use herald_store::model::*;
use herald_store::{SharedStore, StoreError};

fn sealed(text: &str, nonce: u8) -> SealedSecret {
    SealedSecret {
        ciphertext: text.as_bytes().to_vec(),
        nonce: vec![nonce; 12],
    }
}

fn hook(source: &str, id: &str, repository: &str, second: i64) -> Hook {
    Hook {
        source: source.to_string(),
        id: id.to_string(),
        repository: repository.to_string(),
        secret: sealed(&format!("sealed-{source}-{id}"), 1),
        previous: None,
        created_at: at(second),
        updated_at: at(second),
    }
}

pub async fn hooks_are_created_once_and_read_back(store: SharedStore) {
    assert_eq!(store.get_hook("repos", "app").await.unwrap(), None);
    let mut app = hook("repos", "app", "acme/app", 1);
    // Any bytes, NUL and non-UTF-8 included.
    app.secret.ciphertext = vec![0, 255, 1, 128, 0];
    store.create_hook(&app).await.unwrap();
    assert_eq!(
        store.get_hook("repos", "app").await.unwrap(),
        Some(app.clone())
    );

    // The same (source, id) again: a typed conflict, and the stored hook is unchanged.
    let again = Hook {
        repository: "other/app".to_string(),
        secret: sealed("another", 2),
        ..hook("repos", "app", "other/app", 2)
    };
    let error = store.create_hook(&again).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert!(error.to_string().contains("app"), "{error}");
    assert_eq!(store.get_hook("repos", "app").await.unwrap(), Some(app));

    // The same id under another source is another hook.
    let other = hook("gitlab", "app", "acme/app", 3);
    store.create_hook(&other).await.unwrap();
    assert_eq!(store.get_hook("gitlab", "app").await.unwrap(), Some(other));
    assert_eq!(store.get_hook("repos", "nope").await.unwrap(), None);
}

pub async fn hooks_are_listed_by_source_then_id(store: SharedStore) {
    assert!(store.list_hooks(None).await.unwrap().is_empty());
    let hooks = [
        hook("repos", "web", "acme/web", 1),
        hook("repos", "Api", "acme/Api", 2),
        hook("forge", "web", "acme/web", 3),
        hook("repos", "api", "acme/api", 4),
        hook("repos", "api-2", "acme/api", 5),
    ];
    for hook in &hooks {
        store.create_hook(hook).await.unwrap();
    }
    let ids = |found: Vec<Hook>| -> Vec<(String, String)> {
        found.into_iter().map(|h| (h.source, h.id)).collect()
    };
    let pair = |source: &str, id: &str| (source.to_string(), id.to_string());
    // Byte order: upper case before lower case, whatever the database's collation.
    assert_eq!(
        ids(store.list_hooks(None).await.unwrap()),
        vec![
            pair("forge", "web"),
            pair("repos", "Api"),
            pair("repos", "api"),
            pair("repos", "api-2"),
            pair("repos", "web"),
        ]
    );
    assert_eq!(
        ids(store.list_hooks(Some("forge")).await.unwrap()),
        vec![pair("forge", "web")]
    );
    assert!(store.list_hooks(Some("none")).await.unwrap().is_empty());
    assert_eq!(
        store.list_hooks(Some("repos")).await.unwrap()[0],
        hooks[1].clone()
    );
}

pub async fn rotation_keeps_the_old_secret_as_previous(store: SharedStore) {
    let app = hook("repos", "app", "acme/app", 1);
    store.create_hook(&app).await.unwrap();
    let unrelated = hook("repos", "web", "acme/web", 1);
    store.create_hook(&unrelated).await.unwrap();

    let second = sealed("second", 2);
    let rotated = store
        .rotate_hook_secret("repos", "app", &second, at(100), at(10))
        .await
        .unwrap()
        .unwrap();
    let expected = Hook {
        secret: second.clone(),
        previous: Some(PreviousSecret {
            secret: app.secret.clone(),
            valid_until: at(100),
        }),
        updated_at: at(10),
        ..app.clone()
    };
    assert_eq!(rotated, expected);
    assert_eq!(
        store.get_hook("repos", "app").await.unwrap(),
        Some(expected)
    );

    // A second rotation replaces the previous secret with the one it replaces.
    let third = sealed("third", 3);
    let again = store
        .rotate_hook_secret("repos", "app", &third, at(200), at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.secret, third);
    assert_eq!(
        again.previous,
        Some(PreviousSecret {
            secret: second,
            valid_until: at(200),
        })
    );
    assert_eq!(again.created_at, at(1));
    assert_eq!(again.updated_at, at(20));

    assert_eq!(
        store
            .rotate_hook_secret("repos", "missing", &third, at(200), at(20))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_hook("repos", "missing").await.unwrap(), None);
    assert_eq!(
        store.get_hook("repos", "web").await.unwrap(),
        Some(unrelated)
    );
}

pub async fn import_inserts_or_replaces_the_secret(store: SharedStore) {
    let imported = hook("repos", "app", "acme/app", 1);
    assert!(store.import_hook(&imported).await.unwrap());
    assert_eq!(
        store.get_hook("repos", "app").await.unwrap(),
        Some(imported.clone())
    );

    // Over a rotated hook: repository and secret replaced, the previous secret forgotten,
    // the creation time kept.
    store
        .rotate_hook_secret("repos", "app", &sealed("rotated", 2), at(100), at(5))
        .await
        .unwrap()
        .unwrap();
    let replacement = Hook {
        secret: sealed("given", 4),
        ..hook("repos", "app", "acme/renamed", 9)
    };
    assert!(!store.import_hook(&replacement).await.unwrap());
    assert_eq!(
        store.get_hook("repos", "app").await.unwrap(),
        Some(Hook {
            created_at: at(1),
            ..replacement
        })
    );
    assert_eq!(store.list_hooks(None).await.unwrap().len(), 1);
}

pub async fn delete_removes_only_that_hook(store: SharedStore) {
    for hook in [
        hook("repos", "app", "acme/app", 1),
        hook("repos", "web", "acme/web", 1),
        hook("forge", "app", "acme/app", 1),
    ] {
        store.create_hook(&hook).await.unwrap();
    }
    assert!(store.delete_hook("repos", "app").await.unwrap());
    assert!(!store.delete_hook("repos", "app").await.unwrap());
    assert!(!store.delete_hook("repos", "missing").await.unwrap());
    assert_eq!(store.get_hook("repos", "app").await.unwrap(), None);
    let left: Vec<_> = store
        .list_hooks(None)
        .await
        .unwrap()
        .into_iter()
        .map(|h| format!("{}/{}", h.source, h.id))
        .collect();
    assert_eq!(left, ["forge/app", "repos/web"]);
    // The id can be registered again.
    store
        .create_hook(&hook("repos", "app", "acme/app", 2))
        .await
        .unwrap();
}

pub async fn concurrent_creates_of_one_id_have_one_winner(store: SharedStore) {
    let attempts = (0..8).map(|n| {
        let store = store.clone();
        let mut candidate = hook("repos", "app", &format!("acme/app-{n}"), n);
        candidate.secret = sealed(&format!("secret-{n}"), n as u8);
        tokio::spawn(async move { (store.create_hook(&candidate).await, candidate) })
    });
    let mut winners = Vec::new();
    for attempt in attempts {
        let (result, candidate) = attempt.await.unwrap();
        match result {
            Ok(()) => winners.push(candidate),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.get_hook("repos", "app").await.unwrap(), winners.pop());
}
