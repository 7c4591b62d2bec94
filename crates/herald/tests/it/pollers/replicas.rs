//! One poller across replicas: two herald processes on one store, asked to poll at once;
//! one polls, the other is told who does; each event is stored once.

use super::*;
use crate::fakes::workos::FakeWorkos;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_polls_at_a_time_across_replicas() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    let replica = app.replica().await;
    let published: Vec<String> = (0..250)
        .map(|n| workos.publish_entity("user.created", &format!("user_{n}")))
        .collect();
    // Each page takes a while, so both ask while one of them is polling.
    workos.hold(Duration::from_millis(300));
    let (first, second) = tokio::join!(poll(&app, false), poll(&replica, false));
    let outcomes = [first, second];
    let polled: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            PollOutcome::Polled { cycle, .. } => Some(cycle),
            _ => None,
        })
        .collect();
    assert_eq!(polled.len(), 1, "{outcomes:?}");
    assert_eq!((polled[0].pages, polled[0].items), (3, 250));
    let busy = outcomes
        .iter()
        .find(|o| matches!(o, PollOutcome::Busy { .. }))
        .expect("the other was told the poller is busy");
    let PollOutcome::Busy { owner, until } = busy else {
        unreachable!()
    };
    assert!(owner.is_some() && until.is_some());
    assert_eq!(workos.calls().len(), 3, "one poll's pages, no more");
    assert_eq!(stored_ids(&app).await, published);
    assert_eq!(app.deliveries().await.len(), 250);

    // Later, either polls from the stored cursor.
    workos.hold(Duration::ZERO);
    replica.advance(60.0);
    let cycle = poll_now(&replica).await;
    assert_eq!((cycle.items, cycle.failure), (0, None));
    assert_eq!(
        workos.calls().last().unwrap().param("after").as_ref(),
        published.last()
    );
}
