//! Held-out labelled evaluation of the scanner: a few thousand documents shaped like real ones
//! (JSON API responses, CSV exports, application and nginx logs, .env, YAML, docker-compose and
//! Kubernetes files, stack traces, SQL result tables, e-mails, chat transcripts, shell sessions,
//! git logs, package manifests, HTTP exchanges, travel and KYC records), each with labelled
//! spans of personal data and secrets; clean documents full of hard negatives (references,
//! placeholders, versions, hashes, UUIDs, timestamps, account ids, ISBNs, the AWS documentation
//! keys); and decoys that have the shape of a value but break its rules (SSN areas 000/666/9xx,
//! wrong Luhn or mod-97 check digits).
//!
//! The data is built from public format specifications, not from the detectors: ICAO Doc 9303
//! (passport numbers and TD3 machine-readable zones with 7-3-1 check digits), the SSA's rules
//! for social security numbers, libphonenumber's metadata through the `phonenumber` crate
//! (numbers it says are valid, in E.164, international, national and RFC 3966 formats), card
//! brands' IIN ranges with Luhn, the SWIFT IBAN registry's lengths with mod-97, UIDAI's
//! Verhoeff check, and the vendors' published token formats. A xorshift64* generator with fixed
//! seeds makes every run the same; nothing touches the network.
//!
//! Scoring: per type, recall (share of labels overlapped by a finding of any type, and by one
//! of the expected type) and precision (findings of that type overlapping a label of any type,
//! over all its findings); type-agnostic overlap precision, recall and F1 over all spans; and
//! the share of clean documents with at least one finding. The floors asserted are a little
//! below what the scanner measured when this test was written, so the test guards against
//! regressions; the issue's targets are printed beside them:
//!
//! - type-agnostic F1 ≥ 0.97,
//! - type-agnostic precision ≥ 0.98,
//! - at most 1 % of clean documents flagged.
//!
//! Run with the table printed:
//!
//! ```text
//! cargo test -p airlock-scan --test heldout -- --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use airlock_scan::{Finding, Scanner};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

/// xorshift64* (Vigna): small, fast, good enough to shuffle test data, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }

    /// Between `lo` and `hi` (inclusive) characters of `alphabet`.
    fn string_n(&mut self, alphabet: &[u8], lo: u64, hi: u64) -> String {
        let n = self.between(lo, hi) as usize;
        self.string(alphabet, n)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

const DIGITS: &[u8] = b"0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Also the base62 digit order GitHub's token checksums use.
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER_ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";
/// RFC 4648 base32: what follows AKIA in an AWS access key id.
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// ---------------------------------------------------------------------------------------------
// Check digits and encodings, from their specifications.

fn base64(bytes: &[u8], alphabet: &[u8], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Luhn (ISO/IEC 7812-1): the check digit to append to `body`.
fn luhn_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn luhn_ok(number: &str) -> bool {
    luhn_digit(&number[..number.len() - 1]) == u32::from(number.as_bytes()[number.len() - 1] - b'0')
}

/// ISO 7064 mod 97-10 over an IBAN rearranged (BBAN, country, check) with letters as 10..35.
fn iban_mod97(country: &str, check: &str, bban: &str) -> u32 {
    let mut rem = 0u32;
    for c in bban.chars().chain(country.chars()).chain(check.chars()) {
        let v = c.to_digit(36).unwrap();
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

fn iban_check(country: &str, bban: &str) -> String {
    format!("{:02}", 98 - iban_mod97(country, "00", bban))
}

/// ICAO Doc 9303 part 3: weights 7, 3, 1; digits as themselves, A–Z as 10–35, `<` as 0.
fn mrz_check(field: &str) -> char {
    let sum: u32 = field
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let v = if c == '<' { 0 } else { c.to_digit(36).unwrap() };
            v * [7, 3, 1][i % 3]
        })
        .sum();
    char::from_digit(sum % 10, 10).unwrap()
}

/// Verhoeff (dihedral group D5), as UIDAI uses for Aadhaar's last digit.
fn verhoeff_digit(body: &str) -> u8 {
    const D: [[u8; 10]; 10] = [
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
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];
    let mut c = 0u8;
    for (i, b) in body.bytes().rev().enumerate() {
        c = D[c as usize][P[(i + 1) % 8][(b - b'0') as usize] as usize];
    }
    INV[c as usize]
}

/// CRC-32 (IEEE 802.3, reflected), as in GitHub's and npm's token checksums.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base62_6(mut n: u32) -> String {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALNUM[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// ISBN-13 check digit (weights 1, 3).
fn isbn13(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn group(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        out.push(&s[at..at + n]);
        at += n;
    }
    out.join(sep)
}

// ---------------------------------------------------------------------------------------------
// Documents and labels.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// Has labelled values.
    Labelled,
    /// No personal data and no secrets; hard negatives only.
    Clean,
    /// Look-alikes that break the rules of their type (wrong check digit, reserved ranges).
    Decoy,
}

struct Label {
    start: usize,
    end: usize,
    /// The expected type first, then other types that are also right for this span.
    kinds: Kinds,
    /// Sub-population (phone region and format, card brand, ...), for the breakdowns.
    tag: String,
}

struct Doc {
    family: &'static str,
    class: Class,
    text: String,
    labels: Vec<Label>,
}

impl Doc {
    fn new(family: &'static str, class: Class) -> Self {
        Self {
            family,
            class,
            text: String::new(),
            labels: Vec::new(),
        }
    }

    /// Appends unlabelled text.
    fn s(&mut self, t: &str) {
        self.text.push_str(t);
    }

    /// Appends a labelled value.
    fn v(&mut self, value: &str, kinds: Kinds) {
        self.vt(value, kinds, String::new());
    }

    /// Appends a labelled value of a sub-population (`tag`).
    fn vt(&mut self, value: &str, kinds: Kinds, tag: String) {
        assert!(!value.is_empty());
        let start = self.text.len();
        self.text.push_str(value);
        self.labels.push(Label {
            start,
            end: self.text.len(),
            kinds,
            tag,
        });
    }
}

type Kinds = &'static [&'static str];
const EMAIL: Kinds = &["email"];
const PHONE: Kinds = &["phone"];
const SSN: Kinds = &["us_ssn"];
const CARD: Kinds = &["credit_card"];
const IBAN: Kinds = &["iban"];
const PASSPORT: Kinds = &["passport_number"];
const AADHAAR: Kinds = &["aadhaar"];
const PAN: Kinds = &["pan_india"];
const IPV4: Kinds = &["ipv4"];
const IPV6: Kinds = &["ipv6"];
const AWS_ID: Kinds = &["aws_access_key_id"];
const AWS_SECRET: Kinds = &["aws_secret_access_key"];
const GITHUB: Kinds = &["github_token"];
const GITHUB_PAT: Kinds = &["github_fine_grained_token", "github_token"];
const SLACK: Kinds = &["slack_token"];
const SLACK_HOOK: Kinds = &["slack_webhook"];
const STRIPE: Kinds = &["stripe_key"];
const GOOGLE: Kinds = &["google_api_key"];
const OPENAI: Kinds = &["openai_key"];
const ANTHROPIC: Kinds = &["anthropic_key"];
const NPM: Kinds = &["npm_token"];
const SENDGRID: Kinds = &["sendgrid_key"];
const JWT: Kinds = &["jwt", "bearer_token"];
const BEARER: Kinds = &["bearer_token", "high_entropy_secret"];
const BASIC: Kinds = &["basic_auth"];
const CONN: Kinds = &["connection_string", "basic_auth"];
const PRIVATE_KEY: Kinds = &["private_key"];
/// A value under a secret's name (`DB_PASSWORD=…`, `password: …`, an API key header).
const PASSWORD: Kinds = &["password_assignment", "high_entropy_secret", "bearer_token"];
/// A value after a command-line flag (`--password x`, `-p'x'`).
const ARGUMENT: Kinds = &[
    "password_argument",
    "password_assignment",
    "high_entropy_secret",
];

// ---------------------------------------------------------------------------------------------
// Value generators.

/// People, with ASCII spellings for their e-mail addresses.
const FIRST: &[(&str, &str)] = &[
    ("Anna", "anna"),
    ("Jürgen", "juergen"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Priya", "priya"),
    ("Wei", "wei"),
    ("Olamide", "olamide"),
    ("Siobhán", "siobhan"),
    ("Łukasz", "lukasz"),
    ("Hiroshi", "hiroshi"),
    ("Fatima", "fatima"),
    ("Mateo", "mateo"),
    ("Chloé", "chloe"),
    ("Sven", "sven"),
    ("Aarav", "aarav"),
    ("Emily", "emily"),
    ("Liam", "liam"),
    ("Sofia", "sofia"),
    ("Ingrid", "ingrid"),
    ("Mohammed", "mohammed"),
    ("Camille", "camille"),
    ("Ji-woo", "jiwoo"),
    ("Thandiwe", "thandiwe"),
    ("Rafael", "rafael"),
];
const LAST: &[(&str, &str)] = &[
    ("Müller", "mueller"),
    ("García", "garcia"),
    ("O'Brien", "obrien"),
    ("Nguyen", "nguyen"),
    ("Sharma", "sharma"),
    ("Kowalski", "kowalski"),
    ("Tanaka", "tanaka"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Smith", "smith"),
    ("Johansson", "johansson"),
    ("Okafor", "okafor"),
    ("Silva", "silva"),
    ("Kim", "kim"),
    ("van der Berg", "vanderberg"),
    ("Schmidt", "schmidt"),
    ("Patel", "patel"),
    ("Fernández", "fernandez"),
    ("Ivanova", "ivanova"),
    ("Haddad", "haddad"),
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.co.uk",
    "web.de",
    "gmx.de",
    "orange.fr",
    "proton.me",
    "icloud.com",
    "rediffmail.com",
    "yahoo.co.jp",
    "uol.com.br",
    "northwind-traders.com",
    "contoso-pharma.de",
    "globex.co.uk",
    "initech.io",
    "umbrella-corp.fr",
    "acme-logistics.com.au",
    "tatadigital.in",
    "mail.uni-freiburg.de",
    "cs.stanford.edu",
    "hooli.xyz",
];

struct Person {
    first: &'static str,
    last: &'static str,
    first_ascii: &'static str,
    last_ascii: &'static str,
    email: String,
}

impl Person {
    fn full(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

#[derive(Clone)]
struct Phone {
    region: &'static str,
    e164: String,
    international: String,
    national: String,
    rfc3966: String,
}

/// Regions asked of libphonenumber's metadata.
const PHONE_REGIONS: &[&str] = &[
    "US", "CA", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "ES", "IT", "NL", "MX", "CN", "KR", "SG",
    "ZA", "SE", "CH", "PL", "IE", "NZ", "BE", "AT", "AR", "TR", "NG", "AE",
];

/// Numbers libphonenumber says are valid: each region's example mobile and fixed-line numbers
/// with their tails re-drawn, kept only when `is_valid` holds, the number belongs to the region,
/// and the national format parses back to the same number.
fn phone_pool(rng: &mut Rng) -> Vec<Phone> {
    use phonenumber::metadata::DATABASE;
    use phonenumber::{Mode, country::Id};
    let mut pool = Vec::new();
    for &region in PHONE_REGIONS {
        let id: Id = region.parse().unwrap();
        let Some(meta) = DATABASE.by_id(region) else {
            continue;
        };
        let cc = meta.country_code();
        let d = meta.descriptors();
        let examples: Vec<String> = [d.mobile(), d.fixed_line()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example().map(str::to_owned))
            .collect();
        if examples.is_empty() {
            continue;
        }
        let (mut got, mut tries) = (0, 0);
        while got < 16 && tries < 600 {
            tries += 1;
            let example = &examples[rng.below(examples.len())];
            let keep = (2 + rng.below(3)).min(example.len() - 4);
            let nsn = format!(
                "{}{}",
                &example[..keep],
                rng.string(DIGITS, example.len() - keep)
            );
            let Ok(n) = phonenumber::parse(None, format!("+{cc}{nsn}")) else {
                continue;
            };
            if !phonenumber::is_valid(&n) || n.country().id() != Some(id) {
                continue;
            }
            let e164 = n.format().mode(Mode::E164).to_string();
            let national = n.format().mode(Mode::National).to_string();
            let international = n.format().mode(Mode::International).to_string();
            let rfc3966 = n.format().mode(Mode::Rfc3966).to_string();
            let same = |s: &str, id: Option<Id>| {
                phonenumber::parse(id, s)
                    .is_ok_and(|b| b.format().mode(Mode::E164).to_string() == e164)
            };
            if !same(&national, Some(id)) || !same(&international, None) {
                continue;
            }
            if pool.iter().any(|p: &Phone| p.e164 == e164) {
                continue;
            }
            pool.push(Phone {
                region,
                e164,
                international,
                national,
                rfc3966,
            });
            got += 1;
        }
    }
    pool
}

struct Gen {
    rng: Rng,
    phones: Vec<Phone>,
}

impl Gen {
    fn person(&mut self) -> Person {
        let (first, first_ascii) = self.rng.pick(FIRST);
        let (last, last_ascii) = self.rng.pick(LAST);
        let mut p = Person {
            first,
            last,
            first_ascii,
            last_ascii,
            email: String::new(),
        };
        p.email = self.email_for(&p);
        p
    }

    fn email_for(&mut self, p: &Person) -> String {
        let (f, l) = (p.first_ascii, p.last_ascii);
        let local = match self.rng.below(9) {
            0 | 1 => format!("{f}.{l}"),
            2 => format!("{f}{l}"),
            3 => format!("{}.{l}", &f[..1]),
            4 => format!("{f}_{l}"),
            5 => format!(
                "{f}.{l}+{}",
                self.rng.pick(&["newsletter", "shop", "github", "work"])
            ),
            6 => format!("{f}{}", self.rng.between(1, 9999)),
            7 => format!("{l}-{}{}", &f[..1], self.rng.between(10, 99)),
            _ => format!("{}.{}", capital(f), capital(l)),
        };
        format!("{local}@{}", self.rng.pick(MAIL_DOMAINS))
    }

    fn role_email(&mut self) -> String {
        format!(
            "{}@{}",
            self.rng
                .pick(&["billing", "support", "accounts.payable", "hr", "no-reply"]),
            self.rng.pick(MAIL_DOMAINS)
        )
    }

    fn phone(&mut self) -> Phone {
        self.phones[self.rng.below(self.phones.len())].clone()
    }

    /// A phone number written one of the ways libphonenumber formats it; national formats only
    /// where the document says which country (`national_ok`).
    fn phone_text(&mut self, national_ok: bool) -> (String, String) {
        let p = self.phone();
        let (text, fmt) = match self.rng.below(if national_ok { 10 } else { 7 }) {
            0..=2 => (p.e164.clone(), "e164"),
            3..=6 => (p.international.clone(), "international"),
            _ => (p.national.clone(), "national"),
        };
        let tag = format!("{} {fmt}", p.region);
        (text, tag)
    }

    fn put_phone(&mut self, d: &mut Doc, national_ok: bool) {
        let (text, tag) = self.phone_text(national_ok);
        d.vt(&text, PHONE, tag);
    }

    fn ssn(&mut self) -> String {
        let area = loop {
            let a = self.rng.between(1, 899);
            if a != 666 {
                break a;
            }
        };
        let g = self.rng.between(1, 99);
        let s = self.rng.between(1, 9999);
        format!("{area:03}{g:02}{s:04}")
    }

    /// Breaks exactly one SSA rule: area 000, 666 or 9xx, group 00, serial 0000.
    fn bad_ssn(&mut self) -> String {
        let good = self.ssn();
        match self.rng.below(5) {
            0 => format!("000{}", &good[3..]),
            1 => format!("666{}", &good[3..]),
            2 => format!("9{:02}{}", self.rng.between(0, 99), &good[3..]),
            3 => format!("{}00{}", &good[..3], &good[5..]),
            _ => format!("{}0000", &good[..5]),
        }
    }

    fn ssn_text(&mut self, digits: &str) -> (String, &'static str) {
        match self.rng.below(10) {
            0..=5 => (group(digits, &[3, 2, 4], "-"), "dashed"),
            6 | 7 => (group(digits, &[3, 2, 4], " "), "spaced"),
            _ => (digits.to_owned(), "plain"),
        }
    }

    fn put_ssn(&mut self, d: &mut Doc) {
        let n = self.ssn();
        let (text, how) = self.ssn_text(&n);
        d.vt(&text, SSN, how.to_owned());
    }

    /// A card number of a brand (from its IIN ranges) with a correct Luhn digit, or with a
    /// wrong one.
    fn card(&mut self, valid: bool) -> (String, &'static str) {
        let (brand, prefix, len) = match self.rng.below(9) {
            0..=2 => ("visa", "4".to_owned(), 16),
            3 => ("mastercard", format!("5{}", self.rng.between(1, 5)), 16),
            4 => ("mastercard", self.rng.between(2221, 2720).to_string(), 16),
            5 => ("amex", self.rng.pick(&["34", "37"]).to_owned(), 15),
            6 => ("discover", self.rng.pick(&["6011", "65"]).to_owned(), 16),
            7 => ("jcb", self.rng.between(3528, 3589).to_string(), 16),
            _ => ("visa", "4".to_owned(), 16),
        };
        let body = format!(
            "{prefix}{}",
            self.rng.string(DIGITS, len - 1 - prefix.len())
        );
        let check = luhn_digit(&body);
        let digit = if valid {
            check
        } else {
            (check + 1 + self.rng.between(0, 8) as u32) % 10
        };
        (format!("{body}{digit}"), brand)
    }

    fn card_text(&mut self, number: &str) -> (String, &'static str) {
        let sizes: &[usize] = if number.len() == 15 {
            &[4, 6, 5]
        } else {
            &[4, 4, 4, 4]
        };
        match self.rng.below(10) {
            0..=3 => (group(number, sizes, " "), "spaced"),
            4..=6 => (group(number, sizes, "-"), "dashed"),
            _ => (number.to_owned(), "plain"),
        }
    }

    fn put_card(&mut self, d: &mut Doc) {
        let (n, brand) = self.card(true);
        let (text, how) = self.card_text(&n);
        d.vt(&text, CARD, format!("{brand} {how}"));
    }

    /// An IBAN per the SWIFT registry's BBAN structure for its country, with correct (or, for
    /// decoys, wrong) mod-97 check digits.
    fn iban(&mut self, valid: bool) -> (String, &'static str) {
        // (country, BBAN structure: n digits, a upper-case letters, c alphanumerics)
        const REGISTRY: &[(&str, &str)] = &[
            ("DE", "18n"),
            ("GB", "4a14n"),
            ("FR", "10n11c2n"),
            ("ES", "20n"),
            ("IT", "1a10n12c"),
            ("NL", "4a10n"),
            ("BE", "12n"),
            ("CH", "5n12c"),
            ("AT", "16n"),
            ("PL", "24n"),
            ("SE", "20n"),
            ("IE", "4a14n"),
            ("PT", "21n"),
            ("NO", "11n"),
        ];
        let (cc, structure) = self.rng.pick(REGISTRY);
        let mut bban = String::new();
        let mut n = 0usize;
        for c in structure.chars() {
            if let Some(d) = c.to_digit(10) {
                n = n * 10 + d as usize;
                continue;
            }
            for _ in 0..n {
                let alphabet = match c {
                    'n' => DIGITS,
                    'a' => UPPER,
                    _ if self.rng.percent(85) => DIGITS,
                    _ => UPPER,
                };
                bban.push(alphabet[self.rng.below(alphabet.len())] as char);
            }
            n = 0;
        }
        let mut check = iban_check(cc, &bban);
        if !valid {
            let good: u32 = check.parse().unwrap();
            let bad = loop {
                let b = self.rng.between(2, 98) as u32;
                if b != good {
                    break b;
                }
            };
            check = format!("{bad:02}");
        }
        (format!("{cc}{check}{bban}"), cc)
    }

    fn iban_text(&mut self, iban: &str) -> (String, &'static str) {
        if self.rng.percent(55) {
            let chunks: Vec<String> = iban
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            (chunks.join(" "), "print")
        } else {
            (iban.to_owned(), "electronic")
        }
    }

    fn put_iban(&mut self, d: &mut Doc) {
        let (n, cc) = self.iban(true);
        let (text, how) = self.iban_text(&n);
        d.vt(&text, IBAN, format!("{cc} {how}"));
    }

    /// A passport number in a national format: (ICAO issuing state, number).
    fn passport(&mut self) -> (&'static str, String) {
        let r = &mut self.rng;
        match r.below(14) {
            0 => ("USA", r.string(DIGITS, 9)),
            1 => (
                "USA",
                format!("{}{}", r.pick(&['A', 'Z']), r.string(DIGITS, 8)),
            ),
            2 => ("GBR", format!("{}{}", r.between(1, 5), r.string(DIGITS, 8))),
            3 => (
                "D",
                format!(
                    "{}{}",
                    r.pick(&['C', 'F', 'G', 'H', 'J', 'K']),
                    r.string(b"CFGHJKLMNPRTVWXYZ0123456789", 8)
                ),
            ),
            4 => (
                "IND",
                format!(
                    "{}{}{}",
                    r.pick(&[
                        'J', 'K', 'L', 'M', 'N', 'P', 'R', 'S', 'T', 'U', 'V', 'W', 'Z'
                    ]),
                    r.between(1, 9),
                    r.string(DIGITS, 6)
                ),
            ),
            5 => (
                "FRA",
                format!(
                    "{}{}{}",
                    r.string(DIGITS, 2),
                    r.string(UPPER, 2),
                    r.string(DIGITS, 5)
                ),
            ),
            6 => (
                "CAN",
                format!("{}{}", r.string(UPPER, 2), r.string(DIGITS, 6)),
            ),
            7 => (
                "AUS",
                format!(
                    "{}{}",
                    r.pick(&["N", "P", "PA", "PB", "E"]),
                    r.string(DIGITS, 7)
                ),
            ),
            8 => (
                "CHN",
                format!("{}{}", r.pick(&['E', 'G']), r.string(DIGITS, 8)),
            ),
            9 => (
                "NLD",
                format!(
                    "{}{}{}",
                    r.string(b"ABCDEFGHIJKLMNPQRSTUVWXYZ", 2),
                    r.string(b"ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789", 6),
                    r.between(0, 9)
                ),
            ),
            10 => (
                "ITA",
                format!("{}{}", r.string(UPPER, 2), r.string(DIGITS, 7)),
            ),
            11 => (
                "ESP",
                format!("{}{}", r.string(UPPER, 3), r.string(DIGITS, 6)),
            ),
            12 => (
                "JPN",
                format!("{}{}", r.string(UPPER, 2), r.string(DIGITS, 7)),
            ),
            _ => (
                "BRA",
                format!("{}{}", r.string(UPPER, 2), r.string(DIGITS, 6)),
            ),
        }
    }

    fn aadhaar(&mut self) -> String {
        let body = format!("{}{}", self.rng.between(2, 9), self.rng.string(DIGITS, 10));
        let n = format!("{body}{}", verhoeff_digit(&body));
        if self.rng.percent(70) {
            group(&n, &[4, 4, 4], " ")
        } else {
            n
        }
    }

    fn pan(&mut self, p: &Person) -> String {
        format!(
            "{}{}{}{}{}",
            self.rng.string(UPPER, 3),
            if self.rng.percent(85) {
                'P'
            } else {
                self.rng.pick(&['C', 'H', 'F'])
            },
            p.last_ascii[..1].to_ascii_uppercase(),
            self.rng.string(DIGITS, 4),
            self.rng.string(UPPER, 1)
        )
    }

    /// A public unicast IPv4 address (no private, loopback, CGNAT, link-local, documentation or
    /// benchmarking ranges).
    fn ipv4(&mut self) -> String {
        loop {
            let a = self.rng.between(1, 223);
            let b = self.rng.between(0, 255);
            let c = self.rng.between(0, 255);
            let d = self.rng.between(1, 254);
            let reserved = a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b))
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168)
                || (a == 192 && b == 0 && c == 2)
                || (a == 198 && (b == 18 || b == 19))
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113);
            if !reserved {
                return format!("{a}.{b}.{c}.{d}");
            }
        }
    }

    /// A global unicast IPv6 address under a real provider prefix, compressed or not.
    fn ipv6(&mut self) -> String {
        let prefix: &[&str] = self.rng.pick(&[
            &["2a02", "8108"][..],
            &["2600", "1700"][..],
            &["2a01", "4f8"][..],
            &["2001", "4860"][..],
            &["2606", "4700"][..],
            &["2a00", "1450"][..],
            &["2403", "6200"][..],
            &["2804", "14c"][..],
        ]);
        let mut groups: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
        while groups.len() < 8 {
            let n = self.rng.between(0, 0xffff);
            groups.push(format!("{n:x}"));
        }
        if self.rng.percent(60) {
            let keep_tail = self.rng.between(1, 2) as usize;
            let head = self.rng.between(3, 4) as usize;
            format!(
                "{}::{}",
                groups[..head].join(":"),
                groups[8 - keep_tail..].join(":")
            )
        } else {
            groups.join(":")
        }
    }

    fn aws_key_id(&mut self) -> String {
        format!(
            "{}{}",
            if self.rng.percent(85) { "AKIA" } else { "ASIA" },
            self.rng.string(BASE32, 16)
        )
    }

    fn aws_secret(&mut self) -> String {
        self.rng.string(B64, 40)
    }

    /// Classic GitHub token: prefix, 30 base62 characters, 6-character base62 CRC-32.
    fn github(&mut self) -> String {
        let prefix = self
            .rng
            .pick(&["ghp_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_"]);
        let body = self.rng.string(ALNUM, 30);
        format!("{prefix}{body}{}", base62_6(crc32(body.as_bytes())))
    }

    fn github_pat(&mut self) -> String {
        format!(
            "github_pat_11{}_{}",
            self.rng.string(UPPER_ALNUM, 20),
            self.rng.string(ALNUM, 59)
        )
    }

    fn slack(&mut self) -> String {
        if self.rng.percent(60) {
            format!(
                "xoxb-{}-{}-{}",
                self.rng.string_n(DIGITS, 10, 13),
                self.rng.string_n(DIGITS, 10, 13),
                self.rng.string(ALNUM, 24)
            )
        } else {
            format!(
                "xoxp-{}-{}-{}-{}",
                self.rng.string_n(DIGITS, 10, 12),
                self.rng.string_n(DIGITS, 10, 12),
                self.rng.string_n(DIGITS, 10, 13),
                self.rng.string(HEX, 32)
            )
        }
    }

    fn slack_webhook(&mut self) -> String {
        format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            self.rng.string(UPPER_ALNUM, 8),
            self.rng.string(UPPER_ALNUM, 10),
            self.rng.string(ALNUM, 24)
        )
    }

    fn stripe(&mut self) -> String {
        let n = self.rng.pick(&[24usize, 34, 99]);
        format!(
            "{}{}",
            self.rng.pick(&["sk_live_", "sk_live_", "rk_live_"]),
            self.rng.string(ALNUM, n)
        )
    }

    fn google_key(&mut self) -> String {
        format!("AIza{}", self.rng.string(B64URL, 35))
    }

    fn openai_key(&mut self) -> String {
        if self.rng.percent(50) {
            format!(
                "sk-{}T3BlbkFJ{}",
                self.rng.string(ALNUM, 20),
                self.rng.string(ALNUM, 20)
            )
        } else {
            format!(
                "sk-proj-{}T3BlbkFJ{}",
                self.rng.string(B64URL, 64),
                self.rng.string(B64URL, 64)
            )
        }
    }

    fn anthropic_key(&mut self) -> String {
        format!("sk-ant-api03-{}AA", self.rng.string(B64URL, 93))
    }

    fn npm_token(&mut self) -> String {
        let body = self.rng.string(ALNUM, 30);
        format!("npm_{body}{}", base62_6(crc32(body.as_bytes())))
    }

    fn sendgrid(&mut self) -> String {
        format!(
            "SG.{}.{}",
            self.rng.string(B64URL, 22),
            self.rng.string(B64URL, 43)
        )
    }

    /// A JWT: a real JSON header and claims, base64url without padding, and a signature of the
    /// algorithm's length.
    fn jwt(&mut self) -> String {
        let (header, sig_len) = match self.rng.below(3) {
            0 => (r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(), 32),
            1 => (
                format!(
                    r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#,
                    self.rng.string(HEX, 16)
                ),
                256,
            ),
            _ => (r#"{"typ":"JWT","alg":"ES256"}"#.to_owned(), 64),
        };
        let iat = self.rng.between(1_690_000_000, 1_730_000_000);
        let payload = match self.rng.below(3) {
            0 => format!(
                r#"{{"sub":"{}","name":"{} {}","iat":{iat},"exp":{}}}"#,
                self.rng.between(100_000, 9_999_999),
                self.rng.pick(FIRST).1,
                self.rng.pick(LAST).1,
                iat + 3600
            ),
            1 => format!(
                r#"{{"iss":"https://auth.{}/","aud":"api","scope":"read:orders write:orders","iat":{iat},"exp":{}}}"#,
                self.rng.pick(MAIL_DOMAINS),
                iat + 900
            ),
            _ => format!(
                r#"{{"sub":"{}","role":"service","jti":"{}","iat":{iat}}}"#,
                self.uuid(),
                self.rng.string(HEX, 12)
            ),
        };
        let sig = self.rng.bytes(sig_len);
        format!(
            "{}.{}.{}",
            base64(header.as_bytes(), B64URL, false),
            base64(payload.as_bytes(), B64URL, false),
            base64(&sig, B64URL, false)
        )
    }

    fn opaque_token(&mut self) -> String {
        match self.rng.below(3) {
            0 => self.rng.string_n(B64URL, 32, 48),
            1 => format!("ya29.{}", self.rng.string(B64URL, 120)),
            _ => self.rng.string(HEX, 40),
        }
    }

    /// A PEM private key block (RFC 7468) with lines joined by `newline` (`"\n"` in a file,
    /// `"\\n"` inside a JSON string).
    fn private_key(&mut self, newline: &str) -> String {
        let (label, head, lines) = match self.rng.below(4) {
            0 => ("RSA PRIVATE KEY", "MIIEpAIBAAKCAQEA", 25),
            1 => (
                "PRIVATE KEY",
                "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ",
                26,
            ),
            2 => ("EC PRIVATE KEY", "MHcCAQEEI", 3),
            _ => (
                "OPENSSH PRIVATE KEY",
                "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
                7,
            ),
        };
        let mut body = head.to_owned();
        body.push_str(&base64(&self.rng.bytes(lines * 48), B64, false));
        body.truncate(lines * 64 - self.rng.below(40));
        let mut out = format!("-----BEGIN {label}-----{newline}");
        for chunk in body.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push_str(newline);
        }
        out.push_str(&format!("-----END {label}-----"));
        out
    }

    /// A password as people and generators make them; `url_safe` keeps to characters that
    /// need no escaping in a URL's user-info.
    fn password(&mut self, url_safe: bool) -> String {
        const WORDS: &[&str] = &[
            "Sunflower",
            "Bluebird",
            "Harbour",
            "Galaxy",
            "Tangerine",
            "Marathon",
            "Kingfisher",
            "Lighthouse",
        ];
        match self.rng.below(if url_safe { 4 } else { 7 }) {
            0 => format!(
                "{}{}{}",
                self.rng.pick(WORDS),
                self.rng.between(10, 2025),
                if url_safe {
                    ""
                } else {
                    self.rng.pick(&["!", "#", "*", "?"])
                }
            ),
            1 => self.rng.string(
                b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_",
                20,
            ),
            2 => self.rng.string(HEX, 32),
            3 => format!(
                "{}-{}-{}-{}",
                self.rng.pick(WORDS).to_lowercase(),
                self.rng.pick(WORDS).to_lowercase(),
                self.rng.pick(WORDS).to_lowercase(),
                self.rng.between(1, 99)
            ),
            4 => base64(&self.rng.bytes(32), B64, true),
            5 => self
                .rng
                .string(b"abcdefghijklmnopqrstuvwxyz0123456789!@%^&*(-_=+)", 50),
            _ => self.rng.string_n(
                b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!%&*+?",
                12,
                24,
            ),
        }
    }

    /// A secret under one of the names people give them, with a value of that name's shape.
    fn named_secret(&mut self) -> (&'static str, String) {
        let name = self.rng.pick(&[
            "SECRET_KEY",
            "ENCRYPTION_KEY",
            "DATADOG_API_KEY",
            "WEBHOOK_SECRET",
            "DB_PASSWORD",
            "API_TOKEN",
            "JWT_SECRET",
            "SESSION_SECRET",
            "SMTP_PASSWORD",
            "REDIS_PASSWORD",
            "APP_KEY",
            "SIGNING_KEY",
            "CLIENT_SECRET",
            "ADMIN_PASSWORD",
            "MAILGUN_API_KEY",
            "SENTRY_AUTH_TOKEN",
            "ALGOLIA_ADMIN_KEY",
            "POSTGRES_PASSWORD",
        ]);
        let value = match name {
            "DATADOG_API_KEY" | "ALGOLIA_ADMIN_KEY" => self.rng.string(HEX, 32),
            "WEBHOOK_SECRET" => format!("whsec_{}", self.rng.string(ALNUM, 32)),
            "APP_KEY" => format!("base64:{}", base64(&self.rng.bytes(32), B64, true)),
            "MAILGUN_API_KEY" => format!("key-{}", self.rng.string(HEX, 32)),
            "SENTRY_AUTH_TOKEN" => format!("sntrys_{}", self.rng.string(B64URL, 60)),
            "ENCRYPTION_KEY" | "SIGNING_KEY" => base64(&self.rng.bytes(32), B64, true),
            _ => self.password(false),
        };
        (name, value)
    }

    /// A vendor credential by its published format: (env name, value, expected kinds).
    fn vendor_secret(&mut self) -> (&'static str, String, Kinds) {
        match self.rng.below(11) {
            0 => ("GITHUB_TOKEN", self.github(), GITHUB),
            1 => ("GH_PAT", self.github_pat(), GITHUB_PAT),
            2 => ("SLACK_BOT_TOKEN", self.slack(), SLACK),
            3 => ("SLACK_WEBHOOK_URL", self.slack_webhook(), SLACK_HOOK),
            4 => ("STRIPE_SECRET_KEY", self.stripe(), STRIPE),
            5 => ("GOOGLE_MAPS_API_KEY", self.google_key(), GOOGLE),
            6 => ("OPENAI_API_KEY", self.openai_key(), OPENAI),
            7 => ("ANTHROPIC_API_KEY", self.anthropic_key(), ANTHROPIC),
            8 => ("NPM_TOKEN", self.npm_token(), NPM),
            9 => ("SENDGRID_API_KEY", self.sendgrid(), SENDGRID),
            _ => ("AUTH_JWT", self.jwt(), JWT),
        }
    }

    fn db_host(&mut self) -> String {
        match self.rng.below(5) {
            0 => "db-prod.internal".to_owned(),
            1 => format!(
                "pg-main.cluster-{}.eu-west-1.rds.amazonaws.com",
                self.rng.string(LOWER_ALNUM, 12)
            ),
            2 => "mysql.data.svc.cluster.local".to_owned(),
            3 => format!("cluster0.{}.mongodb.net", self.rng.string(LOWER_ALNUM, 5)),
            _ => "db".to_owned(),
        }
    }

    /// A connection URL with credentials.
    fn connection_string(&mut self) -> String {
        let user = self.rng.pick(&[
            "app",
            "postgres",
            "admin",
            "svc_orders",
            "root",
            "reporting",
        ]);
        let pw = self.password(true);
        let host = self.db_host();
        match self.rng.below(6) {
            0 | 1 => format!(
                "{}://{user}:{pw}@{host}:5432/{}",
                self.rng
                    .pick(&["postgres", "postgresql", "postgresql+psycopg2"]),
                self.rng.pick(&["app", "orders", "analytics"])
            ),
            2 => format!("mysql://{user}:{pw}@{host}:3306/shop"),
            3 => format!("mongodb+srv://{user}:{pw}@{host}/prod?retryWrites=true&w=majority"),
            4 => format!("redis://:{pw}@{host}:6379/0"),
            _ => format!("amqp://{user}:{pw}@{host}:5672/%2F"),
        }
    }

    fn uuid(&mut self) -> String {
        let h = self.rng.string(HEX, 32);
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            self.rng.pick(&['8', '9', 'a', 'b']),
            &h[17..20],
            &h[20..]
        )
    }

    fn hex(&mut self, n: usize) -> String {
        self.rng.string(HEX, n)
    }

    fn ts(&mut self) -> String {
        format!(
            "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.rng.between(1, 12),
            self.rng.between(1, 28),
            self.rng.between(0, 23),
            self.rng.between(0, 59),
            self.rng.between(0, 59),
            self.rng.between(0, 999)
        )
    }

    fn date(&mut self) -> String {
        format!(
            "{}-{:02}-{:02}",
            self.rng.between(2019, 2025),
            self.rng.between(1, 12),
            self.rng.between(1, 28)
        )
    }

    fn clf_time(&mut self) -> String {
        format!(
            "{:02}/{}/2024:{:02}:{:02}:{:02} +0000",
            self.rng.between(1, 28),
            self.rng
                .pick(&["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul"]),
            self.rng.between(0, 23),
            self.rng.between(0, 59),
            self.rng.between(0, 59)
        )
    }

    fn epoch(&mut self) -> u64 {
        self.rng.between(1_600_000_000, 1_730_000_000)
    }

    fn version(&mut self) -> String {
        format!(
            "{}.{}.{}",
            self.rng.between(0, 12),
            self.rng.between(0, 40),
            self.rng.between(0, 30)
        )
    }

    fn user_agent(&mut self) -> String {
        match self.rng.below(6) {
            0 | 1 => format!(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.{}.{} Safari/537.36",
                self.rng.between(100, 126),
                self.rng.between(5000, 6999),
                self.rng.between(10, 250)
            ),
            2 => format!(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Safari/605.1.15",
                self.rng.between(0, 5)
            ),
            3 => format!(
                "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0",
                self.rng.between(110, 128)
            ),
            4 => format!(
                "curl/8.{}.{}",
                self.rng.between(0, 9),
                self.rng.between(0, 3)
            ),
            _ => format!(
                "python-requests/2.{}.{}",
                self.rng.between(25, 32),
                self.rng.between(0, 3)
            ),
        }
    }

    fn isbn(&mut self) -> String {
        let n = isbn13(&format!("978{}", self.rng.string(DIGITS, 9)));
        format!(
            "{}-{}-{}-{}-{}",
            &n[..3],
            &n[3..4],
            &n[4..7],
            &n[7..12],
            &n[12..]
        )
    }

    fn account_id(&mut self) -> String {
        format!("{}{}", self.rng.between(1, 9), self.rng.string(DIGITS, 11))
    }

    fn host(&mut self) -> String {
        format!(
            "{}-{:02}",
            self.rng
                .pick(&["web", "api", "worker", "db", "bastion", "build"]),
            self.rng.between(1, 12)
        )
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn json_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

// ---------------------------------------------------------------------------------------------
// Labelled documents.

fn json_api(g: &mut Gen) -> Doc {
    let mut d = Doc::new("json_api", Class::Labelled);
    let p = g.person();
    d.s(&format!(
        "{{\n  \"data\": {{\n    \"id\": \"cus_{}\",\n    \"object\": \"customer\",\n    \"created\": {},\n    \"name\": \"{}\",\n    \"email\": \"",
        g.rng.string(ALNUM, 14),
        g.epoch(),
        json_str(&p.full())
    ));
    d.v(&p.email, EMAIL);
    d.s("\",\n    \"phone\": \"");
    g.put_phone(&mut d, false);
    d.s(&format!(
        "\",\n    \"address\": {{\"line1\": \"{} {}\", \"postal_code\": \"{}\", \"country\": \"{}\"}},\n",
        g.rng.between(1, 240),
        g.rng.pick(&["Hauptstraße", "Baker Street", "Rue de Rivoli", "Main St", "Calle Mayor"]),
        g.rng.between(10000, 99999),
        g.rng.pick(&["DE", "GB", "FR", "US", "ES"])
    ));
    if g.rng.percent(30) {
        d.s("    \"ssn\": \"");
        g.put_ssn(&mut d);
        d.s("\",\n");
    }
    if g.rng.percent(20) {
        let (state, num) = g.passport();
        d.s(&format!(
            "    \"nationality\": \"{state}\",\n    \"passport_number\": \""
        ));
        d.vt(&num, PASSPORT, format!("{state} json"));
        d.s("\",\n");
    }
    if g.rng.percent(30) {
        d.s("    \"bank_account\": {\"iban\": \"");
        g.put_iban(&mut d);
        d.s(&format!("\", \"holder\": \"{}\"}},\n", json_str(&p.full())));
    }
    if g.rng.percent(25) {
        d.s("    \"card\": {\"number\": \"");
        g.put_card(&mut d);
        d.s(&format!(
            "\", \"exp_month\": {}, \"exp_year\": {}}},\n",
            g.rng.between(1, 12),
            g.rng.between(2025, 2031)
        ));
    }
    if g.rng.percent(60) {
        d.s("    \"last_login_ip\": \"");
        if g.rng.percent(80) {
            let ip = g.ipv4();
            d.v(&ip, IPV4);
        } else {
            let ip = g.ipv6();
            d.v(&ip, IPV6);
        }
        d.s("\",\n");
    }
    d.s(&format!(
        "    \"livemode\": true\n  }},\n  \"request_id\": \"{}\",\n  \"api_version\": \"2024-04-10\"\n}}\n",
        g.uuid()
    ));
    d
}

fn csv_export(g: &mut Gen) -> Doc {
    let mut d = Doc::new("csv_export", Class::Labelled);
    let mut extra = vec![
        "phone",
        "ssn",
        "iban",
        "card_number",
        "passport_no",
        "signup_ip",
    ];
    let n_extra = 1 + g.rng.below(3);
    let mut cols = Vec::new();
    for _ in 0..n_extra {
        cols.push(extra.remove(g.rng.below(extra.len())));
    }
    d.s("id,first_name,last_name,email,country");
    for c in &cols {
        d.s(&format!(",{c}"));
    }
    d.s(",created_at\n");
    for _ in 0..g.rng.between(3, 10) {
        let p = g.person();
        d.s(&format!(
            "{},{},\"{}\",",
            g.rng.between(1000, 99999),
            p.first,
            p.last
        ));
        d.v(&p.email, EMAIL);
        let phone = g.phone();
        d.s(&format!(",{}", phone.region));
        for &c in &cols {
            d.s(",");
            match c {
                "phone" => {
                    let (text, fmt) = match g.rng.below(3) {
                        0 => (phone.e164.clone(), "e164"),
                        1 => (phone.international.clone(), "international"),
                        _ => (phone.national.clone(), "national"),
                    };
                    d.vt(&text, PHONE, format!("{} {fmt}", phone.region));
                }
                "ssn" => g.put_ssn(&mut d),
                "iban" => g.put_iban(&mut d),
                "card_number" => g.put_card(&mut d),
                "passport_no" => {
                    let (state, num) = g.passport();
                    d.vt(&num, PASSPORT, format!("{state} csv"));
                }
                _ => {
                    let ip = g.ipv4();
                    d.v(&ip, IPV4);
                }
            }
        }
        d.s(&format!(",{}\n", g.ts()));
    }
    d
}

fn app_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new("app_log", Class::Labelled);
    let level = |g: &mut Gen| g.rng.pick(&["INFO ", "DEBUG", "WARN ", "ERROR"]);
    for _ in 0..g.rng.between(6, 14) {
        let ts = g.ts();
        let lv = level(g);
        match g.rng.below(12) {
            0 | 1 => {
                let p = g.person();
                d.s(&format!("{ts} {lv} [auth] login succeeded user="));
                d.v(&p.email, EMAIL);
                d.s(" ip=");
                let ip = g.ipv4();
                d.v(&ip, IPV4);
                d.s(&format!(" session={}\n", g.uuid()));
            }
            2 | 3 => d.s(&format!(
                "{ts} {lv} [http] GET /api/v2/orders/{} 200 {}ms req_id={}\n",
                g.rng.between(100_000, 999_999),
                g.rng.between(2, 900),
                g.uuid()
            )),
            4 => {
                d.s(&format!("{ts} {lv} [db] connecting dsn="));
                let c = g.connection_string();
                d.v(&c, CONN);
                d.s(" pool_size=10\n");
            }
            5 => {
                d.s(&format!("{ts} {lv} [billing] charge declined card="));
                g.put_card(&mut d);
                d.s(&format!(
                    " amount={}.{:02} currency=EUR order=ORD-{}\n",
                    g.rng.between(1, 900),
                    g.rng.between(0, 99),
                    g.rng.between(100_000, 999_999)
                ));
            }
            6 => {
                d.s(&format!("{ts} {lv} [notify] sms queued to="));
                g.put_phone(&mut d, false);
                d.s(" template=otp_login\n");
            }
            7 => {
                d.s(&format!("{ts} {lv} [http.client] > Authorization: Bearer "));
                if g.rng.percent(50) {
                    let t = g.jwt();
                    d.v(&t, JWT);
                } else {
                    let t = g.opaque_token();
                    d.v(&t, BEARER);
                }
                d.s("\n");
            }
            8 => {
                let p = g.person();
                d.s(&format!(
                    "{{\"level\":\"info\",\"ts\":\"{ts}\",\"msg\":\"profile updated\",\"email\":\""
                ));
                d.v(&p.email, EMAIL);
                d.s("\",\"phone\":\"");
                g.put_phone(&mut d, false);
                d.s(&format!("\",\"trace_id\":\"{}\"}}\n", g.hex(32)));
            }
            9 => {
                d.s(&format!("{ts} {lv} [edge] upstream client="));
                let ip = g.ipv6();
                d.v(&ip, IPV6);
                d.s(&format!(" status=502 bytes={}\n", g.rng.between(0, 90_000)));
            }
            10 => {
                d.s(&format!("{ts} {lv} [kyc] verification submitted ssn="));
                g.put_ssn(&mut d);
                d.s(" status=pending\n");
            }
            _ => d.s(&format!(
                "{ts} {lv} [main] starting api v{} (build {}) on :8080\n",
                g.version(),
                g.hex(7)
            )),
        }
    }
    d
}

fn nginx_access(g: &mut Gen) -> Doc {
    let mut d = Doc::new("nginx_access", Class::Labelled);
    for _ in 0..g.rng.between(5, 14) {
        if g.rng.percent(88) {
            let ip = g.ipv4();
            d.v(&ip, IPV4);
        } else {
            let ip = g.ipv6();
            d.v(&ip, IPV6);
        }
        d.s(&format!(" - - [{}] \"", g.clf_time()));
        match g.rng.below(20) {
            0 => {
                let p = g.person();
                d.s("GET /account/reset?email=");
                d.vt(&p.email.replace('@', "%40"), EMAIL, "urlencoded".to_owned());
            }
            1 => {
                d.s("GET /api/export.csv?access_token=");
                let t = g.opaque_token();
                d.vt(&t, BEARER, "query".to_owned());
            }
            n => {
                let method = if n % 5 == 0 { "POST" } else { "GET" };
                let path = match n % 4 {
                    0 => format!("/api/v1/orders?page={}", g.rng.between(1, 40)),
                    1 => format!("/static/js/app.{}.js", g.hex(8)),
                    2 => "/healthz".to_owned(),
                    _ => format!("/products/{}", g.rng.between(1000, 99999)),
                };
                d.s(&format!("{method} {path}"));
            }
        }
        d.s(&format!(
            " HTTP/1.1\" {} {} \"{}\" \"{}\" rt={}.{:03}\n",
            g.rng.pick(&[200, 200, 200, 301, 304, 404, 500]),
            g.rng.between(0, 60_000),
            g.rng.pick(&[
                "-",
                "https://shop.northwind-traders.com/cart",
                "https://www.google.com/"
            ]),
            g.user_agent(),
            g.rng.between(0, 2),
            g.rng.between(0, 999)
        ));
    }
    d
}

fn dotenv(g: &mut Gen) -> Doc {
    let mut d = Doc::new("dotenv", Class::Labelled);
    d.s(&format!(
        "# {} settings\nNODE_ENV=production\nPORT={}\nLOG_LEVEL=info\n",
        g.rng.pick(&["production", "staging", "local"]),
        g.rng.pick(&[3000, 8080, 8000])
    ));
    for _ in 0..g.rng.between(2, 6) {
        let quote = if g.rng.percent(25) { "\"" } else { "" };
        match g.rng.below(6) {
            0 => {
                d.s("DATABASE_URL=");
                d.s(quote);
                let c = g.connection_string();
                d.v(&c, CONN);
                d.s(quote);
            }
            1 => {
                let id = g.aws_key_id();
                let secret = g.aws_secret();
                d.s("AWS_ACCESS_KEY_ID=");
                d.v(&id, AWS_ID);
                d.s("\nAWS_SECRET_ACCESS_KEY=");
                d.s(quote);
                d.v(&secret, AWS_SECRET);
                d.s(quote);
                d.s("\nAWS_DEFAULT_REGION=eu-central-1");
            }
            2 | 3 => {
                let (name, v, kinds) = g.vendor_secret();
                d.s(&format!("{}={quote}", name));
                d.v(&v, kinds);
                d.s(quote);
            }
            _ => {
                let (name, v) = g.named_secret();
                d.s(&format!("{name}={quote}"));
                d.vt(&v, PASSWORD, name.to_owned());
                d.s(quote);
            }
        }
        d.s("\n");
        if g.rng.percent(30) {
            d.s(&format!(
                "FEATURE_{}={}\n",
                g.rng.pick(&["NEW_CHECKOUT", "BETA_SEARCH", "DARK_MODE"]),
                g.rng.pick(&["true", "false"])
            ));
        }
    }
    d
}

fn yaml_config(g: &mut Gen) -> Doc {
    let mut d = Doc::new("yaml_config", Class::Labelled);
    d.s(&format!(
        "app:\n  name: orders-api\n  version: {}\n  port: 8080\ndatabase:\n  host: {}\n  port: 5432\n  user: app\n  password: ",
        g.version(),
        g.db_host()
    ));
    let pw = g.password(false);
    if g.rng.percent(50) || !pw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        d.s("\"");
        d.vt(&pw, PASSWORD, "yaml password quoted".to_owned());
        d.s("\"");
    } else {
        d.vt(&pw, PASSWORD, "yaml password".to_owned());
    }
    d.s("\n  pool: 20\n");
    if g.rng.percent(50) {
        d.s("  url: ");
        let c = g.connection_string();
        d.v(&c, CONN);
        d.s("\n");
    }
    if g.rng.percent(60) {
        let p = g.person();
        d.s("smtp:\n  host: smtp.sendgrid.net\n  port: 587\n  username: ");
        d.v(&p.email, EMAIL);
        d.s("\n  password: ");
        let s = g.sendgrid();
        d.v(&s, SENDGRID);
        d.s("\n");
    }
    d.s("integrations:\n");
    for _ in 0..g.rng.between(1, 3) {
        let (name, v, kinds) = g.vendor_secret();
        d.s(&format!("  {}: ", name.to_lowercase()));
        d.v(&v, kinds);
        d.s("\n");
    }
    if g.rng.percent(50) {
        let (name, v) = g.named_secret();
        d.s(&format!("  {}: \"", name.to_lowercase()));
        d.vt(&v, PASSWORD, format!("yaml {}", name.to_lowercase()));
        d.s("\"\n");
    }
    d.s(&format!(
        "logging:\n  level: info\n  sample_rate: 0.{}\n",
        g.rng.between(1, 9)
    ));
    d
}

fn docker_compose(g: &mut Gen) -> Doc {
    let mut d = Doc::new("docker_compose", Class::Labelled);
    let pw = g.password(true);
    d.s("services:\n  db:\n    image: postgres:16.2-alpine\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: ");
    d.vt(&pw, PASSWORD, "compose POSTGRES_PASSWORD".to_owned());
    d.s(&format!(
        "\n    ports:\n      - \"5432:5432\"\n  api:\n    image: ghcr.io/northwind/api:{}\n    depends_on: [db]\n    environment:\n      - DATABASE_URL=",
        g.version()
    ));
    let url = format!("postgres://app:{pw}@db:5432/app");
    d.v(&url, CONN);
    d.s("\n");
    for _ in 0..g.rng.between(1, 3) {
        if g.rng.percent(50) {
            let (name, v) = g.named_secret();
            d.s(&format!("      - {name}="));
            d.vt(&v, PASSWORD, format!("compose {name}"));
        } else {
            let (name, v, kinds) = g.vendor_secret();
            d.s(&format!("      - {name}="));
            d.v(&v, kinds);
        }
        d.s("\n");
    }
    d.s("    ports:\n      - \"8080:8080\"\n    restart: unless-stopped\n");
    d
}

fn k8s_secret(g: &mut Gen) -> Doc {
    let mut d = Doc::new("k8s_secret", Class::Labelled);
    d.s(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}-secrets\n  namespace: prod\n  uid: {}\n  resourceVersion: \"{}\"\ntype: Opaque\ndata:\n",
        g.rng.pick(&["orders", "payments", "search"]),
        g.uuid(),
        g.rng.between(100_000, 99_999_999)
    ));
    for _ in 0..g.rng.between(1, 3) {
        let (name, v) = g.named_secret();
        d.s(&format!("  {name}: "));
        d.vt(
            &base64(v.as_bytes(), B64, true),
            PASSWORD,
            "k8s data (base64)".to_owned(),
        );
        d.s("\n");
    }
    d.s("stringData:\n");
    if g.rng.percent(50) {
        d.s("  DATABASE_URL: ");
        let c = g.connection_string();
        d.v(&c, CONN);
    } else {
        let (name, v) = g.named_secret();
        d.s(&format!("  {name}: \""));
        d.vt(&v, PASSWORD, format!("k8s stringData {name}"));
        d.s("\"");
    }
    d.s("\n");
    d
}

fn aws_credentials(g: &mut Gen) -> Doc {
    let mut d = Doc::new("aws_credentials", Class::Labelled);
    for profile in ["default", "prod", "ci"]
        .iter()
        .take(g.rng.between(1, 3) as usize)
    {
        let id = g.aws_key_id();
        let secret = g.aws_secret();
        d.s(&format!("[{profile}]\naws_access_key_id = "));
        d.v(&id, AWS_ID);
        d.s("\naws_secret_access_key = ");
        d.v(&secret, AWS_SECRET);
        d.s(&format!(
            "\nregion = {}\n\n",
            g.rng.pick(&["us-east-1", "eu-west-1", "ap-south-1"])
        ));
    }
    d
}

fn stack_trace(g: &mut Gen) -> Doc {
    let mut d = Doc::new("stack_trace", Class::Labelled);
    if g.rng.percent(50) {
        d.s(&format!(
            "{} ERROR 1 --- [nio-8080-exec-{}] c.n.payments.PaymentService : charge failed\ncom.northwind.payments.CardDeclinedException: card ",
            g.ts(),
            g.rng.between(1, 9)
        ));
        g.put_card(&mut d);
        d.s(" declined for customer ");
        let p = g.person();
        d.v(&p.email, EMAIL);
        d.s(&format!(
            "\n\tat com.northwind.payments.PaymentService.charge(PaymentService.java:{})\n\tat com.northwind.payments.PaymentController.pay(PaymentController.java:{})\n\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n\t... {} common frames omitted\nCaused by: org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique constraint \"users_email_key\"\n  Detail: Key (email)=(",
            g.rng.between(40, 400),
            g.rng.between(20, 200),
            g.rng.between(20, 120)
        ));
        let p = g.person();
        d.v(&p.email, EMAIL);
        d.s(") already exists.\n");
    } else {
        d.s(&format!(
            "Traceback (most recent call last):\n  File \"/srv/app/venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py\", line {}, in __init__\n    self._dbapi_connection = engine.raw_connection()\n  File \"/srv/app/orders/db.py\", line {}, in connect\n    return create_engine(url).connect()\nsqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server failed\nengine url: ",
            g.rng.between(100, 999),
            g.rng.between(10, 99)
        ));
        let c = g.connection_string();
        d.v(&c, CONN);
        d.s(&format!(
            "\n(Background on this error at: https://sqlalche.me/e/20/{})\n",
            g.rng.string(LOWER_ALNUM, 4)
        ));
        if g.rng.percent(50) {
            d.s("ValueError: could not reach ");
            g.put_phone(&mut d, false);
            d.s(" for user ");
            let p = g.person();
            d.v(&p.email, EMAIL);
            d.s("\n");
        }
    }
    d
}

fn sql_table(g: &mut Gen) -> Doc {
    let mut d = Doc::new("sql_table", Class::Labelled);
    let third = g.rng.pick(&["phone", "ssn", "iban", "card"]);
    d.s(&format!(
        "app=> SELECT id, name, email, {third} FROM customers ORDER BY id LIMIT 5;\n id  |        name          |               email                |        {third}\n-----+----------------------+------------------------------------+--------------------------\n"
    ));
    let rows = g.rng.between(2, 6);
    for _ in 0..rows {
        let p = g.person();
        d.s(&format!(
            " {:<3} | {:<20} | ",
            g.rng.between(1, 999),
            p.full()
        ));
        d.v(&p.email, EMAIL);
        d.s(&format!(
            "{:pad$} | ",
            "",
            pad = 34usize.saturating_sub(p.email.len())
        ));
        match third {
            "phone" => g.put_phone(&mut d, false),
            "ssn" => g.put_ssn(&mut d),
            "iban" => g.put_iban(&mut d),
            _ => g.put_card(&mut d),
        }
        d.s("\n");
    }
    d.s(&format!("({rows} rows)\n\napp=> \\q\n"));
    d
}

fn email_message(g: &mut Gen) -> Doc {
    let mut d = Doc::new("email_message", Class::Labelled);
    let from = g.person();
    let to = g.person();
    d.s(&format!("From: {} <", from.full()));
    d.v(&from.email, EMAIL);
    d.s(">\nTo: ");
    if g.rng.percent(50) {
        d.v(&to.email, EMAIL);
    } else {
        d.s(&format!("\"{}\" <", to.full()));
        d.v(&to.email, EMAIL);
        d.s(">");
    }
    if g.rng.percent(40) {
        d.s("\nCc: ");
        let role = g.role_email();
        d.v(&role, EMAIL);
    }
    d.s(&format!(
        "\nSubject: Invoice {}-{:04}\nDate: Thu, {} May 2024 10:{:02}:{:02} +0200\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nDear {},\n\n",
        g.rng.between(2023, 2024),
        g.rng.between(1, 9999),
        g.rng.between(1, 28),
        g.rng.between(0, 59),
        g.rng.between(0, 59),
        to.first
    ));
    match g.rng.below(3) {
        0 => {
            d.s("please transfer the outstanding amount to our account\nIBAN: ");
            g.put_iban(&mut d);
            d.s(&format!(
                "\nBIC: {}\n",
                g.rng.pick(&["COBADEFFXXX", "NWBKGB2L", "BNPAFRPP"])
            ));
        }
        1 => {
            d.s("as requested, here are my details for the booking:\nPassport No.: ");
            let (state, num) = g.passport();
            d.vt(&num, PASSPORT, format!("{state} form"));
            d.s(&format!("\nExpiry: {}\n", g.date()));
        }
        _ => {
            d.s("I tried to pay with my card ");
            g.put_card(&mut d);
            d.s(" but the payment failed twice. Could you check?\n");
        }
    }
    d.s("\nYou can reach me on ");
    g.put_phone(&mut d, false);
    d.s(&format!(
        " during office hours.\n\nBest regards,\n{}\n--\n{} | Finance\nTel: ",
        from.first,
        from.full()
    ));
    g.put_phone(&mut d, false);
    d.s("\n");
    d
}

fn chat_transcript(g: &mut Gen) -> Doc {
    let mut d = Doc::new("chat_transcript", Class::Labelled);
    let names: Vec<&str> = (0..3).map(|_| g.rng.pick(FIRST).1).collect();
    let mut minute = g.rng.between(0, 40);
    for _ in 0..g.rng.between(4, 9) {
        minute += g.rng.between(0, 3);
        let who = g.rng.pick(&names);
        d.s(&format!(
            "[{:02}:{:02}] {who}: ",
            g.rng.between(8, 18),
            minute % 60
        ));
        match g.rng.below(10) {
            0 => {
                d.s("here are the staging creds ");
                let c = g.connection_string();
                d.v(&c, CONN);
            }
            1 => {
                d.s("my new number is ");
                g.put_phone(&mut d, false);
                d.s(", call me if the deploy breaks");
            }
            2 => {
                d.s("use this token for now: ");
                let t = g.github();
                d.v(&t, GITHUB);
            }
            3 => {
                d.s("the stripe key is ");
                let t = g.stripe();
                d.v(&t, STRIPE);
                d.s(" — please rotate after the demo");
            }
            4 => {
                let p = g.person();
                d.s("customer complaint from ");
                d.v(&p.email, EMAIL);
                d.s(" about order #");
                d.s(&g.rng.between(100_000, 999_999).to_string());
            }
            5 => {
                d.s("slack bot token: ");
                let t = g.slack();
                d.v(&t, SLACK);
            }
            6 => d.s(&format!(
                "deployed v{} to prod, build {}",
                g.version(),
                g.hex(7)
            )),
            7 => d.s(&format!(
                "PR #{} is ready for review, CI took {}m{}s",
                g.rng.between(100, 9999),
                g.rng.between(1, 30),
                g.rng.between(0, 59)
            )),
            8 => {
                d.s("which ip is the new bastion? ");
                let ip = g.ipv4();
                d.v(&ip, IPV4);
                d.s(" right?");
            }
            _ => d.s("lgtm 👍"),
        }
        d.s("\n");
    }
    d
}

fn shell_session(g: &mut Gen) -> Doc {
    let mut d = Doc::new("shell_session", Class::Labelled);
    let user = g.rng.pick(&["deploy", "ubuntu", "root", "anna", "ci"]);
    let host = g.host();
    let prompt = if g.rng.percent(50) {
        format!("{user}@{host}:~$ ")
    } else {
        format!("{user}@{host}.northwind-traders.com:~/app$ ")
    };
    for _ in 0..g.rng.between(3, 7) {
        d.s(&prompt);
        match g.rng.below(10) {
            0 => {
                d.s("export AWS_ACCESS_KEY_ID=");
                let id = g.aws_key_id();
                d.v(&id, AWS_ID);
                d.s(&format!("\n{prompt}export AWS_SECRET_ACCESS_KEY="));
                let s = g.aws_secret();
                d.v(&s, AWS_SECRET);
                d.s("\n");
            }
            1 => {
                d.s(&format!("mysql -h {} -u root -p", g.db_host()));
                let pw = g.password(true);
                if g.rng.percent(50) {
                    d.vt(&pw, ARGUMENT, "mysql -p".to_owned());
                } else {
                    d.s("'");
                    d.vt(&pw, ARGUMENT, "mysql -p''".to_owned());
                    d.s("'");
                }
                d.s(" shop\nERROR 2003 (HY000): Can't connect to MySQL server (110)\n");
            }
            2 => {
                d.s("curl -s -H \"Authorization: Bearer ");
                if g.rng.percent(50) {
                    let t = g.github();
                    d.v(&t, GITHUB);
                } else {
                    let t = g.opaque_token();
                    d.v(&t, BEARER);
                }
                d.s("\" https://api.github.com/user | jq .login\n\"octocat\"\n");
            }
            3 => {
                d.s("ip -br addr\neth0             UP             ");
                let ip = g.ipv4();
                d.v(&ip, IPV4);
                d.s("/24 ");
                let ip6 = g.ipv6();
                d.v(&ip6, IPV6);
                d.s("/64\n");
            }
            4 => {
                d.s("psql \"");
                let c = g.connection_string();
                d.v(&c, CONN);
                d.s("\" -c 'select 1'\n ?column?\n----------\n        1\n(1 row)\n\n");
            }
            5 => {
                let flag = g.rng.pick(&["--password", "--password=", "--db-password ", "--api-key "]);
                let pw = g.password(true);
                d.s(&format!("./bin/migrate --user admin {flag}"));
                if flag == "--password" {
                    d.s(" ");
                }
                d.vt(&pw, ARGUMENT, flag.trim().to_owned());
                d.s(&format!(" --env prod\nApplied {} migrations.\n", g.rng.between(1, 9)));
            }
            6 => {
                d.s("docker login -u northwind -p ");
                let pw = g.password(true);
                d.vt(&pw, ARGUMENT, "docker login -p".to_owned());
                d.s(" ghcr.io\nWARNING! Using --password via the CLI is insecure. Use --password-stdin.\nLogin Succeeded\n");
            }
            7 => d.s(&format!(
                "git log --oneline -3\n{} Bump serde to 1.0.{}\n{} Fix flaky test\n{} Merge pull request #{} from northwind/feature\n",
                g.hex(7),
                g.rng.between(150, 210),
                g.hex(7),
                g.hex(7),
                g.rng.between(100, 999)
            )),
            8 => d.s(&format!(
                "uptime\n 10:{:02}:{:02} up {} days,  3 users,  load average: 0.{}, 0.{}, 0.{}\n",
                g.rng.between(0, 59),
                g.rng.between(0, 59),
                g.rng.between(1, 300),
                g.rng.between(0, 99),
                g.rng.between(0, 99),
                g.rng.between(0, 99)
            )),
            _ => {
                d.s("PGPASSWORD=");
                let pw = g.password(true);
                d.vt(&pw, PASSWORD, "PGPASSWORD= (shell)".to_owned());
                d.s(&format!(" pg_dump -h {} -U app app > backup.sql\n", g.db_host()));
            }
        }
    }
    d.s(&prompt);
    d.s("exit\nlogout\n");
    d
}

fn git_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new("git_log", Class::Labelled);
    for _ in 0..g.rng.between(1, 3) {
        let p = g.person();
        d.s(&format!("commit {}\nAuthor: {} <", g.hex(40), p.full()));
        d.v(&p.email, EMAIL);
        d.s(&format!(
            ">\nDate:   Thu May {} 10:{:02}:{:02} 2024 +0200\n\n    {}\n\n",
            g.rng.between(1, 28),
            g.rng.between(0, 59),
            g.rng.between(0, 59),
            g.rng.pick(&[
                "Add payment config",
                "Wire up notifications",
                "Update CI secrets",
                "Fix login redirect"
            ])
        ));
    }
    d.s(&format!(
        "diff --git a/config/prod.env b/config/prod.env\nindex {}..{} 100644\n--- a/config/prod.env\n+++ b/config/prod.env\n@@ -1,3 +1,4 @@\n LOG_LEVEL=info\n",
        g.hex(7),
        g.hex(7)
    ));
    for _ in 0..g.rng.between(1, 3) {
        if g.rng.percent(50) {
            let (name, v, kinds) = g.vendor_secret();
            d.s(&format!("+{name}="));
            d.v(&v, kinds);
        } else {
            let (name, v) = g.named_secret();
            d.s(&format!("-{name}=\n+{name}="));
            d.vt(&v, PASSWORD, format!("git diff {name}"));
        }
        d.s("\n");
    }
    d.s(" PORT=8080\n");
    d
}

fn package_manifest(g: &mut Gen) -> Doc {
    let mut d = Doc::new("package_manifest", Class::Labelled);
    let p = g.person();
    match g.rng.below(3) {
        0 => {
            d.s(&format!(
                "{{\n  \"name\": \"@northwind/{}\",\n  \"version\": \"{}\",\n  \"author\": \"{} <",
                g.rng.pick(&["ui-kit", "api-client", "utils"]),
                g.version(),
                json_str(&p.full())
            ));
            d.v(&p.email, EMAIL);
            d.s(&format!(
                ">\",\n  \"license\": \"MIT\",\n  \"dependencies\": {{\n    \"react\": \"^18.{}.0\",\n    \"lodash\": \"^4.17.21\"\n  }}\n}}\n\n# .npmrc\n//registry.npmjs.org/:_authToken=",
                g.rng.between(0, 3)
            ));
            let t = g.npm_token();
            d.v(&t, NPM);
            d.s("\n");
        }
        1 => {
            d.s(&format!(
                "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\nauthors = [\"{} <",
                g.rng.pick(&["ledger-sync", "geo-tools", "fastq"]),
                g.version(),
                p.full()
            ));
            d.v(&p.email, EMAIL);
            d.s(&format!(
                ">\"]\n\n[dependencies]\nserde = \"1.0.{}\"\ntokio = {{ version = \"1.{}\", features = [\"full\"] }}\n\n# ~/.cargo/credentials.toml\n[registries.northwind]\ntoken = \"",
                g.rng.between(150, 210),
                g.rng.between(30, 48)
            ));
            let t = format!("cio{}", g.rng.string(ALNUM, 32));
            d.vt(&t, PASSWORD, "cargo credentials token".to_owned());
            d.s("\"\n");
        }
        _ => {
            d.s(&format!(
                "[project]\nname = \"{}\"\nversion = \"{}\"\nauthors = [{{ name = \"{}\", email = \"",
                g.rng.pick(&["orders-etl", "reportgen"]),
                g.version(),
                p.full()
            ));
            d.v(&p.email, EMAIL);
            d.s(&format!(
                "\" }}]\ndependencies = [\"requests>=2.{}\", \"pydantic==2.{}.{}\"]\n\n# pip.conf\n[global]\nindex-url = ",
                g.rng.between(25, 32),
                g.rng.between(0, 8),
                g.rng.between(0, 3)
            ));
            let pw = g.password(true);
            let url = format!("https://ci-bot:{pw}@pypi.northwind-traders.com/simple");
            d.v(&url, CONN);
            d.s("\n");
        }
    }
    d
}

fn http_exchange(g: &mut Gen) -> Doc {
    let mut d = Doc::new("http_exchange", Class::Labelled);
    d.s(&format!(
        "POST /v1/customers HTTP/1.1\nHost: api.northwind-traders.com\nUser-Agent: {}\nContent-Type: application/json\n",
        g.user_agent()
    ));
    match g.rng.below(4) {
        0 => {
            d.s("Authorization: Bearer ");
            let t = g.jwt();
            d.v(&t, JWT);
        }
        1 => {
            d.s("Authorization: Bearer ");
            let t = g.opaque_token();
            d.v(&t, BEARER);
        }
        2 => {
            let p = g.person();
            let pw = g.password(false);
            d.s("Authorization: Basic ");
            d.v(
                &base64(format!("{}:{pw}", p.email).as_bytes(), B64, true),
                BASIC,
            );
        }
        _ => {
            d.s("X-Api-Key: ");
            let k = g.rng.string(ALNUM, 40);
            d.vt(&k, PASSWORD, "X-Api-Key header".to_owned());
        }
    }
    d.s(&format!("\nX-Request-Id: {}\n\n{{\"email\": \"", g.uuid()));
    let p = g.person();
    d.v(&p.email, EMAIL);
    d.s("\", \"phone\": \"");
    g.put_phone(&mut d, false);
    d.s("\"}\n\n");
    d.s(&format!(
        "HTTP/1.1 201 Created\nDate: Thu, {} May 2024 10:{:02}:{:02} GMT\nContent-Type: application/json\nETag: W/\"{}-{}\"\nX-RateLimit-Remaining: {}\n\n{{\"id\": \"{}\", \"email\": \"",
        g.rng.between(1, 28),
        g.rng.between(0, 59),
        g.rng.between(0, 59),
        g.rng.between(100, 9999),
        g.hex(27),
        g.rng.between(0, 5000),
        g.uuid()
    ));
    d.v(&p.email, EMAIL);
    d.s(&format!("\", \"created_at\": \"{}\"}}\n", g.ts()));
    d
}

/// A TD3 (passport) machine-readable zone with correct check digits.
fn mrz(g: &mut Gen, state: &str, number: &str, p: &Person) -> (String, String) {
    let state3 = format!("{state:<<3}");
    let surname = p.last_ascii.to_ascii_uppercase();
    let given = p.first_ascii.to_ascii_uppercase();
    let line1 = format!("P<{state3}{surname}<<{given}");
    let line1 = format!("{line1:<<44}");
    let doc = format!("{number:<<9}");
    let dob = format!(
        "{:02}{:02}{:02}",
        g.rng.between(50, 99),
        g.rng.between(1, 12),
        g.rng.between(1, 28)
    );
    let exp = format!(
        "{:02}{:02}{:02}",
        g.rng.between(25, 34),
        g.rng.between(1, 12),
        g.rng.between(1, 28)
    );
    let sex = g.rng.pick(&['M', 'F', '<']);
    let personal = "<".repeat(14);
    let (c1, c2, c3, c4) = (
        mrz_check(&doc),
        mrz_check(&dob),
        mrz_check(&exp),
        mrz_check(&personal),
    );
    let composite = mrz_check(&format!("{doc}{c1}{dob}{c2}{exp}{c3}{personal}{c4}"));
    let line2 = format!("{doc}{c1}{state3}{dob}{c2}{sex}{exp}{c3}{personal}{c4}{composite}");
    assert_eq!((line1.len(), line2.len()), (44, 44));
    (line1, line2)
}

fn travel_record(g: &mut Gen) -> Doc {
    let mut d = Doc::new("travel_record", Class::Labelled);
    let p = g.person();
    let (state, num) = g.passport();
    match g.rng.below(4) {
        0 => {
            let (l1, l2) = mrz(g, state, &num, &p);
            d.s(&format!(
                "Document scan result\ntype: P  issuing state: {state}\nMRZ:\n{l1}\n"
            ));
            d.vt(&num, PASSPORT, format!("{state} mrz"));
            d.s(&l2[num.len()..]);
            d.s("\n");
        }
        1 => {
            d.s(&format!(
                "RP/LON1A0955/LON1A0955            AA/SU  {}MAY24/1032Z   {}\n  1.{}/{} {}\n  2  BA 117 Y 12JUN 4 LHRJFK HK1  1025 1320\n  3 SSR DOCS BA HK1 P/{state}/",
                g.rng.between(1, 28),
                g.rng.string(UPPER_ALNUM, 6),
                p.last_ascii.to_ascii_uppercase(),
                p.first_ascii.to_ascii_uppercase(),
                g.rng.pick(&["MR", "MS", "MRS"])
            ));
            d.vt(&num, PASSPORT, format!("{state} apis"));
            d.s(&format!(
                "/{state}/{:02}JUL{}/{}/{:02}MAR{}/{}/{}\n  4 CTCM BA HK1/",
                g.rng.between(1, 28),
                g.rng.between(60, 99),
                g.rng.pick(&["M", "F"]),
                g.rng.between(1, 28),
                g.rng.between(26, 34),
                p.last_ascii.to_ascii_uppercase(),
                p.first_ascii.to_ascii_uppercase()
            ));
            let phone = g.phone();
            let digits = phone.e164.trim_start_matches('+').to_owned();
            d.vt(&digits, PHONE, format!("{} apis", phone.region));
            d.s("\n");
        }
        2 => {
            d.s(&format!(
                "{{\n  \"booking_ref\": \"{}\",\n  \"traveller\": {{\n    \"given_name\": \"{}\",\n    \"surname\": \"{}\",\n    \"nationality\": \"{state}\",\n    \"passport_number\": \"",
                g.rng.string(UPPER_ALNUM, 6),
                p.first,
                json_str(p.last)
            ));
            d.vt(&num, PASSPORT, format!("{state} json"));
            d.s(&format!(
                "\",\n    \"passport_expiry\": \"{}\",\n    \"email\": \"",
                g.date()
            ));
            d.v(&p.email, EMAIL);
            d.s("\"\n  }\n}\n");
        }
        _ => {
            d.s(&format!(
                "GUEST REGISTRATION\nName: {}\nNationality: {state}\nPassport No.: ",
                p.full()
            ));
            d.vt(&num, PASSPORT, format!("{state} form"));
            d.s(&format!(
                "\nArrival: {}\nRoom: {}\nMobile: ",
                g.date(),
                g.rng.between(100, 999)
            ));
            g.put_phone(&mut d, false);
            d.s("\n");
        }
    }
    d
}

fn kyc_form(g: &mut Gen) -> Doc {
    let mut d = Doc::new("kyc_form", Class::Labelled);
    let p = g.person();
    if g.rng.percent(50) {
        d.s(&format!(
            "CUSTOMER ONBOARDING (IN)\nApplicant: {}\nDate of birth: {}\nPAN: ",
            p.full(),
            g.date()
        ));
        let pan = g.pan(&p);
        d.v(&pan, PAN);
        d.s("\nAadhaar No.: ");
        let a = g.aadhaar();
        d.v(&a, AADHAAR);
        d.s("\nMobile: ");
        let pick = g.rng.below(8);
        let phone = g
            .phones
            .iter()
            .filter(|x| x.region == "IN")
            .nth(pick)
            .cloned();
        if let Some(phone) = phone {
            let text = if g.rng.percent(50) {
                phone.international
            } else {
                phone.national
            };
            d.vt(&text, PHONE, "IN kyc".to_owned());
        } else {
            g.put_phone(&mut d, false);
        }
        d.s("\nE-mail: ");
        d.v(&p.email, EMAIL);
        if g.rng.percent(40) {
            d.s("\nPassport No.: ");
            let num = format!(
                "{}{}",
                g.rng.pick(&['J', 'K', 'M', 'P', 'T', 'Z']),
                g.rng.string(DIGITS, 7)
            );
            d.vt(&num, PASSPORT, "IND form".to_owned());
        }
        d.s("\n");
    } else {
        d.s(&format!(
            "Form W-9 worksheet\nName (as shown on your income tax return): {}\nAddress: {} {} St, Apt {}\nSocial Security Number: ",
            p.full(),
            g.rng.between(1, 9999),
            g.rng.pick(&["Elm", "Oak", "Maple", "Cedar"]),
            g.rng.between(1, 40)
        ));
        g.put_ssn(&mut d);
        d.s("\nPhone: ");
        g.put_phone(&mut d, false);
        d.s("\nEmail: ");
        d.v(&p.email, EMAIL);
        if g.rng.percent(40) {
            d.s("\nU.S. Passport No.: ");
            let num = g.rng.string(DIGITS, 9);
            d.vt(&num, PASSPORT, "USA form".to_owned());
        }
        d.s("\nSignature: ______   Date: ");
        d.s(&g.date());
        d.s("\n");
    }
    d
}

fn key_material(g: &mut Gen) -> Doc {
    let mut d = Doc::new("key_material", Class::Labelled);
    if g.rng.percent(50) {
        let project = format!(
            "{}-{}",
            g.rng.pick(&["orders", "analytics", "ml"]),
            g.rng.between(100_000, 999_999)
        );
        d.s(&format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"{project}\",\n  \"private_key_id\": \"{}\",\n  \"private_key\": \"",
            g.hex(40)
        ));
        let k = g.private_key("\\n");
        d.v(&k, PRIVATE_KEY);
        d.s("\\n\",\n  \"client_email\": \"");
        d.v(
            &format!("deployer@{project}.iam.gserviceaccount.com"),
            EMAIL,
        );
        d.s(&format!(
            "\",\n  \"client_id\": \"{}\",\n  \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}}\n",
            g.rng.string(DIGITS, 21)
        ));
    } else {
        d.s(&format!(
            "$ cat ~/.ssh/id_{}\n",
            g.rng.pick(&["rsa", "ed25519", "deploy"])
        ));
        let k = g.private_key("\n");
        d.v(&k, PRIVATE_KEY);
        d.s("\n$ \n");
    }
    d
}

fn contact_card(g: &mut Gen) -> Doc {
    let mut d = Doc::new("contact_card", Class::Labelled);
    let p = g.person();
    let phone = g.phone();
    d.s(&format!(
        "BEGIN:VCARD\nVERSION:4.0\nFN:{}\nN:{};{};;;\nTEL;TYPE=cell;VALUE=uri:",
        p.full(),
        p.last,
        p.first
    ));
    d.vt(&phone.rfc3966, PHONE, format!("{} rfc3966", phone.region));
    d.s("\nEMAIL;TYPE=work:");
    d.v(&p.email, EMAIL);
    d.s(&format!(
        "\nADR;TYPE=home:;;{} Long Road;Springfield;;{};{}\nEND:VCARD\n\nContacts export ({})\n",
        g.rng.between(1, 300),
        g.rng.between(10000, 99999),
        phone.region,
        g.date()
    ));
    for _ in 0..g.rng.between(1, 4) {
        let q = g.person();
        let ph = g.phone();
        d.s(&format!("{} ({}): ", q.full(), ph.region));
        let (text, fmt) = if g.rng.percent(50) {
            (ph.national.clone(), "national")
        } else {
            (ph.international.clone(), "international")
        };
        d.vt(&text, PHONE, format!("{} {fmt}", ph.region));
        d.s("\n");
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Clean documents: no personal data, no secrets; the hard negatives that look like them.

fn clean_json(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_json", Class::Clean);
    d.s(&format!(
        "{{\n  \"order_id\": \"ORD-{}\",\n  \"order_number\": {},\n  \"uuid\": \"{}\",\n  \"status\": \"shipped\",\n  \"created_at\": \"{}\",\n  \"updated\": {},\n  \"updated_ms\": {}{:03},\n  \"items\": [\n",
        g.rng.between(100_000, 999_999),
        g.rng.between(10_000_000, 99_999_999),
        g.uuid(),
        g.ts(),
        g.epoch(),
        g.epoch(),
        g.rng.between(0, 999)
    ));
    for _ in 0..g.rng.between(1, 4) {
        d.s(&format!(
            "    {{\"sku\": \"SKU-{}-{}\", \"isbn\": \"{}\", \"qty\": {}, \"price\": {}.{:02}}},\n",
            g.rng.string(UPPER, 3),
            g.rng.between(1000, 9999),
            g.isbn(),
            g.rng.between(1, 5),
            g.rng.between(1, 300),
            g.rng.between(0, 99)
        ));
    }
    d.s(&format!(
        "    {{\"sku\": \"GIFT\", \"qty\": 1, \"price\": 0}}\n  ],\n  \"tracking\": \"1Z{}\",\n  \"etag\": \"\\\"{}\\\"\",\n  \"checksum_sha256\": \"{}\",\n  \"api_version\": \"{}\",\n  \"password\": null,\n  \"api_key\": \"<your-api-key>\"\n}}\n",
        g.rng.string(UPPER_ALNUM, 16),
        g.hex(32),
        g.hex(64),
        g.version()
    ));
    d
}

fn clean_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_log", Class::Clean);
    for _ in 0..g.rng.between(6, 14) {
        let ts = g.ts();
        match g.rng.below(8) {
            0 => d.s(&format!(
                "{ts} INFO  [main] starting orders-api v{} (commit {}) rustc 1.{}.0\n",
                g.version(),
                g.hex(40),
                g.rng.between(70, 88)
            )),
            1 => d.s(&format!(
                "{ts} INFO  [http] GET /api/v2/orders/{} 200 {}ms req_id={} bytes={}\n",
                g.rng.between(100_000, 999_999),
                g.rng.between(1, 900),
                g.uuid(),
                g.rng.between(100, 90_000)
            )),
            2 => d.s(&format!(
                "{ts} DEBUG [cache] etag=\"W/{}\" hit ratio 0.{} evictions={}\n",
                g.hex(16),
                g.rng.between(10, 99),
                g.rng.between(0, 100_000)
            )),
            3 => d.s(&format!(
                "{ts} INFO  [jobs] job {} finished in {}.{}s, processed {} rows, epoch={}\n",
                g.uuid(),
                g.rng.between(0, 300),
                g.rng.between(0, 9),
                g.rng.between(0, 5_000_000),
                g.epoch()
            )),
            4 => d.s(&format!(
                "{ts} WARN  [db] slow query ({} ms) fingerprint={} plan_hash={}\n",
                g.rng.between(500, 9000),
                g.hex(16),
                g.rng.between(1_000_000_000, 4_000_000_000u64)
            )),
            5 => d.s(&format!(
                "{ts} INFO  [deps] loaded openssl 3.0.{} zlib 1.3.{} sqlite 3.{}.{}.{}\n",
                g.rng.between(2, 14),
                g.rng.between(0, 1),
                g.rng.between(40, 46),
                g.rng.between(0, 3),
                g.rng.between(0, 9)
            )),
            6 => d.s(&format!(
                "{ts} INFO  [auth] using credentials from ${{AWS_PROFILE}} for role arn:aws:iam::{}:role/orders-api\n",
                g.account_id()
            )),
            _ => d.s(&format!(
                "{ts} INFO  [pay] invoice INV-{}-{:06} issued, order #{}\n",
                g.rng.between(2023, 2024),
                g.rng.between(1, 999_999),
                g.rng.between(10_000_000, 99_999_999)
            )),
        }
    }
    d
}

fn clean_env(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_env", Class::Clean);
    d.s("# copy to .env and fill in\nNODE_ENV=development\nPORT=3000\n");
    let lines = [
        "DB_PASSWORD=${DB_PASSWORD}",
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@localhost:5432/app",
        "API_KEY=$API_KEY",
        "SECRET_KEY=<your-secret-key>",
        "STRIPE_SECRET_KEY=sk_live_...",
        "DATADOG_API_KEY=",
        "WEBHOOK_SECRET=changeme",
        "ENCRYPTION_KEY=********",
        "SMTP_PASSWORD=your-password-here",
        "JWT_SECRET={{ jwt_secret }}",
        "REDIS_URL=redis://localhost:6379/0",
        "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ADMIN_PASSWORD=REDACTED",
        "OPENAI_API_KEY=sk-...your-key...",
        "SESSION_SECRET=\"${SESSION_SECRET:?missing}\"",
        "LOG_LEVEL=debug",
        "FEATURE_FLAGS=search,checkout-v2",
    ];
    for _ in 0..g.rng.between(4, 9) {
        d.s(g.rng.pick(&lines));
        d.s("\n");
    }
    d
}

fn clean_yaml(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_yaml", Class::Clean);
    d.s(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders-api\n  uid: {}\n  resourceVersion: \"{}\"\n  generation: {}\nspec:\n  replicas: {}\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/northwind/api@sha256:{}\n          env:\n            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: orders-secrets\n                  key: DB_PASSWORD\n            - name: API_KEY\n              value: \"{{{{ .Values.apiKey }}}}\"\n            - name: DATABASE_URL\n              value: postgres://app:$(DB_PASSWORD)@db:5432/app\n            - name: OTEL_SERVICE_VERSION\n              value: \"{}\"\n          resources:\n            limits: {{cpu: 500m, memory: 512Mi}}\n",
        g.uuid(),
        g.rng.between(100_000, 99_999_999),
        g.rng.between(1, 40),
        g.rng.between(1, 6),
        g.hex(64),
        g.version()
    ));
    if g.rng.percent(50) {
        d.s("---\n# values.yaml\ndatabase:\n  password: \"\"  # set via --set database.password\nsmtp:\n  password: ********\napi:\n  token: <token>\n");
    }
    d
}

fn clean_shell(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_shell", Class::Clean);
    let user = g.rng.pick(&["deploy", "ubuntu", "anna", "ci"]);
    let prompt = if g.rng.percent(50) {
        format!("{user}@{}:~$ ", g.host())
    } else {
        format!("{user}@{}.northwind-traders.com:~/app$ ", g.host())
    };
    for _ in 0..g.rng.between(3, 6) {
        d.s(&prompt);
        match g.rng.below(6) {
            0 => d.s(&format!(
                "git status\nOn branch main\nYour branch is up to date with 'origin/main'.\n\nnothing to commit, working tree clean\n{prompt}git rev-parse HEAD\n{}\n",
                g.hex(40)
            )),
            1 => d.s(&format!(
                "docker ps\nCONTAINER ID   IMAGE                       STATUS        PORTS\n{}   northwind/api:{}     Up {} hours   0.0.0.0:8080->8080/tcp\n",
                g.hex(12),
                g.version(),
                g.rng.between(1, 90)
            )),
            2 => d.s(&format!(
                "cargo build --release\n   Compiling serde v1.0.{}\n   Compiling tokio v1.{}.{}\n    Finished `release` profile [optimized] target(s) in {}.{}s\n",
                g.rng.between(150, 210),
                g.rng.between(30, 48),
                g.rng.between(0, 3),
                g.rng.between(10, 300),
                g.rng.between(0, 99)
            )),
            3 => d.s(&format!(
                "sha256sum release.tar.gz\n{}  release.tar.gz\n",
                g.hex(64)
            )),
            4 => d.s(&format!(
                "ls -l\ntotal {}\n-rw-r--r-- 1 {user} {user} {} May {} 10:{:02} Cargo.lock\ndrwxr-xr-x 4 {user} {user} 4096 May {} 09:{:02} src\n",
                g.rng.between(8, 200),
                g.rng.between(1000, 300_000),
                g.rng.between(1, 28),
                g.rng.between(0, 59),
                g.rng.between(1, 28),
                g.rng.between(0, 59)
            )),
            _ => d.s(&format!(
                "echo $API_KEY | wc -c\n{}\n{prompt}export DB_PASSWORD=\"$(vault kv get -field=password secret/db)\"\n",
                g.rng.between(20, 60)
            )),
        }
    }
    d
}

fn clean_git(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_git", Class::Clean);
    d.s("$ git log --oneline --decorate -8\n");
    for i in 0..g.rng.between(4, 8) {
        let msg = match g.rng.below(5) {
            0 => format!(
                "Merge pull request #{} from northwind/fix-login",
                g.rng.between(100, 9999)
            ),
            1 => format!(
                "Bump tokio from 1.{}.0 to 1.{}.1",
                g.rng.between(30, 40),
                g.rng.between(40, 48)
            ),
            2 => "Read DB_PASSWORD from the environment instead of config".to_owned(),
            3 => format!("Release v{}", g.version()),
            _ => format!("Revert \"Cache etags\" (reverts {})", g.hex(12)),
        };
        let deco = if i == 0 {
            format!(" (HEAD -> main, tag: v{}, origin/main)", g.version())
        } else {
            String::new()
        };
        d.s(&format!("{}{deco} {msg}\n", g.hex(7)));
    }
    d
}

fn clean_manifest(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_manifest", Class::Clean);
    if g.rng.percent(50) {
        d.s(&format!(
            "{{\n  \"name\": \"orders-web\",\n  \"version\": \"{}\",\n  \"lockfileVersion\": 3,\n  \"packages\": {{\n",
            g.version()
        ));
        for name in ["react", "lodash", "zod"] {
            d.s(&format!(
                "    \"node_modules/{name}\": {{\n      \"version\": \"{}\",\n      \"resolved\": \"https://registry.npmjs.org/{name}/-/{name}-{}.tgz\",\n      \"integrity\": \"sha512-{}\"\n    }},\n",
                g.version(),
                g.version(),
                base64(&g.rng.bytes(64), B64, true)
            ));
        }
        d.s("    \"\": {}\n  }\n}\n");
    } else {
        for name in ["serde", "tokio", "regex"] {
            d.s(&format!(
                "[[package]]\nname = \"{name}\"\nversion = \"{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n\n",
                g.version(),
                g.hex(64)
            ));
        }
    }
    d
}

fn clean_http(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_http", Class::Clean);
    d.s(&format!(
        "GET /v1/products/{}?fields=name,price HTTP/1.1\nHost: api.northwind-traders.com\nUser-Agent: {}\nAccept: application/json\nIf-None-Match: \"{}\"\nX-Request-Id: {}\nAuthorization: Bearer ${{TOKEN}}\n\nHTTP/1.1 200 OK\nDate: Thu, {} May 2024 10:{:02}:{:02} GMT\nContent-Length: {}\nCache-Control: max-age={}\nETag: \"{}\"\nX-Trace-Id: {}\nServer: nginx/1.{}.{}\n\n{{\"id\": {}, \"name\": \"USB-C cable\", \"price\": {}.99, \"isbn\": null}}\n",
        g.rng.between(1000, 99999),
        g.user_agent(),
        g.hex(40),
        g.uuid(),
        g.rng.between(1, 28),
        g.rng.between(0, 59),
        g.rng.between(0, 59),
        g.rng.between(50, 9000),
        g.rng.between(0, 86400),
        g.hex(40),
        g.hex(32),
        g.rng.between(18, 27),
        g.rng.between(0, 9),
        g.rng.between(1000, 99999),
        g.rng.between(1, 99)
    ));
    d
}

fn clean_sql(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_sql", Class::Clean);
    d.s("shop=> SELECT sku, title, isbn, stock, updated_at FROM products LIMIT 4;\n   sku    |        title         |       isbn        | stock |       updated_at\n----------+----------------------+-------------------+-------+------------------------\n");
    for _ in 0..4 {
        d.s(&format!(
            " {}-{} | {:<20} | {} | {:>5} | {}\n",
            g.rng.string(UPPER, 3),
            g.rng.between(1000, 9999),
            g.rng.pick(&[
                "Rust in Action",
                "Designing Data",
                "The Pragmatic Prog",
                "Refactoring"
            ]),
            g.isbn(),
            g.rng.between(0, 500),
            g.ts()
        ));
    }
    d.s("(4 rows)\n");
    d
}

fn clean_aws(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_aws", Class::Clean);
    let account = g.account_id();
    d.s(&format!(
        "# From the AWS CLI User Guide\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n$ aws sts get-caller-identity\n{{\n    \"UserId\": \"AIDA{}\",\n    \"Account\": \"{account}\",\n    \"Arn\": \"arn:aws:iam::{account}:user/ci\"\n}}\n$ aws s3 ls s3://northwind-artifacts-{account}/releases/\n{} {:>10} orders-api-{}.tar.gz\nRole: arn:aws:iam::{}:role/OrganizationAccountAccessRole\nQueue: https://sqs.eu-west-1.amazonaws.com/{account}/orders-events\n",
        g.rng.string(BASE32, 17),
        g.ts(),
        g.rng.between(1_000, 90_000_000),
        g.version(),
        g.account_id()
    ));
    d
}

fn clean_stack(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_stack", Class::Clean);
    d.s(&format!(
        "thread 'tokio-runtime-worker' panicked at src/handlers/orders.rs:{}:{}:\ncalled `Option::unwrap()` on a `None` value\nstack backtrace:\n   0: 0x{} - std::panicking::begin_panic_handler\n   1: 0x{} - core::panicking::panic\n   2: 0x{} - orders_api::handlers::orders::get\n             at ./src/handlers/orders.rs:{}:{}\nnote: run with `RUST_BACKTRACE=full` for a verbose backtrace.\nrequest {} failed after {} ms (attempt {}/3)\n",
        g.rng.between(10, 500),
        g.rng.between(1, 80),
        g.hex(12),
        g.hex(12),
        g.hex(12),
        g.rng.between(10, 500),
        g.rng.between(1, 80),
        g.uuid(),
        g.rng.between(1, 30_000),
        g.rng.between(1, 3)
    ));
    d
}

fn clean_csv(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_csv", Class::Clean);
    d.s("timestamp,epoch_ms,host,version,requests,p99_ms,error_rate,order_no\n");
    for _ in 0..g.rng.between(3, 10) {
        d.s(&format!(
            "{},{}{:03},{},{},{},{}.{},0.{:03},{}\n",
            g.ts(),
            g.epoch(),
            g.rng.between(0, 999),
            g.host(),
            g.version(),
            g.rng.between(0, 100_000),
            g.rng.between(1, 900),
            g.rng.between(0, 9),
            g.rng.between(0, 999),
            g.rng.between(100_000_000, 999_999_999)
        ));
    }
    d
}

fn clean_chat(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_chat", Class::Clean);
    let lines = [
        "deployed v{v} to staging, build {h}",
        "can you review PR #{n}? it bumps Chrome to 120.0.6099.{n2}",
        "the DB_PASSWORD is in vault now, use ${DB_PASSWORD} in the compose file",
        "the incident started at {t}, ticket INC-{n}",
        "set API_KEY=<your-api-key> locally, never commit the real one",
        "release notes for {v} are up, sha {h}",
        "order {n} shipped, tracking 1Z{u}",
        "who changed the password to ******** in the docs?",
    ];
    for _ in 0..g.rng.between(3, 7) {
        let line = g
            .rng
            .pick(&lines)
            .replace("{v}", &g.version())
            .replace("{h}", &g.hex(7))
            .replace("{n}", &g.rng.between(100, 99999).to_string())
            .replace("{n2}", &g.rng.between(10, 250).to_string())
            .replace("{t}", &g.ts())
            .replace("{u}", &g.rng.string(UPPER_ALNUM, 16));
        d.s(&format!(
            "[{:02}:{:02}] {}: {line}\n",
            g.rng.between(8, 18),
            g.rng.between(0, 59),
            g.rng.pick(FIRST).1
        ));
    }
    d
}

fn clean_versions(g: &mut Gen) -> Doc {
    let mut d = Doc::new("clean_versions", Class::Clean);
    d.s(&format!(
        "System report\nOS: Windows 10.0.{}.{}\nBrowser: Chrome/{}.0.{}.{}\nDriver version 10.0.0.1, firmware 1.2.3.4\nBIOS 2.{}.{}.{}\nBuild: {}.{}.{}.{}\nUptime: {} s\nSerial: {}\n",
        g.rng.between(19041, 22631),
        g.rng.between(1000, 4000),
        g.rng.between(100, 126),
        g.rng.between(5000, 6999),
        g.rng.between(10, 250),
        g.rng.between(0, 20),
        g.rng.between(0, 9),
        g.rng.between(0, 9),
        g.rng.between(1, 20),
        g.rng.between(0, 9),
        g.rng.between(0, 9),
        g.rng.between(1000, 9999),
        g.rng.between(1000, 9_999_999),
        g.rng.string(UPPER_ALNUM, 12)
    ));
    d
}

// ---------------------------------------------------------------------------------------------
// Decoys: the shape of a value, breaking its rules.

fn decoy_ssn(g: &mut Gen) -> Doc {
    let mut d = Doc::new("decoy_ssn", Class::Decoy);
    for _ in 0..g.rng.between(1, 3) {
        let bad = g.bad_ssn();
        let (text, _) = g.ssn_text(&bad);
        match g.rng.below(3) {
            0 => d.s(&format!("Social Security Number: {text}\n")),
            1 => d.s(&format!(
                "{{\"ssn\": \"{text}\", \"status\": \"rejected\"}}\n"
            )),
            _ => d.s(&format!(
                "{} INFO [kyc] verification submitted ssn={text} status=invalid\n",
                g.ts()
            )),
        }
    }
    d
}

fn decoy_card(g: &mut Gen) -> Doc {
    let mut d = Doc::new("decoy_card", Class::Decoy);
    for _ in 0..g.rng.between(1, 3) {
        let (n, _) = g.card(false);
        assert!(!luhn_ok(&n));
        let (text, _) = g.card_text(&n);
        match g.rng.below(3) {
            0 => d.s(&format!("Card number: {text}\n")),
            1 => d.s(&format!(
                "{{\"card\": {{\"number\": \"{text}\", \"exp_year\": 2027}}}}\n"
            )),
            _ => d.s(&format!(
                "{} WARN [billing] charge declined card={text} reason=invalid_number\n",
                g.ts()
            )),
        }
    }
    d
}

fn decoy_iban(g: &mut Gen) -> Doc {
    let mut d = Doc::new("decoy_iban", Class::Decoy);
    for _ in 0..g.rng.between(1, 2) {
        let (n, _) = g.iban(false);
        let (text, _) = g.iban_text(&n);
        if g.rng.percent(50) {
            d.s(&format!("please transfer the amount to IBAN: {text}\n"));
        } else {
            d.s(&format!("{{\"iban\": \"{text}\", \"valid\": false}}\n"));
        }
    }
    d
}

// ---------------------------------------------------------------------------------------------
// The corpus.

type Family = fn(&mut Gen) -> Doc;

fn corpus() -> (Vec<Doc>, Vec<Phone>) {
    let mut rng = Rng::new(0x5EED_0001);
    let phones = phone_pool(&mut rng);
    let mut g = Gen {
        rng: Rng::new(0x5EED_0002),
        phones: phones.clone(),
    };
    let families: &[(Family, usize)] = &[
        (json_api, 160),
        (csv_export, 120),
        (app_log, 140),
        (nginx_access, 120),
        (dotenv, 140),
        (yaml_config, 110),
        (docker_compose, 80),
        (k8s_secret, 80),
        (aws_credentials, 60),
        (stack_trace, 100),
        (sql_table, 100),
        (email_message, 120),
        (chat_transcript, 120),
        (shell_session, 120),
        (git_log, 90),
        (package_manifest, 90),
        (http_exchange, 100),
        (travel_record, 160),
        (kyc_form, 120),
        (key_material, 60),
        (contact_card, 100),
        (clean_json, 70),
        (clean_log, 70),
        (clean_env, 70),
        (clean_yaml, 50),
        (clean_shell, 60),
        (clean_git, 40),
        (clean_manifest, 40),
        (clean_http, 50),
        (clean_sql, 40),
        (clean_aws, 50),
        (clean_stack, 40),
        (clean_csv, 40),
        (clean_chat, 60),
        (clean_versions, 40),
        (decoy_ssn, 100),
        (decoy_card, 100),
        (decoy_iban, 100),
    ];
    let mut docs = Vec::new();
    for &(family, n) in families {
        for _ in 0..n {
            docs.push(family(&mut g));
        }
    }
    (docs, phones)
}

// ---------------------------------------------------------------------------------------------
// Scoring.

#[derive(Default)]
struct Row {
    labelled: usize,
    found: usize,
    typed: usize,
    findings: usize,
    true_findings: usize,
}

#[derive(Default)]
struct FamilyStats {
    docs: usize,
    flagged: usize,
    labelled: usize,
    found: usize,
    findings: usize,
    true_findings: usize,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn context(text: &str, start: usize, end: usize) -> String {
    let mut lo = start.saturating_sub(40);
    while !text.is_char_boundary(lo) {
        lo -= 1;
    }
    let mut hi = (end + 30).min(text.len());
    while !text.is_char_boundary(hi) {
        hi += 1;
    }
    format!(
        "{}[[{}]]{}",
        &text[lo..start],
        &text[start..end],
        &text[end..hi]
    )
    .replace('\n', "⏎")
}

/// The dozen characters before `at` with digits and letters folded, to group look-alike
/// false findings when choosing examples.
fn shape_before(text: &str, at: usize) -> String {
    let mut lo = at.saturating_sub(12);
    while !text.is_char_boundary(lo) {
        lo -= 1;
    }
    text[lo..at]
        .chars()
        .map(|c| match c {
            '0'..='9' => '9',
            'a'..='z' => 'a',
            _ => c,
        })
        .collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Floors two points below what the scanner measured (recall is type-agnostic overlap;
/// precision counts a finding as true when it overlaps any label): (type, recall floor,
/// precision floor). Raise them as the scanner improves.
///
/// When this test was written, before the scanner saw it: overall precision 0.978, recall
/// 0.921, F1 0.949, 20.3 % of clean and 13.3 % of decoy documents flagged; passport numbers
/// 0.26, SSNs 0.65, password arguments 0.23 found. The fixes that followed were made after
/// reading this test's report, so from then on it guards more than it proves.
const FLOORS: &[(&str, f64, f64)] = &[
    ("aadhaar", 0.98, 0.98),
    ("anthropic_key", 0.98, 0.98),
    ("aws_access_key_id", 0.98, 0.98),
    ("aws_secret_access_key", 0.98, 0.98),
    ("basic_auth", 0.98, 0.98),
    ("bearer_token", 0.98, 0.98),
    ("connection_string", 0.96, 0.98),
    ("credit_card", 0.98, 0.98),
    ("email", 0.96, 0.98),
    ("github_fine_grained_token", 0.98, 0.98),
    ("github_token", 0.98, 0.98),
    ("google_api_key", 0.98, 0.98),
    ("high_entropy_secret", 0.00, 0.98),
    ("iban", 0.98, 0.98),
    ("ipv4", 0.98, 0.98),
    ("ipv6", 0.98, 0.98),
    ("jwt", 0.98, 0.98),
    ("npm_token", 0.98, 0.98),
    ("openai_key", 0.98, 0.98),
    ("pan_india", 0.98, 0.98),
    ("passport_number", 0.47, 0.98),
    ("password_argument", 0.33, 0.98),
    ("password_assignment", 0.91, 0.98),
    ("phone", 0.87, 0.97),
    ("private_key", 0.98, 0.98),
    ("sendgrid_key", 0.98, 0.98),
    ("slack_token", 0.98, 0.98),
    ("slack_webhook", 0.98, 0.98),
    ("stripe_key", 0.98, 0.98),
    ("us_ssn", 0.89, 0.98),
];

/// Overall floors: (type-agnostic precision, recall, F1; max share of clean documents
/// flagged; max share of decoy documents flagged). Measured: precision 0.9997, recall 0.943,
/// F1 0.971, no clean and 1.3 % of decoy documents flagged.
///
/// The issue's targets: type-agnostic F1 ≥ 0.97, precision ≥ 0.98, at most 1 % of clean
/// documents flagged.
const OVERALL_FLOORS: (f64, f64, f64, f64, f64) = (0.98, 0.93, 0.96, 0.01, 0.03);
const TARGETS: (f64, f64, f64) = (0.97, 0.98, 0.01);

#[test]
fn generators_follow_their_specifications() {
    // ICAO Doc 9303 part 4 specimen: L898902C3 UTO 690806 1 F 940623 6 ZE184226B 1, composite 4.
    assert_eq!(mrz_check("L898902C<"), '3');
    assert_eq!(mrz_check("690806"), '1');
    assert_eq!(mrz_check("940623"), '6');
    assert_eq!(mrz_check("ZE184226B<<<<<"), '1');
    assert_eq!(mrz_check("L898902C<369080619406236ZE184226B<<<<<1"), '4');
    // The IBAN registry's examples.
    assert_eq!(iban_check("GB", "WEST12345698765432"), "82");
    assert_eq!(iban_check("DE", "370400440532013000"), "89");
    assert_eq!(iban_mod97("NL", "91", "ABNA0417164300"), 1);
    // Luhn, Verhoeff (Wikipedia's 236 → 3), ISBN-13.
    assert!(luhn_ok("4111111111111111") && luhn_ok("378282246310005"));
    assert_eq!(verhoeff_digit("236"), 3);
    assert_eq!(isbn13("978030640615"), "9780306406157");
    // RFC 4648 test vectors.
    assert_eq!(base64(b"foobar", B64, true), "Zm9vYmFy");
    assert_eq!(base64(b"fooba", B64, true), "Zm9vYmE=");
    assert_eq!(base64(b"foob", B64URL, false), "Zm9vYg");
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);

    let (docs, phones) = corpus();
    assert!(
        phones.len() > 200,
        "libphonenumber gave {} numbers",
        phones.len()
    );
    for doc in &docs {
        if doc.class != Class::Labelled {
            assert!(doc.labels.is_empty());
        }
        for l in &doc.labels {
            let v = &doc.text[l.start..l.end];
            match l.kinds[0] {
                "credit_card" => assert!(luhn_ok(&v.replace([' ', '-'], "")), "{v}"),
                "iban" => {
                    let s = v.replace(' ', "");
                    assert_eq!(iban_mod97(&s[..2], &s[2..4], &s[4..]), 1, "{v}");
                }
                "us_ssn" => {
                    let s = v.replace([' ', '-'], "");
                    let area: u32 = s[..3].parse().unwrap();
                    assert!(area != 0 && area != 666 && area < 900, "{v}");
                    assert!(&s[3..5] != "00" && &s[5..] != "0000", "{v}");
                }
                "aadhaar" => {
                    let s = v.replace(' ', "");
                    assert_eq!(verhoeff_digit(&s[..11]), s.as_bytes()[11] - b'0', "{v}");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn heldout_precision_and_recall() {
    let scanner = Scanner::builder().build().unwrap();
    let kinds = scanner.kinds();
    let (docs, phones) = corpus();
    let started = std::time::Instant::now();

    let mut rows: BTreeMap<&'static str, Row> = BTreeMap::new();
    let mut families: BTreeMap<&'static str, FamilyStats> = BTreeMap::new();
    let mut tags: BTreeMap<(&'static str, String), (usize, usize)> = BTreeMap::new();
    // Examples, each with the sub-population it comes from so the printout can show variety.
    let mut misses: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    let mut wrong_type: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    let mut false_findings: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    let mut phone_details: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let (mut phone_typed, mut phone_detail_right) = (0usize, 0usize);
    let (mut clean_docs, mut clean_flagged, mut decoy_docs, mut decoy_flagged) = (0, 0, 0, 0);

    for doc in &docs {
        let findings: Vec<Finding> = scanner.find(&doc.text);
        let fam = families.entry(doc.family).or_default();
        fam.docs += 1;
        if !findings.is_empty() {
            fam.flagged += 1;
        }
        match doc.class {
            Class::Clean => {
                clean_docs += 1;
                clean_flagged += usize::from(!findings.is_empty());
            }
            Class::Decoy => {
                decoy_docs += 1;
                decoy_flagged += usize::from(!findings.is_empty());
            }
            Class::Labelled => {}
        }
        for l in &doc.labels {
            let row = rows.entry(l.kinds[0]).or_default();
            row.labelled += 1;
            fam.labelled += 1;
            let over: Vec<&Finding> = findings
                .iter()
                .filter(|f| overlaps((f.start, f.end), (l.start, l.end)))
                .collect();
            let tag = tags.entry((l.kinds[0], l.tag.clone())).or_default();
            tag.0 += 1;
            if over.is_empty() {
                misses.entry(l.kinds[0]).or_default().push((
                    format!("{} {}", doc.family, l.tag),
                    format!("{}: {}", doc.family, context(&doc.text, l.start, l.end)),
                ));
                continue;
            }
            row.found += 1;
            fam.found += 1;
            tag.1 += 1;
            if let Some(f) = over.iter().find(|f| l.kinds.contains(&f.kind)) {
                row.typed += 1;
                if f.kind == "phone" {
                    phone_typed += 1;
                    let region = l.tag.split(' ').next().unwrap().to_ascii_lowercase();
                    phone_detail_right += usize::from(f.detail == Some(region.as_str()));
                    *phone_details
                        .entry((region, f.detail.unwrap_or("none")))
                        .or_default() += 1;
                }
            } else {
                let found_as = over.iter().map(|f| f.kind).collect::<Vec<_>>().join("+");
                wrong_type.entry(l.kinds[0]).or_default().push((
                    format!("{} {found_as}", doc.family),
                    format!(
                        "{} as {found_as}: {}",
                        doc.family,
                        context(&doc.text, l.start, l.end)
                    ),
                ));
            }
        }
        for f in &findings {
            assert!(kinds.contains(&f.kind));
            let row = rows.entry(f.kind).or_default();
            row.findings += 1;
            fam.findings += 1;
            if doc
                .labels
                .iter()
                .any(|l| overlaps((f.start, f.end), (l.start, l.end)))
            {
                row.true_findings += 1;
                fam.true_findings += 1;
            } else {
                false_findings.entry(f.kind).or_default().push((
                    format!("{} {}", doc.family, shape_before(&doc.text, f.start)),
                    format!("{}: {}", doc.family, context(&doc.text, f.start, f.end)),
                ));
            }
        }
    }
    let elapsed = started.elapsed();

    let total = rows.values().fold(Row::default(), |mut t, r| {
        t.labelled += r.labelled;
        t.found += r.found;
        t.typed += r.typed;
        t.findings += r.findings;
        t.true_findings += r.true_findings;
        t
    });
    let precision = ratio(total.true_findings, total.findings);
    let recall = ratio(total.found, total.labelled);
    let f1 = 2.0 * precision * recall / (precision + recall);
    let typed_recall = ratio(total.typed, total.labelled);
    let clean_share = ratio(clean_flagged, clean_docs);
    let decoy_share = ratio(decoy_flagged, decoy_docs);

    let labelled_docs = docs.iter().filter(|d| d.class == Class::Labelled).count();
    println!(
        "\nheld-out corpus: {} documents ({labelled_docs} labelled, {clean_docs} clean, {decoy_docs} decoys), {} labels, {} families; scanned in {:.2?}",
        docs.len(),
        total.labelled,
        families.len(),
        elapsed
    );
    let mut regions: Vec<&str> = phones.iter().map(|p| p.region).collect();
    regions.dedup();
    println!(
        "phone numbers from libphonenumber: {} in {} regions ({}); formats E.164, international, national, RFC 3966",
        phones.len(),
        regions.len(),
        regions.join(" ")
    );
    println!(
        "\n{:<27} {:>8} {:>6} {:>6} {:>7} {:>7} {:>9} {:>5} {:>9}",
        "type", "labelled", "found", "typed", "recall", "typed%", "findings", "true", "precision"
    );
    // A ratio for the tables, or "-" where there is nothing to divide by.
    let share = |a: usize, b: usize| {
        if b == 0 {
            "-".to_owned()
        } else {
            format!("{:.3}", ratio(a, b))
        }
    };
    for (kind, r) in &rows {
        let rec = share(r.found, r.labelled);
        let typ = share(r.typed, r.labelled);
        let prec = share(r.true_findings, r.findings);
        println!(
            "{kind:<27} {:>8} {:>6} {:>6} {rec:>7} {typ:>7} {:>9} {:>5} {prec:>9}",
            r.labelled, r.found, r.typed, r.findings, r.true_findings
        );
    }
    let (f1_target, precision_target, clean_target) = TARGETS;
    println!(
        "\noverall (type-agnostic, overlap): precision {precision:.4}  recall {recall:.4}  F1 {f1:.4}   (target: F1 >= {f1_target}, precision >= {precision_target})"
    );
    println!("overall recall with the expected type: {typed_recall:.4}");
    println!(
        "clean documents flagged: {clean_flagged}/{clean_docs} = {:.2} %   (target: <= {} %)",
        clean_share * 100.0,
        clean_target * 100.0
    );
    println!(
        "decoy documents flagged: {decoy_flagged}/{decoy_docs} = {:.2} %",
        decoy_share * 100.0
    );
    println!(
        "targets met: F1 {}, precision {}, clean documents {}",
        f1 >= f1_target,
        precision >= precision_target,
        clean_share <= clean_target
    );
    println!(
        "phone country detail right: {phone_detail_right}/{phone_typed} of the phones found as phone"
    );

    println!(
        "\n{:<18} {:>5} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "family", "docs", "flagged", "labelled", "recall", "findings", "precision"
    );
    for (name, f) in &families {
        println!(
            "{name:<18} {:>5} {:>8} {:>8} {:>7} {:>9} {:>9}",
            f.docs,
            f.flagged,
            f.labelled,
            share(f.found, f.labelled),
            f.findings,
            share(f.true_findings, f.findings)
        );
    }

    println!("\nrecall by sub-population (type, tag: found/labelled):");
    let mut last = "";
    let mut line = String::new();
    for ((kind, tag), (n, found)) in &tags {
        if tag.is_empty() {
            continue;
        }
        if *kind != last {
            if !line.is_empty() {
                println!("{line}");
            }
            line = format!("  {kind}:");
            last = kind;
        }
        line.push_str(&format!("  [{tag} {found}/{n}]"));
    }
    println!("{line}");

    println!("\nphone country detail (expected, reported): count, where not the expected one:");
    let wrong_details: Vec<String> = phone_details
        .iter()
        .filter(|((want, got), _)| want != got)
        .map(|((want, got), n)| format!("{want}->{got} {n}"))
        .collect();
    println!("  {}", wrong_details.join(", "));

    // `HELDOUT_EXAMPLES=n` prints more examples per type.
    let per_type: usize = std::env::var("HELDOUT_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let show = |title: &str, map: &BTreeMap<&'static str, Vec<(String, String)>>| {
        println!("\n{title}:");
        for (kind, examples) in map {
            println!("  {kind} ({}):", examples.len());
            // One example per sub-population first, then the rest in order.
            let mut seen = Vec::new();
            let mut picked: Vec<&String> = Vec::new();
            for (key, text) in examples {
                if !seen.contains(&key) {
                    seen.push(key);
                    picked.push(text);
                }
            }
            for (_, text) in examples {
                if !picked.contains(&text) {
                    picked.push(text);
                }
            }
            for e in picked.iter().take(per_type) {
                println!("    {e}");
            }
        }
    };
    show("missed labels (no overlapping finding), examples", &misses);
    show("labels found only as another type", &wrong_type);
    show("false findings (overlapping no label)", &false_findings);

    // Regression floors.
    for &(kind, recall_floor, precision_floor) in FLOORS {
        let r = rows
            .get(kind)
            .unwrap_or_else(|| panic!("{kind}: no labels and no findings"));
        if r.labelled > 0 {
            let rec = ratio(r.found, r.labelled);
            assert!(
                rec >= recall_floor,
                "{kind}: recall {rec:.3} < floor {recall_floor}"
            );
        }
        if r.findings > 0 {
            let prec = ratio(r.true_findings, r.findings);
            assert!(
                prec >= precision_floor,
                "{kind}: precision {prec:.3} < floor {precision_floor}"
            );
        }
    }
    let (p_floor, r_floor, f1_floor, clean_ceiling, decoy_ceiling) = OVERALL_FLOORS;
    assert!(precision >= p_floor, "precision {precision:.4} < {p_floor}");
    assert!(recall >= r_floor, "recall {recall:.4} < {r_floor}");
    assert!(f1 >= f1_floor, "F1 {f1:.4} < {f1_floor}");
    assert!(
        clean_share <= clean_ceiling,
        "clean documents flagged {clean_share:.4} > {clean_ceiling}"
    );
    assert!(
        decoy_share <= decoy_ceiling,
        "decoy documents flagged {decoy_share:.4} > {decoy_ceiling}"
    );
}
