//! Where to look. Each class of detectors is searched only where its matches can be: from each
//! place one of its keywords or literals starts, or a long token with one of its two-byte
//! beginnings, or each word boundary in the 64 bytes of local part before an `@` (an anchored
//! search, which stops as soon as the pattern cannot go on), or inside the regions around a run
//! of digits, capitals before a digit, or colons between hex digits. Finding those is a pass of
//! cheap byte tests (masks of 64 bytes at a time, `memchr`, Teddy over literals), so the
//! automata read a small part of the text and no region is read twice.
//!
//! Every finder is *complete* for its detectors: any match of one of them starts at one of the
//! places, or lies wholly inside one region (the argument is on each finder, and
//! `tests/engines.rs` checks it against one automaton over the whole text). Regions come out
//! sorted and disjoint.

use aho_corasick::AhoCorasick;
use regex_syntax::hir::literal::Extractor;
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use wide::{CmpEq, CmpLt, i8x16};

/// How far before an `@` a match may start (a local part is at most 64 bytes).
const LOCAL: usize = 64;

/// Sorted, disjoint `start..end` byte ranges.
#[derive(Debug, Default)]
pub struct Regions(pub Vec<(usize, usize)>);

impl Regions {
    /// Add `start..end`, merged with the last region where they touch (starts come in order,
    /// or at least not before the last region's start).
    fn push(&mut self, start: usize, end: usize) {
        match self.0.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => self.0.push((start, end)),
        }
    }
}

/// Every position where one of `literals` starts (exact case), in order, with which one (its
/// index). Overlapping places too (`SKSK`): each search starts one byte after the last place.
/// No literal starts with another (the class keeps the shorter one), so at most one starts at
/// a place.
pub fn literal_starts(text: &[u8], literals: &Anchors) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((at, k)) = literals.find(text, from) {
        out.push((at, k));
        from = at + 1;
    }
    out
}

/// The longest keyword is shorter than this, so a keyword split by a chunk's end is found
/// whole in the overlap.
const OVERLAP: usize = 32;
const CHUNK: usize = 16 << 10;

/// A finder of a class's literals or keywords, leftmost-first: Teddy's packed search straight,
/// where the CPU has SSSE3 or AVX2; else an Aho-Corasick automaton. Both report the same
/// match: the leftmost, and at one place the one listed first. One pass finds them all.
pub enum Anchors {
    /// Teddy's packed search.
    Packed(aho_corasick::packed::Searcher),
    /// The Aho-Corasick automaton.
    Automaton(AhoCorasick),
}

impl Anchors {
    /// A finder of `keywords`.
    pub fn new(keywords: &[&str]) -> Result<Anchors, aho_corasick::BuildError> {
        // More than 8 (the keywords): fat Teddy (AVX2; 16 buckets for the fingerprints, not
        // 8) lets fewer false candidates through. The keywords are short and common (`key`,
        // `api`, `pass`), and measured on the diverse text it is the faster of the two. With 8
        // or fewer each has a bucket of its own, and slim Teddy reads twice the bytes a step.
        // Slim Teddy where the CPU has SSSE3 only.
        let packed = |fat: Option<bool>| {
            aho_corasick::packed::Config::new()
                .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                .only_teddy_fat(fat)
                .builder()
                .extend(keywords)
                .build()
        };
        let packed = match keywords.len() > 8 {
            true => packed(Some(true)).or_else(|| packed(None)),
            false => packed(None),
        };
        match packed {
            Some(p) => Ok(Anchors::Packed(p)),
            None => Anchors::automaton(keywords),
        }
    }

    /// The Aho-Corasick automaton of `keywords`, where no packed searcher is built (a CPU
    /// without SSSE3).
    fn automaton(keywords: &[&str]) -> Result<Anchors, aho_corasick::BuildError> {
        AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(keywords)
            .map(Anchors::Automaton)
    }

    /// The first keyword starting at or after `from` in `haystack`: where, and which.
    fn find(&self, haystack: &[u8], from: usize) -> Option<(usize, usize)> {
        let span = aho_corasick::Span::from(from..haystack.len());
        let m = match self {
            Anchors::Packed(packed) => packed.find_in(haystack, span),
            Anchors::Automaton(ac) => ac.find(aho_corasick::Input::new(haystack).span(span)),
        }?;
        Some((m.start(), m.pattern().as_usize()))
    }
}

/// Every position where one of `keywords` (held in lower case, letters only) starts in any
/// letter case, in order, with which one. The text is lowered a chunk at a time, by setting
/// each byte's `0x20` bit: that lowers capitals and makes no other byte a lower-case letter
/// (only `A`–`Z` and `a`–`z` end up in `a`–`z`), so a keyword of letters is found exactly
/// where it stands in any case, in one vector OR per 16 bytes.
pub fn keyword_starts(text: &[u8], keywords: &Anchors) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut lower = vec![0u8; CHUNK.min(text.len()) + OVERLAP];
    let mut c = 0;
    while c < text.len() {
        let end = (c + CHUNK + OVERLAP).min(text.len());
        let buf = &mut lower[..end - c];
        for (o, i) in buf.iter_mut().zip(&text[c..end]) {
            *o = i | 0x20;
        }
        let mut pos = 0;
        while let Some((at, k)) = keywords.find(buf, pos) {
            if at >= CHUNK {
                break;
            }
            out.push((c + at, k));
            pos = at + 1;
        }
        c += CHUNK;
    }
    out
}

/// A table of the bytes `$is` holds for: one load a byte in the loops that walk regions.
macro_rules! table {
    ($is:expr) => {{
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = $is(b as u8);
            b += 1;
        }
        t
    }};
}

/// Bytes of an e-mail address's local part, and of any address's domain.
const fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}
const fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}
static LOCAL_BYTE: [bool; 256] = table!(is_local);
static DOMAIN_BYTE: [bool; 256] = table!(is_domain);
fn local_byte(b: u8) -> bool {
    LOCAL_BYTE[usize::from(b)]
}
fn domain_byte(b: u8) -> bool {
    DOMAIN_BYTE[usize::from(b)]
}

/// Word bytes (`\w` in ASCII): a word boundary (`\b`) lies between one and a byte that is not.
pub(crate) const fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
/// Per byte: `1` a local-part byte, `2` a word byte.
static AT_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_local(b as u8) as u8 | (is_word(b as u8) as u8) << 1;
        b += 1;
    }
    t
};

/// Every place an address can start, in order (each with anchor `0`): the word boundaries
/// inside the run of local-part bytes before an `@` that a domain byte follows, at most
/// [`LOCAL`] bytes before it. A match of a class found there is `\b`, then at most 64
/// local-part bytes, then `@` (checked when the scanner is built, [`check_at`]), so it starts
/// at one of them. Searched anchored, the automaton follows one start at a time: unanchored
/// over the runs, it followed the count of every start at once, and on text crowded with
/// `@` it built megabytes of states, each step a load from far memory.
pub fn at_starts(text: &[u8]) -> Vec<(usize, usize)> {
    let class = |b: u8| AT_CLASS[usize::from(b)];
    let mut out = Vec::new();
    let mut here = Vec::with_capacity(LOCAL);
    for p in memchr::memchr_iter(b'@', text) {
        if !text.get(p + 1).is_some_and(|&b| domain_byte(b)) || p == 0 {
            continue;
        }
        let floor = p.saturating_sub(LOCAL);
        // Back from the `@`, one look at each byte: `q` is in the run, `before` is the byte
        // before it (none at the text's start), and a boundary lies between them where one
        // is a word byte and the other not.
        let mut q = p - 1;
        let mut c = class(text[q]);
        if c & 1 == 0 {
            continue;
        }
        here.clear();
        loop {
            let before = if q > 0 { class(text[q - 1]) } else { 0 };
            if (before ^ c) & 2 != 0 {
                here.push((q, 0));
            }
            if q == floor || before & 1 == 0 {
                break;
            }
            q -= 1;
            c = before;
        }
        // `@` is no local-part byte, so the runs of two `@` do not overlap: starts stay in
        // order.
        out.extend(here.iter().rev());
    }
    out
}

/// Checks that every match of `pattern` (parsed: `hir`) is found from [`at_starts`]: it is a
/// word boundary (`\b`), one to [`LOCAL`] local-part bytes, `@` and a domain byte (an `@`
/// followed by none, or ending the text, gives no starts).
pub fn check_at(pattern: &str, hir: &Hir) -> Result<(), String> {
    let shaped = match hir.kind() {
        HirKind::Concat(parts) => match parts.as_slice() {
            [boundary, local, at, rest @ ..] => {
                matches!(
                    boundary.kind(),
                    HirKind::Look(Look::WordAscii | Look::WordUnicode)
                ) && matches!(local.kind(), HirKind::Repetition(r)
                        if r.min >= 1
                            && r.max.is_some_and(|m| m as usize <= LOCAL)
                            && class_within(&r.sub, local_byte))
                    && match at.kind() {
                        HirKind::Literal(l) => match l.0.as_ref() {
                            [b'@', next, ..] => domain_byte(*next),
                            [b'@'] => {
                                first_bytes(&[Hir::concat(rest.to_vec())]).is_some_and(|first| {
                                    (0..=255u8).all(|b| !first[usize::from(b)] || domain_byte(b))
                                })
                            }
                            _ => false,
                        },
                        _ => false,
                    }
            }
            _ => false,
        },
        _ => false,
    };
    match shaped {
        true => Ok(()),
        false => Err(format!(
            "{pattern:?} is found around an @ but does not start with \\b, 1 to {LOCAL} local-part bytes, @ and a domain byte"
        )),
    }
}

/// Whether `hir` is a class of bytes that all pass `within`.
fn class_within(hir: &Hir, within: fn(u8) -> bool) -> bool {
    match hir.kind() {
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().iter().all(|r| (r.start()..=r.end()).all(within))
        }
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(|c| u8::try_from(c).is_ok_and(within))),
        _ => false,
    }
}

/// Bytes of a number as people write them: digits and `+-.()/ `.
const fn is_number(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'+')
}
static NUMBER_BYTE: [bool; 256] = table!(is_number);
fn number_byte(b: u8) -> bool {
    NUMBER_BYTE[usize::from(b)]
}

/// The lanes of `v` (16 bytes) that lie in `lo..=hi`: moved so that the range starts at -128,
/// one signed comparison says which lie in it. Comparisons are combined lane by lane and turned
/// into bits once per class.
fn between(v: i8x16, lo: u8, hi: u8) -> i8x16 {
    let moved = v + i8x16::splat(0x80u8.wrapping_sub(lo) as i8);
    moved.cmp_lt(i8x16::splat((hi - lo) as i8 - 127))
}

/// The lanes of `v` equal to `b`.
fn equal(v: i8x16, b: u8) -> i8x16 {
    v.cmp_eq(i8x16::splat(b as i8))
}

/// A bit per lane of a comparison's result (16 lanes): its lanes are all ones or all zeros.
fn bits(lanes: i8x16) -> u64 {
    u64::from(lanes.move_mask() as u16)
}

/// One block's (at most 64 bytes) classes of bytes, a bit per byte.
#[derive(Clone, Copy, Default)]
struct Masks {
    digits: u64,
    caps: u64,
    /// Bytes of a number as people write them: digits and `+-.()/ `.
    number: u64,
    colons: u64,
    /// Hex digits, either case.
    hex: u64,
    /// Word bytes: ASCII letters, digits and `_`.
    word: u64,
    /// Token bytes: word bytes and `-.`.
    token: u64,
}

/// The text's last block, shorter than 64 bytes, padded with zeros (which are in no class).
fn padded(block: &[u8]) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[..block.len()].copy_from_slice(block);
    p
}

/// Classify one block (SIMD, 16 bytes at a time; SSE2 on x86-64).
#[inline(always)]
fn masks(block: &[u8; 64]) -> Masks {
    let bytes: &[i8] = bytemuck::cast_slice(block);
    let mut m = Masks::default();
    for k in 0..4 {
        let v = i8x16::from_slice_unaligned(&bytes[16 * k..]);
        let at = 16 * k;
        let digits = between(v, b'0', b'9');
        let caps = between(v, b'A', b'Z');
        m.digits |= bits(digits) << at;
        m.caps |= bits(caps) << at;
        m.colons |= bits(equal(v, b':')) << at;
        // `A`-`F` with the 0x20 bit set are `a`-`f`; no other byte becomes one.
        m.hex |= bits(digits | between(v | i8x16::splat(0x20), b'a', b'f')) << at;
        let word = digits | caps | between(v, b'a', b'z') | equal(v, b'_');
        m.word |= bits(word) << at;
        m.token |= bits(word | equal(v, b'-') | equal(v, b'.')) << at;
        // `-./` and digits are one range, `()` another.
        m.number |=
            bits(between(v, b'-', b'9') | between(v, b'(', b')') | equal(v, b'+') | equal(v, b' '))
                << at;
    }
    m
}

/// Classes of ASCII bytes, a bit each, where a byte is in the class exactly when its low
/// nibble is in one set and its high nibble in another: so each byte's bits are
/// `LOW[low nibble] & HIGH[high nibble]`, two table looks a vector ([`masks_avx2`]).
mod nibble {
    /// `0`–`9`: high 3, low 0–9.
    pub const DIGIT: u8 = 1;
    /// `A`–`F`, `a`–`f`: high 4 or 6, low 1–6.
    pub const HEX_LETTER: u8 = 2;
    /// `G`–`O`, `g`–`o`: high 4 or 6, low 7–15.
    pub const LETTER_G: u8 = 4;
    /// `P`–`Z`, `p`–`z`: high 5 or 7, low 0–10.
    pub const LETTER_P: u8 = 8;
    /// `_`: high 5, low 15.
    pub const UNDERSCORE: u8 = 16;
    /// `-` and `.`: high 2, low 13–14.
    pub const DASH_DOT: u8 = 32;
    /// ` `, `(`, `)`, `+`, `-`, `.`, `/`: high 2, low 0, 8, 9, 11, 13–15.
    pub const NUMBER_SIGN: u8 = 64;
    /// `:`: high 3, low 10 (the top bit, so a vector's move mask reads it straight).
    pub const COLON: u8 = 128;

    /// (bit, high nibbles, low nibbles) of each class.
    const CLASSES: [(u8, &[u8], &[u8]); 8] = [
        (DIGIT, &[3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        (HEX_LETTER, &[4, 6], &[1, 2, 3, 4, 5, 6]),
        (LETTER_G, &[4, 6], &[7, 8, 9, 10, 11, 12, 13, 14, 15]),
        (LETTER_P, &[5, 7], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        (UNDERSCORE, &[5], &[15]),
        (DASH_DOT, &[2], &[13, 14]),
        (NUMBER_SIGN, &[2], &[0, 8, 9, 11, 13, 14, 15]),
        (COLON, &[3], &[10]),
    ];

    /// The table of one nibble (`high`: the high one), twice (AVX2 looks up in each 16-byte
    /// half with its own copy).
    const fn table(high: bool) -> [u8; 32] {
        let mut t = [0u8; 32];
        let mut c = 0;
        while c < CLASSES.len() {
            let (bit, highs, lows) = CLASSES[c];
            let set = if high { highs } else { lows };
            let mut i = 0;
            while i < set.len() {
                t[set[i] as usize] |= bit;
                t[set[i] as usize + 16] |= bit;
                i += 1;
            }
            c += 1;
        }
        t
    }
    pub const LOW: [u8; 32] = table(false);
    pub const HIGH: [u8; 32] = table(true);
}

/// [`masks`] with AVX2, 32 bytes a step: the classes from two nibble table looks
/// ([`nibble`]), capitals from one range comparison.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks_avx2(v3: pulp::x86::V3, block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::__m256i;
    let (x, x2) = (v3.avx, v3.avx2);
    let splat = |b: u8| x._mm256_set1_epi8(b as i8);
    let low: __m256i = bytemuck::cast(nibble::LOW);
    let high: __m256i = bytemuck::cast(nibble::HIGH);
    let bits = |lanes: __m256i| u64::from(x2._mm256_movemask_epi8(lanes) as u32);
    // The lanes with any of `class`'s bits, as bits (a lane with none compares equal to zero).
    let any = |t: __m256i, class: u8| {
        let none = x2._mm256_cmpeq_epi8(x2._mm256_and_si256(t, splat(class)), splat(0));
        !bits(none) & 0xffff_ffff
    };
    let mut m = Masks::default();
    for (k, half) in block.chunks_exact(32).enumerate() {
        let v: __m256i = bytemuck::pod_read_unaligned(half);
        let at = 32 * k;
        // A byte from 128 up has its top bit set: the low look gives it zero.
        let hi = x2._mm256_and_si256(x2._mm256_srli_epi16::<4>(v), splat(0x0f));
        let t = x2._mm256_and_si256(
            x2._mm256_shuffle_epi8(low, v),
            x2._mm256_shuffle_epi8(high, hi),
        );
        // `DIGIT` is bit 0: shifted to the top bit of its byte (a 16-bit shift moves no bit
        // into another byte's top bit).
        m.digits |= bits(x2._mm256_slli_epi16::<7>(t)) << at;
        m.colons |= bits(t) << at;
        let moved = x2._mm256_add_epi8(v, splat(0x80u8.wrapping_sub(b'A')));
        let caps = x2._mm256_cmpgt_epi8(splat((b'Z' - b'A').wrapping_sub(127)), moved);
        m.caps |= bits(caps) << at;
        m.hex |= any(t, nibble::DIGIT | nibble::HEX_LETTER) << at;
        let word = nibble::DIGIT
            | nibble::HEX_LETTER
            | nibble::LETTER_G
            | nibble::LETTER_P
            | nibble::UNDERSCORE;
        m.word |= any(t, word) << at;
        m.token |= any(t, word | nibble::DASH_DOT) << at;
        m.number |= any(t, nibble::DIGIT | nibble::NUMBER_SIGN) << at;
    }
    m
}

/// The bits `i` of `d` (64 bits, then `next`'s) where bits `i..i + 7` hold at least 4 ones: a
/// bit-sliced sum of seven shifted copies.
#[inline(always)]
fn dense4(d: u64, next: u64) -> u64 {
    let x = u128::from(d) | (u128::from(next) << 64);
    let s = |k: u32| (x >> k) as u64;
    let half = |a: u64, b: u64| (a ^ b, a & b);
    let add2 = |(a0, a1): (u64, u64), (b0, b1): (u64, u64)| {
        let c = a0 & b0;
        (a0 ^ b0, a1 ^ b1 ^ c, (a1 & b1) | (c & (a1 ^ b1)))
    };
    let ab = add2(half(s(0), s(1)), half(s(2), s(3)));
    let ce = add2(half(s(4), s(5)), half(s(6), 0));
    let k0 = ab.0 & ce.0;
    let k1 = (ab.1 & ce.1) | (k0 & (ab.1 ^ ce.1));
    let bit2 = ab.2 ^ ce.2 ^ k1;
    let carry = (ab.2 & ce.2) | (k1 & (ab.2 ^ ce.2));
    bit2 | carry
}

/// The bits `i` of `n` (64 bits, then `next`'s) where bits `i..i + 7` are all ones.
#[inline(always)]
fn all7(n: u64, next: u64) -> u64 {
    let x = u128::from(n) | (u128::from(next) << 64);
    // Runs of two, then four, then seven (four and four overlapping by one).
    let two = x & (x >> 1);
    let four = two & (two >> 2);
    (four & (four >> 3)) as u64
}

/// The bits `i` of `t` (64 bits, then `next`'s) where bits `i..i + TOKEN_RUN` are all ones.
#[inline(always)]
fn token_runs(t: u64, next: u64) -> u64 {
    let x = u128::from(t) | (u128::from(next) << 64);
    // Runs of two, four, eight, then fifteen (eight and eight overlapping by one).
    let two = x & (x >> 1);
    let four = two & (two >> 2);
    let eight = four & (four >> 4);
    (eight & (eight >> 7)) as u64
}

/// How many token bytes (ASCII letters, digits, `_-.`) every match of a detector found at
/// token starts begins with: the shortest of the built-in ones (a Slack token, `xoxb-` and 10
/// more). The scanner's build checks each such pattern (see [`token_prefixes`]).
pub const TOKEN_RUN: usize = 15;

/// The two-byte beginnings of a class's tokens (exact case), a bit each.
pub struct Prefixes(Box<[u64; 1024]>);

impl std::fmt::Debug for Prefixes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "Prefixes({n})")
    }
}

impl Prefixes {
    fn has(&self, a: u8, b: u8) -> bool {
        let i = usize::from(a) << 8 | usize::from(b);
        self.0[i >> 6] >> (i & 63) & 1 == 1
    }
}

/// Of every match of `hir`: how many token bytes it starts with at the least, and whether it
/// is made of token bytes only (so what follows it in a concatenation counts on).
fn token_prefix(hir: &Hir) -> (usize, bool) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => (0, true),
        HirKind::Literal(l) => {
            let n = l.0.iter().take_while(|&&b| crate::glue(b)).count();
            (n, n == l.0.len())
        }
        HirKind::Class(_) => match class_within(hir, crate::glue) {
            true => (1, true),
            false => (0, false),
        },
        HirKind::Repetition(r) => match token_prefix(&r.sub) {
            (n, true) => (n * r.min as usize, true),
            (n, false) if r.min > 0 => (n, false),
            _ => (0, false),
        },
        HirKind::Capture(c) => token_prefix(&c.sub),
        HirKind::Concat(hs) => {
            let mut sum = 0;
            for h in hs {
                let (n, full) = token_prefix(h);
                sum += n;
                if !full {
                    return (sum, false);
                }
            }
            (sum, true)
        }
        HirKind::Alternation(hs) => hs
            .iter()
            .map(token_prefix)
            .fold((usize::MAX, true), |(a, f), (n, g)| (a.min(n), f && g)),
    }
}

/// Whether every match of `hir` starts at a word boundary (`\b` first).
fn starts_at_boundary(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(look) => matches!(look, Look::WordAscii | Look::WordUnicode),
        HirKind::Capture(c) => starts_at_boundary(&c.sub),
        HirKind::Concat(hs) => hs.first().is_some_and(starts_at_boundary),
        HirKind::Alternation(hs) => hs.iter().all(starts_at_boundary),
        _ => false,
    }
}

/// The two-byte beginnings of `patterns`, checked to be found at token starts: every match of
/// each starts at a word boundary (`\b`), with a word byte, one of a finite set of literal
/// prefixes of at least two bytes, and at least [`TOKEN_RUN`] token bytes. So every match
/// starts where a word starts (a word byte after none) and a run of that many token bytes does,
/// which one pass over the masks finds (see [`numbers`]). `hirs` are the patterns parsed.
pub fn token_prefixes(patterns: &[&str], hirs: &[Hir]) -> Result<Prefixes, String> {
    let mut bits = Box::new([0u64; 1024]);
    for (pattern, hir) in patterns.iter().zip(hirs) {
        let (run, all_token) = token_prefix(hir);
        // A start inside a refused match may be skipped once the budget for reading them again
        // is spent (`Scanner::next_match`): that loses nothing only where every start inside a
        // match is glued to it, so every match must be token bytes alone.
        if !all_token {
            return Err(format!(
                "{pattern:?} is found at token starts but may match bytes that end a token"
            ));
        }
        if run < TOKEN_RUN {
            return Err(format!(
                "{pattern:?} is found at token starts but a match may start with {run} token bytes, fewer than {TOKEN_RUN}"
            ));
        }
        if !starts_at_boundary(hir) {
            return Err(format!(
                "{pattern:?} is found at token starts but does not start with \\b"
            ));
        }
        let seq = Extractor::new().extract(hir);
        let literals = seq.literals().ok_or_else(|| {
            format!("{pattern:?} is found at token starts but has no literal prefix")
        })?;
        for lit in literals {
            match lit.as_bytes() {
                &[a, b, ..] if a.is_ascii_alphanumeric() || a == b'_' => {
                    let i = usize::from(a) << 8 | usize::from(b);
                    bits[i >> 6] |= 1 << (i & 63);
                }
                short => {
                    return Err(format!(
                        "{pattern:?} is found at token starts but may start with {:?}, not two bytes of which the first is a word byte",
                        String::from_utf8_lossy(short)
                    ));
                }
            }
        }
    }
    Ok(Prefixes(bits))
}

/// The bytes a match of one of the patterns (parsed: `hirs`) may start with, a flag each,
/// where they are a known set (every match's first byte is one of them); `None` where a match
/// may start with any byte, or be empty.
pub fn first_bytes(hirs: &[Hir]) -> Option<[bool; 256]> {
    let mut first = [false; 256];
    for hir in hirs {
        let seq = Extractor::new()
            .limit_class(256)
            .limit_literal_len(1)
            .limit_total(1024)
            .extract(hir);
        for lit in seq.literals()? {
            first[usize::from(*lit.as_bytes().first()?)] = true;
        }
    }
    Some(first)
}

/// The regions of the number detectors and of the capital-letter codes, from one pass.
pub struct NumberRegions {
    /// Runs of digits and `+-.()/ ` with enough digits for a finding (at least 9; 8 with a
    /// `+`; 4 with three dots), each holding 7 bytes with 4 digits: every card, phone, SSN,
    /// Aadhaar and IPv4 address (`1.2.3.4` at the least) has such 7 bytes, and lies inside
    /// one such run. (Cards need 13 digits, Aadhaar numbers 12, SSNs 9, phone numbers 9 but
    /// `+`-prefixed ones 8 here.)
    pub digits: Regions,
    /// 13 bytes before to 45 after two capitals followed by a digit: IBANs (at most 43 bytes
    /// with spaces), PANs and IFSC codes all start at most 5 bytes before such a digit, a
    /// passport's machine-readable line 13 bytes before its nationality's last letter and
    /// birth date (44 bytes in all).
    pub caps: Regions,
    /// Runs of hex digits and colons holding `::`, or a colon between hex digits with six more
    /// such colons within the 30 bytes after it (every IPv6 address lies inside one), found
    /// from the same masks.
    pub hex_colons: Regions,
    /// Where a word starts (a word byte after none) that begins a run of at least
    /// [`TOKEN_RUN`] token bytes, with two bytes of the prefixes asked for: every match of a
    /// class found at token starts starts at one (see [`token_prefixes`]). With `0`, as
    /// anchored places are kept.
    pub tokens: Vec<(usize, usize)>,
}

/// Which regions [`numbers`] finds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want<'a> {
    /// [`NumberRegions::digits`].
    pub digits: bool,
    /// [`NumberRegions::caps`].
    pub caps: bool,
    /// [`NumberRegions::hex_colons`].
    pub hex_colons: bool,
    /// [`NumberRegions::tokens`], with these beginnings.
    pub tokens: Option<&'a Prefixes>,
}

/// Find the number regions, the capital-letter code regions, the hex-colon runs and the token
/// starts that `want` names, from one pass that classifies the bytes 64 at a time. Where the CPU has AVX2 (checked
/// once per process), the pass is compiled for it: 32 bytes a comparison, and the bit counts
/// in single instructions.
pub fn numbers(text: &[u8], want: Want) -> NumberRegions {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        return v3.vectorize(Avx2Pass { text, want, v3 });
    }
    numbers_with(text, want, Portable)
}

/// How a pass classifies a block: [`masks`] (SSE2 on x86-64, NEON on Arm, through `wide`), or
/// [`masks_avx2`].
trait Classify: Copy {
    fn masks(self, block: &[u8; 64]) -> Masks;
}

#[derive(Clone, Copy)]
struct Portable;

impl Classify for Portable {
    #[inline(always)]
    fn masks(self, block: &[u8; 64]) -> Masks {
        masks(block)
    }
}

#[cfg(target_arch = "x86_64")]
impl Classify for pulp::x86::V3 {
    #[inline(always)]
    fn masks(self, block: &[u8; 64]) -> Masks {
        masks_avx2(self, block)
    }
}

/// The pass run inside a function compiled for AVX2 (`pulp` checks the CPU and calls it):
/// everything it calls is inlined into that function, so all of it is compiled for AVX2.
#[cfg(target_arch = "x86_64")]
struct Avx2Pass<'a> {
    text: &'a [u8],
    want: Want<'a>,
    v3: pulp::x86::V3,
}

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for Avx2Pass<'_> {
    type Output = NumberRegions;

    #[inline(always)]
    fn call(self) -> NumberRegions {
        numbers_with(self.text, self.want, self.v3)
    }
}

/// Block `k`'s masks (64 bytes at `64 * k`, the last one padded); past the end of the text,
/// none.
#[inline(always)]
fn block(text: &[u8], k: usize, c: impl Classify) -> Masks {
    match text.get(k * 64..).filter(|rest| !rest.is_empty()) {
        Some(rest) => match rest.first_chunk::<64>() {
            Some(full) => c.masks(full),
            None => c.masks(&padded(rest)),
        },
        None => Masks::default(),
    }
}

/// [`numbers`] with `c` classifying each block.
#[inline(always)]
fn numbers_with(text: &[u8], want: Want, c: impl Classify) -> NumberRegions {
    let Want {
        digits: want_digits,
        caps: want_caps,
        hex_colons: want_hex,
        tokens: want_tokens,
    } = want;
    let mut out = NumberRegions {
        digits: Regions::default(),
        caps: Regions::default(),
        hex_colons: Regions::default(),
        tokens: Vec::new(),
    };
    if !want_digits && !want_caps && !want_hex && want_tokens.is_none() {
        return out;
    }
    let blocks = text.len().div_ceil(64);
    let mut next = block(text, 0, c);
    // The capitals and hex digits of the previous block.
    let mut caps_before = 0u64;
    let mut hex_before = 0u64;
    let mut word_before = 0u64;
    let mut covered = 0;
    let mut hex_covered = 0;
    for k in 0..blocks {
        let m = next;
        next = block(text, k + 1, c);
        let o = k * 64;
        if let Some(prefixes) = want_tokens {
            let starts = m.word & !((m.word << 1) | (word_before >> 63));
            word_before = m.word;
            if starts != 0 {
                let mut hits = starts & token_runs(m.token, next.token);
                while hits != 0 {
                    let p = o + hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    // A run of `TOKEN_RUN` bytes starts here: `p + 1` is in the text.
                    if prefixes.has(text[p], text[p + 1]) {
                        out.tokens.push((p, 0));
                    }
                }
            }
        }
        if want_caps {
            let two = ((m.caps << 1) | (caps_before >> 63)) & ((m.caps << 2) | (caps_before >> 62));
            let mut hits = m.digits & two;
            while hits != 0 {
                let p = o + hits.trailing_zeros() as usize;
                hits &= hits - 1;
                out.caps
                    .push(p.saturating_sub(13), (p + 45).min(text.len()));
            }
            caps_before = m.caps;
        }
        if want_hex && m.colons != 0 {
            // Where an IPv6 address's run can be: a colon before another (`::`), or between
            // two hex digits with six more colons within 30 bytes after it (an address
            // without `::` has eight groups of at most four digits: its first colon is
            // followed by six more within 30 bytes). Times and ports (`10:20:30`) are not.
            let next_colon = (m.colons >> 1) | (next.colons << 63);
            let next_hex = (m.hex >> 1) | (next.hex << 63);
            let hex_before_it = (m.hex << 1) | (hex_before >> 63);
            let mut hits = m.colons & next_colon;
            // Colons between hex digits, here and in the next block (its last one counted as
            // if hex followed), of which an address's seven are.
            let mut between = m.colons & hex_before_it & next_hex;
            if between != 0 {
                let next_between =
                    next.colons & ((next.hex << 1) | (m.hex >> 63)) & ((next.hex >> 1) | (1 << 63));
                if between.count_ones() + next_between.count_ones() >= 7 {
                    let all = u128::from(between) | (u128::from(next_between) << 64);
                    while between != 0 {
                        let i = between.trailing_zeros();
                        between &= between - 1;
                        if ((all >> i) as u32 & 0x7fff_ffff).count_ones() >= 7 {
                            hits |= 1 << i;
                        }
                    }
                }
            }
            while hits != 0 {
                let p = o + hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if p >= hex_covered {
                    hex_covered = hex_run(text, p, hex_covered, &mut out.hex_colons);
                }
            }
        }
        hex_before = m.hex;
        if !want_digits || m.digits == 0 {
            continue;
        }
        // A window needs four digits: a block (with the next one's first six bytes) holding
        // fewer has none.
        if m.digits.count_ones() + (next.digits & 0x3f).count_ones() < 4 {
            continue;
        }
        let runs = all7(m.number, next.number);
        if runs == 0 {
            continue;
        }
        let mut hits = dense4(m.digits, next.digits) & runs;
        while hits != 0 {
            let i = hits.trailing_zeros() as usize;
            hits &= hits - 1;
            if o + i < covered {
                continue;
            }
            // The run around the window's first digit.
            let digits128 = u128::from(m.digits) | (u128::from(next.digits) << 64);
            let q = o + i + ((digits128 >> i) as u64).trailing_zeros() as usize;
            let (s, e) = run(text, &m, o, q, covered);
            covered = e.max(q + 1);
            // Later windows that start inside this run are done with it.
            if covered - o < 64 {
                hits &= !0u64 << (covered - o);
            } else {
                hits = 0;
            }
            let digits = if s >= o && e <= o + 128 {
                let len = e - s;
                let mask = if len >= 128 { !0 } else { (1u128 << len) - 1 };
                ((digits128 >> (s - o)) & mask).count_ones()
            } else {
                text[s..e].iter().filter(|b| b.is_ascii_digit()).count() as u32
            };
            // Every number detector needs 9 digits, but an IPv4 address (4 with three dots)
            // and a phone number written with `+` (`+49 30 1234567`): a date (`2025-06-15`),
            // a short id or a time is no place to search.
            let region = &text[s..e];
            let others = region.len() as u32 - digits;
            if digits >= 9
                || (digits >= 4
                    && others >= 3
                    && region.iter().filter(|&&b| b == b'.').count() >= 3)
                || (digits == 8 && others >= 1 && region.contains(&b'+'))
            {
                out.digits.push(s, e);
            }
        }
    }
    out
}

/// Bits `from..to` (at most 64) set.
fn ones(from: usize, to: usize) -> u64 {
    let upto = if to >= 64 { !0 } else { (1u64 << to) - 1 };
    upto & (!0u64 << from)
}

/// The run of number bytes around byte `q` (in the block at `o`, with masks `m`), not reaching
/// back before `floor`: found in the block's mask, or byte by byte where it leaves the block.
#[inline(always)]
fn run(text: &[u8], m: &Masks, o: usize, q: usize, floor: usize) -> (usize, usize) {
    let i = q - o;
    if i >= 64 {
        let mut s = q;
        while s > floor && number_byte(text[s - 1]) {
            s -= 1;
        }
        let mut e = q;
        while e < text.len() && number_byte(text[e]) {
            e += 1;
        }
        return (s, e);
    }
    let below = !m.number & ones(0, i);
    let s = if below != 0 {
        o + 64 - below.leading_zeros() as usize
    } else {
        let mut s = o;
        while s > floor && number_byte(text[s - 1]) {
            s -= 1;
        }
        s
    }
    .max(floor);
    let after = (!m.number) >> i;
    let e = if after != 0 && (after.trailing_zeros() as usize) < 64 - i {
        q + after.trailing_zeros() as usize
    } else {
        let mut e = o + 64;
        while e < text.len() && number_byte(text[e]) {
            e += 1;
        }
        e
    };
    (s, e.min(text.len()))
}

/// Bytes of an IPv6 address.
fn hex_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

/// The run of hex digits and colons around the colon at `p` (not reaching back before
/// `floor`), added to `out` if it holds `::` or at least 7 colons; where it ends.
fn hex_run(text: &[u8], p: usize, floor: usize, out: &mut Regions) -> usize {
    let mut s = p;
    while s > floor && hex_colon(text[s - 1]) {
        s -= 1;
    }
    let mut e = p;
    let (mut colons, mut double) = (0, false);
    while e < text.len() && hex_colon(text[e]) {
        if text[e] == b':' {
            colons += 1;
            double |= e > s && text[e - 1] == b':';
        }
        e += 1;
    }
    if double || colons >= 7 {
        out.push(s, e);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference for [`numbers`]' hex-colon runs: runs of hex digits and colons holding `::`,
    /// or a colon between hex digits with six more such colons within the 30 bytes after it,
    /// found from each `:` in turn.
    fn hex_colons(text: &[u8]) -> Regions {
        let mut out = Regions::default();
        let mut covered = 0;
        for p in memchr::memchr_iter(b':', text) {
            if p < covered {
                continue;
            }
            let next = text.get(p + 1).copied();
            let before_hex = p > 0 && text[p - 1].is_ascii_hexdigit();
            let flanked = |q: usize| {
                text[q] == b':'
                    && q > 0
                    && text[q - 1].is_ascii_hexdigit()
                    && text.get(q + 1).is_some_and(u8::is_ascii_hexdigit)
            };
            let seven = (p..text.len().min(p + 31)).filter(|&q| flanked(q)).count() >= 7;
            if next != Some(b':')
                && !(before_hex && next.is_some_and(|b| b.is_ascii_hexdigit()) && seven)
            {
                continue;
            }
            covered = hex_run(text, p, covered, &mut out);
        }
        out
    }

    const DIGITS: Want = Want {
        digits: true,
        caps: false,
        hex_colons: false,
        tokens: None,
    };

    /// The prefixes of the built-in detectors found at token starts.
    fn builtin_prefixes() -> Prefixes {
        let patterns: Vec<&'static str> = crate::detectors::DETECTORS
            .iter()
            .filter(|d| d.locate == crate::detectors::Locate::Token)
            .map(|d| d.pattern)
            .collect();
        assert!(patterns.len() > 10, "{}", patterns.len());
        token_prefixes(&patterns, &crate::parse(&patterns).unwrap()).unwrap()
    }

    /// The token starts, found byte by byte.
    fn naive_token_starts(t: &[u8], prefixes: &Prefixes) -> Vec<(usize, usize)> {
        let word = is_word;
        (0..t.len())
            .filter(|&p| {
                word(t[p])
                    && (p == 0 || !word(t[p - 1]))
                    && t.len() - p >= TOKEN_RUN
                    && t[p..p + TOKEN_RUN].iter().all(|&b| crate::glue(b))
                    && prefixes.has(t[p], t[p + 1])
            })
            .map(|p| (p, 0))
            .collect()
    }

    #[test]
    fn token_starts_are_the_word_starts_of_long_tokens() {
        let prefixes = builtin_prefixes();
        let want = Want {
            tokens: Some(&prefixes),
            ..Want::default()
        };
        let mut texts = vec![
            crate::bench_text::diverse(300_000, 5),
            crate::bench_text::worst_case(100_000, 5),
        ];
        // Tokens across block ends, at the very start and end, one byte too short.
        let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        for at in 0..70 {
            for len in [TOKEN_RUN - 1, TOKEN_RUN, TOKEN_RUN + 1, token.len()] {
                texts.push(format!("{}{}", "x-".repeat(at / 2), &token[..len]));
                texts.push(format!("{} {} .", "y".repeat(at), &token[..len]));
                texts.push(format!("{}.{}", "é".repeat(at / 2), &token[..len]));
            }
        }
        let mut found = 0;
        for t in &texts {
            let got = numbers(t.as_bytes(), want).tokens;
            assert_eq!(got, naive_token_starts(t.as_bytes(), &prefixes), "{t:.80}");
            found += got.len();
        }
        assert!(found > 500, "{found}");
    }

    #[test]
    fn only_patterns_found_at_token_starts_are_taken() {
        let ok = [
            r"\bghp_[A-Za-z0-9]{36}\b",
            r"\b(?:xoxb|xoxp)-[A-Za-z0-9-]{10,}",
        ];
        let p = token_prefixes(&ok, &crate::parse(&ok).unwrap()).unwrap();
        assert!(p.has(b'g', b'h') && p.has(b'x', b'o') && !p.has(b'h', b'g'));
        for bad in [
            // No word boundary first: `xghp_…` would match.
            r"ghp_[A-Za-z0-9]{36}",
            // A run of 14 only.
            r"\bxoxb-[A-Za-z0-9]{9,}",
            // A run cut by a byte that is no token byte.
            r"\bsk_[A-Za-z0-9]{4}/[A-Za-z0-9]{20}",
            // No literal prefix of two bytes.
            r"\b[A-Za-z0-9]{20}",
            r"\b(?:g|h)[A-Za-z0-9]{20}",
            // Optional.
            r"\b(?:ghp_[A-Za-z0-9]{36})?",
        ] {
            assert!(
                token_prefixes(&[bad], &crate::parse(&[bad]).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn hex_colon_runs_from_the_masks_are_those_of_the_colon_search() {
        let hex = Want {
            hex_colons: true,
            ..Want::default()
        };
        let mut texts = vec![
            crate::bench_text::diverse(300_000, 4),
            crate::bench_text::worst_case(100_000, 4),
        ];
        // Runs across block ends, at the very start and end, colons at the edges.
        for n in [1, 2, 62, 63, 64, 65, 66, 127, 128, 129] {
            for shift in 0..3 {
                let t: String = (0..n)
                    .map(|i| match (i + shift) % 5 {
                        0 | 3 => ':',
                        1 => 'f',
                        2 => '0',
                        _ => 'A',
                    })
                    .collect();
                texts.push(t.clone());
                texts.push(format!("x{t}"));
            }
        }
        texts.push("fe80::1 :: a:b:c:d:e:f:0:1 12:30:45 ::1 1::".to_owned());
        // Full addresses without `::` (their colons up to 30 bytes apart) across a block end.
        for at in 30..100 {
            texts.push(format!(
                "{}2001:db8:85a3:0:0:8a2e:370:7334 at 10:20:30, 1234:5678:9abc:def0:1234:5678:9abc:def0",
                "t".repeat(at)
            ));
        }
        for t in &texts {
            assert_eq!(
                numbers(t.as_bytes(), hex).hex_colons.0,
                hex_colons(t.as_bytes()).0,
                "{t:.80}"
            );
        }
    }

    fn naive_dense4(bits: u128) -> u64 {
        (0..64)
            .filter(|&i| ((bits >> i) & 0x7f).count_ones() >= 4)
            .fold(0, |m, i| m | (1 << i))
    }

    #[test]
    fn masks_match_a_loop() {
        let bytes: Vec<u8> = (0..=255u8)
            .chain(b"0123456789:@AZaz/".iter().copied())
            .collect();
        for block in bytes.chunks(64).chain(bytes[3..].chunks(37)) {
            let m = masks(&padded(block));
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = pulp::x86::V3::try_new() {
                let w = masks_avx2(v3, &padded(block));
                assert_eq!(
                    (w.digits, w.caps, w.number, w.colons, w.hex, w.word, w.token),
                    (m.digits, m.caps, m.number, m.colons, m.hex, m.word, m.token)
                );
            }
            for (j, &b) in block.iter().enumerate() {
                assert_eq!(m.hex >> j & 1 == 1, b.is_ascii_hexdigit(), "{b}");
                assert_eq!(m.colons >> j & 1 == 1, b == b':', "{b}");
                assert_eq!(m.digits >> j & 1 == 1, b.is_ascii_digit(), "{b}");
                assert_eq!(m.caps >> j & 1 == 1, b.is_ascii_uppercase(), "{b}");
                assert_eq!(m.number >> j & 1 == 1, number_byte(b), "{b}");
                let word = is_word(b);
                assert_eq!(m.word >> j & 1 == 1, word, "{b}");
                assert_eq!(m.token >> j & 1 == 1, word || b == b'-' || b == b'.', "{b}");
            }
            assert_eq!(m.digits.checked_shr(block.len() as u32).unwrap_or(0), 0);
        }
    }

    /// The number regions, found byte by byte.
    fn naive_digit_regions(t: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < t.len() {
            if !number_byte(t[i]) {
                i += 1;
                continue;
            }
            let s = i;
            while i < t.len() && number_byte(t[i]) {
                i += 1;
            }
            let r = &t[s..i];
            let digits = r.iter().filter(|b| b.is_ascii_digit()).count();
            let dots = r.iter().filter(|&&b| b == b'.').count();
            let dense = (0..r.len().saturating_sub(6))
                .any(|j| r[j..j + 7].iter().filter(|b| b.is_ascii_digit()).count() >= 4);
            let plus = r.contains(&b'+');
            if dense && (digits >= 9 || (digits >= 4 && dots >= 3) || (digits == 8 && plus)) {
                out.push((s, i));
            }
        }
        out
    }

    /// Teddy's packed search and the Aho-Corasick automaton find the same keyword places.
    #[test]
    fn both_keyword_finders_find_the_same_places() {
        let mut text = crate::bench_text::diverse(200_000, 6);
        text.push_str(&crate::bench_text::worst_case(100_000, 6));
        text.push_str("AccountKey=x passsecret awsecret ssn");
        let words = [
            "pass",
            "secret",
            "api",
            "key",
            "accountkey",
            "aws",
            "ssn",
            "token",
        ];
        let k = Anchors::new(&words).unwrap();
        assert!(matches!(k, Anchors::Packed(_)), "this CPU has SSSE3");
        let packed = keyword_starts(text.as_bytes(), &k);
        assert!(packed.len() > 1000, "{}", packed.len());
        let ac = keyword_starts(text.as_bytes(), &Anchors::automaton(&words).unwrap());
        assert_eq!(packed, ac);
    }

    /// Every place any literal starts, overlapping ones too, as a loop finds them.
    #[test]
    fn literal_places_are_every_start() {
        let literals = ["://", "https://hooks.slack.com/", "-----BEGIN ", "SK"];
        let mut text = crate::bench_text::diverse(100_000, 7);
        text.push_str("SKSKSK https://hooks.slack.com/services/x ://:// -----BEGIN -----BEGIN X");
        let a = Anchors::new(&literals).unwrap();
        let naive: Vec<(usize, usize)> = (0..text.len())
            .filter_map(|p| {
                let k = literals
                    .iter()
                    .position(|l| text.as_bytes()[p..].starts_with(l.as_bytes()))?;
                Some((p, k))
            })
            .collect();
        assert!(naive.len() > 30, "{}", naive.len());
        assert_eq!(literal_starts(text.as_bytes(), &a), naive);
    }

    /// The pass compiled for AVX2 (where the CPU has it, as here in CI) and the portable one
    /// find the same regions.
    #[test]
    fn both_passes_find_the_same_regions() {
        let mut text = crate::bench_text::diverse(200_000, 4);
        text.push_str(&crate::bench_text::worst_case(100_000, 4));
        text.push_str("fe80::1 2001:db8:0:0:0:0:2:1 DE89370400440532013000 +49 30 1234567");
        let prefixes = builtin_prefixes();
        let all = Want {
            digits: true,
            caps: true,
            hex_colons: true,
            tokens: Some(&prefixes),
        };
        for end in [text.len(), text.len() - 1, 100, 63, 0] {
            let t = &text.as_bytes()[..end];
            let (a, b) = (numbers(t, all), numbers_with(t, all, Portable));
            assert_eq!(a.digits.0, b.digits.0);
            assert_eq!(a.caps.0, b.caps.0);
            assert_eq!(a.hex_colons.0, b.hex_colons.0);
            assert_eq!(a.tokens, b.tokens);
        }
    }

    #[test]
    fn digit_regions_are_the_dense_number_runs() {
        let text = crate::bench_text::diverse(300_000, 3);
        let found = numbers(text.as_bytes(), DIGITS).digits.0;
        assert_eq!(found, naive_digit_regions(text.as_bytes()));
        let text = crate::bench_text::worst_case(100_000, 3);
        let found = numbers(text.as_bytes(), DIGITS).digits.0;
        assert_eq!(found, naive_digit_regions(text.as_bytes()));
        // Runs across block ends, at the very start and end.
        for n in [1, 7, 60, 63, 64, 65, 127, 130] {
            let t: Vec<u8> = (0..n)
                .map(|i| {
                    if i % 9 == 4 {
                        b'x'
                    } else {
                        b'0' + (i % 10) as u8
                    }
                })
                .collect();
            assert_eq!(numbers(&t, DIGITS).digits.0, naive_digit_regions(&t), "{n}");
        }
    }

    #[test]
    fn dense4_counts_like_a_loop() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = (x, x.rotate_left(23) & x.rotate_left(41));
            assert_eq!(
                dense4(a, b),
                naive_dense4(u128::from(a) | (u128::from(b) << 64))
            );
        }
    }

    #[test]
    fn first_bytes_are_every_byte_a_match_can_start_with() {
        let number_starts = |patterns: &[&str]| {
            first_bytes(&crate::parse(patterns).unwrap()).map(|f| {
                (0..=255u8)
                    .filter(|&b| f[usize::from(b)])
                    .collect::<Vec<u8>>()
            })
        };
        let digits = crate::DETECTORS
            .iter()
            .filter(|d| d.locate == crate::Locate::Digits)
            .map(|d| d.pattern)
            .collect::<Vec<_>>();
        assert_eq!(number_starts(&digits), Some(b"(+0123456789".to_vec()));
        assert_eq!(number_starts(&[r"(?i)\bab|c"]), Some(b"ACac".to_vec()));
        assert_eq!(
            number_starts(&[r"[0-9]+", r"(?s)."]).map(|f| f.len()),
            Some(256)
        );
        // A match may be empty: no set.
        assert_eq!(number_starts(&[r"[0-9]+", r"x?"]), None);
    }

    fn at_shaped(pattern: &str) -> Result<(), String> {
        check_at(pattern, &crate::parse(&[pattern])?[0])
    }

    #[test]
    fn address_patterns_are_checked_for_their_starts() {
        for d in crate::DETECTORS
            .iter()
            .filter(|d| d.locate == crate::Locate::At)
        {
            assert_eq!(at_shaped(d.pattern), Ok(()), "{}", d.kind);
        }
        // No `\b`, a local part that may be longer than the starts reach back, or bytes that
        // are no local-part bytes: a match could start where no start is.
        for wrong in [
            r"[a-z]{1,64}@[a-z]+\.com",
            r"\b[a-z]+@[a-z]+\.com",
            r"\b[a-z]{1,65}@[a-z]+\.com",
            r"\b[a-z ]{1,64}@[a-z]+\.com",
            r"\b[a-z]{0,64}@[a-z]+\.com",
            // What follows the `@` may be no domain byte, or nothing.
            r"\b[a-z]{1,64}@_[a-z]+",
            r"\b[a-z]{1,64}@(?:[a-z]+|/)",
            r"\b[a-z]{1,64}@",
            r"\b[a-z]{1,64}@\.?",
        ] {
            assert!(at_shaped(wrong).is_err(), "{wrong}");
        }
        // Every word boundary in the 64 bytes of local part before an `@`, none further back.
        let t = format!("{}.b-c_d@x.io a@ b@c", "a".repeat(70));
        let starts: Vec<usize> = at_starts(t.as_bytes()).iter().map(|&(q, _)| q).collect();
        assert_eq!(starts, [70, 71, 72, 73, t.len() - 3]);
    }

    #[test]
    fn regions_hold_their_values() {
        let t = b"call +1 (415) 555-0132 or mail ada@example.org, card 4111 1111 1111 1111, \
                  ip 10.0.0.1, v6 fe80::1, iban DE89 3704 0044 0532 0130 00 now";
        let n = numbers(
            t,
            Want {
                digits: true,
                caps: true,
                hex_colons: true,
                tokens: None,
            },
        );
        let s = std::str::from_utf8(t).unwrap();
        let inside = |r: &Regions, v: &str| {
            let at = s.find(v).unwrap();
            r.0.iter().any(|&(a, b)| a <= at && at + v.len() <= b)
        };
        assert!(inside(&n.digits, "+1 (415) 555-0132"));
        assert!(inside(&n.digits, "4111 1111 1111 1111"));
        assert!(inside(&n.digits, "10.0.0.1"));
        assert!(inside(&n.caps, "DE89 3704 0044 0532 0130 00"));
        let ada = s.find("ada@").unwrap();
        assert_eq!(
            at_starts(t)
                .iter()
                .filter(|&&(q, _)| q >= ada && q < ada + 3)
                .collect::<Vec<_>>(),
            [&(ada, 0)]
        );
        assert!(inside(&hex_colons(t), "fe80::1"));
        assert!(inside(&n.hex_colons, "fe80::1"));
    }
}
