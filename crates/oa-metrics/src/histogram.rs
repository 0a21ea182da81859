//! [`TimeHistogram`]: an HDR histogram of durations in microseconds, with exact count, sum,
//! min and max, fixed Prometheus buckets and cached percentiles.

use hdrhistogram::Histogram;

/// Durations longer than this (7 days) are recorded as this in the HDR histogram, which bounds
/// its memory; the exact sum, min and max keep the true value.
pub(crate) const MAX_RECORDED_MICROS: u64 = 7 * 24 * 3600 * 1_000_000;

/// The upper bounds of the Prometheus buckets, in microseconds: 5 ms to 1 h (`+Inf` is
/// implicit).
pub(crate) const BUCKET_BOUNDS_MICROS: [u64; 18] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
    1_800_000_000,
    3_600_000_000,
];

/// The percentiles reported for execution times.
pub(crate) const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// A distribution of durations.
#[derive(Debug)]
pub(crate) struct TimeHistogram {
    hdr: Option<Histogram<u64>>,
    significant_digits: u8,
    count: u64,
    sum_micros: u128,
    min_micros: u64,
    max_micros: u64,
    /// Counts per bucket of [`BUCKET_BOUNDS_MICROS`], the last one being `+Inf` (not
    /// cumulative).
    buckets: [u64; BUCKET_BOUNDS_MICROS.len() + 1],
    /// `QUANTILES[i]` as computed when `count` was `cached_for[i]` (each is computed on
    /// demand: the wait times only need the 95th).
    cached: [u64; QUANTILES.len()],
    cached_for: [u64; QUANTILES.len()],
}

impl TimeHistogram {
    pub(crate) fn new(significant_digits: u8) -> Self {
        TimeHistogram {
            // The digits are validated by the configuration (1 to 5); should creation fail
            // anyway, the exact figures still work and the percentiles fall back to them.
            hdr: Histogram::new(significant_digits).ok(),
            significant_digits,
            count: 0,
            sum_micros: 0,
            min_micros: 0,
            max_micros: 0,
            buckets: [0; BUCKET_BOUNDS_MICROS.len() + 1],
            cached: [0; QUANTILES.len()],
            cached_for: [0; QUANTILES.len()],
        }
    }

    pub(crate) fn record(&mut self, micros: u64) {
        if self.count == 0 {
            self.min_micros = micros;
            self.max_micros = micros;
        } else {
            self.min_micros = self.min_micros.min(micros);
            self.max_micros = self.max_micros.max(micros);
        }
        self.count += 1;
        self.sum_micros += u128::from(micros);
        let bucket = BUCKET_BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket] += 1;
        if let Some(hdr) = &mut self.hdr {
            // Auto-resizing up to 7 days cannot fail but for an allocation failure; the value
            // then only misses from the percentiles.
            let _ = hdr.record(micros.min(MAX_RECORDED_MICROS));
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn mean_seconds(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            micros_to_seconds_f(self.sum_micros as f64 / self.count as f64)
        }
    }

    pub(crate) fn sum_seconds(&self) -> f64 {
        micros_to_seconds_f(self.sum_micros as f64)
    }

    pub(crate) fn min_seconds(&self) -> f64 {
        micros_to_seconds(self.min_micros)
    }

    pub(crate) fn max_seconds(&self) -> f64 {
        micros_to_seconds(self.max_micros)
    }

    /// The non-cumulative bucket counts, `+Inf` last.
    pub(crate) fn buckets(&self) -> &[u64; BUCKET_BOUNDS_MICROS.len() + 1] {
        &self.buckets
    }

    /// An HDR value as reported: rounded to the histogram's significant digits (its
    /// precision) and kept within the exact min–max.
    fn reported(&self, value: u64) -> u64 {
        round_to_significant(value, self.significant_digits).clamp(self.min_micros, self.max_micros)
    }

    /// p50, p90, p95, p99 in seconds; zeros when empty. Computed once per new value, in one
    /// pass over the counts.
    pub(crate) fn percentiles(&mut self) -> [f64; QUANTILES.len()] {
        if self.count == 0 {
            return [0.0; QUANTILES.len()];
        }
        if self.cached_for.iter().any(|&count| count != self.count) {
            let values: [u64; QUANTILES.len()] = match &self.hdr {
                Some(hdr) => {
                    let mut values = [self.max_micros; QUANTILES.len()];
                    for (slot, value) in values.iter_mut().zip(hdr.value_at_quantiles(QUANTILES)) {
                        *slot = value;
                    }
                    values
                }
                None => [self.max_micros; QUANTILES.len()],
            };
            self.cached = values.map(|value| self.reported(value));
            self.cached_for = [self.count; QUANTILES.len()];
        }
        self.cached.map(micros_to_seconds)
    }

    /// The 95th percentile in seconds, alone (the wait times report only this one).
    pub(crate) fn p95_seconds(&mut self) -> f64 {
        const P95: usize = 2;
        if self.count == 0 {
            return 0.0;
        }
        if self.cached_for[P95] != self.count {
            let value = self
                .hdr
                .as_ref()
                .map_or(self.max_micros, |hdr| hdr.value_at_quantile(QUANTILES[P95]));
            self.cached[P95] = self.reported(value);
            self.cached_for[P95] = self.count;
        }
        micros_to_seconds(self.cached[P95])
    }

    /// The memory this histogram holds, in counters (for tests of the bounds).
    pub(crate) fn counter_slots(&self) -> usize {
        self.hdr.as_ref().map_or(0, Histogram::distinct_values)
    }
}

pub(crate) fn micros_to_seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}

fn micros_to_seconds_f(micros: f64) -> f64 {
    micros / 1e6
}

/// Rounds `value` to `digits` significant decimal digits: the precision HDR guarantees.
pub(crate) fn round_to_significant(value: u64, digits: u8) -> u64 {
    let limit = 10u64.pow(u32::from(digits));
    if value < limit {
        return value;
    }
    let mut factor = 1u64;
    while value / factor >= limit {
        factor *= 10;
    }
    let rounded = (u128::from(value) + u128::from(factor / 2)) / u128::from(factor);
    u64::try_from(rounded * u128::from(factor)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_figures_and_buckets() {
        let mut h = TimeHistogram::new(3);
        assert_eq!(h.percentiles(), [0.0; 4]);
        assert_eq!(h.mean_seconds(), 0.0);
        for micros in [2_000_000, 1_000_000, 3_000_000, 4_000] {
            h.record(micros);
        }
        assert_eq!(h.count(), 4);
        assert_eq!(h.min_seconds(), 0.004);
        assert_eq!(h.max_seconds(), 3.0);
        assert_eq!(h.sum_seconds(), 6.004);
        assert_eq!(h.mean_seconds(), 1.501);
        let buckets = h.buckets();
        assert_eq!(buckets[0], 1, "4 ms <= 5 ms");
        assert_eq!(buckets[7], 1, "1 s <= 1 s");
        assert_eq!(buckets[8], 1, "2 s <= 2.5 s");
        assert_eq!(buckets[9], 1, "3 s <= 5 s");
        assert_eq!(buckets.iter().sum::<u64>(), 4);
    }

    #[test]
    fn percentiles_are_rounded_clamped_and_cached() {
        let mut h = TimeHistogram::new(3);
        for _ in 0..100 {
            h.record(2_000_000);
        }
        assert_eq!(h.percentiles(), [2.0; 4]);
        h.record(1_234_567);
        let p = h.percentiles();
        assert_eq!(p[0], 2.0);
        h.record(9_000_000);
        assert_eq!(h.percentiles()[3], 2.0, "p99 of 102 values is the 101st");
        for _ in 0..10 {
            h.record(9_000_000);
        }
        assert_eq!(h.percentiles()[3], 9.0);
        assert_eq!(h.p95_seconds(), 9.0);
    }

    #[test]
    fn huge_values_are_clamped_in_the_histogram_only() {
        let mut h = TimeHistogram::new(2);
        h.record(u64::MAX / 2);
        assert_eq!(h.max_seconds(), (u64::MAX / 2) as f64 / 1e6);
        assert_eq!(
            h.percentiles()[0],
            (u64::MAX / 2) as f64 / 1e6,
            "clamped to min"
        );
        assert!(h.counter_slots() > 0);
    }

    #[test]
    fn rounding_to_significant_digits() {
        assert_eq!(round_to_significant(999, 3), 999);
        assert_eq!(round_to_significant(2_000_895, 3), 2_000_000);
        assert_eq!(round_to_significant(1_999_872, 3), 2_000_000);
        assert_eq!(round_to_significant(1_234_567, 2), 1_200_000);
        assert_eq!(round_to_significant(1_250_000, 2), 1_300_000);
        assert_eq!(
            round_to_significant(u64::MAX, 3),
            18_400_000_000_000_000_000
        );
        assert_eq!(round_to_significant(12_345, 5), 12_345);
    }
}
