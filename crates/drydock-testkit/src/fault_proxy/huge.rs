//! The huge tag list: megabytes of tags generated as they are sent.

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Streams a tag list of `bytes` bytes, chunked; returns the body bytes the connection took.
/// One 64 KiB chunk of tags is made once and sent again and again (a client sees repeated tags),
/// and the task yields between chunks: the proxy's other connections must not wait for a client
/// that reads fast.
pub(super) async fn huge_tag_list<S: AsyncWrite + Unpin>(
    stream: &mut S,
    repository: &str,
    bytes: usize,
) -> u64 {
    const CHUNK: usize = 64 * 1024;
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut tags = Vec::with_capacity(CHUNK + 32);
    let mut n = 0u64;
    while tags.len() < CHUNK {
        tags.extend_from_slice(format!("\"tag-{n:012}\",").as_bytes());
        n += 1;
    }
    let frame = |data: &[u8]| {
        [
            format!("{:x}\r\n", data.len()).into_bytes(),
            data.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat()
    };
    let opening = frame(format!(r#"{{"name":"{repository}","tags":["#).as_bytes());
    let middle = frame(&tags);
    let closing = frame(b"\"end\"]}");
    if stream.write_all(&opening).await.is_err() {
        return 0;
    }
    let mut sent = 0u64;
    while sent as usize + tags.len() < bytes {
        if stream.write_all(&middle).await.is_err() {
            return sent;
        }
        sent += tags.len() as u64;
        tokio::task::yield_now().await;
    }
    if stream.write_all(&closing).await.is_ok() {
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let _ = stream.flush().await;
    }
    sent
}
