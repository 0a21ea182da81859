//! [`EventFilter`]: which events a stream receives.

use crate::error::EventError;
use crate::event::Event;
use crate::event_type::{EventCategory, EventType};

const ALL_TYPES: u32 = (1 << EventType::COUNT) - 1;

/// The bit mask with bit `t.index()` set for every `t` in `types`.
fn mask_of(types: impl IntoIterator<Item = EventType>) -> u32 {
    types.into_iter().fold(0, |mask, t| mask | (1 << t.index()))
}

/// Selects events by type, job and worker; used by
/// [`EventEmitter::subscribe`](crate::EventEmitter::subscribe).
///
/// The default filter ([`EventFilter::all`]) matches every event. Each method narrows it: an
/// event matches when its type is one of the selected types **and** (if set) its `job_id` and
/// `worker_id` equal the given ones.
///
/// ```
/// use oa_events::{Event, EventFilter, EventType};
///
/// let filter = EventFilter::parse_types("job.failed, job.completed")?.job_id("job-1");
/// assert!(filter.matches(&Event::for_job(EventType::JobFailed, "job-1")));
/// assert!(!filter.matches(&Event::for_job(EventType::JobFailed, "job-2")));
/// assert!(!filter.matches(&Event::for_job(EventType::JobStarted, "job-1")));
/// # Ok::<(), oa_events::EventError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct EventFilter {
    /// Bit `t.index()` is set when type `t` is selected.
    types: u32,
    job_id: Option<String>,
    worker_id: Option<String>,
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter::all()
    }
}

impl EventFilter {
    /// Matches every event.
    pub fn all() -> Self {
        EventFilter {
            types: ALL_TYPES,
            job_id: None,
            worker_id: None,
        }
    }

    /// Matches only events whose type is in `types` (an empty list matches nothing).
    pub fn types(mut self, types: impl IntoIterator<Item = EventType>) -> Self {
        self.types = mask_of(types);
        self
    }

    /// Matches only events of the given category.
    pub fn category(mut self, category: EventCategory) -> Self {
        let selected = EventType::ALL
            .into_iter()
            .filter(|t| t.category() == category);
        self.types &= selected.fold(0, |mask, t| mask | (1 << t.index()));
        self
    }

    /// Parses a comma-separated list of wire names, as in `?types=job.failed,job.completed`.
    /// Blanks around names are ignored; an empty list (or only commas) matches every type.
    ///
    /// # Errors
    /// [`EventError::UnknownEventType`] for the first name that is not a wire name.
    pub fn parse_types(list: &str) -> Result<Self, EventError> {
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(EventFilter::all());
        }
        let types = names
            .into_iter()
            .map(str::parse)
            .collect::<Result<Vec<EventType>, _>>()?;
        Ok(EventFilter::all().types(types))
    }

    /// Matches only events about the job `job_id`.
    pub fn job_id(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// Matches only events about the worker `worker_id`.
    pub fn worker_id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = Some(worker_id.into());
        self
    }

    /// Whether events of type `event_type` can match (ignoring job and worker).
    #[must_use]
    pub fn matches_type(&self, event_type: EventType) -> bool {
        self.types & (1 << event_type.index()) != 0
    }

    /// The selected types, in [`EventType::ALL`] order.
    pub fn selected_types(&self) -> impl Iterator<Item = EventType> + '_ {
        EventType::ALL.into_iter().filter(|t| self.matches_type(*t))
    }

    /// Whether `event` passes the filter.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_type(event.event_type)
            && self
                .job_id
                .as_deref()
                .is_none_or(|id| event.job_id.as_deref() == Some(id))
            && self
                .worker_id
                .as_deref()
                .is_none_or(|id| event.worker_id.as_deref() == Some(id))
    }

    /// The bit mask of the selected types (bit `t.index()`).
    pub(crate) fn type_mask(&self) -> u32 {
        self.types
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_matches_everything() {
        let filter = EventFilter::all();
        for t in EventType::ALL {
            assert!(filter.matches(&Event::new(t)));
        }
        assert_eq!(filter.selected_types().count(), 17);
        assert_eq!(EventFilter::default(), filter);
    }

    #[test]
    fn types_and_category_narrow() {
        let filter = EventFilter::all().types([EventType::JobFailed, EventType::WorkerOffline]);
        let selected: Vec<_> = filter.selected_types().collect();
        assert_eq!(selected, [EventType::JobFailed, EventType::WorkerOffline]);
        let workers_only = filter.clone().category(EventCategory::Worker);
        assert_eq!(
            workers_only.selected_types().collect::<Vec<_>>(),
            [EventType::WorkerOffline]
        );
        assert_eq!(EventFilter::all().types([]).selected_types().count(), 0);
        let system = EventFilter::all().category(EventCategory::System);
        assert!(system.matches(&Event::new(EventType::SystemError)));
        assert!(!system.matches(&Event::new(EventType::JobCreated)));
    }

    #[test]
    fn parse_types_accepts_lists_and_rejects_unknown_names() {
        let filter = EventFilter::parse_types(" job.failed ,job.completed,").unwrap();
        assert_eq!(
            filter.selected_types().collect::<Vec<_>>(),
            [EventType::JobCompleted, EventType::JobFailed]
        );
        assert_eq!(EventFilter::parse_types("").unwrap(), EventFilter::all());
        assert_eq!(EventFilter::parse_types(" , ").unwrap(), EventFilter::all());
        assert_eq!(
            EventFilter::parse_types("job.failed,job.boom").unwrap_err(),
            EventError::UnknownEventType {
                name: "job.boom".into()
            }
        );
    }

    #[test]
    fn job_and_worker_ids_must_be_equal_when_set() {
        let filter = EventFilter::all().job_id("j1").worker_id("w1");
        let both = Event::for_job(EventType::JobStarted, "j1").with_worker_id("w1");
        assert!(filter.matches(&both));
        assert!(!filter.matches(&Event::for_job(EventType::JobStarted, "j1")));
        assert!(!filter.matches(&Event::for_worker(EventType::JobStarted, "w1")));
        assert!(!filter.matches(&both.clone().with_job_id("j2")));
    }
}
