//! Things held until a time (a reply held for `serve --delay`, a frame held
//! by the lab's link shaper): the earliest first, and among equal times the
//! first pushed first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

struct Entry<T> {
    due: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

pub struct DueQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
}

impl<T> Default for DueQueue<T> {
    fn default() -> Self {
        DueQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> DueQueue<T> {
    pub fn push(&mut self, due: Instant, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            due,
            seq: self.seq,
            item,
        }));
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// When the earliest item is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.due)
    }

    /// The earliest item, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_due()? <= now {
            self.heap.pop().map(|Reverse(e)| e.item)
        } else {
            None
        }
    }

    /// The earliest item, due or not.
    pub fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse(e)| e.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_then_first_pushed() {
        let t = Instant::now();
        let mut q = DueQueue::default();
        q.push(t + Duration::from_millis(5), "late");
        q.push(t, "a");
        q.push(t, "b");
        assert_eq!(q.next_due(), Some(t));
        assert_eq!(q.pop_due(t), Some("a"));
        assert_eq!(q.pop_due(t), Some("b"));
        assert_eq!(q.pop_due(t), None, "not due yet");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some("late"));
        assert!(q.is_empty());
    }
}
