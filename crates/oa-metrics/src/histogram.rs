//! [`TimeHistogram`]: an HDR histogram of durations in microseconds, with exact count, sum,
//! min and max, fixed Prometheus buckets and cached percentiles.
//!
//! Percentiles are read through a coarse index of the HDR counts ([`BlockIndex`]): the sum of
//! every block of [`BLOCK_LEN`] consecutive counters, kept up to date as values are recorded.
//! A percentile walks the block sums to the block where the cumulative count reaches its
//! target, then only that block's counters: a read touches a sixteenth of the counters instead
//! of all of them, and returns exactly what [`Histogram::value_at_quantiles`] would (a test
//! compares both on arbitrary values).

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
    /// The block sums of `hdr`'s counters.
    index: BlockIndex,
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
            index: BlockIndex::new(significant_digits),
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
            // then only misses from the percentiles (and from the index, which follows `hdr`).
            let value = micros.min(MAX_RECORDED_MICROS);
            if hdr.record(value).is_ok() {
                self.index.record(value);
            }
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
    /// walk over the block index (see the module's documentation).
    pub(crate) fn percentiles(&mut self) -> [f64; QUANTILES.len()] {
        if self.count == 0 {
            return [0.0; QUANTILES.len()];
        }
        if self.cached_for.iter().any(|&count| count != self.count) {
            let values: [u64; QUANTILES.len()] = match &self.hdr {
                Some(hdr) => self.index.values_at_quantiles(hdr, QUANTILES),
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
            let value = self.hdr.as_ref().map_or(self.max_micros, |hdr| {
                let [value] = self.index.values_at_quantiles(hdr, [QUANTILES[P95]]);
                value
            });
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

/// The log2 of the number of HDR counters per block of a [`BlockIndex`].
const BLOCK_SHIFT: u32 = 4;

/// The number of HDR counters per block of a [`BlockIndex`].
pub(crate) const BLOCK_LEN: usize = 1 << BLOCK_SHIFT;

/// The sums of consecutive blocks of [`BLOCK_LEN`] counters of an auto-resizing HDR histogram
/// with a lowest discernible value of 1 (`Histogram::new`), kept beside it.
///
/// It maps values to counter indexes with the HDR layout that `hdrhistogram` uses: with `h` the
/// log2 of half the sub-bucket count (the smallest power of two at least `2 × 10^digits`),
/// bucket 0 holds the values below `2^(h+1)` one per counter, and each bucket `b > 0` holds
/// `2^h` counters of width `2^b`. Invariant: `blocks[i]` is the sum of the HDR counters
/// `i × BLOCK_LEN .. (i + 1) × BLOCK_LEN` (missing blocks are zero).
#[derive(Debug)]
struct BlockIndex {
    blocks: Vec<u64>,
    /// `h`: the log2 of half the sub-bucket count.
    half_magnitude: u32,
}

impl BlockIndex {
    fn new(significant_digits: u8) -> Self {
        // The smallest power of two at least `2 × 10^digits` (the HDR sub-bucket count); the
        // digits are at most 5 (the configuration checks it; `hdrhistogram` refuses more).
        let largest_unit_value = 2 * 10u64.pow(u32::from(significant_digits.min(5)));
        let sub_bucket_magnitude = largest_unit_value.next_power_of_two().trailing_zeros();
        BlockIndex {
            blocks: Vec::new(),
            half_magnitude: sub_bucket_magnitude.saturating_sub(1),
        }
    }

    /// The HDR counter index of `value` (`Histogram::index_for` with a unit magnitude of 0).
    fn counter_index(&self, value: u64) -> usize {
        let h = self.half_magnitude;
        let sub_bucket_mask = (1u64 << (h + 1)) - 1;
        // `value | mask` has at most `63 - h` leading zeros.
        let bucket = (64 - (h + 1)) - (value | sub_bucket_mask).leading_zeros();
        let sub_bucket = value >> bucket;
        // `sub_bucket >= 2^h` whenever `bucket > 0`, so the sum never goes below 0.
        let index = ((u64::from(bucket) + 1) << h) + sub_bucket - (1u64 << h);
        usize::try_from(index).unwrap_or(usize::MAX)
    }

    /// The lowest value counted by counter `index` (`Histogram::value_for`).
    fn value_for(&self, index: usize) -> u64 {
        let h = self.half_magnitude;
        let index = index as u64;
        let half = 1u64 << h;
        match (index >> h).checked_sub(1) {
            // The lower half of bucket 0: one value per counter.
            None => index,
            Some(bucket) => ((index & (half - 1)) + half) << bucket,
        }
    }

    fn record(&mut self, value: u64) {
        let block = self.counter_index(value) >> BLOCK_SHIFT;
        if block >= self.blocks.len() {
            self.blocks.resize(block + 1, 0);
        }
        self.blocks[block] += 1;
    }

    /// The values at `quantiles` (ascending, each in 0–1, none 0), exactly as
    /// `hdr.value_at_quantiles(quantiles)` computes them, in one walk over the block sums and
    /// at most one block of counters per quantile. `hdr` is the histogram this index follows.
    fn values_at_quantiles<const N: usize>(
        &self,
        hdr: &Histogram<u64>,
        quantiles: [f64; N],
    ) -> [u64; N] {
        let total = hdr.len();
        let mut values = [0; N];
        // The cumulative count before block `block`.
        let mut before = 0u64;
        let mut block = 0usize;
        for (slot, quantile) in values.iter_mut().zip(quantiles) {
            // As `hdrhistogram`: the first counter whose cumulative count reaches the target.
            let target = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
            while let Some(&sum) = self.blocks.get(block) {
                if before + sum >= target {
                    break;
                }
                before += sum;
                block += 1;
            }
            if block >= self.blocks.len() {
                // Only when the histogram is empty, which callers rule out.
                *slot = 0;
                continue;
            }
            let mut cumulative = before;
            let first = block << BLOCK_SHIFT;
            // The block's counters that exist (`count_at` beyond the last one would read the
            // last one again).
            let end = (first + BLOCK_LEN).min(hdr.distinct_values());
            let mut found = end.saturating_sub(1);
            for index in first..end {
                cumulative += hdr.count_at(self.value_for(index));
                if cumulative >= target {
                    found = index;
                    break;
                }
            }
            *slot = hdr.highest_equivalent(self.value_for(found));
        }
        values
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

    /// The block index's percentiles against `hdrhistogram`'s own scan.
    fn assert_same_quantiles(digits: u8, values: &[u64]) {
        let mut h = TimeHistogram::new(digits);
        for &value in values {
            h.record(value);
        }
        let Some(hdr) = &h.hdr else {
            panic!("an HDR histogram of {digits} digits");
        };
        let quantiles = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];
        let expected: Vec<u64> = hdr.value_at_quantiles(quantiles).collect();
        assert_eq!(
            h.index.values_at_quantiles(hdr, quantiles).to_vec(),
            expected,
            "{digits} digits, {} values",
            values.len()
        );
        for quantile in quantiles {
            assert_eq!(
                h.index.values_at_quantiles(hdr, [quantile]),
                [hdr.value_at_quantile(quantile)],
                "quantile {quantile}"
            );
        }
        let blocks: u64 = h.index.blocks.iter().sum();
        assert_eq!(blocks, hdr.len(), "the blocks count every value once");
        assert!(h.index.blocks.len() * BLOCK_LEN <= hdr.distinct_values() + BLOCK_LEN);
    }

    #[test]
    fn block_index_matches_hdrhistogram_on_edges() {
        for digits in 1..=5 {
            let index = BlockIndex::new(digits);
            for value in [0, 1, 2, 127, 128, 255, 256, 2047, 2048, 4095, 4096, 1 << 40] {
                let hdr = Histogram::<u64>::new(digits).unwrap_or_else(|_| unreachable!());
                assert_eq!(
                    hdr.lowest_equivalent(index.value_for(index.counter_index(value))),
                    hdr.lowest_equivalent(value),
                    "{digits} digits, value {value}"
                );
            }
            assert_same_quantiles(digits, &[0]);
            assert_same_quantiles(digits, &[MAX_RECORDED_MICROS]);
            assert_same_quantiles(digits, &[1, 2, 3, 5_000, 5_001, 3_000_000, u64::MAX]);
        }
    }

    proptest::proptest! {
        // Five-digit histograms of large values are big in a debug build: fewer cases.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn block_index_matches_hdrhistogram(
            digits in 1u8..=5,
            values in proptest::collection::vec(
                proptest::prop_oneof![0u64..300, 0u64..100_000, 0u64..10_000_000_000, proptest::num::u64::ANY],
                1..300,
            ),
        ) {
            assert_same_quantiles(digits, &values);
        }
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
