//! [`TagTable`]: the bounded set of tags that get their own row, and the `other` row.

use hashbrown::HashMap;
use std::sync::Arc;

use super::group::GroupStats;

/// The name of the row that collects the tags seen after the table was full.
pub(crate) const OTHER_TAG: &str = "other";

/// Where a tag's figures go: its own row, or `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagSlot {
    /// A row of the table.
    Row(u32),
    /// The `other` row.
    Other,
}

/// A tag of a job: its name (shared with the table when it has a row) and its slot.
#[derive(Debug, Clone)]
pub(crate) struct TagRef {
    pub(crate) name: Arc<str>,
    pub(crate) slot: TagSlot,
}

/// One tag's row.
#[derive(Debug)]
pub(crate) struct TagRow {
    pub(crate) name: Arc<str>,
    pub(crate) stats: GroupStats,
}

/// At most `max` tags with a row each, then `other`.
#[derive(Debug)]
pub(crate) struct TagTable {
    index: HashMap<Arc<str>, u32>,
    pub(crate) rows: Vec<TagRow>,
    pub(crate) other: GroupStats,
    /// Whether a job's tag went to `other` (so that the row is shown).
    pub(crate) other_used: bool,
    /// Tag occurrences folded into `other` because the table was full.
    pub(crate) overflowed: u64,
    max: usize,
    significant_digits: u8,
}

impl TagTable {
    pub(crate) fn new(max: usize, significant_digits: u8) -> Self {
        TagTable {
            index: HashMap::new(),
            rows: Vec::new(),
            other: GroupStats::new(significant_digits),
            other_used: false,
            overflowed: 0,
            max,
            significant_digits,
        }
    }

    /// The slot of `tag`, giving it a row if there is room. A tag named `other` shares the
    /// `other` row.
    pub(crate) fn resolve(&mut self, tag: &str) -> TagRef {
        if let Some((name, &row)) = self.index.get_key_value(tag) {
            return TagRef {
                name: Arc::clone(name),
                slot: TagSlot::Row(row),
            };
        }
        let name: Arc<str> = Arc::from(tag);
        if tag == OTHER_TAG {
            self.other_used = true;
            return TagRef {
                name,
                slot: TagSlot::Other,
            };
        }
        match u32::try_from(self.rows.len()) {
            Ok(row) if self.rows.len() < self.max => {
                self.index.insert(Arc::clone(&name), row);
                self.rows.push(TagRow {
                    name: Arc::clone(&name),
                    stats: GroupStats::new(self.significant_digits),
                });
                TagRef {
                    name,
                    slot: TagSlot::Row(row),
                }
            }
            _ => {
                self.overflowed += 1;
                self.other_used = true;
                TagRef {
                    name,
                    slot: TagSlot::Other,
                }
            }
        }
    }

    /// The figures of a slot. A row that no longer exists (the table was cleared since the
    /// slot was resolved; callers re-resolve after a reset) falls back to `other`.
    pub(crate) fn stats_mut(&mut self, slot: TagSlot) -> &mut GroupStats {
        match slot {
            TagSlot::Row(row) => match self.rows.get_mut(row as usize) {
                Some(row) => &mut row.stats,
                None => &mut self.other,
            },
            TagSlot::Other => &mut self.other,
        }
    }

    /// The row of `tag`, if it has one.
    pub(crate) fn row(&self, tag: &str) -> Option<&TagRow> {
        let &row = self.index.get(tag)?;
        self.rows.get(row as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn clear(&mut self) {
        *self = TagTable::new(self.max, self.significant_digits);
    }

    pub(crate) fn histogram_counters(&self) -> usize {
        self.rows
            .iter()
            .map(|row| row.stats.histogram_counters())
            .sum::<usize>()
            + self.other.histogram_counters()
    }
}

/// Calls `f` once per distinct slot of `tags` (a job tagged twice alike, or with two tags
/// folded into `other`, counts once per row).
pub(crate) fn for_each_distinct_slot(tags: &[TagRef], mut f: impl FnMut(TagSlot)) {
    for (i, tag) in tags.iter().enumerate() {
        if tags[..i].iter().all(|earlier| earlier.slot != tag.slot) {
            f(tag.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_until_full_then_other() {
        let mut table = TagTable::new(2, 2);
        assert_eq!(table.resolve("a").slot, TagSlot::Row(0));
        assert_eq!(table.resolve("b").slot, TagSlot::Row(1));
        assert_eq!(table.resolve("a").slot, TagSlot::Row(0));
        assert_eq!(table.resolve("c").slot, TagSlot::Other);
        assert_eq!(table.resolve("d").slot, TagSlot::Other);
        assert_eq!(table.overflowed, 2);
        assert_eq!(table.resolve(OTHER_TAG).slot, TagSlot::Other);
        assert_eq!(table.overflowed, 2, "the tag `other` is not an overflow");
        assert_eq!(table.len(), 2);
        table.stats_mut(TagSlot::Row(7)).started += 1;
        assert_eq!(table.other.started, 1);
        table.clear();
        assert_eq!(table.len(), 0);
        assert_eq!(table.overflowed, 0);
        assert!(!table.other_used);
    }

    #[test]
    fn distinct_slots() {
        let mut table = TagTable::new(1, 2);
        let tags: Vec<TagRef> = ["a", "a", "x", "y"]
            .iter()
            .map(|t| table.resolve(t))
            .collect();
        let mut slots = Vec::new();
        for_each_distinct_slot(&tags, |slot| slots.push(slot));
        assert_eq!(slots, [TagSlot::Row(0), TagSlot::Other]);
    }
}
