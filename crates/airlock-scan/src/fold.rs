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

/// Per lead byte, the second bytes (less `0x80`, a bit each) of the UTF-8 forms of the
/// characters folded or dropped: a character starting with any other two bytes is kept.
static PAIRS: std::sync::LazyLock<Box<[u64; 256]>> = std::sync::LazyLock::new(|| {
    let mut pairs = Box::new([0u64; 256]);
    let mut buf = [0u8; 4];
    for c in (0x80..=0x10FFFFu32).filter_map(char::from_u32) {
        if fold_char(c).is_some()
            && let [lead, second, ..] = *c.encode_utf8(&mut buf).as_bytes()
        {
            pairs[usize::from(lead)] |= 1 << (second & 0x3f);
        }
    }
    pairs
});

/// Where the next character that may be folded starts, at or after `i` (a character boundary):
/// ASCII skipped 32 bytes a step (8-byte words with no top bit set), and each other character
/// kept or looked at by its first two bytes ([`PAIRS`]). Text of another script (every
/// character non-ASCII) costs a table look per character, not a search restarted per lead byte.
fn next_fold(bytes: &[u8], mut i: usize) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(HIGH, u64::from_le_bytes)
    };
    let pairs = &**PAIRS;
    while i < bytes.len() {
        // Whole words of ASCII, four at a time.
        while i + 32 <= bytes.len()
            && (word(i) | word(i + 8) | word(i + 16) | word(i + 24)) & HIGH == 0
        {
            i += 32;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if b < 0x80 {
            i += 1;
            continue;
        }
        if let Some(&second) = bytes.get(i + 1)
            && second & 0xc0 == 0x80
            && pairs[usize::from(b)] >> (second & 0x3f) & 1 == 1
        {
            return Some(i);
        }
        // The lead byte and its continuation bytes.
        i += 1;
        while bytes.get(i).is_some_and(|&c| c & 0xc0 == 0x80) {
            i += 1;
        }
    }
    None
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
    while i < bytes.len() {
        let Some(next) = next_fold(bytes, i) else {
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

    /// `next_fold` stops at every character folded or dropped, at character boundaries only,
    /// and at few others (those sharing a folded character's first two bytes), in text of
    /// many scripts.
    #[test]
    fn next_fold_stops_at_every_folded_character() {
        let mut text = crate::bench_text::diverse(100_000, 9);
        text.push_str(
            "é ü 東京、。 ４１１１\u{200b}\u{e0031}\u{34f}\u{180e}\u{3000} — – ½ ©\u{a0}x €",
        );
        text.push_str("Ελληνικά русский עברית العربية हिन्दी 한국어 🙂\u{feff}\u{2060}x\u{ad}");
        let bytes = text.as_bytes();
        let mut stops = Vec::new();
        let mut i = 0;
        while let Some(p) = next_fold(bytes, i) {
            assert!(text.is_char_boundary(p), "{p}");
            stops.push(p);
            i = p + 1;
            while !text.is_char_boundary(i) {
                i += 1;
            }
        }
        let folded: Vec<usize> = text
            .char_indices()
            .filter(|&(_, c)| fold_char(c).is_some())
            .map(|(p, _)| p)
            .collect();
        assert!(folded.len() >= 12, "{}", folded.len());
        for p in &folded {
            assert!(
                stops.contains(p),
                "U+{:04X} at {p} missed",
                u32::from(text[*p..].chars().next().unwrap())
            );
        }
        let non_ascii = text.chars().filter(|c| !c.is_ascii()).count();
        assert!(
            stops.len() < folded.len() + 40 && non_ascii > stops.len() + 40,
            "{} stops",
            stops.len()
        );
    }

    /// Every character folded or dropped, of all of Unicode, is a stop of `next_fold`: alone,
    /// after ASCII that fills whole steps, and after another script's character. ASCII is
    /// looked at too: `next_fold` skips it and [`PAIRS`] holds none, so a table of invisible
    /// characters that gained an ASCII one would fail here rather than be passed over.
    #[test]
    fn next_fold_stops_at_every_folded_code_point() {
        let pad = "a".repeat(32);
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if fold_char(c).is_some() {
                for before in ["", pad.as_str(), "東"] {
                    let text = format!("{before}{c}x");
                    assert_eq!(
                        next_fold(text.as_bytes(), 0),
                        Some(before.len()),
                        "U+{:04X} after {before:?}",
                        u32::from(c)
                    );
                }
            }
        }
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(fold("card 4111 1111 1111 1111, café, 東京").is_none());
        // ASCII words that run exactly to the end.
        assert!(fold(&format!("é{}", "a".repeat(32))).is_none());
        assert!(fold(&format!("é{}—", "a".repeat(64))).is_some());
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
