//! `next_link` on `Link` headers from a hostile registry: never panics, the target it finds is a
//! non-empty piece of the header between `<` and `>`, and a `rel="next"` link written back alone
//! is found again.
#![no_main]

use drydock_registry::link::next_link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Some(target) = next_link(header) else {
        return;
    };
    assert!(!target.is_empty());
    assert!(!target.contains('>'), "{target:?} from {header:?}");
    assert!(
        header.contains(&format!("<{target}>")),
        "{target:?} is not a bracketed piece of {header:?}"
    );
    let alone = format!("<{target}>; rel=\"next\"");
    assert_eq!(next_link(&alone), Some(target));
    // A previous-page link before it changes nothing.
    let after_prev = format!("<https://registry.test/prev>; rel=\"prev\", {alone}");
    assert_eq!(next_link(&after_prev), Some(target));
});
