//! Reading a registry's response body: bounded, and kept in segments of at most 64 KiB.
//!
//! A body is never held in one contiguous buffer. A multi-megabyte buffer is an `mmap` of its own
//! in glibc's allocator, and freeing it raises the allocator's mmap and trim thresholds to its
//! size: from then on every such buffer comes from a per-thread arena, which keeps what is freed.
//! The full soak's RSS swung by up to 30 MiB that way (`docs/reliability.md`). Nor are the HTTP
//! stack's chunks kept: each pins the whole read buffer it was cut from (up to 408 KiB however
//! few bytes it holds), so they are copied into the segments and let go. JSON is parsed across
//! the segments.

use std::io::Read;
use std::time::Duration;

use drydock_core::ports::RegistryError;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Bodies above this size are read a few at a time ([`LARGE_BODIES_AT_ONCE`]): a registry that
/// answers every request with megabytes (a hostile one, or a huge tag list) must not make the
/// process hold `concurrency × limit` bytes at once.
const LARGE_BODY: usize = 1024 * 1024;

/// How many bodies above [`LARGE_BODY`] one client reads at the same time.
pub(crate) const LARGE_BODIES_AT_ONCE: usize = 2;

/// The size of a [`Body`]'s segments: well below glibc's default mmap threshold (128 KiB).
const SEGMENT: usize = 64 * 1024;

/// A response body, in segments of at most [`SEGMENT`] bytes.
#[derive(Debug)]
pub(crate) struct Body {
    segments: Vec<Vec<u8>>,
    len: usize,
    /// The segment size: [`SEGMENT`], smaller in tests so that small bodies cross segments.
    segment: usize,
}

impl Default for Body {
    fn default() -> Self {
        Self {
            segments: Vec::new(),
            len: 0,
            segment: SEGMENT,
        }
    }
}

impl Body {
    /// An empty body whose first segment has room for `announced` bytes (up to a segment).
    fn with_capacity(announced: usize) -> Self {
        Self {
            segments: vec![Vec::with_capacity(announced.min(SEGMENT))],
            ..Self::default()
        }
    }

    /// Appends `bytes`, filling the last segment before starting another. A segment grows by
    /// doubling but never past [`SEGMENT`] (`Vec`'s own growth could double it past).
    fn extend(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            if self
                .segments
                .last()
                .is_none_or(|last| last.len() >= self.segment)
            {
                self.segments.push(Vec::new());
            }
            let Some(last) = self.segments.last_mut() else {
                return;
            };
            let n = (self.segment - last.len()).min(bytes.len());
            if last.capacity() - last.len() < n {
                let target = (last.len() + n).max(last.capacity() * 2).min(self.segment);
                last.reserve_exact(target - last.len());
            }
            let (now, later) = bytes.split_at(n);
            last.extend_from_slice(now);
            bytes = later;
        }
    }

    /// Parses the body as JSON, across its segments.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        match self.segments.as_slice() {
            [] => serde_json::from_slice(b""),
            [one] => serde_json::from_slice(one),
            // A reader is slower than a slice, and only bodies over 64 KiB take it.
            _ => serde_json::from_reader(self.reader()),
        }
    }

    /// The body's `sha256:` digest.
    pub(crate) fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for segment in &self.segments {
            hasher.update(segment);
        }
        format!("sha256:{:x}", hasher.finalize())
    }

    /// The body as text, invalid UTF-8 replaced (for small bodies: this copies).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.segments.concat()).into_owned()
    }

    fn reader(&self) -> SegmentReader<'_> {
        SegmentReader {
            segments: &self.segments,
            at: 0,
        }
    }
}

/// Reads a [`Body`]'s segments one after the other.
struct SegmentReader<'b> {
    segments: &'b [Vec<u8>],
    /// The position in the first segment.
    at: usize,
}

impl Read for SegmentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while let Some((first, rest)) = self.segments.split_first() {
            let left = first.get(self.at..).unwrap_or_default();
            if left.is_empty() {
                self.segments = rest;
                self.at = 0;
                continue;
            }
            let n = left.len().min(out.len());
            out[..n].copy_from_slice(&left[..n]);
            self.at += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Reads a response body of at most `limit` bytes, refusing it as soon as `Content-Length` or
/// the bytes received pass the limit; a body that grows past [`LARGE_BODY`] first waits for one
/// of `large` permits. `timeout` is the client's request timeout, which covers the body too: a
/// body that trickles in ends as a timeout after it.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    large: &Semaphore,
    registry: &str,
    timeout: Duration,
) -> Result<Body, RegistryError> {
    let too_large = || RegistryError::InvalidResponse {
        registry: registry.to_owned(),
        reason: format!("response larger than {limit} bytes"),
    };
    let announced = match response.content_length() {
        Some(len) if len > limit as u64 => return Err(too_large()),
        // Within `limit`, a `usize`.
        Some(len) => len as usize,
        None => 0,
    };
    let mut permit = None;
    if announced > LARGE_BODY {
        permit = Some(acquire_large(large, registry, timeout).await?);
    }
    let mut body = Body::with_capacity(announced);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let len = body.len + chunk.len();
                if len > limit {
                    return Err(too_large());
                }
                if len > LARGE_BODY && permit.is_none() {
                    permit = Some(acquire_large(large, registry, timeout).await?);
                }
                body.extend(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(RegistryError::Timeout {
                    registry: registry.to_owned(),
                    after: timeout,
                });
            }
            Err(e) => {
                return Err(RegistryError::Unavailable {
                    registry: registry.to_owned(),
                    reason: format!("reading the response: {}", describe(&e)),
                });
            }
        }
    }
}

/// One of the large-body permits, within the request's timeout.
async fn acquire_large<'s>(
    large: &'s Semaphore,
    registry: &str,
    timeout: Duration,
) -> Result<SemaphorePermit<'s>, RegistryError> {
    match tokio::time::timeout(timeout, large.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        // The semaphore is never closed; a closed one would mean the client is going away.
        Ok(Err(_)) | Err(_) => Err(RegistryError::Timeout {
            registry: registry.to_owned(),
            after: timeout,
        }),
    }
}

/// A reqwest error with its causes. drydock never puts credentials in URLs, so the URL may stay.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(parts: &[&[u8]]) -> Body {
        body_in(SEGMENT, parts)
    }

    /// A body in segments of `segment` bytes, appended in `parts`.
    fn body_in(segment: usize, parts: &[&[u8]]) -> Body {
        let mut body = Body {
            segment,
            ..Body::default()
        };
        for part in parts {
            body.extend(part);
        }
        body
    }

    #[test]
    fn a_large_body_is_held_in_segments_and_parsed_across_them() {
        let tags: Vec<String> = (0..20_000).map(|i| format!("1.{i}.0")).collect();
        let whole = serde_json::to_vec(&serde_json::json!({ "tags": tags })).unwrap();
        let mut split = Body::default();
        for piece in whole.chunks(1000) {
            split.extend(piece);
        }
        assert!(split.segments.len() > 2);
        assert!(split.segments.iter().all(|s| s.capacity() <= SEGMENT));
        let parsed: serde_json::Value = split.json().unwrap();
        assert_eq!(parsed["tags"][19_999], "1.19999.0");
    }

    #[test]
    fn an_empty_body_is_a_json_error_not_a_value() {
        assert!(body(&[]).json::<serde_json::Value>().is_err());
    }

    proptest! {
        /// However a body is cut into chunks and held in segments, its digest, text and JSON are
        /// those of the whole. Segments of 1 to 64 bytes make every body cross them, so the JSON
        /// is read across segments (the 64 KiB of production would need megabytes per case).
        #[test]
        fn chunks_read_as_the_whole(tags in prop::collection::vec("[a-z0-9.-]{1,12}", 0..40), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6), segment in 1_usize..=64) {
            let whole = serde_json::to_vec(&serde_json::json!({ "tags": tags })).unwrap();
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(whole.len() + 1)).collect();
            at.sort_unstable();
            let mut parts: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for end in at.into_iter().chain([whole.len()]) {
                parts.push(&whole[start..end]);
                start = end;
            }
            let split = body_in(segment, &parts);
            prop_assert_eq!(split.segments.len(), whole.len().div_ceil(segment));
            prop_assert!(split.segments.iter().all(|s| s.len() <= segment));
            prop_assert_eq!(split.sha256(), format!("sha256:{:x}", Sha256::digest(&whole)));
            prop_assert_eq!(split.text().into_bytes(), whole);
            let parsed: serde_json::Value = split.json().unwrap();
            prop_assert_eq!(parsed["tags"].as_array().map(Vec::len), Some(tags.len()));
        }
    }
}
