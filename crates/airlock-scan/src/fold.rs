//! Spellings a model reads as the plain form: fullwidth forms (`４１１１`, `＠`), other spaces and
//! dashes, and invisible characters (zero-width spaces and joiners, the soft hyphen, the byte
//! order mark, bidirectional controls) placed inside a value. The scanner matches the folded
//! text and maps what it finds back to the original.
//!
//! Only characters that look like ASCII to a reader are folded; every other character is kept
//! as it is, so the offsets of everything else stay exact. Text with none of these characters
//! (any text without the UTF-8 lead bytes `C2`, `CD`, `E1`, `E2`, `E3`, `EF` or `F3`) is not copied.

/// The text with look-alikes folded, and where its parts came from.
pub(crate) struct Folded {
    pub(crate) text: String,
    /// `(folded offset, original offset)` where the mapping changes, in order: a stretch
    /// copied as it was maps byte for byte from its entry to the next. A folded character
    /// (always one byte) has an entry of its own, and the text after it another; a dropped
    /// character adds an entry at the same folded offset.
    at: Vec<(usize, usize)>,
}

impl Folded {
    /// The original spans of `spans` (in order, not overlapping) in the folded text: from the
    /// start of the character the first byte came from to the end of the one the last byte
    /// came from. Characters dropped right before or after a span stay out of it.
    pub(crate) fn original(
        &self,
        spans: impl Iterator<Item = (usize, usize)>,
    ) -> Vec<(usize, usize)> {
        // One walk along the entries: spans come in order.
        let mut i = 0;
        spans
            .map(|(start, end)| {
                // The last entry at or before `start`.
                while i + 1 < self.at.len() && self.at[i + 1].0 <= start {
                    i += 1;
                }
                let s = self.at[i].1 + (start - self.at[i].0);
                // The first entry at `end` if there is one, else the stretch `end` lies in.
                let mut j = i;
                while j + 1 < self.at.len() && self.at[j + 1].0 < end {
                    j += 1;
                }
                let e = match self.at.get(j + 1) {
                    Some(&(f, o)) if f == end => o,
                    _ => self.at[j].1 + (end - self.at[j].0),
                };
                (s, e.max(s))
            })
            .collect()
    }
}

/// What a character is read as: `Some(Some(c))` folded to `c`, `Some(None)` dropped, `None`
/// kept as it is.
fn fold_char(c: char) -> Option<Option<char>> {
    // Invisible (the zero-width characters, the soft hyphen, bidirectional controls, tags):
    // the table tool definitions are read with.
    if airlock_core::poison::invisible(c) {
        return Some(None);
    }
    let code = u32::from(c);
    Some(match code {
        // Fullwidth ASCII: `！`..`～`.
        0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0),
        // Spaces: no-break, en quad..hair space, narrow no-break, medium mathematical,
        // ideographic.
        0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => Some(' '),
        // Hyphens and dashes, the minus sign, the fullwidth hyphen-minus is above.
        0x2010..=0x2015 | 0x2212 | 0xFE63 => Some('-'),
        _ => return None,
    })
}

/// The lead bytes of the folded characters' UTF-8 forms.
const LEADS: [u8; 7] = [0xC2, 0xCD, 0xE1, 0xE2, 0xE3, 0xEF, 0xF3];

/// Teddy over the seven lead bytes: one SIMD pass finds the next of any of them.
static TEDDY: std::sync::LazyLock<Option<aho_corasick::packed::Searcher>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::packed::Config::new()
            .builder()
            .extend(LEADS.iter().map(std::slice::from_ref))
            .build()
    });

/// Finds the next lead byte: with Teddy where the CPU has SSSE3 or AVX2, else with `memchr`
/// (the common leads in one search, the rare ones each looked for again only once passed).
enum Leads {
    Teddy(&'static aho_corasick::packed::Searcher),
    Memchr { rare: Next, tags: Next },
}

impl Leads {
    fn new(bytes: &[u8]) -> Leads {
        match TEDDY.as_ref() {
            Some(t) => Leads::Teddy(t),
            None => Leads::memchr(bytes),
        }
    }

    /// The `memchr` searches (where no Teddy searcher is built: a CPU without SSSE3): the rare
    /// leads (U+034F with `CD`, U+180E with `E1`, U+3000 with `E3`, which Japanese text is full
    /// of, the tags with `F3`) each looked for again only once passed.
    fn memchr(bytes: &[u8]) -> Leads {
        Leads::Memchr {
            rare: Next::new(bytes, |b| memchr::memchr3(0xCD, 0xE1, 0xE3, b)),
            tags: Next::new(bytes, |b| memchr::memchr(0xF3, b)),
        }
    }

    /// The first lead byte at or after `i`.
    fn next(&mut self, bytes: &[u8], i: usize) -> Option<usize> {
        match self {
            Leads::Teddy(t) => t
                .find_in(bytes, aho_corasick::Span::from(i..bytes.len()))
                .map(|m| m.start()),
            Leads::Memchr { rare, tags } => {
                let common = memchr::memchr3(0xC2, 0xE2, 0xEF, &bytes[i..]);
                [common.map(|k| i + k), rare.at(bytes, i), tags.at(bytes, i)]
                    .into_iter()
                    .flatten()
                    .min()
            }
        }
    }
}

/// The next place of one kind of byte, found with `find` and looked for again only when passed.
struct Next {
    at: Option<usize>,
    find: fn(&[u8]) -> Option<usize>,
}

impl Next {
    fn new(bytes: &[u8], find: fn(&[u8]) -> Option<usize>) -> Next {
        Next {
            at: find(bytes),
            find,
        }
    }

    /// The next place at or after `i`.
    fn at(&mut self, bytes: &[u8], i: usize) -> Option<usize> {
        match self.at {
            Some(r) if r < i => {
                self.at = (self.find)(&bytes[i..]).map(|k| i + k);
                self.at
            }
            at => at,
        }
    }
}

/// The folded text, or `None` when there is nothing to fold.
pub(crate) fn fold(text: &str) -> Option<Folded> {
    // Plain ASCII, the usual tool output, in one pass rather than three.
    if text.is_ascii() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out: Option<Folded> = None;
    // Copied from `text` up to here.
    let mut copied = 0;
    let mut i = 0;
    let mut leads = Leads::new(bytes);
    while i < bytes.len() {
        // Every folded character's UTF-8 form starts with one of these bytes.
        let Some(next) = leads.next(bytes, i) else {
            break;
        };
        i = next;
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let len = c.len_utf8();
        if let Some(folded) = fold_char(c) {
            let f = out.get_or_insert_with(|| Folded {
                text: String::with_capacity(text.len()),
                at: vec![(0, 0)],
            });
            f.text.push_str(&text[copied..i]);
            // Where the character starts, then where the text after it resumes.
            f.at.push((f.text.len(), i));
            if let Some(plain) = folded {
                f.text.push(plain);
            }
            f.at.push((f.text.len(), i + len));
            copied = i + len;
        }
        i += len;
    }
    let mut f = out?;
    f.text.push_str(&text[copied..]);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_characters_and_the_grapheme_joiner_are_dropped() {
        let text = "4111\u{e0031}1111\u{34f}1111 1111";
        assert_eq!(fold(text).unwrap().text, "411111111111 1111");
    }

    /// Every character folded or dropped starts with one of the lead bytes looked for, whatever
    /// the shared table of invisible characters holds.
    #[test]
    fn every_folded_character_has_a_lead_looked_for() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if fold_char(c).is_some() {
                let lead = c.encode_utf8(&mut buf).as_bytes()[0];
                assert!(LEADS.contains(&lead), "U+{:04X}", u32::from(c));
            }
        }
    }

    /// Teddy and the `memchr` searches find the same lead bytes.
    #[test]
    fn both_lead_finders_find_the_same_places() {
        let mut text = crate::bench_text::diverse(100_000, 9);
        text.push_str("é ü 東京 ４１１１\u{200b}\u{e0031}\u{34f}\u{180e}\u{3000} — – ½ ©\u{a0}x");
        let bytes = text.as_bytes();
        let teddy = TEDDY.as_ref().expect("this CPU has SSSE3");
        let all = |mut leads: Leads| {
            let mut out = Vec::new();
            let mut i = 0;
            while let Some(p) = leads.next(bytes, i) {
                out.push(p);
                i = p + 1;
            }
            out
        };
        let found = all(Leads::Teddy(teddy));
        assert!(found.len() >= 12, "{}", found.len());
        assert!(found.iter().all(|&p| LEADS.contains(&bytes[p])));
        assert_eq!(found, all(Leads::memchr(bytes)));
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(fold("card 4111 1111 1111 1111, café, 東京").is_none());
    }

    #[test]
    fn look_alikes_fold_and_map_back() {
        let text = "pay ４１１１ １１１１\u{200b}x and ada＠example.org AKIA\u{ad}QY";
        let f = fold(text).unwrap();
        assert_eq!(f.text, "pay 4111 1111x and ada@example.org AKIAQY");
        let s = f.text.find("4111").unwrap();
        let (a, b) = f.original(std::iter::once((s, s + "4111 1111".len())))[0];
        assert_eq!(&text[a..b], "４１１１ １１１１");
        let s = f.text.find("ada@").unwrap();
        let (a, b) = f.original(std::iter::once((s, s + "ada@example.org".len())))[0];
        assert_eq!(&text[a..b], "ada＠example.org");
        let s = f.text.find("AKIAQY").unwrap();
        let (a, b) = f.original(std::iter::once((s, s + 6)))[0];
        assert_eq!(&text[a..b], "AKIA\u{ad}QY");
        // Dropped characters at a span's edges stay out of it.
        let (a, b) = f.original(std::iter::once((s, s + 4)))[0];
        assert_eq!(&text[a..b], "AKIA");
        let (a, b) = f.original(std::iter::once((s + 4, s + 6)))[0];
        assert_eq!(&text[a..b], "QY");
        assert_eq!(
            f.original(std::iter::once((f.text.len(), f.text.len())))[0],
            (text.len(), text.len())
        );
    }
}
