//! Selection speed: the best tag among 10,000 (target: under 5 ms; figures in docs/benchmarks.md).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use drydock_core::rules::TagRules;
use drydock_core::selection::select;

/// 10,000 tags in the mix of a busy repository: plain, `-alpine`, `-ls` builds, prereleases,
/// `v`-prefixed, calendar and noise, in a scrambled order.
fn tags() -> Vec<String> {
    let mut tags = Vec::with_capacity(10_000);
    let mut i: u64 = 0;
    while tags.len() < 10_000 {
        let (major, minor, patch) = (i % 13, (i / 13) % 29, (i / 377) % 31);
        let tag = match i % 10 {
            0..=3 => format!("{major}.{minor}.{patch}"),
            4 => format!("{major}.{minor}.{patch}-alpine"),
            5 => format!("{major}.{minor}.{patch}-ls{}", i % 400),
            6 => format!("{major}.{minor}.{patch}-rc.{}", i % 5),
            7 => format!("v{major}.{minor}.{patch}"),
            8 => format!("20{:02}.{}.{}", i % 30, minor % 12 + 1, patch % 28 + 1),
            _ => format!("sha-{:08x}", i.wrapping_mul(2_654_435_761)),
        };
        tags.push(tag);
        i = i
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            % 1_000_003;
    }
    tags
}

fn bench(c: &mut Criterion) {
    let tags = tags();
    let plain = TagRules::default();
    c.bench_function("select among 10,000 tags", |b| {
        b.iter(|| select(black_box("1.2.3"), black_box(&tags), &plain))
    });
    let filtered = TagRules::builder()
        .include(r"^\d+\.\d+\.\d+(-ls\d+)?$")
        .exclude(r"^0\.")
        .transform(r"^(\d+\.\d+\.\d+)-ls(\d+)$ => $1.$2")
        .build()
        .unwrap();
    c.bench_function(
        "select among 10,000 tags with include, exclude and transform",
        |b| b.iter(|| select(black_box("4.0.1-ls245"), black_box(&tags), &filtered)),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
