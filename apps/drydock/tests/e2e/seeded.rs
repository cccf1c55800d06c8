//! The seeded generator of the crash tests' kill moments. Each test prints its seed;
//! `DRYDOCK_CRASH_SEED=<seed>` replays the same moments (the timing of the machine still varies).

/// splitmix64: small, good enough to spread kill moments, and the same on every platform.
#[derive(Debug)]
pub struct Seeded {
    pub seed: u64,
    state: u64,
}

impl Seeded {
    /// The seed from `DRYDOCK_CRASH_SEED`, or a fresh one; printed with `test`'s name either way.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("DRYDOCK_CRASH_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or_default();
                nanos ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("{test}: seed {seed} (replay with DRYDOCK_CRASH_SEED={seed})");
        Self { seed, state: seed }
    }

    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `items` in a random order.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
