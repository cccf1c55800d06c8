//! Examples of embedding drydock's crates in another program, without the server:
//!
//! - `check_image` (the core and the registry adapter): is there an update for this image?
//!   `cargo run -p drydock-examples --example check_image -- ghcr.io/home-assistant/home-assistant:2024.11.3`
//! - `watch_once` (the watch service over the Docker, registry and sled adapters): one watch
//!   cycle of the local engine, printed. `cargo run -p drydock-examples --example watch_once`
//!
//! This library is empty; the examples are the point.
