//! The recent-events index behind `/helpdesk` lookups by event id: the last N events
//! a person may be shown the id of (blocked, refused, auth_failed, error, advised and
//! reported; not allowed traffic or RADIUS and configuration events), as written
//! (after `[privacy]`), in a bounded ring. The oldest goes first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::events::{Action, Event};

/// The longest `url.original` kept with an indexed event, in bytes.
pub const URL_BYTES: usize = 512;

/// Recent events by id, at most `capacity` (given at each insert, so a reload that
/// changes `helpdesk_recent_events` applies to the next event).
#[derive(Debug, Default)]
pub struct Recent {
    ring: Mutex<Ring>,
    /// `ring.order.len()`, readable without the lock.
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Ring {
    by_id: HashMap<u128, Arc<Event>>,
    order: VecDeque<u128>,
}

impl Recent {
    /// True for the actions the index keeps.
    pub fn keeps(action: Action) -> bool {
        matches!(
            action,
            Action::Blocked | Action::Refused | Action::AuthFailed | Action::Error | Action::Advised | Action::Reported
        )
    }

    /// Keeps `event` when its action is one the index keeps, then drops the oldest
    /// beyond `capacity` (0 empties the index). Events it does not keep cost one
    /// atomic load: no lock, no copy.
    pub fn insert(&self, event: &Event, capacity: usize) {
        let id = (capacity > 0 && Recent::keeps(event.action))
            .then(|| parse_id(&event.id))
            .flatten();
        if id.is_none() && self.len.load(Ordering::Relaxed) <= capacity {
            return;
        }
        let kept = id.map(|id| {
            let mut kept = event.clone();
            if let Some(url) = &mut kept.url {
                truncate(url, URL_BYTES);
            }
            (id, Arc::new(kept))
        });
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((id, kept)) = kept {
            if ring.by_id.insert(id, kept).is_none() {
                ring.order.push_back(id);
            }
        }
        while ring.order.len() > capacity {
            if let Some(old) = ring.order.pop_front() {
                ring.by_id.remove(&old);
            }
        }
        if capacity == 0 && ring.order.capacity() > 0 {
            *ring = Ring::default();
        }
        self.len.store(ring.order.len(), Ordering::Relaxed);
    }

    /// The event with this id, when it is still kept. `id` is untrusted input.
    pub fn get(&self, id: &str) -> Option<Arc<Event>> {
        let id = parse_id(id)?;
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.by_id.get(&id).cloned()
    }

    /// Events kept now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An event id (a UUID in its hyphenated form, any case) as a number; `None` for
/// anything else.
pub fn parse_id(id: &str) -> Option<u128> {
    if id.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_u128())
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action) -> Event {
        Event::new(action, "192.0.2.1:4000".parse().unwrap())
    }

    #[test]
    fn keeps_what_a_person_may_be_shown_and_drops_the_oldest() {
        let r = Recent::default();
        let allowed = event(Action::Allowed);
        r.insert(&allowed, 3);
        assert!(r.get(&allowed.id).is_none(), "allowed traffic is not kept");
        let kept: Vec<_> = (0..5).map(|_| event(Action::Blocked)).collect();
        for e in &kept {
            r.insert(e, 3);
        }
        assert_eq!(r.len(), 3);
        assert!(r.get(&kept[0].id).is_none());
        assert!(r.get(&kept[1].id).is_none());
        for e in &kept[2..] {
            assert_eq!(r.get(&e.id).unwrap().id, e.id);
            assert_eq!(
                r.get(&e.id.to_uppercase()).unwrap().id,
                e.id,
                "ids are read in any case"
            );
        }
        // A smaller capacity applies at the next insert; 0 empties.
        r.insert(&event(Action::Refused), 1);
        assert_eq!(r.len(), 1);
        r.insert(&event(Action::Refused), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_ids_find_nothing_and_long_urls_are_cut() {
        let r = Recent::default();
        let mut e = event(Action::Blocked);
        e.url = Some(format!("http://x/{}", "é".repeat(400)));
        r.insert(&e, 10);
        let got = r.get(&e.id).unwrap();
        let url = got.url.as_deref().unwrap();
        assert!(url.len() <= URL_BYTES && url.starts_with("http://x/é"));
        for bad in ["", "<script>", "0", &"a".repeat(36), &"0".repeat(10_000), "{e.id}"] {
            assert!(r.get(bad).is_none(), "{bad:?}");
        }
        let braced = format!("{{{}}}", e.id);
        assert!(r.get(&braced).is_none(), "only the hyphenated form");
    }
}
