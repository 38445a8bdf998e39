//! A vector that keeps up to `N` items inline and moves them to the heap only beyond that.
//!
//! The checker clones a state for every successor it generates; the short vectors of the history
//! variables and the network then cost no allocation. It behaves as a `Vec` everywhere it can be
//! observed: equality, order and hashing are those of the slice of items, `Debug` prints a list,
//! and serde reads and writes a sequence, exactly as for a `Vec`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

/// A value for the unused inline slots (it is never observed).
pub trait Filler: Sized {
    const FILLER: Self;
}

impl<A: Filler, B: Filler> Filler for (A, B) {
    const FILLER: Self = (A::FILLER, B::FILLER);
}

impl<T> Filler for Option<T> {
    const FILLER: Self = None;
}

impl Filler for u8 {
    const FILLER: Self = 0;
}

pub struct InlineVec<T: Filler, const N: usize> {
    /// The number of items in `inline` while `heap` is `None`.
    len: usize,
    inline: [T; N],
    /// Every item, once there were more than `N`.
    heap: Option<Vec<T>>,
}

impl<T: Filler, const N: usize> InlineVec<T, N> {
    pub fn new() -> Self {
        InlineVec {
            len: 0,
            inline: std::array::from_fn(|_| T::FILLER),
            heap: None,
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match &self.heap {
            Some(v) => v,
            None => &self.inline[..self.len],
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.heap {
            Some(v) => v,
            None => &mut self.inline[..self.len],
        }
    }

    /// Moves the inline items to the heap.
    fn spill(&mut self) -> &mut Vec<T> {
        let mut v = Vec::with_capacity(2 * N + 1);
        v.extend(
            self.inline[..self.len]
                .iter_mut()
                .map(|slot| std::mem::replace(slot, T::FILLER)),
        );
        self.len = 0;
        self.heap.insert(v)
    }

    pub fn push(&mut self, item: T) {
        let at = self.as_slice().len();
        self.insert(at, item);
    }

    /// Inserts `item` at position `at`, shifting the later items up (as `Vec::insert`).
    pub fn insert(&mut self, at: usize, item: T) {
        if let Some(v) = &mut self.heap {
            v.insert(at, item);
        } else if self.len < N {
            let len = self.len;
            assert!(at <= len, "insertion index {at} past length {len}");
            self.inline[len] = item;
            self.inline[at..=len].rotate_right(1);
            self.len += 1;
        } else {
            self.spill().insert(at, item);
        }
    }

    /// Removes and returns the item at position `at` (as `Vec::remove`).
    pub fn remove(&mut self, at: usize) -> T {
        if let Some(v) = &mut self.heap {
            return v.remove(at);
        }
        let len = self.len;
        assert!(at < len, "removal index {at} past length {len}");
        self.inline[at..len].rotate_left(1);
        self.len -= 1;
        std::mem::replace(&mut self.inline[len - 1], T::FILLER)
    }
}

impl<T: Filler, const N: usize> Default for InlineVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Filler + Clone, const N: usize> Clone for InlineVec<T, N> {
    fn clone(&self) -> Self {
        InlineVec {
            len: self.len,
            inline: self.inline.clone(),
            heap: self.heap.clone(),
        }
    }
}

impl<T: Filler, const N: usize> Deref for InlineVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Filler, const N: usize> DerefMut for InlineVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Filler, const N: usize> From<Vec<T>> for InlineVec<T, N> {
    fn from(v: Vec<T>) -> Self {
        v.into_iter().collect()
    }
}

impl<T: Filler, const N: usize> FromIterator<T> for InlineVec<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = Self::new();
        for item in iter {
            out.push(item);
        }
        out
    }
}

impl<'a, T: Filler, const N: usize> IntoIterator for &'a InlineVec<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T: Filler, const N: usize> IntoIterator for &'a mut InlineVec<T, N> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: Filler + PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Filler + Eq, const N: usize> Eq for InlineVec<T, N> {}

impl<T: Filler + PartialOrd, const N: usize> PartialOrd for InlineVec<T, N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.as_slice().partial_cmp(other.as_slice())
    }
}

impl<T: Filler + Ord, const N: usize> Ord for InlineVec<T, N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl<T: Filler + Hash, const N: usize> Hash for InlineVec<T, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl<T: Filler + fmt::Debug, const N: usize> fmt::Debug for InlineVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Filler + Serialize, const N: usize> Serialize for InlineVec<T, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl<'de, T: Filler + Deserialize<'de>, const N: usize> Deserialize<'de> for InlineVec<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::InlineVec;

    /// Every operation agrees with `Vec`, inline and past the inline capacity.
    #[test]
    fn behaves_like_a_vec() {
        let mut a: InlineVec<u8, 3> = InlineVec::new();
        let mut b: Vec<u8> = Vec::new();
        let ops: [(u8, usize, u8); 12] = [
            (0, 0, 5),
            (0, 0, 3),
            (0, 1, 4),
            (1, 1, 0),
            (0, 2, 9),
            (0, 0, 1),
            (0, 4, 7),
            (1, 0, 0),
            (0, 1, 2),
            (1, 4, 0),
            (1, 0, 0),
            (0, 3, 8),
        ];
        for (op, at, x) in ops {
            if op == 0 {
                a.insert(at, x);
                b.insert(at, x);
            } else {
                assert_eq!(a.remove(at), b.remove(at));
            }
            assert_eq!(a.as_slice(), b.as_slice());
            assert_eq!(a.clone(), InlineVec::from(b.clone()));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                serde_json::to_string(&b).unwrap()
            );
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        let back: InlineVec<u8, 3> = serde_json::from_str("[1,2,3,4]").unwrap();
        assert_eq!(back.as_slice(), &[1, 2, 3, 4]);
    }
}
