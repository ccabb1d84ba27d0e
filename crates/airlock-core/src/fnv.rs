//! FNV-1a hashing for short string keys (tool names, limiter keys) looked up on every call,
//! where SipHash's DoS resistance buys nothing: the keys come from the server's tool list and
//! the operator's rules, and the maps holding them are bounded.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The FNV-1a hasher.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` with string keys hashed by FNV-1a.
pub type FnvMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;
