//! How the store's files grow over many watch cycles: N containers (default 200) rewritten every
//! cycle for C cycles (default 10,000), each cycle changing every record, with the store's own
//! flush-before-acknowledge writes. Prints the size on disk as it goes.
//!
//! `cargo run --release -p drydock-store-sled --example growth -- [containers] [cycles]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::Instant;

use drydock_core::model::{Container, ContainerStatus, Image, ImageTag, UpdateResult};
use drydock_core::ports::Store;
use drydock_store_sled::SledStore;

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let meta = e.metadata().unwrap();
                    if meta.is_dir() {
                        dir_size(&e.path())
                    } else {
                        meta.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let containers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let cycles: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("drydock-growth-{}", std::process::id()));
    let store = SledStore::open(&dir).unwrap();
    let started = Instant::now();
    println!("cycle,seconds,size_on_disk_bytes,files_bytes");
    for cycle in 0..cycles {
        let saves = (0..containers).map(|i| {
            let container = Container {
                id: format!("{i:064x}"),
                name: format!("container-{i}"),
                watcher: "local".into(),
                status: ContainerStatus::Running,
                image: Image {
                    name: format!("library/app{}", i % 40),
                    tag: ImageTag {
                        value: "1.0.0".into(),
                        semver: true,
                    },
                    ..Image::default()
                },
                // Something changes every cycle: the worst case for an append-only log.
                result: Some(UpdateResult {
                    tag: Some(format!("1.0.{cycle}")),
                    ..UpdateResult::default()
                }),
                ..Container::default()
            };
            let store = &store;
            async move { store.save_container(&container).await.unwrap() }
        });
        futures_join(saves.collect()).await;
        if cycle % (cycles / 20).max(1) == 0 || cycle + 1 == cycles {
            println!(
                "{cycle},{:.1},{},{}",
                started.elapsed().as_secs_f64(),
                store.size_on_disk().unwrap(),
                dir_size(&dir)
            );
        }
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn futures_join<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
