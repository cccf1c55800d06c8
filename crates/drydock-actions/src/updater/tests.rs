//! The updater's unit tests.

use super::swap::*;
#[test]
fn splits_images() {
    assert_eq!(
        split_image("127.0.0.1:5000/app:1.0"),
        ("127.0.0.1:5000/app".into(), "1.0".into())
    );
    assert_eq!(
        split_image("127.0.0.1:5000/app"),
        ("127.0.0.1:5000/app".into(), "latest".into())
    );
    assert_eq!(
        split_image("nginx@sha256:00"),
        ("nginx".into(), "latest".into())
    );
}
