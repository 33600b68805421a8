//! The channel source for embedding programs.

use pin_core::Timestamp;
use pin_vfs::{Adapter, AdapterConfig, SilentReporter, Stop, VfsEvent, VfsOp, channel, run};

use crate::{cid, pin, store};

#[tokio::test]
async fn events_sent_are_applied_until_the_senders_are_gone() {
    let store = store();
    let (tx, mut source) = channel(16);
    let producer = tokio::spawn(async move {
        tx.send(
            VfsEvent::new(VfsOp::Create, "/app", "/app/a", Timestamp(1))
                .with_cid(cid("a"))
                .with_size(1),
        )
        .await
        .unwrap();
        for i in 0..10 {
            let read = VfsOp::Read {
                offset: Some(i),
                length: Some(1),
            };
            tx.send(VfsEvent::new(read, "/app", "/app/a", Timestamp(2 + i as i64)))
                .await
                .unwrap();
        }
    });
    let mut adapter = Adapter::new(store.clone(), AdapterConfig::default());
    let summary = run(&mut source, &mut adapter, &Stop::new(), &SilentReporter)
        .await
        .unwrap();
    producer.await.unwrap();
    assert_eq!(summary.vfs_events, 11);
    let a = pin(&store, &cid("a")).await;
    assert_eq!(a.stats.read_count, 10);
    assert_eq!(a.stats.sequential_reads, 9);
}
