//! The proxy's unit tests.

use super::serve::*;
fn request(target: &str) -> Request {
    Request {
        method: "GET".into(),
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

#[test]
fn requests_name_their_repository() {
    assert_eq!(
        repository_of(&request("/v2/drydock-test/a-1/tags/list?n=1000")).as_deref(),
        Some("drydock-test/a-1")
    );
    assert_eq!(
        repository_of(&request("/v2/x/manifests/1.0")).as_deref(),
        Some("x")
    );
    assert_eq!(
        repository_of(&request(
            "/token?service=fault-proxy&scope=repository%3Adrydock-test%2Fa%3Apull"
        ))
        .as_deref(),
        Some("drydock-test/a")
    );
    assert_eq!(repository_of(&request("/v2/")), None);
}

#[test]
fn chunked_bodies_are_joined() {
    assert_eq!(
        dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap_or_default(),
        b"abcde"
    );
    assert!(dechunk(b"zz\r\n").is_err());
}
