//! Spellings a model reads as the plain form: fullwidth forms (`４１１１`, `＠`), other spaces and
//! dashes, and invisible characters (zero-width spaces and joiners, the soft hyphen, the byte
//! order mark, bidirectional controls) placed inside a value. The scanner matches the folded
//! text and maps what it finds back to the original.
//!
//! Only characters that look like ASCII to a reader are folded; every other character is kept
//! as it is, so the offsets of everything else stay exact. Text with none of these characters
//! (any text without the UTF-8 lead bytes `C2`, `E1`, `E2`, `E3` or `EF`) is not copied.

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
    /// The original span of `start..end` in the folded text: from the start of the character
    /// the first byte came from to the end of the one the last byte came from.
    pub(crate) fn original(&self, start: usize, end: usize) -> (usize, usize) {
        // The last entry at or before `start`: characters dropped right before the span stay
        // out of it.
        let i = self.at.partition_point(|&(f, _)| f <= start) - 1;
        let s = self.at[i].1 + (start - self.at[i].0);
        // The first entry at `end` if there is one (characters dropped right after the span
        // stay out of it), else the stretch `end` lies in.
        let j = self.at.partition_point(|&(f, _)| f < end);
        let e = match self.at.get(j) {
            Some(&(f, o)) if f == end => o,
            _ => self.at[j - 1].1 + (end - self.at[j - 1].0),
        };
        (s, e.max(s))
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
    let mut out: Option<Folded> = None;
    // Copied from `text` up to here.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Every folded character's UTF-8 form starts with one of these bytes.
        let Some(k) = bytes[i..]
            .iter()
            .position(|&b| matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF))
        else {
            break;
        };
        i += k;
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
    fn plain_text_is_not_copied() {
        assert!(fold("card 4111 1111 1111 1111, café, 東京").is_none());
    }

    #[test]
    fn look_alikes_fold_and_map_back() {
        let text = "pay ４１１１ １１１１\u{200b}x and ada＠example.org AKIA\u{ad}QY";
        let f = fold(text).unwrap();
        assert_eq!(f.text, "pay 4111 1111x and ada@example.org AKIAQY");
        let s = f.text.find("4111").unwrap();
        let (a, b) = f.original(s, s + "4111 1111".len());
        assert_eq!(&text[a..b], "４１１１ １１１１");
        let s = f.text.find("ada@").unwrap();
        let (a, b) = f.original(s, s + "ada@example.org".len());
        assert_eq!(&text[a..b], "ada＠example.org");
        let s = f.text.find("AKIAQY").unwrap();
        let (a, b) = f.original(s, s + 6);
        assert_eq!(&text[a..b], "AKIA\u{ad}QY");
        // Dropped characters at a span's edges stay out of it.
        let (a, b) = f.original(s, s + 4);
        assert_eq!(&text[a..b], "AKIA");
        let (a, b) = f.original(s + 4, s + 6);
        assert_eq!(&text[a..b], "QY");
        assert_eq!(
            f.original(f.text.len(), f.text.len()),
            (text.len(), text.len())
        );
    }
}
