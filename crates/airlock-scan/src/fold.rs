//! Spellings a model reads as the plain form: fullwidth forms (`４１１１`, `＠`), other spaces and
//! dashes, and invisible characters (zero-width spaces and joiners, the soft hyphen, the byte
//! order mark, bidirectional controls) placed inside a value. The scanner matches the folded
//! text and maps what it finds back to the original.
//!
//! Only characters that look like ASCII to a reader are folded; every other character is kept
//! as it is, so the offsets of everything else stay exact. Text with none of these characters
//! (any text without the UTF-8 lead bytes `C2`, `E1`, `E2`, `E3` or `EF`) is not copied.

/// The text with look-alikes folded, and where each of its bytes came from.
pub(crate) struct Folded {
    pub(crate) text: String,
    /// For each byte of `text`, the offset in the original of the character it came from.
    from: Vec<usize>,
}

impl Folded {
    /// The original span of `start..end` in the folded text: from the start of the character
    /// the first byte came from to the end of the one the last byte came from.
    pub(crate) fn original(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        if start >= end {
            let at = self.from.get(start).copied().unwrap_or(original.len());
            return (at, at);
        }
        let s = self.from[start];
        let last = self.from[end - 1];
        let e = last + original[last..].chars().next().map_or(0, char::len_utf8);
        (s, e)
    }
}

/// What a character is read as: `Some(Some(c))` folded to `c`, `Some(None)` dropped, `None`
/// kept as it is.
fn fold_char(c: char) -> Option<Option<char>> {
    let code = u32::from(c);
    Some(match code {
        // Fullwidth ASCII: `！`..`～`.
        0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0),
        // Spaces: no-break, en quad..hair space, narrow no-break, medium mathematical,
        // ideographic.
        0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => Some(' '),
        // Hyphens and dashes, the minus sign, the fullwidth hyphen-minus is above.
        0x2010..=0x2015 | 0x2212 | 0xFE63 => Some('-'),
        // Invisible: soft hyphen, Mongolian vowel separator, zero-width space, non-joiner,
        // joiner, left-to-right and right-to-left marks, bidirectional embeddings and
        // overrides, word joiner and invisible operators, bidirectional isolates, byte order
        // mark (zero-width no-break space).
        0x00AD
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x2069
        | 0xFEFF => None,
        _ => return None,
    })
}

/// The folded text, or `None` when there is nothing to fold.
pub(crate) fn fold(text: &str) -> Option<Folded> {
    let bytes = text.as_bytes();
    // Every folded character's UTF-8 form starts with one of these bytes.
    let first = bytes
        .iter()
        .position(|&b| matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF))?;
    let mut start = None;
    for (i, c) in text[first..].char_indices() {
        if fold_char(c).is_some() {
            start = Some(first + i);
            break;
        }
    }
    let start = start?;
    let mut out = String::with_capacity(text.len());
    let mut from = Vec::with_capacity(text.len());
    out.push_str(&text[..start]);
    from.extend(0..start);
    for (i, c) in text[start..].char_indices() {
        let at = start + i;
        match fold_char(c) {
            Some(Some(f)) => {
                out.push(f);
                from.extend(std::iter::repeat_n(at, f.len_utf8()));
            }
            Some(None) => {}
            None => {
                out.push(c);
                from.extend(std::iter::repeat_n(at, c.len_utf8()));
            }
        }
    }
    Some(Folded { text: out, from })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (a, b) = f.original(text, s, s + "4111 1111".len());
        assert_eq!(&text[a..b], "４１１１ １１１１");
        let s = f.text.find("ada@").unwrap();
        let (a, b) = f.original(text, s, s + "ada@example.org".len());
        assert_eq!(&text[a..b], "ada＠example.org");
        let s = f.text.find("AKIAQY").unwrap();
        let (a, b) = f.original(text, s, s + 6);
        assert_eq!(&text[a..b], "AKIA\u{ad}QY");
    }
}
