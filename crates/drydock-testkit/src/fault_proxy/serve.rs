//! One connection: TLS or not, each request forwarded upstream or answered with its fault.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::lock;

use super::huge::*;
use super::rules::*;

/// How a connection ended.
pub(super) enum Ending {
    Closed,
    Reset,
}

pub(super) async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    shared.open_connections.fetch_add(1, Ordering::Relaxed);
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    let mut first = [0u8; 1];
    // TLS records start with 0x16 (handshake); HTTP requests with a method's letter.
    let is_tls =
        tls.is_some() && matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
    match tls.filter(|_| is_tls) {
        Some(acceptor) => {
            if let Ok(mut stream) = acceptor.accept(stream).await
                && let Ending::Reset = serve(&mut stream, "https", &shared).await
            {
                let _ = stream.get_ref().0.set_zero_linger();
            }
        }
        None => {
            let mut stream = stream;
            if let Ending::Reset = serve(&mut stream, "http", &shared).await {
                let _ = stream.set_zero_linger();
            }
        }
    }
    shared.open_connections.fetch_sub(1, Ordering::Relaxed);
}

/// A request's line in the log, published as soon as it says something (a long answer's fault is
/// visible while it lasts) and again when the answer is over.
pub(super) struct Record<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: u64,
    pub(super) entry: ProxyRequest,
    pub(super) published: bool,
}

impl Record<'_> {
    /// Adds the line to the log, or updates it there; a line forgotten by
    /// [`FaultProxy::clear_requests`] meanwhile stays forgotten.
    fn publish(&mut self) {
        let mut state = lock(&self.shared.state);
        if let Some((_, line)) = state.log.iter_mut().rev().find(|(id, _)| *id == self.id) {
            *line = self.entry.clone();
            return;
        }
        if self.published {
            return;
        }
        self.published = true;
        if state.log.len() >= MAX_LOG {
            state.log.pop_front();
        }
        state.log.push_back((self.id, self.entry.clone()));
    }
}

pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Serves requests on one client connection until it closes or a fault ends it.
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    scheme: &str,
    shared: &Shared,
) -> Ending {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(stream, &mut buffer).await else {
            return Ending::Closed;
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let entry = ProxyRequest {
            method: request.method.clone(),
            target: request.target.clone(),
            repository: repository_of(&request),
            fault: None,
            status: 0,
            body_bytes: 0,
        };
        let mut record = Record {
            shared,
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            entry,
            published: false,
        };
        let outcome = answer(stream, scheme, &request, &mut record).await;
        record.publish();
        match outcome {
            Some(Ending::Reset) => return Ending::Reset,
            Some(Ending::Closed) => return Ending::Closed,
            None if close => return Ending::Closed,
            None => {}
        }
    }
}

/// The fault for a request, if a rule matches it (counting the rule's uses).
pub(super) fn fault_for(shared: &Shared, repository: Option<&str>, token: bool) -> Option<Fault> {
    let repository = repository?;
    let mut state = lock(&shared.state);
    let (rule, used) = state.rules.iter_mut().find(|(rule, used)| {
        let kind_fits = token == matches!(rule.fault, Fault::TokenStatus { .. });
        kind_fits && rule.matches(repository) && rule.times.is_none_or(|n| *used < n)
    })?;
    *used += 1;
    Some(rule.fault.clone())
}

/// Answers one request; `Some` when the connection must end.
pub(super) async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    scheme: &str,
    request: &Request,
    record: &mut Record<'_>,
) -> Option<Ending> {
    let shared = record.shared;
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let host = request.header("host").unwrap_or("127.0.0.1").to_owned();
    if request.path() == "/token" {
        let response = match fault_for(shared, record.entry.repository.as_deref(), true) {
            Some(fault @ Fault::TokenStatus { status }) => {
                record.entry.fault = Some(fault.name());
                Response::json(
                    status,
                    r#"{"errors":[{"code":"UNAVAILABLE","message":"token service failing"}]}"#,
                )
            }
            _ => {
                let n = shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
                Response::json(
                    200,
                    &format!(r#"{{"token":"dd-proxy-token-{n}","expires_in":300}}"#),
                )
            }
        };
        return send(stream, response, head_only, record).await;
    }
    let authorised = request
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer dd-proxy-token-"));
    if lock(&shared.state).require_token && request.path().starts_with("/v2/") && !authorised {
        let scope = record
            .entry
            .repository
            .as_deref()
            .map(|r| format!(r#",scope="repository:{r}:pull""#))
            .unwrap_or_default();
        let mut response = Response::json(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        response.set_header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{scheme}://{host}/token",service="fault-proxy"{scope}"#),
        );
        response.set_header("Docker-Distribution-Api-Version", "registry/2.0");
        return send(stream, response, head_only, record).await;
    }
    let fault = fault_for(shared, record.entry.repository.as_deref(), false);
    let is_tag_list = request.path().ends_with("/tags/list");
    // Faults that apply to the kind of request: the others let it pass.
    let fault = fault.filter(|f| match f {
        Fault::HugeTagList { .. } | Fault::LinkLoop => is_tag_list,
        Fault::SlowBody { .. } | Fault::TruncatedJson => !head_only,
        _ => true,
    });
    record.entry.fault = fault.as_ref().map(Fault::name);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut response = Response::json(
                status,
                r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}"#,
            );
            if let Some(after) = retry_after {
                response.set_header("Retry-After", &after);
            }
            send(stream, response, head_only, record).await
        }
        Some(Fault::Reset) => {
            record.publish();
            Some(Ending::Reset)
        }
        Some(Fault::Hang) => {
            record.publish();
            // Silence; the connection ends when the client gives up (or after MAX_STALL).
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(MAX_STALL, async {
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
            Some(Ending::Closed)
        }
        Some(Fault::HugeTagList { bytes }) => {
            record.entry.status = 200;
            record.publish();
            let repository = record.entry.repository.clone().unwrap_or_default();
            record.entry.body_bytes = huge_tag_list(stream, &repository, bytes).await;
            Some(Ending::Closed)
        }
        fault => {
            let mut response = match forward(shared, request).await {
                Ok(response) => response,
                Err(e) => Response::json(
                    502,
                    &format!(
                        r#"{{"errors":[{{"code":"UNAVAILABLE","message":"fault proxy upstream: {e}"}}]}}"#
                    ),
                ),
            };
            match fault {
                Some(Fault::SlowBody { per_byte }) => {
                    record.entry.status = response.status;
                    record.publish();
                    let head = head_bytes(&response, response.body.len());
                    if stream.write_all(&head).await.is_err() {
                        return Some(Ending::Closed);
                    }
                    let _ = tokio::time::timeout(MAX_STALL, async {
                        for byte in &response.body {
                            tokio::time::sleep(per_byte).await;
                            if stream.write_all(&[*byte]).await.is_err()
                                || stream.flush().await.is_err()
                            {
                                return;
                            }
                            record.entry.body_bytes += 1;
                        }
                    })
                    .await;
                    Some(Ending::Closed)
                }
                Some(Fault::TruncatedJson) => {
                    let half = response.body.len() / 2;
                    response.body.truncate(half);
                    send(stream, response, head_only, record).await
                }
                Some(Fault::WrongContentType) => {
                    response.set_header("Content-Type", "text/html; charset=utf-8");
                    send(stream, response, head_only, record).await
                }
                Some(Fault::LinkLoop) => {
                    response.set_header("Link", &format!(r#"<{}>; rel="next""#, request.target));
                    send(stream, response, head_only, record).await
                }
                _ => send(stream, response, head_only, record).await,
            }
        }
    }
}

/// The repository a request names: `/v2/<repo>/{tags,manifests,blobs}/…`, or for the token
/// endpoint its first `scope=repository:<repo>:…`.
pub(super) fn repository_of(request: &Request) -> Option<String> {
    let path = request.path();
    if path == "/token" {
        let query = request.target.split_once('?').map(|(_, q)| q)?;
        return query.split('&').find_map(|pair| {
            let value = pair.strip_prefix("scope=")?;
            let scope = percent_decode(value);
            let rest = scope.strip_prefix("repository:")?;
            rest.rsplit_once(':').map(|(repo, _)| repo.to_owned())
        });
    }
    let rest = path.strip_prefix("/v2/")?;
    ["/tags/list", "/manifests/", "/blobs/"]
        .iter()
        .find_map(|marker| rest.find(marker).map(|at| rest[..at].to_owned()))
}

pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The status line and headers, with `Content-Length: length`.
pub(super) fn head_bytes(response: &Response, length: usize) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {length}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes a whole response; `Some` when the connection must end. The log has it before the
/// client does.
pub(super) async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: Response,
    head_only: bool,
    record: &mut Record<'_>,
) -> Option<Ending> {
    record.entry.status = response.status;
    if !head_only {
        record.entry.body_bytes = response.body.len() as u64;
    }
    record.publish();
    // A HEAD answer keeps the upstream's Content-Length: it announces the GET's body.
    let length = if head_only {
        response
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    } else {
        response.body.len()
    };
    let mut headers = response.headers.clone();
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    let trimmed = Response {
        status: response.status,
        headers,
        body: Vec::new(),
    };
    let mut bytes = head_bytes(&trimmed, length);
    if !head_only {
        bytes.extend_from_slice(&response.body);
    }
    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
        record.entry.body_bytes = 0;
        return Some(Ending::Closed);
    }
    None
}

/// Reads one request (head and `Content-Length` body) from the connection; `None` at its end.
pub(super) async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Request> {
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    buffer.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut words = lines.next()?.split(' ');
    let method = words.next()?.to_owned();
    let target = words.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer.drain(..length).collect();
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Sends the request to the upstream registry (one connection, closed after the answer) and
/// reads the whole answer.
pub(super) async fn forward(shared: &Shared, request: &Request) -> Result<Response, String> {
    let mut upstream = TcpStream::connect(&shared.upstream)
        .await
        .map_err(|e| format!("connecting to {}: {e}", shared.upstream))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method, request.target, shared.upstream
    );
    for (name, value) in &request.headers {
        let hop = ["host", "connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        // The proxy's own tokens mean nothing upstream.
        let ours = name.eq_ignore_ascii_case("authorization") && value.contains("dd-proxy-token-");
        if !hop && !ours {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    upstream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("writing upstream: {e}"))?;
    upstream
        .write_all(&request.body)
        .await
        .map_err(|e| format!("writing upstream: {e}"))?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), upstream.read_to_end(&mut raw))
        .await
        .map_err(|_| "upstream did not answer within 120 s".to_owned())?
        .map_err(|e| format!("reading upstream: {e}"))?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("upstream answer without a head")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("upstream status line")?;
    let mut headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if request.method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        match headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
        {
            Some(length) => rest.get(..length).unwrap_or(rest).to_vec(),
            None => rest.to_vec(),
        }
    };
    let head_request = request.method.eq_ignore_ascii_case("HEAD");
    headers.retain(|(n, _)| {
        let hop = ["connection", "keep-alive", "transfer-encoding"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h));
        // The proxy sets its own length, except on HEAD, whose length announces the GET's.
        let length = n.eq_ignore_ascii_case("content-length");
        !hop && (!length || head_request)
    });
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub(super) fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("chunk size {size_text}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("chunk shorter than its size")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}
