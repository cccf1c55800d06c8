//! `ImageReference::parse`: never panics, and every reference it accepts prints back (in full, in
//! the familiar short form, and as its repository path) to text that parses to the same value.
#![no_main]

use drydock_core::image_ref::{ImageRefError, ImageReference, is_image_id};
use libfuzzer_sys::fuzz_target;

fn reparse(text: &str, what: &str, original: &ImageReference) -> ImageReference {
    match ImageReference::parse(text) {
        Ok(r) => r,
        Err(e) => panic!("{what} {text:?} of {original:?} does not parse back: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ImageReference::parse(input);
    if is_image_id(input) {
        assert!(
            matches!(parsed, Err(ImageRefError::ImageId { .. })),
            "image id {input:?} read as {parsed:?}"
        );
    }
    let Ok(r) = parsed else {
        return;
    };

    // The full form is canonical: it parses to the same value and prints the same again.
    let full = r.to_string();
    let again = reparse(&full, "full form", &r);
    assert_eq!(again, r, "full form {full:?}");
    assert_eq!(again.to_string(), full);

    // The familiar form (what `docker ps` shows) names the same image.
    let familiar = r.familiar();
    assert_eq!(
        reparse(&familiar, "familiar form", &r),
        r,
        "familiar form {familiar:?}"
    );
    assert!(familiar.len() <= full.len());

    // The repository path is the same repository without tag or digest.
    let path = r.repository_path();
    let bare = reparse(&path, "repository path", &r);
    assert_eq!(
        (bare.registry(), bare.repository()),
        (r.registry(), r.repository())
    );
    assert_eq!((bare.tag(), bare.digest()), (None, None));
    assert!(
        path.len() <= 255,
        "normalised name longer than 255: {path:?}"
    );

    // Replacing the tag or digest by the one it already has changes nothing else.
    if let Some(tag) = r.tag() {
        let retagged = r
            .with_tag(tag)
            .unwrap_or_else(|e| panic!("with_tag({tag:?}): {e}"));
        assert_eq!((retagged.tag(), retagged.digest()), (Some(tag), None));
        assert_eq!(retagged.repository_path(), path);
    }
    if let Some(digest) = r.digest() {
        let redigested = r
            .with_digest(digest)
            .unwrap_or_else(|e| panic!("with_digest: {e}"));
        assert_eq!(redigested, r);
    }
    assert_eq!(r.tag_or_latest(), r.tag().unwrap_or("latest"));
    assert_eq!(r.is_docker_hub(), r.registry() == "docker.io");
});
