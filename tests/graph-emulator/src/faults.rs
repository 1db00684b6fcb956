//! Fault injection switches and the seeded decisions made from them.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// A fault chosen for one Graph request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Injected {
    Throttle { retry_after: Duration },
    Fail { status: u16 },
}

#[derive(Debug)]
pub(crate) struct Faults {
    pub replication_lag: Duration,
    pub throttle_next: u32,
    pub throttle_next_retry_after: Duration,
    pub throttle_ratio: f64,
    pub throttle_ratio_retry_after: Duration,
    pub fail_next: u32,
    pub fail_next_status: u16,
    pub failure_ratio: f64,
    pub max_credential_lifetime: Option<Duration>,
    pub latency: Duration,
    rng: StdRng,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Faults {
            replication_lag: Duration::ZERO,
            throttle_next: 0,
            throttle_next_retry_after: Duration::from_secs(1),
            throttle_ratio: 0.0,
            throttle_ratio_retry_after: Duration::from_secs(1),
            fail_next: 0,
            fail_next_status: 503,
            failure_ratio: 0.0,
            max_credential_lifetime: None,
            latency: Duration::ZERO,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Decides the fault (if any) for the next authenticated Graph request. Counted faults win over ratios;
    /// the RNG is only drawn while a ratio is set, so a seed replays identically.
    pub fn next(&mut self) -> Option<Injected> {
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Some(Injected::Throttle {
                retry_after: self.throttle_next_retry_after,
            });
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(Injected::Fail {
                status: self.fail_next_status,
            });
        }
        if self.throttle_ratio > 0.0 && self.rng.random::<f64>() < self.throttle_ratio {
            return Some(Injected::Throttle {
                retry_after: self.throttle_ratio_retry_after,
            });
        }
        if self.failure_ratio > 0.0 && self.rng.random::<f64>() < self.failure_ratio {
            return Some(Injected::Fail { status: 503 });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out_and_ratios_replay_per_seed() {
        let mut f = Faults::new(7);
        f.throttle_next = 1;
        f.fail_next = 1;
        f.fail_next_status = 500;
        assert!(matches!(f.next(), Some(Injected::Throttle { .. })));
        assert_eq!(f.next(), Some(Injected::Fail { status: 500 }));
        assert_eq!(f.next(), None);

        let run = |seed| {
            let mut f = Faults::new(seed);
            f.failure_ratio = 0.5;
            (0..64).map(|_| f.next().is_some()).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        let hits = run(1).into_iter().filter(|h| *h).count();
        assert!((16..=48).contains(&hits), "ratio 0.5 gave {hits}/64");
    }
}
