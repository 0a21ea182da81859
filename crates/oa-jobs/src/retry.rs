//! Retry policies: how long a failed attempt waits before the next one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When to run the next attempt of a job whose attempt failed or timed out.
///
/// Whether there is a next attempt at all is decided by the job's `max_retries`; the policy
/// only decides the delay. Serialized as `{"kind": "fixed", "delay_ms": 5000}` or
/// `{"kind": "exponential", "base_ms": 1000, "factor": 2.0, "max_delay_ms": 3600000,
/// "jitter": 0.1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryPolicy {
    /// The same delay before every retry.
    Fixed {
        /// The delay.
        #[serde(rename = "delay_ms", with = "crate::serde_ms")]
        delay: Duration,
    },
    /// `base × factor^(retry − 1)`, capped at `max_delay`, then spread by `jitter`.
    Exponential {
        /// The delay before the first retry.
        #[serde(rename = "base_ms", with = "crate::serde_ms")]
        base: Duration,
        /// The growth factor between retries (≥ 1).
        factor: f64,
        /// The largest delay, jitter included.
        #[serde(rename = "max_delay_ms", with = "crate::serde_ms")]
        max_delay: Duration,
        /// The spread as a fraction in `[0, 1]`: a delay `d` becomes a uniformly random value
        /// in `[d × (1 − jitter), d × (1 + jitter)]`, still capped at `max_delay`. Jitter keeps
        /// many jobs failing together from retrying together.
        jitter: f64,
    },
}

impl Default for RetryPolicy {
    /// Exponential: 1 s, 2 s, 4 s, ... capped at one hour, with 10 % jitter.
    fn default() -> Self {
        Self::Exponential {
            base: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(3600),
            jitter: 0.1,
        }
    }
}

impl RetryPolicy {
    /// The same `delay` before every retry.
    #[must_use]
    pub const fn fixed(delay: Duration) -> Self {
        Self::Fixed { delay }
    }

    /// Exponential backoff without jitter; see [`RetryPolicy::with_jitter`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `factor` is not a finite number ≥ 1 or `max_delay` is
    /// shorter than `base`.
    pub fn exponential(base: Duration, factor: f64, max_delay: Duration) -> Result<Self> {
        let policy = Self::Exponential {
            base,
            factor,
            max_delay,
            jitter: 0.0,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// The same policy with `jitter` (a fraction in `[0, 1]`); a fixed policy is unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `jitter` is outside `[0, 1]`.
    pub fn with_jitter(self, jitter: f64) -> Result<Self> {
        match self {
            Self::Fixed { .. } => Ok(self),
            Self::Exponential {
                base,
                factor,
                max_delay,
                ..
            } => {
                let policy = Self::Exponential {
                    base,
                    factor,
                    max_delay,
                    jitter,
                };
                policy.validate()?;
                Ok(policy)
            }
        }
    }

    /// Checks the policy's numbers (a deserialized policy may hold anything).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the bad field.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Fixed { .. } => Ok(()),
            Self::Exponential {
                base,
                factor,
                max_delay,
                jitter,
            } => {
                if !factor.is_finite() || factor < 1.0 {
                    return Err(Error::InvalidArgument {
                        field: "retry_policy.factor",
                        message: format!("must be a finite number >= 1, got {factor}"),
                    });
                }
                if !(0.0..=1.0).contains(&jitter) {
                    return Err(Error::InvalidArgument {
                        field: "retry_policy.jitter",
                        message: format!("must be between 0 and 1, got {jitter}"),
                    });
                }
                if max_delay < base {
                    return Err(Error::InvalidArgument {
                        field: "retry_policy.max_delay_ms",
                        message: format!(
                            "must not be shorter than base ({} ms < {} ms)",
                            max_delay.as_millis(),
                            base.as_millis()
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// The delay before retry number `retry` (1 for the first retry, that is before attempt 2),
    /// without jitter: the middle of the range [`RetryPolicy::delay`] draws from.
    #[must_use]
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        match *self {
            Self::Fixed { delay } => delay,
            Self::Exponential {
                base,
                factor,
                max_delay,
                ..
            } => {
                let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * factor.powi(exponent);
                clamp_secs(secs, max_delay)
            }
        }
    }

    /// The delay before retry number `retry` (1-based), jitter applied.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, fastrand::f64())
    }

    /// The delay before retry number `retry` with the jitter's random draw given as `unit` in
    /// `[0, 1)`: 0 gives the low end of the range, 0.5 the nominal delay, 1 the high end.
    #[must_use]
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let nominal = self.nominal_delay(retry);
        match *self {
            Self::Fixed { .. } => nominal,
            Self::Exponential {
                max_delay, jitter, ..
            } => {
                let spread = jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
                clamp_secs(nominal.as_secs_f64() * (1.0 + spread), max_delay)
            }
        }
    }
}

fn clamp_secs(secs: f64, max: Duration) -> Duration {
    if !secs.is_finite() || secs >= max.as_secs_f64() {
        max
    } else {
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(policy: &RetryPolicy, n: u32) -> Vec<u64> {
        (1..=n)
            .map(|retry| policy.nominal_delay(retry).as_secs())
            .collect()
    }

    #[test]
    fn exponential_doubles_from_one_second() {
        let policy =
            RetryPolicy::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(3600))
                .unwrap();
        assert_eq!(secs(&policy, 5), [1, 2, 4, 8, 16]);
        // Without jitter, the drawn delay is the nominal one.
        assert_eq!(policy.delay(3), Duration::from_secs(4));
    }

    #[test]
    fn exponential_stops_at_its_cap() {
        let policy =
            RetryPolicy::exponential(Duration::from_secs(10), 4.0, Duration::from_secs(50))
                .unwrap();
        assert_eq!(secs(&policy, 5), [10, 40, 50, 50, 50]);
        // Huge retry numbers neither overflow nor exceed the cap.
        assert_eq!(policy.nominal_delay(u32::MAX), Duration::from_secs(50));
    }

    #[test]
    fn fixed_is_fixed() {
        let policy = RetryPolicy::fixed(Duration::from_millis(250));
        assert_eq!(
            (1..=4)
                .map(|r| policy.delay(r).as_millis())
                .collect::<Vec<_>>(),
            [250, 250, 250, 250]
        );
    }

    #[test]
    fn jitter_stays_in_its_range_and_under_the_cap() {
        let policy = RetryPolicy::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(20))
            .unwrap()
            .with_jitter(0.25)
            .unwrap();
        for retry in 1..=8 {
            let nominal = policy.nominal_delay(retry).as_secs_f64();
            let low = nominal * 0.75;
            let high = (nominal * 1.25).min(20.0);
            assert!((policy.delay_with(retry, 0.0).as_secs_f64() - low).abs() < 1e-6);
            assert!((policy.delay_with(retry, 0.5).as_secs_f64() - nominal).abs() < 1e-6);
            assert!((policy.delay_with(retry, 1.0).as_secs_f64() - high).abs() < 1e-6);
            for _ in 0..1000 {
                let drawn = policy.delay(retry).as_secs_f64();
                assert!(
                    drawn >= low - 1e-9 && drawn <= high + 1e-9,
                    "{drawn} not in [{low}, {high}]"
                );
            }
        }
    }

    #[test]
    fn bad_numbers_are_typed_errors() {
        let one = Duration::from_secs(1);
        for (factor, max) in [
            (0.5, one),
            (f64::NAN, one),
            (2.0, Duration::from_millis(10)),
        ] {
            assert!(matches!(
                RetryPolicy::exponential(one, factor, max),
                Err(Error::InvalidArgument { .. })
            ));
        }
        assert!(RetryPolicy::default().with_jitter(1.5).is_err());
        assert!(RetryPolicy::default().with_jitter(-0.1).is_err());
    }

    #[test]
    fn serializes_in_milliseconds() {
        let json = serde_json::to_value(RetryPolicy::fixed(Duration::from_secs(5))).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "fixed", "delay_ms": 5000}));
        let back: RetryPolicy = serde_json::from_value(
            serde_json::json!({"kind": "exponential", "base_ms": 1000, "factor": 2.0, "max_delay_ms": 60000, "jitter": 0.0}),
        )
        .unwrap();
        assert_eq!(back.nominal_delay(3), Duration::from_secs(4));
    }
}
