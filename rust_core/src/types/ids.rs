//! Short identifiers stored inline (`Copy`, no heap): symbols, venues, trade ids, strategy
//! and client order ids.
//!
//! Equality, ordering and hashing are those of the text (`ShortStr: Borrow<str>`), so a map
//! keyed by an id can be looked up with a `&str` too. Maps on the hot path use [`IdMap`]: a
//! hash map with a small multiplicative hasher (no SipHash, no string comparison beyond one
//! fixed-size equality check).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::error::{CoreError, CoreResult};

/// An ASCII string of at most `N` printable, non-space characters, stored inline.
///
/// Unused bytes are always zero, so the derived equality of the whole array is the
/// equality of the text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> ShortStr<N> {
    /// Validates and stores `text`; `field` names it in errors.
    pub fn new(field: &'static str, text: &str) -> CoreResult<Self> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > N || N > u8::MAX as usize {
            return Err(CoreError::invalid(
                field,
                format!("{text:?} must be 1 to {N} characters"),
            ));
        }
        if !b.iter().all(u8::is_ascii_graphic) {
            return Err(CoreError::invalid(
                field,
                format!("{text:?} must be printable ASCII without spaces"),
            ));
        }
        let mut bytes = [0_u8; N];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// `<prefix>-<n>` (e.g. a strategy's `n`-th order id), written in place: the prefix is
    /// an id already checked and the digits are printable, so the text is not formatted
    /// and re-validated (what `new(&format!(..))` cost on every order).
    ///
    /// # Errors
    /// `InvalidInput` (naming `field`) when the text is longer than `N`.
    pub fn numbered<const M: usize>(
        field: &'static str,
        prefix: &ShortStr<M>,
        n: u64,
    ) -> CoreResult<Self> {
        let mut digits = [0_u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            // `rest % 10` is a digit: the cast keeps it.
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let p = usize::from(prefix.len);
        let len = p + 1 + (digits.len() - at);
        if len > N || N > u8::MAX as usize {
            return Err(CoreError::invalid(
                field,
                format!("\"{}-{n}\" must be 1 to {N} characters", prefix.as_str()),
            ));
        }
        let mut bytes = [0_u8; N];
        bytes[..p].copy_from_slice(&prefix.bytes[..p]);
        bytes[p] = b'-';
        bytes[p + 1..len].copy_from_slice(&digits[at..]);
        Ok(Self {
            len: len as u8,
            bytes,
        })
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Display for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> Hash for ShortStr<N> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly what `str` feeds a hasher (its bytes, then 0xff), so that `Borrow<str>`
        // lookups agree; without re-checking the UTF-8 on every hash.
        state.write(&self.bytes[..usize::from(self.len)]);
        state.write_u8(0xff);
    }
}

impl<const N: usize> Ord for ShortStr<N> {
    /// The order of the text. Unused bytes are zero and used ones are not, so comparing the
    /// whole arrays eight bytes at a time (big-endian) gives exactly the text's order.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.bytes, &other.bytes);
        let mut i = 0;
        while i < N {
            let x = u64::from_be_bytes(chunk(a, i));
            let y = u64::from_be_bytes(chunk(b, i));
            if x != y {
                return x.cmp(&y);
            }
            i += 8;
        }
        Ordering::Equal
    }
}

/// Eight bytes from `i` (zero-padded past the end).
#[inline]
fn chunk<const N: usize>(a: &[u8; N], i: usize) -> [u8; 8] {
    let mut out = [0_u8; 8];
    let end = (i + 8).min(N);
    out[..end - i].copy_from_slice(&a[i..end]);
    out
}

impl<const N: usize> PartialOrd for ShortStr<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Borrow<str> for ShortStr<N> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for ShortStr<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> PartialEq<str> for ShortStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for ShortStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> From<ShortStr<N>> for String {
    fn from(s: ShortStr<N>) -> Self {
        s.as_str().to_owned()
    }
}

/// A small, fast hasher for the engine's id and index maps (FxHash's multiply-rotate):
/// not DoS-resistant, which the engine's own keys do not need.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0_u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0_u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed by ids or small integers, hashed with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Ids numbered densely in insertion order (0, 1, ...), for tables kept in a `Vec`. While
/// there are few, a lookup scans the ids (one fixed-size comparison each, cheaper than
/// hashing); beyond that it uses an [`IdMap`]. Ids are never removed.
#[derive(Debug, Clone)]
pub struct IdIndex<K> {
    keys: Vec<K>,
    map: IdMap<K, usize>,
}

impl<K> Default for IdIndex<K> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            map: IdMap::default(),
        }
    }
}

impl<K: Copy + Eq + Hash> IdIndex<K> {
    /// Up to this many ids a lookup is a scan.
    const SCAN: usize = 8;

    /// The number of `key`, if known.
    #[inline]
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        if self.keys.len() <= Self::SCAN {
            self.keys.iter().position(|k| k.borrow() == key)
        } else {
            self.map.get(key).copied()
        }
    }

    /// The number of `key`, given the next one if it is new (`true` when it was).
    pub fn insert(&mut self, key: K) -> (usize, bool) {
        if let Some(i) = self.get(&key) {
            return (i, false);
        }
        let i = self.keys.len();
        self.keys.push(key);
        self.map.insert(key, i);
        (i, true)
    }

    /// The ids in number order.
    #[must_use]
    pub fn keys(&self) -> &[K] {
        &self.keys
    }
}

/// A ticker, e.g. `AAPL`, `BTC/USD`, `ESZ6` (at most 23 characters).
pub type Symbol = ShortStr<23>;
/// A venue, e.g. `XNAS`, `ALPACA`, `SIM` (at most 23 characters).
pub type Venue = ShortStr<23>;
/// A venue's trade id (at most 39 characters, so UUIDs fit).
pub type TradeId = ShortStr<39>;
/// A strategy's id, e.g. `sma_crossover` (at most 47 characters).
pub type StrategyId = ShortStr<47>;
/// A client order id, e.g. `sma_crossover-12` (at most 63 characters: a strategy id of
/// the longest kind, `-` and a 15-digit order count fit).
pub type ClientOrderId = ShortStr<63>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_length_and_characters() {
        assert_eq!(
            Symbol::new("symbol", "BTC/USD").unwrap().as_str(),
            "BTC/USD"
        );
        assert!(Symbol::new("symbol", "").is_err());
        let e = Symbol::new("symbol", "A B").unwrap_err();
        assert!(e.to_string().starts_with("invalid symbol"));
        assert!(Symbol::new("symbol", &"X".repeat(24)).is_err());
        assert!(TradeId::new("trade_id", "0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert_eq!(std::mem::size_of::<Symbol>(), 24);
    }

    #[test]
    fn strategy_and_order_ids_refuse_long_or_spaced_text() {
        assert!(StrategyId::new("strategy_id", &"s".repeat(47)).is_ok());
        let e = StrategyId::new("strategy_id", &"s".repeat(48)).unwrap_err();
        assert!(matches!(
            e,
            CoreError::InvalidInput {
                field: "strategy_id",
                ..
            }
        ));
        assert!(e.to_string().contains("1 to 47 characters"), "{e}");
        let e = ClientOrderId::new("client_order_id", "my order").unwrap_err();
        assert!(e.to_string().contains("without spaces"), "{e}");
        assert!(ClientOrderId::new("client_order_id", &"o".repeat(64)).is_err());
        // The longest strategy id with a 15-digit order count still makes an order id.
        let longest = format!("{}-{}", "s".repeat(47), 999_999_999_999_999_u64);
        assert!(ClientOrderId::new("client_order_id", &longest).is_ok());
    }

    #[test]
    fn numbered_ids_are_the_formatted_text() {
        for sid in ["s", "sma_crossover", &"s".repeat(47)] {
            let prefix = StrategyId::new("strategy_id", sid).unwrap();
            for n in [0, 1, 9, 10, 99, 100, 12_345, 999_999_999_999_999] {
                let text = format!("{sid}-{n}");
                assert_eq!(
                    ClientOrderId::numbered("client_order_id", &prefix, n).unwrap(),
                    ClientOrderId::new("client_order_id", &text).unwrap(),
                    "{text}"
                );
            }
        }
        // Past 63 characters: refused as `new` refuses the text, naming it.
        let prefix = StrategyId::new("strategy_id", &"s".repeat(47)).unwrap();
        let e = ClientOrderId::numbered("client_order_id", &prefix, 10_u64.pow(15)).unwrap_err();
        assert!(e.to_string().contains("1 to 63 characters"), "{e}");
        assert!(ClientOrderId::new(
            "client_order_id",
            &format!("{}-{}", "s".repeat(47), 10_u64.pow(15))
        )
        .is_err());
        let short = StrategyId::new("strategy_id", "s").unwrap();
        assert_eq!(
            ClientOrderId::numbered("client_order_id", &short, u64::MAX)
                .unwrap()
                .as_str(),
            format!("s-{}", u64::MAX)
        );
    }

    #[test]
    fn order_hash_and_borrow_follow_the_text() {
        use std::collections::BTreeMap;
        let words = [
            "SPY",
            "AAPL",
            "AAPLX",
            "A",
            "BTC/USD",
            "ZZZZZZZZZZZZZZZZZZZZZZZ",
            "AB",
        ];
        for a in words {
            for b in words {
                let (x, y) = (Symbol::new("s", a).unwrap(), Symbol::new("s", b).unwrap());
                assert_eq!(x.cmp(&y), a.cmp(b), "{a} vs {b}");
            }
        }
        let mut m = BTreeMap::new();
        m.insert(Symbol::new("s", "AAPL").unwrap(), 1);
        assert_eq!(m.get("AAPL"), Some(&1));
        let mut h: IdMap<Symbol, i32> = IdMap::default();
        h.insert(Symbol::new("s", "MSFT").unwrap(), 2);
        assert_eq!(h.get("MSFT"), Some(&2));
        assert_eq!(h.get(&Symbol::new("s", "MSFT").unwrap()), Some(&2));
        // Scanned while small, hashed beyond: the same numbers either way.
        let mut ix = IdIndex::default();
        for n in 0..20 {
            let s = Symbol::new("s", &format!("S{n}")).unwrap();
            assert_eq!(ix.insert(s), (n, true));
            assert_eq!(ix.insert(s), (n, false));
        }
        assert_eq!(ix.get("S3"), Some(3));
        assert_eq!(ix.get(&Symbol::new("s", "S19").unwrap()), Some(19));
        assert_eq!(ix.get("nope"), None);
        let mut std_map = std::collections::HashMap::new();
        std_map.insert(ClientOrderId::new("c", "sma-12").unwrap(), 3);
        assert_eq!(std_map.get("sma-12"), Some(&3));
    }
}
