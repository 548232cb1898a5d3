//! `FAULT_RATE`: a test aid that answers a share of requests with 500, so a rollback on errors can
//! be rehearsed (locally or on AWS) with a version that is deliberately bad. Off unless set.
//!
//! Health probes are exempt (they carry [`HEALTH_HEADER`]): a faulty version must still become
//! healthy and take traffic, so that the rollback is driven by the error alarm on that traffic,
//! as it would be for a real bad release, rather than by a failed start.

use std::cell::RefCell;

/// Requests carrying this header are never answered with a fault; the `health-check` subcommand
/// sends it (`x-meshtest-health: 1`), as should any health probe of a rehearsal.
pub const HEALTH_HEADER: &str = "x-meshtest-health";

/// A share of requests to answer with an injected 500: `FAULT_RATE` in (0, 1], optionally seeded
/// with `FAULT_SEED` so a run is reproducible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    rate: f64,
    seed: Option<u64>,
}

impl Faults {
    /// Faults at `rate` (a share of requests, above 0 and at most 1); None for any other value.
    pub fn new(rate: f64, seed: Option<u64>) -> Option<Self> {
        (rate > 0.0 && rate <= 1.0).then_some(Self { rate, seed })
    }

    /// The share of requests answered with a fault.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The seed, when the sequence of faults is to be reproducible.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The dice for worker `index`: seeded workers each get their own reproducible sequence.
    pub(crate) fn dice(&self, index: u64) -> Dice {
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed.wrapping_add(index)),
            None => fastrand::Rng::new(),
        };
        Dice {
            rate: self.rate,
            rng: RefCell::new(rng),
        }
    }
}

/// One worker's draw of which requests fail (workers are single-threaded, hence the RefCell).
#[derive(Debug)]
pub(crate) struct Dice {
    rate: f64,
    rng: RefCell<fastrand::Rng>,
}

impl Dice {
    /// Whether the next request gets a fault.
    pub(crate) fn roll(&self) -> bool {
        self.rng.borrow_mut().f64() < self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `n` rolls fault at `rate` with `seed`.
    fn check(rate: f64, seed: u64, n: usize) -> usize {
        let dice = Faults::new(rate, Some(seed)).expect("valid rate").dice(0);
        (0..n).filter(|_| dice.roll()).count()
    }

    #[test]
    fn rate_must_be_a_share_above_zero() {
        for rate in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(Faults::new(rate, None), None, "{rate}");
        }
        for rate in [0.001, 0.3, 1.0] {
            assert_eq!(Faults::new(rate, None).map(|f| f.rate()), Some(rate));
        }
    }

    #[test]
    fn the_share_of_faults_follows_the_rate() {
        // Seeded, so the counts are fixed; the bounds (about 5 standard deviations over 2,000
        // rolls) hold for any seed, so another seed or generator would not make this flaky.
        for seed in [1, 42, 2026] {
            let faults = check(0.3, seed, 2_000);
            assert!((500..=700).contains(&faults), "seed {seed}: {faults}");
            let faults = check(0.05, seed, 2_000);
            assert!((50..=150).contains(&faults), "seed {seed}: {faults}");
        }
        assert_eq!(check(1.0, 7, 500), 500);
    }

    #[test]
    fn a_seed_reproduces_the_sequence_per_worker() {
        let faults = Faults::new(0.5, Some(9)).unwrap();
        let rolls = |index| {
            let dice = faults.dice(index);
            (0..64).map(|_| dice.roll()).collect::<Vec<_>>()
        };
        assert_eq!(rolls(0), rolls(0));
        assert_eq!(rolls(1), rolls(1));
        assert_ne!(rolls(0), rolls(1), "workers draw different sequences");
    }
}
