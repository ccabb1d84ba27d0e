//! Property tests: the checksums accept exactly what they should, and masking never lets a
//! secret's characters through nor cuts a character in half.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use airlock_scan::validate::{self, digits};
use airlock_scan::{Scanner, Strategy};
use proptest::prelude::*;

/// One scanner per strategy, built once (building compiles every detector).
fn scanner(strategy: Strategy) -> &'static Scanner {
    static SCANNERS: std::sync::OnceLock<Vec<(Strategy, Scanner)>> = std::sync::OnceLock::new();
    let all = SCANNERS.get_or_init(|| {
        [Strategy::Full, Strategy::TypeOnly, Strategy::Hash]
            .into_iter()
            .map(|s| {
                (
                    s,
                    Scanner::builder()
                        .default_strategy(s)
                        .hash_key(b"0123456789abcdef")
                        .build()
                        .unwrap(),
                )
            })
            .collect()
    });
    &all.iter().find(|(s, _)| *s == strategy).unwrap().1
}

proptest! {
    #[test]
    fn luhn_accepts_its_check_digit_and_catches_any_single_change(
        body in proptest::collection::vec(0u8..10, 12..18),
        pos in 0usize..18,
        delta in 1u8..10,
    ) {
        let mut n = body.clone();
        n.push(validate::luhn_check_digit(&body));
        prop_assert!(validate::luhn(&n));
        let i = pos % n.len();
        n[i] = (n[i] + delta) % 10;
        prop_assert!(!validate::luhn(&n), "a changed digit must fail: {n:?}");
    }

    #[test]
    fn verhoeff_accepts_its_check_digit_and_catches_changes_and_swaps(
        body in proptest::collection::vec(0u8..10, 11),
        pos in 0usize..12,
        delta in 1u8..10,
    ) {
        let mut n = body.clone();
        n.push(validate::verhoeff_check_digit(&body));
        prop_assert!(validate::verhoeff(&n));
        let mut changed = n.clone();
        changed[pos] = (changed[pos] + delta) % 10;
        prop_assert!(!validate::verhoeff(&changed));
        let j = pos.min(10);
        if n[j] != n[j + 1] {
            let mut swapped = n.clone();
            swapped.swap(j, j + 1);
            prop_assert!(!validate::verhoeff(&swapped), "an adjacent swap must fail");
        }
    }

    #[test]
    fn mod97_accepts_computed_ibans_and_catches_single_changes(
        bban in proptest::collection::vec(0u8..10, 18),
        pos in 4usize..22,
        delta in 1u8..10,
    ) {
        let bban: String = bban.iter().map(|d| char::from(b'0' + d)).collect();
        // Check digits: 98 − (BBAN ‖ "DE00" as numbers) mod 97.
        let rearranged = format!("{bban}131400");
        let rem = rearranged.bytes().fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
        let iban = format!("DE{:02}{bban}", 98 - rem);
        prop_assert!(validate::iban(&iban), "{iban}");
        let mut bytes = iban.into_bytes();
        bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
        prop_assert!(!validate::iban(std::str::from_utf8(&bytes).unwrap()));
    }

    #[test]
    fn masks_never_leave_the_secret_and_offsets_are_char_boundaries(
        before in "[ a-zA-Zäöüß€漢字🙂\n,.:;]{0,40}",
        after in "[ a-zA-Zäöüß€漢字🙂\n,.:;]{0,40}",
        which in 0usize..8,
        strategy in prop_oneof![Just(Strategy::Full), Just(Strategy::TypeOnly), Just(Strategy::Hash)],
    ) {
        let secrets = [
            "ada.lovelace@example.org",
            "4111 1111 1111 1111",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "AKIAZ3MXQ4RLT7P2WD5K",
            "xoxb-2345678901-2345678901234-AbCdEfGhIjKl",
            "123-45-6789",
            "DE89 3704 0044 0532 0130 00",
            "sk_live_51Hx2Ly9Qz8Pw7Rv6Tu5",
        ];
        let secret = secrets[which];
        let text = format!("{before} {secret} {after}");
        let scanner = scanner(strategy);
        let findings = scanner.find(&text);
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!(f.start < f.end);
        }
        let masked = scanner.apply(&text, &findings);
        prop_assert!(!masked.contains(secret), "{masked}");
        // No run of the secret's significant characters survives either (digits of a card).
        let secret_digits: String = digits(secret).iter().map(|d| char::from(b'0' + d)).collect();
        if secret_digits.len() >= 9 {
            let masked_digits: String = digits(&masked).iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(!masked_digits.contains(&secret_digits[secret_digits.len() - 8..]), "{masked}");
        }
    }

    #[test]
    fn look_alike_spellings_are_masked_and_offsets_stay_char_boundaries(
        before in "[ a-zA-Z€漢\u{a0}\u{200b}\u{ad}\u{2013}\u{ff11}\u{ff20}\n,.:]{0,30}",
        after in "[ a-zA-Z€漢\u{a0}\u{200b}\u{ad}\u{2013}\u{ff11}\u{ff20}\n,.:]{0,30}",
        which in 0usize..6,
        spelling in proptest::collection::vec(0u8..4, 60),
    ) {
        let secrets = [
            "ada.lovelace@example.org",
            "4111 1111 1111 1111",
            "AKIAZ3MXQ4RLT7P2WD5K",
            "123-45-6789",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "DE89 3704 0044 0532 0130 00",
        ];
        let secret = secrets[which];
        // Each character as it is, in its fullwidth form, or followed by an invisible one.
        let spelled: String = secret
            .chars()
            .zip(spelling.iter().cycle())
            .map(|(c, how)| match how {
                1 if c.is_ascii_graphic() => char::from_u32(u32::from(c) + 0xFEE0).unwrap().to_string(),
                2 => format!("{c}\u{200b}"),
                3 => format!("{c}\u{ad}"),
                _ => c.to_string(),
            })
            .collect();
        let spelled = spelled.trim_end_matches(['\u{200b}', '\u{ad}']);
        let text = format!("{before} {spelled} {after}");
        let scanner = scanner(Strategy::TypeOnly);
        let findings = scanner.find(&text);
        let mut end = 0;
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!(f.start < f.end && f.start >= end, "{findings:?}");
            end = f.end;
        }
        let masked = scanner.apply(&text, &findings);
        prop_assert!(!masked.contains(spelled), "{text:?} -> {masked:?}");
    }
}
