//! Test support: the test environment's registries (from the testkit), providers for them, and a
//! scriptable loopback HTTP server for faults.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drydock_registry::providers::{Provider, providers_from_env};
pub use drydock_testkit::engine::unique;
pub use drydock_testkit::registries::{Setup, linux, read_head};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// The providers a user would configure for one of the test registries.
pub trait Providers {
    /// Parsed from [`Setup::env`].
    fn providers(self) -> Vec<Provider>;
}

impl Providers for Setup {
    fn providers(self) -> Vec<Provider> {
        providers_from_env(&self.env()).expect("test provider config is valid")
    }
}

/// What the fake server does with one request.
pub enum Reply {
    /// A full response.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Accept and never answer.
    Hang,
    /// Declare `declared` bytes, send `body`, close.
    Truncated { declared: usize, body: Vec<u8> },
    /// Reset the connection (`RST`) without answering.
    Reset,
    /// A `200` declaring `body`, sent one byte per `per_byte`.
    Trickle { body: Vec<u8>, per_byte: Duration },
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// A request the fake server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
}

/// A loopback HTTP server answering from a script; it records what it receives.
pub struct FakeRegistry {
    pub host: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeRegistry {
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(&str, &str, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    while let Some(head) = read_head(&mut stream).await {
                        let mut words = head.lines().next().unwrap_or_default().split(' ');
                        let method = words.next().unwrap_or_default().to_owned();
                        let path = words.next().unwrap_or_default().to_owned();
                        let count = {
                            let mut log = log.lock().unwrap();
                            log.push(Seen {
                                method: method.clone(),
                                path: path.clone(),
                                at: Instant::now(),
                            });
                            log.len()
                        };
                        match handler(&method, &path, count) {
                            Reply::Hang => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                return;
                            }
                            Reply::Reset => {
                                let _ = stream.set_zero_linger();
                                return;
                            }
                            Reply::Trickle { body, per_byte } => {
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                );
                                if stream.write_all(head.as_bytes()).await.is_err() {
                                    return;
                                }
                                for byte in body {
                                    tokio::time::sleep(per_byte).await;
                                    if stream.write_all(&[byte]).await.is_err() {
                                        return;
                                    }
                                }
                                return;
                            }
                            Reply::Truncated { declared, body } => {
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
                                );
                                let _ = stream.write_all(head.as_bytes()).await;
                                let _ = stream.write_all(&body).await;
                                return;
                            }
                            Reply::Respond {
                                status,
                                headers,
                                body,
                            } => {
                                let mut out = format!(
                                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n",
                                    body.len()
                                );
                                for (name, value) in headers {
                                    out.push_str(&format!("{name}: {value}\r\n"));
                                }
                                out.push_str("\r\n");
                                let mut bytes = out.into_bytes();
                                if method != "HEAD" {
                                    bytes.extend_from_slice(&body);
                                }
                                if stream.write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Self { host, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
