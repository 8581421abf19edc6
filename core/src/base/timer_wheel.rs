//! The timer wheel: the one place timers live.
//!
//! A hierarchical wheel in the manner of Linux's `kernel/time/timer.c` and Varghese & Lauck:
//! eight levels of 64 slots over ticks of 2^20 ns (≈1.05 ms), so that 48 bits of ticks cover
//! every [`Instant`] and no timer ever overflows the wheel. Arm and cancel are O(1): entries
//! live in a slab and each slot is an intrusive doubly linked list. An entry cascades to a
//! finer level when its slot comes up; when it reaches level 0 and its tick is due, it moves
//! to a small heap ordered by `(deadline, arm order)`, which gives an exact and deterministic
//! firing order: deadlines are kept to the nanosecond, and timers with equal deadlines fire
//! in the order they were armed.

use crate::base::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const TICK_SHIFT: u32 = 20;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 8;
const NIL: u32 = u32::MAX;

/// Names an armed timer, to cancel it. Stale ids (fired or cancelled) are recognised by their
/// generation and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    /// Never 0, so that an `Option<TimerId>` takes no more room than the id.
    generation: std::num::NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Free { next_free: u32 },
    Wheel { level: u8, slot: u8 },
    Ready,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: Instant,
    seq: u64,
    generation: u32,
    place: Place,
    prev: u32,
    next: u32,
    value: Option<T>,
}

#[derive(Debug)]
struct Level {
    occupied: u64,
    heads: [u32; SLOTS],
}

/// A hierarchical timer wheel holding values of type `T` (for the stack: which socket and
/// which of its timers).
#[derive(Debug)]
pub struct TimerWheel<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    levels: Box<[Level; LEVELS]>,
    /// First tick not yet moved out of the wheel.
    elapsed: u64,
    /// Entries whose tick has come, by `(deadline, seq, index)`.
    ready: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    next_seq: u64,
    len: usize,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn tick_of(t: Instant) -> u64 {
    t.as_nanos() >> TICK_SHIFT
}

impl<T> TimerWheel<T> {
    /// An empty wheel.
    pub fn new() -> Self {
        TimerWheel {
            entries: Vec::new(),
            free_head: NIL,
            levels: Box::new(std::array::from_fn(|_| Level {
                occupied: 0,
                heads: [NIL; SLOTS],
            })),
            elapsed: 0,
            ready: BinaryHeap::new(),
            next_seq: 0,
            len: 0,
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer that fires at `deadline` (at once on the next poll if already past).
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let index = if self.free_head != NIL {
            let i = self.free_head;
            let e = &mut self.entries[i as usize];
            let Place::Free { next_free } = e.place else {
                unreachable!("free list holds a live entry")
            };
            self.free_head = next_free;
            e.deadline = deadline;
            e.seq = seq;
            e.value = Some(value);
            i
        } else {
            let i = u32::try_from(self.entries.len()).expect("more than 2^32 timers");
            self.entries.push(Entry {
                deadline,
                seq,
                generation: 1,
                place: Place::Ready,
                prev: NIL,
                next: NIL,
                value: Some(value),
            });
            i
        };
        self.len += 1;
        self.place(index);
        TimerId {
            index,
            generation: std::num::NonZeroU32::new(self.entries[index as usize].generation).expect("generations skip 0"),
        }
    }

    /// Disarms a timer and returns its value; `None` if it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let e = self.entries.get(id.index as usize)?;
        if e.generation != id.generation.get() {
            return None;
        }
        match e.place {
            Place::Free { .. } => return None,
            Place::Wheel { level, slot } => self.unlink(id.index, level, slot),
            Place::Ready => {} // its heap record goes stale: the seq no longer matches
        }
        Some(self.release(id.index))
    }

    /// The deadline of a timer still armed.
    pub fn deadline(&self, id: TimerId) -> Option<Instant> {
        let e = self.entries.get(id.index as usize)?;
        (e.generation == id.generation.get() && !matches!(e.place, Place::Free { .. })).then_some(e.deadline)
    }

    /// When the driver should next call [`TimerWheel::poll_expired`]: the exact earliest
    /// deadline when it is within the current level-0 span, otherwise the start of the
    /// coarser slot that must cascade first (never later than the earliest deadline).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_ready();
        let ready = self.ready.peek().map(|Reverse((d, _, _))| *d);
        // Every level's first slot counts: a coarser slot can start on the very tick of the
        // first level-0 slot and hold an earlier deadline.
        let wheel = (0..LEVELS)
            .filter_map(|level| {
                let (slot, start) = self.first_slot(level)?;
                Some(if level == 0 {
                    self.slot_min_deadline(slot)
                } else {
                    Instant::from_nanos(start << TICK_SHIFT)
                })
            })
            .min();
        match (ready, wheel) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Pops the next timer due at `now`, earliest deadline first, arm order among equals.
    pub fn poll_expired(&mut self, now: Instant) -> Option<(Instant, T)> {
        self.advance(now);
        self.drop_stale_ready();
        let &Reverse((deadline, _, index)) = self.ready.peek()?;
        if deadline > now {
            return None;
        }
        self.ready.pop();
        Some((deadline, self.release(index)))
    }

    fn drop_stale_ready(&mut self) {
        while let Some(&Reverse((_, seq, index))) = self.ready.peek() {
            let e = &self.entries[index as usize];
            if e.place == Place::Ready && e.seq == seq {
                break;
            }
            self.ready.pop();
        }
    }

    /// Moves every slot whose start is at or before `now`'s tick out of the wheel: level-0
    /// slots into the ready heap, coarser slots down the levels.
    fn advance(&mut self, now: Instant) {
        let target = tick_of(now);
        if target < self.elapsed {
            return;
        }
        while let Some((level, slot, start)) = self.next_slot() {
            if start > target {
                break;
            }
            self.elapsed = start;
            let lvl = &mut self.levels[level];
            let mut i = std::mem::replace(&mut lvl.heads[slot], NIL);
            lvl.occupied &= !(1u64 << slot);
            while i != NIL {
                let next = self.entries[i as usize].next;
                if level == 0 {
                    let e = &mut self.entries[i as usize];
                    e.place = Place::Ready;
                    self.ready.push(Reverse((e.deadline, e.seq, i)));
                } else {
                    self.place(i);
                }
                i = next;
            }
        }
        self.elapsed = target + 1;
    }

    /// The occupied slot with the earliest start, over all levels: `(level, slot, start tick)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for level in 0..LEVELS {
            let Some((slot, start)) = self.first_slot(level) else {
                continue;
            };
            if best.is_none_or(|(_, _, s)| start < s) {
                best = Some((level, slot, start));
            }
        }
        best
    }

    /// A level's first occupied slot at or after the wheel's position, with its start tick.
    fn first_slot(&self, level: usize) -> Option<(usize, u64)> {
        let lvl = &self.levels[level];
        if lvl.occupied == 0 {
            return None;
        }
        let shift = SLOT_BITS * level as u32;
        let current = ((self.elapsed >> shift) & (SLOTS as u64 - 1)) as u32;
        let ahead = lvl.occupied & (u64::MAX << current);
        debug_assert_eq!(ahead, lvl.occupied, "a slot behind the wheel's position");
        let slot = ahead.trailing_zeros() as usize;
        let block_bits = shift + SLOT_BITS;
        let block_start = if block_bits >= 64 {
            0
        } else {
            (self.elapsed >> block_bits) << block_bits
        };
        Some((slot, block_start + ((slot as u64) << shift)))
    }

    fn slot_min_deadline(&self, slot: usize) -> Instant {
        let mut i = self.levels[0].heads[slot];
        let mut min = Instant::MAX;
        while i != NIL {
            let e = &self.entries[i as usize];
            min = min.min(e.deadline);
            i = e.next;
        }
        min
    }

    /// Puts an entry where its tick belongs relative to `elapsed`.
    fn place(&mut self, index: u32) {
        let e = &mut self.entries[index as usize];
        let tick = tick_of(e.deadline);
        if tick < self.elapsed {
            e.place = Place::Ready;
            self.ready.push(Reverse((e.deadline, e.seq, index)));
            return;
        }
        let differing = (tick ^ self.elapsed) | (SLOTS as u64 - 1);
        let level = ((63 - differing.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((tick >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        let lvl = &mut self.levels[level];
        let head = lvl.heads[slot];
        e.place = Place::Wheel {
            level: level as u8,
            slot: slot as u8,
        };
        e.prev = NIL;
        e.next = head;
        lvl.heads[slot] = index;
        lvl.occupied |= 1u64 << slot;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
    }

    fn unlink(&mut self, index: u32, level: u8, slot: u8) {
        let (prev, next) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next)
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else {
            let lvl = &mut self.levels[usize::from(level)];
            lvl.heads[usize::from(slot)] = next;
            if next == NIL {
                lvl.occupied &= !(1u64 << slot);
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    fn release(&mut self, index: u32) -> T {
        let e = &mut self.entries[index as usize];
        e.generation = e.generation.wrapping_add(1).max(1);
        e.place = Place::Free {
            next_free: self.free_head,
        };
        self.free_head = index;
        self.len -= 1;
        e.value.take().expect("a live timer holds its value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the reference-model property test: a coarser slot starting on the tick of the
    /// first level-0 slot holds the earlier deadline.
    #[test]
    fn next_deadline_sees_a_coarser_slot_on_the_same_tick() {
        let mut w = TimerWheel::new();
        let mut now = Instant::from_nanos(3_958_088_716);
        w.poll_expired(now);
        let d1 = now + Duration::from_nanos(1_334_260);
        w.insert(d1, 1);
        now += Duration::from_nanos(820_338);
        assert!(w.poll_expired(now).is_none());
        w.insert(now + Duration::from_nanos(923_430), 2);
        assert!(w.next_deadline().unwrap() <= d1);
    }
    use crate::base::time::Duration;

    fn drain(w: &mut TimerWheel<u32>, now: Instant) -> Vec<(Instant, u32)> {
        std::iter::from_fn(|| w.poll_expired(now)).collect()
    }

    #[test]
    fn fires_in_deadline_order_then_arm_order() {
        let mut w = TimerWheel::new();
        w.insert(Instant::from_millis(30), 1);
        w.insert(Instant::from_millis(10), 2);
        w.insert(Instant::from_millis(10), 3);
        w.insert(Instant::from_nanos(10_000_001), 4);
        w.insert(Instant::from_secs(100), 5);
        assert_eq!(w.next_deadline(), Some(Instant::from_millis(10)));
        assert_eq!(drain(&mut w, Instant::from_millis(9)), vec![]);
        assert_eq!(
            drain(&mut w, Instant::from_millis(10)),
            vec![(Instant::from_millis(10), 2), (Instant::from_millis(10), 3)]
        );
        assert_eq!(w.next_deadline(), Some(Instant::from_nanos(10_000_001)));
        assert_eq!(
            drain(&mut w, Instant::from_secs(1)),
            vec![(Instant::from_nanos(10_000_001), 4), (Instant::from_millis(30), 1)]
        );
        assert_eq!(w.len(), 1);
        assert_eq!(
            drain(&mut w, Instant::from_secs(100)),
            vec![(Instant::from_secs(100), 5)]
        );
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn next_deadline_never_passes_the_earliest_timer() {
        let mut w = TimerWheel::new();
        let far = Instant::from_secs(3600) + Duration::from_nanos(123);
        w.insert(far, 7);
        let mut now = Instant::ZERO;
        let mut wakeups = 0;
        loop {
            let next = w.next_deadline().expect("armed");
            assert!(next <= far);
            now = now.max(next);
            wakeups += 1;
            if let Some((d, v)) = w.poll_expired(now) {
                assert_eq!((d, v, now), (far, 7, far), "fires at its exact deadline");
                break;
            }
        }
        assert!(wakeups <= LEVELS + 1, "one wake-up per level at most, got {wakeups}");
    }

    #[test]
    fn cancel_is_exact_and_stale_ids_are_ignored() {
        let mut w = TimerWheel::new();
        let a = w.insert(Instant::from_millis(5), 1);
        let b = w.insert(Instant::from_millis(5), 2);
        let c = w.insert(Instant::from_secs(10_000), 3);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(c), Some(3));
        assert_eq!(w.deadline(b), Some(Instant::from_millis(5)));
        // Reuse of a's slot must not let the stale id cancel the new timer.
        let d = w.insert(Instant::from_millis(6), 4);
        assert_eq!(w.cancel(a), None);
        assert_eq!(
            drain(&mut w, Instant::from_secs(1)),
            vec![(Instant::from_millis(5), 2), (Instant::from_millis(6), 4)]
        );
        assert_eq!(w.cancel(d), None);
        assert_eq!(w.cancel(b), None);
    }

    #[test]
    fn cancel_after_moving_to_ready_heap() {
        let mut w = TimerWheel::new();
        let a = w.insert(Instant::from_nanos(1_500_000), 1);
        w.insert(Instant::from_nanos(1_600_000), 2);
        // Polling at 1.4 ms moves the tick's entries to the ready heap without firing them.
        assert_eq!(w.poll_expired(Instant::from_nanos(1_400_000)), None);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(
            drain(&mut w, Instant::from_millis(2)),
            vec![(Instant::from_nanos(1_600_000), 2)]
        );
    }

    #[test]
    fn past_deadlines_fire_on_next_poll() {
        let mut w = TimerWheel::new();
        assert_eq!(w.poll_expired(Instant::from_secs(5)), None);
        w.insert(Instant::from_secs(1), 9);
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(1)));
        assert_eq!(w.poll_expired(Instant::from_secs(5)), Some((Instant::from_secs(1), 9)));
    }

    #[test]
    fn far_future_timers_up_to_instant_max() {
        let mut w = TimerWheel::new();
        let years = Instant::from_secs(400 * 365 * 86_400);
        w.insert(Instant::MAX, 1);
        w.insert(years, 2);
        w.insert(Instant::from_millis(1), 3);
        assert_eq!(drain(&mut w, Instant::from_secs(1)), vec![(Instant::from_millis(1), 3)]);
        assert_eq!(drain(&mut w, years - Duration::from_nanos(1)), vec![]);
        assert_eq!(drain(&mut w, years), vec![(years, 2)]);
        assert_eq!(w.next_deadline().map(|d| d <= Instant::MAX), Some(true));
        assert_eq!(drain(&mut w, Instant::MAX), vec![(Instant::MAX, 1)]);
    }
}
