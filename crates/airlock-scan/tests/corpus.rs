//! A labelled corpus of realistic tool outputs — JSON APIs, logs, env files, stack traces, CSV,
//! SQL results, e-mails, chat transcripts — with planted PII and secrets (labelled by their
//! byte spans) and hard negatives (UUIDs, hashes, versions, timestamps, ISBNs, placeholders,
//! checksum-failing numbers). Precision and recall per type are printed; both must be at least
//! 0.97 overall and 0.9 for every type.
//!
//! `cargo test -p airlock-scan --test corpus -- --nocapture` shows the table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::collections::BTreeMap;

use airlock_scan::Scanner;
use airlock_scan::validate;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n)
            .map(|_| char::from(a[self.below(a.len() as u64) as usize]))
            .collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const NAMES: &[&str] = &[
    "ada", "grace", "alan", "linus", "margaret", "dennis", "barbara", "ken",
];
const DOMAINS: &[&str] = &[
    "example.org",
    "mail.example.com",
    "corp.example.net",
    "uni.example.edu",
];

/// A labelled document under construction.
#[derive(Default)]
struct Doc {
    text: String,
    labels: Vec<(usize, usize, &'static str)>,
}

impl Doc {
    fn put(&mut self, s: &str) {
        self.text.push_str(s);
    }
    /// Plant a value of a type.
    fn plant(&mut self, kind: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.labels.push((start, self.text.len(), kind));
    }
}

fn luhn_complete(r: &mut Rng, prefix: &str, len: usize) -> String {
    let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while d.len() < len - 1 {
        d.push(r.below(10) as u8);
    }
    d.push(validate::luhn_check_digit(&d));
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

fn card(r: &mut Rng) -> String {
    let (prefix, len) = match r.below(4) {
        0 => ("4", 16),
        1 => ("53", 16),
        2 => ("37", 15),
        _ => ("6011", 16),
    };
    let n = luhn_complete(r, prefix, len);
    match (r.below(3), len) {
        (0, 16) => format!("{} {} {} {}", &n[..4], &n[4..8], &n[8..12], &n[12..]),
        (1, 16) => format!("{}-{}-{}-{}", &n[..4], &n[4..8], &n[8..12], &n[12..]),
        (0 | 1, 15) => format!("{} {} {}", &n[..4], &n[4..10], &n[10..]),
        _ => n,
    }
}

fn iban(r: &mut Rng) -> String {
    let bban = r.digits(18);
    let rearranged = format!("{bban}131400");
    let rem = rearranged
        .bytes()
        .fold(0u32, |a, b| (a * 10 + u32::from(b - b'0')) % 97);
    let raw = format!("DE{:02}{bban}", 98 - rem);
    if r.below(2) == 0 {
        raw.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        raw
    }
}

fn aadhaar(r: &mut Rng) -> String {
    let mut d: Vec<u8> = vec![2 + r.below(8) as u8];
    d.extend((0..10).map(|_| r.below(10) as u8));
    d.push(validate::verhoeff_check_digit(&d));
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    format!("{} {} {}", &s[..4], &s[4..8], &s[8..])
}

fn ssn(r: &mut Rng) -> String {
    let area = loop {
        let a = 1 + r.below(899);
        if a != 666 {
            break a;
        }
    };
    format!("{area:03}-{:02}-{:04}", 1 + r.below(99), 1 + r.below(9999))
}

fn phone(r: &mut Rng) -> (&'static str, String) {
    match r.below(6) {
        0 => (
            "phone",
            format!("+1 {}-555-{}", 200 + r.below(700), r.digits(4)),
        ),
        1 => (
            "phone",
            format!("({}) 555-{}", 200 + r.below(700), r.digits(4)),
        ),
        2 => ("phone", format!("+44 20 7946 {}", r.digits(4))),
        3 => ("phone", format!("07700 900{}", r.digits(3))),
        4 => ("phone", format!("+49 30 {}", r.digits(7))),
        _ => ("phone", format!("+91 9{} {}", r.digits(4), r.digits(5))),
    }
}

fn secret(r: &mut Rng) -> (&'static str, String) {
    match r.below(12) {
        0 => ("github_token", format!("ghp_{}", r.from(ALNUM, 36))),
        1 => (
            "aws_access_key_id",
            format!("AKIA{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        ),
        2 => (
            "slack_token",
            format!(
                "xoxb-{}-{}-{}",
                r.digits(11),
                r.digits(13),
                r.from(ALNUM, 24)
            ),
        ),
        3 => ("stripe_key", format!("sk_live_{}", r.from(ALNUM, 24))),
        4 => ("openai_key", format!("sk-proj-{}", r.from(ALNUM, 48))),
        5 => (
            "anthropic_key",
            format!("sk-ant-api03-{}", r.from(ALNUM, 90)),
        ),
        6 => ("huggingface_token", format!("hf_{}", r.from(ALNUM, 34))),
        7 => ("npm_token", format!("npm_{}", r.from(ALNUM, 36))),
        8 => ("google_api_key", format!("AIza{}", r.from(ALNUM, 35))),
        9 => ("gitlab_token", format!("glpat-{}", r.from(ALNUM, 20))),
        10 => (
            "sendgrid_key",
            format!("SG.{}.{}", r.from(ALNUM, 22), r.from(ALNUM, 43)),
        ),
        _ => (
            "jwt",
            format!(
                "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
                r.from(ALNUM, 24),
                r.from(ALNUM, 32)
            ),
        ),
    }
}

/// Values that look like findings and are not.
fn negative(r: &mut Rng) -> String {
    match r.below(20) {
        12 => format!("token count: {}", r.below(100_000)),
        13 => "password reset link sent to the user".to_owned(),
        14 => "api_key: null".to_owned(),
        15 => "secret: ${APP_SECRET}".to_owned(),
        16 => "the bearer token expired; log in again".to_owned(),
        17 => format!("key={} value={}", r.from("abcdefgh", 5), r.below(100)),
        18 => format!(
            "passport office hours {}-{}",
            8 + r.below(2),
            16 + r.below(3)
        ),
        19 => format!("build {}.{}.{}", r.below(10), r.below(50), r.below(500)),
        0 => format!(
            "{}-{}-4{}-a{}-{}",
            r.from("0123456789abcdef", 8),
            r.from("0123456789abcdef", 4),
            r.from("0123456789abcdef", 3),
            r.from("0123456789abcdef", 3),
            r.from("0123456789abcdef", 12)
        ),
        1 => r.from("0123456789abcdef", 40),
        2 => r.from("0123456789abcdef", 64),
        3 => format!("v{}.{}.{}", r.below(20), r.below(30), r.below(200)),
        4 => format!(
            "2024-0{}-1{}T0{}:1{}:22Z",
            1 + r.below(9),
            r.below(10),
            r.below(10),
            r.below(10)
        ),
        5 => "ISBN 978-3-16-148410-0".to_owned(),
        6 => "password=${DB_PASSWORD}".to_owned(),
        7 => "api_key: <your-api-key>".to_owned(),
        8 => {
            // A card number that fails Luhn.
            let good = luhn_complete(r, "4", 16);
            let last = (good.as_bytes()[15] - b'0' + 1) % 10;
            format!("{}{}", &good[..15], last)
        }
        9 => format!("order #{}", r.digits(8)),
        10 => format!("{}.{} EUR", r.below(10000), r.digits(2)),
        _ => "AKIAIOSFODNN7EXAMPLE".to_owned(),
    }
}

fn document(r: &mut Rng, i: usize) -> Doc {
    let mut d = Doc::default();
    let name = r.pick(NAMES);
    let email = format!("{name}.{}@{}", r.pick(NAMES), r.pick(DOMAINS));
    match i % 8 {
        0 => {
            // A JSON API answer.
            d.put(&format!(
                "{{\"id\": {}, \"name\": \"{name}\", \"email\": \"",
                r.digits(5)
            ));
            d.plant("email", &email);
            d.put("\", \"phone\": \"");
            let (k, p) = phone(r);
            d.plant(k, &p);
            d.put(&format!(
                "\", \"trace_id\": \"{}\", \"card\": \"",
                negative(r)
            ));
            d.plant("credit_card", &card(r));
            d.put("\"}\n");
        }
        1 => {
            // Log lines.
            d.put(&format!(
                "2024-05-01 12:00:{:02} INFO request from ",
                r.below(60)
            ));
            d.plant(
                "ipv4",
                &format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254)),
            );
            d.put(&format!(" took {}ms build {}\n", r.below(900), negative(r)));
            d.put("2024-05-01 12:00:01 DEBUG auth header Authorization: Bearer ");
            let tok = r.from(ALNUM, 40);
            d.plant("bearer_token", &tok);
            d.put("\n");
        }
        2 => {
            // An env file.
            d.put("NODE_ENV=production\nDB_PASSWORD=");
            d.plant(
                "password_assignment",
                &format!("{}!{}", r.from(ALNUM, 10), r.digits(2)),
            );
            d.put(&format!("\nSENTRY_RELEASE={}\n", negative(r)));
            let (k, s) = secret(r);
            d.put("DEPLOY_TOKEN_HINT=see vault\nCI_TOKEN_VALUE=");
            d.plant(k, &s);
            d.put("\n");
        }
        3 => {
            // A stack trace with a connection string.
            d.put("Error: connect ECONNREFUSED\n    at Pool.connect (pool.js:45:11)\n    url=postgres://app:");
            d.plant("connection_string", &r.from(ALNUM, 12));
            d.put(&format!(
                "@db.internal:5432/app\n    at main (index.js:{}:3)\n",
                r.below(400)
            ));
        }
        4 => {
            // CSV.
            d.put("name,email,ssn,iban\n");
            d.put(&format!("{name},"));
            d.plant("email", &email);
            d.put(",");
            d.plant("us_ssn", &ssn(r));
            d.put(",");
            d.plant("iban", &iban(r));
            d.put(&format!(
                "\n{},{},{},{}\n",
                r.pick(NAMES),
                negative(r),
                negative(r),
                negative(r)
            ));
        }
        5 => {
            // SQL result.
            d.put(" id | customer | aadhaar        | pan\n----+----------+----------------+-----------\n ");
            d.put(&format!("{} | {name} | ", r.below(100)));
            d.plant("aadhaar", &aadhaar(r));
            d.put(" | ");
            d.plant(
                "pan_india",
                &format!(
                    "{}P{}{}{}",
                    r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3),
                    r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1),
                    r.digits(4),
                    r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1)
                ),
            );
            d.put(&format!("\n({} rows, {})\n", 1, negative(r)));
        }
        6 => {
            // An e-mail.
            d.put("From: ");
            d.plant("email", &email);
            d.put(&format!(
                "\nSubject: invoice {}\n\nHi, please call me on ",
                negative(r)
            ));
            let (k, p) = phone(r);
            d.plant(k, &p);
            d.put(". My passport number: ");
            d.plant(
                "passport_number",
                &format!("{}{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1), r.digits(8)),
            );
            d.put("\nThanks\n");
        }
        _ => {
            // A chat transcript.
            d.put(&format!("[10:0{}] {name}: here is the key ", r.below(10)));
            let (k, s) = secret(r);
            d.plant(k, &s);
            d.put(&format!(
                " for build {}\n[10:05] bot: noted, host ",
                negative(r)
            ));
            d.plant(
                "ipv6",
                &format!(
                    "2001:db8:{}::{}",
                    r.from("0123456789abcdef", 4),
                    r.from("0123456789abcdef", 3)
                ),
            );
            d.put("\n");
        }
    }
    d
}

/// Types compared as families (all phone formats are "phone").
fn family(kind: &str) -> &str {
    if kind.starts_with("phone") {
        "phone"
    } else {
        kind
    }
}

#[test]
fn precision_and_recall_on_the_labelled_corpus() {
    let scanner = Scanner::builder().build().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    // (tp, fp, fn) per type.
    let mut stats: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    let mut bytes = 0;
    for i in 0..4000 {
        let doc = document(&mut rng, i);
        bytes += doc.text.len();
        let found = scanner.find(&doc.text);
        let mut matched = vec![false; doc.labels.len()];
        for f in &found {
            let hit = doc.labels.iter().enumerate().find(|(j, (s, e, k))| {
                !matched[*j] && f.start < *e && *s < f.end && family(f.kind) == family(k)
            });
            match hit {
                Some((j, _)) => {
                    matched[j] = true;
                    stats.entry(family(f.kind).to_owned()).or_default().0 += 1;
                }
                None => {
                    stats.entry(family(f.kind).to_owned()).or_default().1 += 1;
                    eprintln!("false positive {}: {:?}", f.kind, &doc.text[f.start..f.end]);
                }
            }
        }
        for (j, (s, e, k)) in doc.labels.iter().enumerate() {
            if !matched[j] {
                stats.entry(family(k).to_owned()).or_default().2 += 1;
                eprintln!("missed {k}: {:?}", &doc.text[*s..*e]);
            }
        }
    }
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    println!("corpus: 4000 documents, {bytes} bytes");
    println!("| type | found | false + | missed | precision | recall |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut worst = Vec::new();
    for (kind, (t, f, m)) in &stats {
        let p = f64::from(*t) / f64::from((t + f).max(1));
        let r = f64::from(*t) / f64::from((t + m).max(1));
        println!("| {kind} | {t} | {f} | {m} | {p:.3} | {r:.3} |");
        if p < 0.9 || r < 0.9 {
            worst.push(kind.clone());
        }
        tp += t;
        fp += f;
        fn_ += m;
    }
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    println!("| all | {tp} | {fp} | {fn_} | {precision:.4} | {recall:.4} |");
    assert!(
        precision >= 0.97 && recall >= 0.97,
        "precision {precision:.4}, recall {recall:.4}"
    );
    assert!(worst.is_empty(), "types under 0.9: {worst:?}");
}
