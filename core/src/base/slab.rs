//! A slab: values in a vector, named by their slot, freed slots reused. The request socks and
//! TIME_WAIT entries live in one each.

use std::marker::PhantomData;

/// A typed slot number.
pub trait SlabKey: Copy {
    /// The key of slot `i`.
    fn from_index(i: u32) -> Self;
    /// The slot.
    fn index(self) -> u32;
}

/// Values of type `T` named by keys of type `K`.
#[derive(Debug)]
pub struct Slab<K, T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    key: PhantomData<K>,
}

impl<K, T> Default for Slab<K, T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            key: PhantomData,
        }
    }
}

impl<K: SlabKey, T> Slab<K, T> {
    /// Stores a value in a free slot.
    pub fn insert(&mut self, value: T) -> K {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(value);
            return K::from_index(i);
        }
        self.slots.push(Some(value));
        K::from_index(self.slots.len() as u32 - 1)
    }

    /// The value behind `key`.
    pub fn get(&self, key: K) -> Option<&T> {
        self.slots.get(key.index() as usize)?.as_ref()
    }

    /// The value behind `key`, mutable.
    pub fn get_mut(&mut self, key: K) -> Option<&mut T> {
        self.slots.get_mut(key.index() as usize)?.as_mut()
    }

    /// Every value stored, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Takes the value out and frees its slot.
    pub fn remove(&mut self, key: K) -> Option<T> {
        let value = self.slots.get_mut(key.index() as usize)?.take()?;
        self.free.push(key.index());
        Some(value)
    }
}
