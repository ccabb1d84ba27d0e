//! Checksums and structure rules that turn a pattern match into a finding (or not).

/// The ASCII digits of `s`, as numbers.
pub fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The ASCII digits of `s` as numbers, in `buf` (no allocation per candidate); `None` where
/// `s` holds more digits than `buf` (no number a validator takes has more than 19).
pub(crate) fn few_digits<'a>(s: &str, buf: &'a mut [u8; 20]) -> Option<&'a [u8]> {
    let mut n = 0;
    for b in s.bytes().filter(u8::is_ascii_digit) {
        *buf.get_mut(n)? = b - b'0';
        n += 1;
    }
    Some(&buf[..n])
}

/// Luhn (mod 10), as payment cards use it.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// The check digit that completes `digits` under `valid`.
fn check_digit(digits: &[u8], valid: fn(&[u8]) -> bool) -> u8 {
    let mut with = digits.to_vec();
    with.push(0);
    let last = with.len() - 1;
    (0..10)
        .find(|&d| {
            with[last] = d;
            valid(&with)
        })
        .unwrap_or(0)
}

/// The Luhn check digit that completes `digits`.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    check_digit(digits, luhn)
}

/// The Verhoeff check digit that completes `digits`.
pub fn verhoeff_check_digit(digits: &[u8]) -> u8 {
    check_digit(digits, verhoeff)
}

/// Verhoeff, as Aadhaar numbers use it (the last digit checks the others).
pub fn verhoeff(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut c = 0u8;
    for (i, &d) in digits.iter().rev().enumerate() {
        if d > 9 {
            return false;
        }
        c = VERHOEFF_D[usize::from(c)][usize::from(VERHOEFF_P[i % 8][usize::from(d)])];
    }
    c == 0
}

/// The IBAN length of each country that has IBANs.
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SC" => 31,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    })
}

/// An IBAN: the country's length and the ISO 7064 mod-97 check (spaces ignored).
pub fn iban(s: &str) -> bool {
    // No IBAN is longer than 34.
    let mut buf = [0u8; 34];
    let mut len = 0;
    for b in s.bytes().filter(|b| *b != b' ') {
        let Some(slot) = buf.get_mut(len) else {
            return false;
        };
        *slot = b;
        len += 1;
    }
    let compact = &buf[..len];
    if compact.len() < 15 || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let Ok(country) = std::str::from_utf8(&compact[..2]) else {
        return false;
    };
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US social security number: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn ssn(s: &str) -> bool {
    let mut buf = [0; 20];
    let Some(d) = few_digits(s, &mut buf) else {
        return false;
    };
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// An ICAO 9303 check digit over `field` (digits, capitals, `<`; weights 7, 3, 1).
pub fn icao_check(field: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, &c) in field.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            b'<' => 0,
            _ => return None,
        };
        sum += v * [7, 3, 1][i % 3];
    }
    Some((sum % 10) as u8)
}

/// The second line of a TD3 machine-readable zone (its first 28 characters at least): the
/// document number's, birth date's and expiry date's check digits hold.
pub fn mrz_line(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| c - b'0');
    b.len() >= 28
        && !b[..9].iter().all(|&c| c == b'<')
        && icao_check(&b[..9]).is_some_and(|c| Some(c) == digit(9))
        && icao_check(&b[13..19]).is_some_and(|c| Some(c) == digit(19))
        && icao_check(&b[21..27]).is_some_and(|c| Some(c) == digit(27))
}

/// A payment card: 13–19 digits, a known brand prefix, and Luhn.
pub fn card(s: &str) -> bool {
    let mut buf = [0; 20];
    let Some(d) = few_digits(s, &mut buf) else {
        return false;
    };
    if !(13..=19).contains(&d.len()) || !luhn(d) {
        return false;
    }
    let n = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    match d[0] {
        4 => matches!(len, 13 | 16 | 19), // Visa
        5 => ((51..=55).contains(&n(2)) || n(3) == 508) && len == 16, // Mastercard, RuPay
        2 => ((2221..=2720).contains(&n(4)) || (2200..=2204).contains(&n(4))) && len == 16, // Mastercard 2-series, Mir
        3 => {
            (matches!(n(2), 34 | 37) && len == 15)                            // Amex
                || ((3528..=3589).contains(&n(4)) && (16..=19).contains(&len)) // JCB
                || ((300..=305).contains(&n(3)) || matches!(n(2), 36 | 38 | 39)) && (14..=19).contains(&len) // Diners
        }
        6 => {
            // Discover, UnionPay, RuPay (60, 65)
            (n(4) == 6011 || n(2) == 65 || n(2) == 60 || (644..=649).contains(&n(3)) || n(2) == 62)
                && (16..=19).contains(&len)
        }
        8 => matches!(n(2), 81 | 82) && len == 16, // RuPay
        _ => false,
    }
}

/// An IPv4 address: four octets ≤ 255, no leading zeros.
pub fn ipv4(s: &str) -> bool {
    // One walk: each part as `u16::from_str` reads it (an optional `+`, then digits), at most
    // three bytes, no leading zero, at most 255; four parts between three dots.
    let b = s.as_bytes();
    let (mut parts, mut i) = (0, 0);
    loop {
        let start = i;
        if b.get(i) == Some(&b'+') {
            i += 1;
        }
        let digits = i;
        let mut value = 0u32;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
            if i - start > 3 {
                return false;
            }
        }
        if i == digits || value > 255 || (i - start > 1 && b[start] == b'0') {
            return false;
        }
        parts += 1;
        match b.get(i) {
            None => return parts == 4,
            Some(b'.') if parts < 4 => i += 1,
            Some(_) => return false,
        }
    }
}

/// An IPv6 address (the standard library's parser decides).
pub fn ipv6(s: &str) -> bool {
    s.matches(':').count() >= 2 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let (mut lo, mut hi) = (u8::MAX, 0u8);
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
        (lo, hi) = (lo.min(b), hi.max(b));
    }
    if s.is_empty() {
        return 0.0;
    }
    // `-Σ p·log2 p` with `p = c / n` is `log2 n - Σ c·log2 c / n`: one logarithm per byte
    // value that occurs, read from a table for the counts short values have.
    let n = s.len() as f64;
    let sum: f64 = counts[usize::from(lo)..=usize::from(hi)]
        .iter()
        .map(|&c| match C_LOG2_C.get(c as usize) {
            Some(&v) => v,
            None => f64::from(c) * f64::from(c).log2(),
        })
        .sum();
    n.log2() - sum / n
}

/// `c·log2 c` for the counts below 256 (`0` for `0`).
static C_LOG2_C: std::sync::LazyLock<[f64; 256]> = std::sync::LazyLock::new(|| {
    let mut t = [0.0; 256];
    for (c, v) in t.iter_mut().enumerate().skip(1) {
        *v = c as f64 * (c as f64).log2();
    }
    t
});

/// Words that mark a stand-in wherever they appear, in any letter case (lower case here).
const MARKER_WORDS: [&[u8]; 8] = [
    b"example",
    b"placeholder",
    b"redacted",
    b"your_",
    b"your-",
    b"<your",
    b"xxxx",
    b"****",
];

/// [`MARKER_WORDS`] for values longer than [`has_marker`]'s block.
static MARKERS: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(MARKER_WORDS)
            .ok()
    });

/// Whether `t` holds one of [`MARKER_WORDS`], in any letter case. A value of up to 64 bytes
/// (a secret's usual length) is copied into a block of zeros and looked at 16 bytes at a time
/// for the words' first two bytes, letters lowered by setting their `0x20` bit (which lets a
/// few other bytes through too: `\n` reads as `*`); each such place is then compared whole.
/// On the worst-case text's values this costs half of the automaton's search (121 instructions
/// a value against 227: on values this short, each search is mostly its set-up). A longer value
/// goes to the automaton. Fails closed: without the automaton (it always builds), no long value
/// holds a marker, so none is let through as a stand-in.
fn has_marker(t: &[u8]) -> bool {
    const BLOCK: usize = 64;
    if t.len() > BLOCK {
        return MARKERS.as_ref().is_some_and(|m| m.is_match(t));
    }
    // One byte more than the block, for the second byte of a pair at its last place.
    let mut block = [0u8; BLOCK + 1];
    block[..t.len()].copy_from_slice(t);
    let bytes: &[i8] = bytemuck::cast_slice(&block);
    let lower = wide::i8x16::splat(0x20);
    let mut k = 0;
    while k < t.len() {
        let a = wide::i8x16::from_slice_unaligned(&bytes[k..]) | lower;
        let b = wide::i8x16::from_slice_unaligned(&bytes[k + 1..]) | lower;
        let places = MARKER_WORDS
            .iter()
            .fold(wide::i8x16::splat(0), |places, w| {
                use wide::CmpEq;
                let (x, y) = ((w[0] | 0x20) as i8, (w[1] | 0x20) as i8);
                places | (a.cmp_eq(wide::i8x16::splat(x)) & b.cmp_eq(wide::i8x16::splat(y)))
            });
        let mut bits = places.move_mask() as u32 & 0xffff;
        while bits != 0 {
            let at = k + bits.trailing_zeros() as usize;
            let here = &t[at.min(t.len())..];
            if MARKER_WORDS
                .iter()
                .any(|w| here.len() >= w.len() && here[..w.len()].eq_ignore_ascii_case(w))
            {
                return true;
            }
            bits &= bits - 1;
        }
        k += 16;
    }
    false
}

/// A value that only stands in for a secret: `${DB_PASSWORD}`, `<your-api-key>`, `********`,
/// `changeme`-style words, documentation examples, values already masked.
pub fn placeholder(v: &str) -> bool {
    let t = v.trim_matches(|c| c == '"' || c == '\'');
    if t.len() < 4
        || t.starts_with("${")
        || t.starts_with("$(")
        || t.starts_with("{{")
        || t.starts_with('<')
        || t.starts_with('[')
        || t.starts_with('%')
        || t.starts_with("process.env")
        || t.starts_with("os.environ")
        || t.starts_with("env.")
    {
        return true;
    }
    if let Some(first) = t.chars().next()
        && t.chars().all(|c| c == first)
    {
        return true; // ********, xxxxxxxx
    }
    // Cut short for display: `sk_live_...`, `ghp_…`.
    if t.ends_with("...") || t.contains('…') {
        return true;
    }
    // A shell or PowerShell variable: `$API_KEY`, `$env:API_KEY`.
    if let Some(name) = t.strip_prefix("$env:").or_else(|| t.strip_prefix('$'))
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return true;
    }
    if has_marker(t.as_bytes()) {
        return true;
    }
    // Words that are a stand-in only when they are the whole value (`MySecret2024` is a
    // password; `secret` is a template).
    const WHOLE: &[&str] = &[
        "dummy",
        "sample",
        "changeit",
        "changeme",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "required",
        "optional",
        "string",
        "password",
        "passwd",
        "secret",
        "token",
        "mask",
        "masked",
        "hidden",
        "value",
        "test",
        "todo",
        "tbd",
        "empty",
        "default",
    ];
    // The value's letters and digits, lower case; no word above is longer than 9.
    let mut bare = [0u8; 9];
    let mut n = 0;
    for b in t.bytes().filter(u8::is_ascii_alphanumeric) {
        if n == bare.len() {
            return false;
        }
        bare[n] = b.to_ascii_lowercase();
        n += 1;
    }
    WHOLE.iter().any(|w| w.as_bytes() == &bare[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_marker` finds what the automaton finds, on values of every length up to past the
    /// block, built of the markers' bytes (each case), their neighbours under the `0x20` bit
    /// (`\n` reads as `*`, `\x1c` as `<`) and other bytes.
    #[test]
    fn markers_are_found_as_the_automaton_finds_them() {
        const PIECES: &[&str] = &[
            "example",
            "EXAMPLE",
            "Placeholder",
            "reDacted",
            "your_",
            "YOUR-",
            "<your",
            "xxxx",
            "XxXx",
            "****",
            "***",
            "ex",
            "pl",
            "re",
            "yo",
            "<y",
            "xx",
            "**",
            "\n\n",
            "\n*",
            "*\n",
            "E",
            "x",
            "y",
            "our",
            "a1",
            "Z9-",
            "_",
            ".",
            "\x1c",
            "\x1cy",
            ",",
            "\u{e9}",
            "\u{2026}",
        ];
        let Some(markers) = MARKERS.as_ref() else {
            panic!("the marker automaton builds");
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for _ in 0..200_000 {
            let mut v = String::new();
            let goal = (next() % 90) as usize;
            while v.len() < goal {
                // A whole marker one time in eight: about half the values hold one.
                let from = if next() % 8 == 0 { 0 } else { 10 };
                v.push_str(PIECES[from + (next() % (PIECES.len() - from) as u64) as usize]);
            }
            let want = markers.is_match(v.as_bytes());
            assert_eq!(has_marker(v.as_bytes()), want, "{v:?}");
            found += usize::from(want);
        }
        assert!(found > 50_000 && found < 150_000, "{found}");
    }

    /// `ipv4` reads parts as the standard library's integer parser did before it, on every
    /// string of up to 7 bytes over digits, dots, `+` and `a`.
    #[test]
    fn ipv4_reads_parts_as_the_integer_parser() {
        fn parsed(s: &str) -> bool {
            let parts: Vec<&str> = s.split('.').collect();
            parts.len() == 4
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.len() <= 3
                        && !(p.len() > 1 && p.starts_with('0'))
                        && p.parse::<u16>().is_ok_and(|v| v <= 255)
                })
        }
        let alphabet = ['0', '1', '2', '5', '9', '.', '+', 'a'];
        let mut checked = 0;
        for len in 0..=7u32 {
            for mut code in 0..8usize.pow(len) {
                let mut s = String::new();
                for _ in 0..len {
                    s.push(alphabet[code % 8]);
                    code /= 8;
                }
                assert_eq!(ipv4(&s), parsed(&s), "{s:?}");
                checked += 1;
            }
        }
        for s in [
            "255.255.255.255",
            "256.1.1.1",
            "192.168.001.1",
            "1.2.3.4.5",
            "+1.2.3.4",
        ] {
            assert_eq!(ipv4(s), parsed(s), "{s:?}");
        }
        assert_eq!(checked, (0..=7).map(|n| 8usize.pow(n)).sum::<usize>());
    }

    #[test]
    fn known_values() {
        assert!(luhn(&digits("4111 1111 1111 1111")));
        assert!(!luhn(&digits("4111 1111 1111 1112")));
        assert!(card("4111-1111-1111-1111"));
        assert!(card("378282246310005"));
        assert!(card("5500 0000 0000 0004"));
        assert!(!card("1234 5678 9012 3456"));
        assert!(verhoeff(&digits("2363 4201 2341")));
        assert!(!verhoeff(&digits("2363 4201 2346")));
        assert!(iban("DE89 3704 0044 0532 0130 00"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(!iban("DE89 3704 0044 0532 0130 01"));
        assert!(!iban("XX89370400440532013000"));
        assert!(ssn("123-45-6789"));
        assert!(!ssn("000-45-6789") && !ssn("666-45-6789") && !ssn("900-45-6789"));
        assert!(!ssn("123-00-6789") && !ssn("123-45-0000"));
        assert!(ipv4("192.168.1.10") && !ipv4("256.1.1.1") && !ipv4("01.2.3.4"));
        assert!(ipv6("2001:db8::1") && ipv6("fe80::1") && !ipv6("12:30:45"));
        assert!(
            placeholder("${DB_PASSWORD}")
                && placeholder("********")
                && placeholder("<your-api-key>")
        );
        assert!(!placeholder("hunter2-Qx9!"));
    }

    /// The entropy read from the table is the textbook sum, also past the table's counts.
    #[test]
    fn entropy_is_the_sum_over_the_bytes() {
        let naive = |s: &str| {
            let n = s.len() as f64;
            let mut counts = std::collections::BTreeMap::new();
            for b in s.bytes() {
                *counts.entry(b).or_insert(0u32) += 1;
            }
            counts
                .values()
                .map(|&c| {
                    let p = f64::from(c) / n;
                    -p * p.log2()
                })
                .sum::<f64>()
        };
        let long = format!("{}{}", "a".repeat(300), "0123456789abcdef".repeat(40));
        for s in [
            "a",
            "ab",
            "aaaa",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzKEY",
            "0123456789abcdef",
            &long,
        ] {
            assert!(
                (entropy(s) - naive(s)).abs() < 1e-9,
                "{s}: {} {}",
                entropy(s),
                naive(s)
            );
        }
        assert_eq!(entropy(""), 0.0);
        // Sixteen bytes, eight once and four twice: 3.5 bits exactly, on the threshold.
        assert_eq!(entropy("abcdefghiijjkkll"), 3.5);
    }
}
