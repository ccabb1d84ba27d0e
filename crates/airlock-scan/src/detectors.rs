//! The built-in detectors: one entry per type, each a pattern, the part of the match that is
//! the value, a validator, and how a partial mask keeps a safe tail.
//!
//! Patterns are ASCII (`(?-u)` semantics: `\b`, `\s` and `(?i)` are ASCII-only). Detectors
//! that share a [`Locate`] are compiled together into one automaton, which reads only where
//! their matches can be. Where a bare match would be ambiguous, the context is part of
//! the pattern (`passport no. X`, `password = X`, `Authorization: Bearer X`) and only the value
//! group is masked.

use crate::locate::is_word;
use crate::validate;

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Personal data.
    Pii,
    /// Credentials and keys.
    Secret,
    /// A detector of the configuration's own.
    Custom,
}

/// How `partial` masking keeps a tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partial {
    /// The last four digits (cards, phones, account numbers).
    Last4Digits,
    /// The first character and the domain of an e-mail address.
    EmailDomain,
    /// The first `n` characters (a token's public prefix, `ghp_`).
    Prefix(usize),
    /// Nothing: the value is masked in full.
    Nothing,
}

/// One detector.
#[derive(Debug)]
pub struct Detector {
    /// The type name (`email`, `credit_card`, `github_token`).
    pub kind: &'static str,
    /// PII or secret.
    pub category: Category,
    /// The pattern (ASCII semantics).
    pub pattern: &'static str,
    /// The capture group holding the value (0: the whole match).
    pub group: usize,
    /// Whether the value is one (checksum, structure, not a placeholder).
    pub validate: fn(&str) -> bool,
    /// Refuse values glued to a longer token (a letter, digit, `_`, `-` or `.` right before
    /// or after): the digits inside a UUID, a version string, a longer number.
    pub bounded: bool,
    /// How `partial` masking keeps a tail.
    pub partial: Partial,
    /// Where its matches can be, so the scanner reads only there.
    pub locate: Locate,
    /// Whether the match's surroundings allow a finding (the text, the match's start and
    /// end): context a pattern that starts at its anchor cannot hold, and context that makes
    /// a well-formed value something else (a shell prompt, a version, an account id).
    pub context: fn(&[u8], usize, usize) -> bool,
    /// A detail of the type the detector finds, reported with each finding: a phone number's
    /// country (`us`, `gb`, `in`, `de`; empty where a detector does not know it).
    pub detail: &'static str,
}

/// Where a detector's matches can be. Detectors that share one are searched together, by one
/// automaton, only there (see [`crate::locate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locate {
    /// Anywhere: the whole text is searched (the automaton skips ahead on literal prefixes).
    Anywhere,
    /// Every match starts with one of these literals (exact case).
    Literal(&'static [&'static str]),
    /// Every match starts with one of these keywords, in any letter case (lower case here).
    Keyword(&'static [&'static str]),
    /// Every match starts where a word does (`\b` and a letter, digit or `_`), with one of a
    /// few literal prefixes, and begins with at least [`crate::locate::TOKEN_RUN`] letters,
    /// digits and `_-.`: the vendor-prefixed keys and tokens (checked when the scanner is
    /// built).
    Token,
    /// Around an `@`: every match is `\b`, 1 to 64 local-part bytes (letters, digits and
    /// `._%+-`) and `@` (checked when the scanner is built), so it starts at a word boundary
    /// at most 64 bytes before an `@`.
    At,
    /// Inside a run of digits and `+-.()/ ` that holds 7 bytes with 4 digits among them (and
    /// digits enough for a finding; see [`crate::locate::NumberRegions::digits`]).
    Digits,
    /// Within 13 bytes before and 45 after two capitals followed by a digit.
    CapsDigit,
    /// Inside a run of hex digits and colons with `::` or seven colons.
    HexColons,
}

impl Locate {
    /// Whether two detectors are searched together.
    pub(crate) fn same_class(self, other: Locate) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

/// What a detector deliberately leaves unmasked, for `airlock scan --list`: the first thing a
/// newcomer pastes is often a documentation example.
pub fn not_masked(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "aws_access_key_id" | "aws_secret_access_key" => {
            "values with EXAMPLE in them: AWS's documentation keys (AKIAIOSFODNN7EXAMPLE, wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY) are public and valid-looking, and masking them would flag every tutorial"
        }
        "password_assignment"
        | "password_argument"
        | "high_entropy_secret"
        | "connection_string" => {
            "placeholders and references: ${DB_PASSWORD}, $API_KEY, {{ token }}, <your-key>, ********, values with example, placeholder or redacted in them"
        }
        "credit_card" => "numbers that fail the Luhn check or match no card brand",
        "aadhaar" => {
            "numbers that fail the Verhoeff check, and cloud account ids (arn:aws:…::123456789012, AccountId)"
        }
        "iban" => "IBANs that fail mod-97 or have the wrong length for their country",
        "email" => "shell prompts (deploy@web-01.example.com:~$)",
        "ipv4" => "versions (version 10.0.0.1, Chrome/1.2.3.4)",
        _ => return None,
    })
}

/// The detail of a finding of `d` with this value: for a phone number written with its country
/// calling code (`+33 1 42 68 53 00`, `0049 30 …`), that country (`+1` is reported as `us`);
/// otherwise the detector's own.
pub(crate) fn detail(d: &Detector, value: &str) -> &'static str {
    if d.kind != "phone" {
        return d.detail;
    }
    let Some(rest) = value.strip_prefix('+').or_else(|| value.strip_prefix("00")) else {
        return d.detail;
    };
    let mut digits = [0u8; 3];
    let mut len = 0;
    for b in rest.bytes().filter(u8::is_ascii_digit).take(3) {
        digits[len] = b;
        len += 1;
    }
    // Calling codes are a prefix code: at most one of the first one, two or three digits is one.
    (1..=len)
        .find_map(|n| {
            let code = std::str::from_utf8(&digits[..n]).ok()?;
            CALLING_CODES
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, iso)| *iso)
        })
        .unwrap_or(d.detail)
}

/// ITU-T E.164 country calling codes and the country each names (ISO 3166 alpha-2).
const CALLING_CODES: &[(&str, &str)] = &[
    ("1", "us"),
    ("7", "ru"),
    ("20", "eg"),
    ("27", "za"),
    ("30", "gr"),
    ("31", "nl"),
    ("32", "be"),
    ("33", "fr"),
    ("34", "es"),
    ("36", "hu"),
    ("39", "it"),
    ("40", "ro"),
    ("41", "ch"),
    ("43", "at"),
    ("44", "gb"),
    ("45", "dk"),
    ("46", "se"),
    ("47", "no"),
    ("48", "pl"),
    ("49", "de"),
    ("51", "pe"),
    ("52", "mx"),
    ("53", "cu"),
    ("54", "ar"),
    ("55", "br"),
    ("56", "cl"),
    ("57", "co"),
    ("58", "ve"),
    ("60", "my"),
    ("61", "au"),
    ("62", "id"),
    ("63", "ph"),
    ("64", "nz"),
    ("65", "sg"),
    ("66", "th"),
    ("81", "jp"),
    ("82", "kr"),
    ("84", "vn"),
    ("86", "cn"),
    ("90", "tr"),
    ("91", "in"),
    ("92", "pk"),
    ("93", "af"),
    ("94", "lk"),
    ("95", "mm"),
    ("98", "ir"),
    ("212", "ma"),
    ("213", "dz"),
    ("216", "tn"),
    ("234", "ng"),
    ("254", "ke"),
    ("351", "pt"),
    ("352", "lu"),
    ("353", "ie"),
    ("354", "is"),
    ("358", "fi"),
    ("380", "ua"),
    ("420", "cz"),
    ("421", "sk"),
    ("852", "hk"),
    ("880", "bd"),
    ("886", "tw"),
    ("966", "sa"),
    ("971", "ae"),
    ("972", "il"),
    ("974", "qa"),
];

pub(crate) fn any(_: &str) -> bool {
    true
}
pub(crate) fn any_context(_: &[u8], _: usize, _: usize) -> bool {
    true
}
/// How many letters `bytes` ends with.
fn trailing_letters(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphabetic())
        .count()
}
/// ` --password=…`, ` --db-password …`: an option (one or two dashes after whitespace, then
/// perhaps a prefix of letters, digits and dashes).
fn dashes_after_space(t: &[u8], at: usize, _: usize) -> bool {
    let head = &t[..at];
    let word = head
        .iter()
        .rev()
        .take(32)
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .count();
    let option = &head[head.len() - word..];
    option.starts_with(b"-")
        && (head.len() == word || head[head.len() - word - 1].is_ascii_whitespace())
}
/// `postgres://`: a scheme that can carry credentials, as a word of its own, before the `://`.
fn credential_scheme(t: &[u8], at: usize, _: usize) -> bool {
    const SCHEMES: &[&str] = &[
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "mongodb",
        "mongodb+srv",
        "redis",
        "rediss",
        "amqp",
        "amqps",
        "mssql",
        "sqlserver",
        "http",
        "https",
        "ftp",
        "smtp",
        "ldap",
    ];
    let head = &t[..at];
    let alone = |len: usize| len == head.len() || !is_word(head[head.len() - len - 1]);
    let ends_with =
        |s: &[u8]| head.len() >= s.len() && head[head.len() - s.len()..].eq_ignore_ascii_case(s);
    if SCHEMES
        .iter()
        .any(|s| ends_with(s.as_bytes()) && alone(s.len()))
    {
        return true;
    }
    // `jdbc:<driver>`: letters after `jdbc:`.
    let letters = trailing_letters(head);
    letters > 0 && {
        let rest = &head[..head.len() - letters];
        rest.len() >= 5
            && rest[rest.len() - 5..].eq_ignore_ascii_case(b"jdbc:")
            && (rest.len() == 5 || !is_word(rest[rest.len() - 6]))
    }
}
/// The bytes before `at`, back to (not including) the start of the line, at most `n`.
fn line_before(t: &[u8], at: usize, n: usize) -> &[u8] {
    let from = at.saturating_sub(n);
    let head = &t[from..at];
    match memchr::memrchr(b'\n', head) {
        Some(i) => &head[i + 1..],
        None => head,
    }
}
/// Whether `head` ends with one of `words` (any letter case) as a word of its own. The words
/// are letters and digits, so that is the run of word bytes `head` ends with, read once.
fn ends_with_word(head: &[u8], words: &[&str]) -> bool {
    let run = head.iter().rev().take_while(|&&b| is_word(b)).count();
    let last = &head[head.len() - run..];
    words
        .iter()
        .any(|w| w.len() == run && last.eq_ignore_ascii_case(w.as_bytes()))
}
/// `deploy@web-01.prod.example.com:~$`: a shell prompt (user, host, then `:` and a path), not
/// an e-mail address.
fn not_a_prompt(t: &[u8], _: usize, end: usize) -> bool {
    !(t.get(end) == Some(&b':') && matches!(t.get(end + 1), Some(b'~' | b'/')))
}
/// Words after which a dotted quad is a version.
const VERSION: &[&str] = &[
    "version", "ver", "release", "build", "firmware", "kernel", "bios", "uefi", "driver",
    "revision", "rev", "patch", "v",
];
/// Words after which a dotted quad is an address however the line reads.
const ADDRESS: &[&str] = &[
    "ip",
    "ipv4",
    "addr",
    "address",
    "host",
    "from",
    "to",
    "client",
    "server",
    "peer",
    "src",
    "dst",
    "source",
    "remote",
    "local",
    "via",
    "gateway",
    "gw",
    "dns",
    "nameserver",
    "proxy",
    "inet",
    "at",
    "by",
    "for",
    "connect",
    "connecting",
    "connected",
    "listen",
    "listening",
    "bind",
    "ping",
    "route",
    "node",
    "origin",
    "forwarded",
    "user",
    "login",
];
/// `version 2.4.1.0`, `BIOS 2.14.2.8`, `Foo/1.2.3.4`, `v1.2.3.4`, `zlib 1.3.1 sqlite
/// 3.41.0.6`: a version, not an address.
fn not_a_version(t: &[u8], at: usize, _: usize) -> bool {
    let head = line_before(t, at, 80);
    let trimmed = head.trim_ascii_end();
    let trimmed = trimmed
        .strip_suffix(b":")
        .unwrap_or(trimmed)
        .trim_ascii_end();
    if ends_with_word(trimmed, VERSION) {
        return false;
    }
    // A product token right before it: `Chrome/1.2.3.4`.
    if head.last() == Some(&b'/') && head.len() >= 2 && head[head.len() - 2].is_ascii_alphabetic() {
        return false;
    }
    // `name 1.2.3.4` on a line that already lists a `name 1.2.3` version.
    let word = trailing_letters(trimmed);
    !(word > 0
        && head.len() > trimmed.len()
        && !ends_with_word(trimmed, ADDRESS)
        && has_three_part_version(&trimmed[..trimmed.len() - word]))
}
/// Whether `text` holds a version of three numbers (`1.3.1`, `v2.0.11`) as a word.
fn has_three_part_version(text: &[u8]) -> bool {
    // Two dots at the least, or no token is one.
    if memchr::memchr_iter(b'.', text).nth(1).is_none() {
        return false;
    }
    text.split(|b| b.is_ascii_whitespace() || matches!(b, b',' | b';' | b'(' | b')'))
        .any(|token| {
            let token = token.strip_prefix(b"v").unwrap_or(token);
            let (mut parts, mut len) = (1, 0);
            for &b in token {
                match b {
                    b'.' if len > 0 => (parts, len) = (parts + 1, 0),
                    b'0'..=b'9' if len < 5 => len += 1,
                    _ => return false,
                }
            }
            parts == 3 && len > 0
        })
}
/// `arn:aws:iam::123456789012:role/x`, `"AccountId": "…"`, `account 1234…`: a cloud account
/// id, not an Aadhaar number.
fn not_an_account(t: &[u8], at: usize, _: usize) -> bool {
    let head = line_before(t, at, 40);
    if head.ends_with(b"::") || head.ends_with(b":aws:") || head.ends_with(b"amazonaws.com/") {
        return false;
    }
    !(head.windows(7).any(|w| w.eq_ignore_ascii_case(b"account"))
        || head.windows(4).any(|w| w.eq_ignore_ascii_case(b"arn:")))
}
/// `sha256: …`, `etag`, `checksum`, `secret_key_hash`: a digest is named as one; it is not a
/// secret however random it looks.
fn not_a_digest(t: &[u8], at: usize, _: usize) -> bool {
    const NAMES: &[&[u8]] = &[
        b"hash",
        b"sha1",
        b"sha256",
        b"sha512",
        b"md5",
        b"checksum",
        b"digest",
        b"etag",
        b"fingerprint",
        b"integrity",
    ];
    let mut buf = [0u8; 48];
    let mut len = 0;
    for &b in t[at..]
        .iter()
        .take(48)
        .take_while(|&&b| !matches!(b, b'=' | b':' | b'"' | b'\'' | b' ' | b'\t'))
    {
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    let name = &buf[..len];
    // `private_key_id`, `keyId`: the name of a key, not the key.
    let identifier = name.ends_with(b"_id")
        || name.ends_with(b"-id")
        || (name.ends_with(b"id") && name.len() > 2 && t[at + name.len() - 2] == b'I');
    !identifier && !NAMES.iter().any(|n| name.windows(n.len()).any(|w| w == *n))
}
/// `"${SESSION_SECRET:?missing}"`: a key inside a shell reference names a variable.
fn not_in_a_reference(t: &[u8], at: usize, _: usize) -> bool {
    let head = line_before(t, at, 64);
    match head.windows(2).rposition(|w| w == b"${") {
        Some(i) => head[i..].contains(&b'}'),
        None => true,
    }
}
/// Digits in groups (`5396 6629 5884 7607`, an IBAN's `SE11 2085 …`): a number of groups
/// inside a longer run of them is a piece of another number. The group right before `at`
/// (then a space), if it is one `shape` accepts.
fn group_before(t: &[u8], at: usize, shape: fn(&[u8]) -> bool) -> bool {
    if at < 2 || t[at - 1] != b' ' {
        return false;
    }
    let len = t[..at - 1]
        .iter()
        .rev()
        .take(7)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    shape(&t[at - 1 - len..at - 1])
}
/// Four digits, as card numbers and IBANs are grouped.
fn four_digits(g: &[u8]) -> bool {
    g.len() == 4 && g.iter().all(u8::is_ascii_digit)
}
/// An IBAN's group: four digits, or its country and check digits (`SE11`).
fn iban_group(g: &[u8]) -> bool {
    four_digits(g)
        || (g.len() == 4
            && g[..2].iter().all(u8::is_ascii_uppercase)
            && g[2..].iter().all(u8::is_ascii_digit))
}
/// Three to six digits, as phone numbers are grouped.
fn phone_group(g: &[u8]) -> bool {
    (3..=6).contains(&g.len()) && g.iter().all(u8::is_ascii_digit)
}
fn digit_group_after(t: &[u8], end: usize) -> bool {
    t.get(end) == Some(&b' ') && t.get(end + 1).is_some_and(u8::is_ascii_digit)
}
fn no_digit_group_before(t: &[u8], at: usize, _: usize) -> bool {
    !group_before(t, at, four_digits)
}
fn alone_in_digit_groups(t: &[u8], at: usize, end: usize) -> bool {
    !group_before(t, at, phone_group) && !digit_group_after(t, end)
}
fn aadhaar_context(t: &[u8], at: usize, end: usize) -> bool {
    not_an_account(t, at, end) && !group_before(t, at, iban_group) && !digit_group_after(t, end)
}
fn not_placeholder(v: &str) -> bool {
    !validate::placeholder(v)
}
fn not_example(v: &str) -> bool {
    !v.contains("EXAMPLE") && !v.contains("example")
}
fn card(v: &str) -> bool {
    validate::card(v)
}
fn aadhaar(v: &str) -> bool {
    let mut buf = [0; 20];
    validate::few_digits(v, &mut buf).is_some_and(|d| d.len() == 12 && validate::verhoeff(d))
}
fn phone(v: &str) -> bool {
    (8..=15).contains(&v.bytes().filter(u8::is_ascii_digit).count())
}
fn high_entropy(v: &str) -> bool {
    // Only ever matched next to a secret-like key, so a hex digest there is a key too.
    !validate::placeholder(v) && validate::entropy(v) >= 3.5
}
fn ipv4(v: &str) -> bool {
    // The unspecified and broadcast addresses are nobody's.
    validate::ipv4(v) && v != "0.0.0.0" && v != "255.255.255.255"
}
fn ipv6(v: &str) -> bool {
    // `::` alone (the unspecified address) is punctuation far more often than an address.
    v.len() >= 3 && validate::ipv6(v)
}
fn jwt(v: &str) -> bool {
    v.split('.').count() == 3
}

/// The header of a private key block whose end was cut off (`head -5 id_rsa`, a result in
/// parts): the scanner masks from it to the end of the text. It follows the whole-block
/// pattern, which wins where both match. (A pattern that itself ran to the end of the text
/// would make the automaton's reverse search for every match's start cross the whole text.)
pub static CUT_PRIVATE_KEY: Detector = Detector {
    kind: "private_key",
    category: Category::Secret,
    pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    group: 0,
    validate: any,
    bounded: false,
    partial: Partial::Nothing,
    locate: Locate::Literal(&["-----BEGIN "]),
    context: any_context,
    detail: "",
};

macro_rules! detail {
    () => {
        ""
    };
    ($d:literal) => {
        $d
    };
}

macro_rules! detectors {
    ($( $kind:literal, $cat:ident, $group:literal, $validate:expr, $bounded:literal, $partial:expr, $locate:expr, $context:expr, $pattern:literal $(, $detail:literal)?; )*) => {
        /// Every built-in detector, in priority order (earlier wins where two match at the same place).
        pub static DETECTORS: &[Detector] = &[
            $( Detector {
                kind: $kind,
                category: Category::$cat,
                pattern: $pattern,
                group: $group,
                validate: $validate,
                bounded: $bounded,
                partial: $partial,
                locate: $locate,
                context: $context,
                detail: detail!($($detail)?),
            }, )*
        ];
    };
}

detectors! {
    // ── secrets with a recognisable shape ─────────────────────────────────────────────────
    "private_key", Secret, 0, any, false, Partial::Nothing, Locate::Literal(&["-----BEGIN "]), any_context,
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";
    "aws_access_key_id", Secret, 0, not_example, true, Partial::Prefix(4), Locate::Token, any_context,
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16}\b";
    "aws_secret_access_key", Secret, 1, not_example, true, Partial::Nothing, Locate::Keyword(&["aws", "secret"]), any_context,
        r#"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?[ \t]*(?:=|:|=>)[ \t]*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#;
    "github_token", Secret, 0, any, true, Partial::Prefix(4), Locate::Token, any_context,
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b";
    "github_fine_grained_token", Secret, 0, any, true, Partial::Prefix(11), Locate::Token, any_context,
        r"\bgithub_pat_[A-Za-z0-9_]{82}\b";
    "gitlab_token", Secret, 0, any, true, Partial::Prefix(6), Locate::Token, any_context,
        r"\bgl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9]+)*";
    "slack_token", Secret, 0, any, true, Partial::Prefix(5), Locate::Token, any_context,
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}";
    "slack_webhook", Secret, 0, any, false, Partial::Nothing, Locate::Literal(&["https://hooks.slack.com/"]), any_context,
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}";
    "stripe_key", Secret, 0, any, true, Partial::Prefix(8), Locate::Token, any_context,
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}";
    "google_api_key", Secret, 0, any, true, Partial::Prefix(4), Locate::Token, any_context,
        r"\bAIza[0-9A-Za-z_-]{35}";
    "anthropic_key", Secret, 0, any, true, Partial::Prefix(7), Locate::Token, any_context,
        r"\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{32,}";
    "openai_key", Secret, 0, any, true, Partial::Prefix(3), Locate::Token, any_context,
        r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})";
    "huggingface_token", Secret, 0, any, true, Partial::Prefix(3), Locate::Token, any_context,
        r"\bhf_[A-Za-z0-9]{34,}";
    "npm_token", Secret, 0, any, true, Partial::Prefix(4), Locate::Token, any_context,
        r"\bnpm_[A-Za-z0-9]{36}\b";
    "pypi_token", Secret, 0, any, true, Partial::Prefix(5), Locate::Token, any_context,
        r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}";
    "sendgrid_key", Secret, 0, any, true, Partial::Prefix(3), Locate::Token, any_context,
        r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}";
    "twilio_api_key", Secret, 0, any, true, Partial::Prefix(2), Locate::Token, any_context,
        r"\bSK[0-9a-fA-F]{32}\b";
    "shopify_token", Secret, 0, any, true, Partial::Prefix(6), Locate::Token, any_context,
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b";
    "digitalocean_token", Secret, 0, any, true, Partial::Prefix(7), Locate::Token, any_context,
        r"\bdo[opr]_v1_[a-f0-9]{64}\b";
    "azure_storage_key", Secret, 1, any, false, Partial::Nothing, Locate::Keyword(&["accountkey"]), any_context,
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)";
    "jwt", Secret, 0, jwt, true, Partial::Nothing, Locate::Token, any_context,
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}";
    // ── secrets found by their context ────────────────────────────────────────────────────
    "bearer_token", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["bearer"]), any_context,
        r"(?i:\bbearer)\s+([A-Za-z0-9._~+/-]{16,}=*)";
    "basic_auth", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["authorization"]), any_context,
        r#"(?i:\bauthorization["']?\s*:\s*["']?basic)\s+([A-Za-z0-9+/]{8,}=*)"#;
    "connection_string", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Literal(&["://"]), credential_scheme,
        r"://[^\s:/@]{0,64}:([^\s/@]{1,128})@";
    "password_argument", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["pass", "token", "api", "secret", "client"]), dashes_after_space,
        r"(?i:password|passwd|pass|token|api-key|secret|client-secret)(?:=|[ \t]+)[\x22']?([^\s\x22']{4,})";
    "password_assignment", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["pass", "pwd", "secret", "api", "access", "auth", "refresh", "private"]), not_in_a_reference,
        r#"(?i:password|passwd|passphrase|pwd|pass|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key)["']?[ \t]*(?:=|:|=>)[ \t]*["']?([^\s"',;&<>]{4,})"#;
    "high_entropy_secret", Secret, 1, high_entropy, false, Partial::Nothing, Locate::Keyword(&["key", "secret", "token", "credential", "signature", "salt", "auth"]), not_a_digest,
        r#"(?i:(?:key|secret|token|credential|signature|salt|auth)[a-z0-9_.-]{0,32})["']?[ \t]*(?:=|:|=>)[ \t]*["']?([A-Za-z0-9+/=_-]{20,})"#;
    // ── personal data ─────────────────────────────────────────────────────────────────────
    "email", Pii, 0, any, false, Partial::EmailDomain, Locate::At, not_a_prompt,
        r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b";
    "upi_id", Pii, 0, any, false, Partial::Nothing, Locate::At, any_context,
        r"\b[A-Za-z0-9._-]{2,64}@(?:okaxis|oksbi|okhdfcbank|okicici|ybl|ibl|axl|paytm|upi|apl|ptyes|ptaxis|pthdfc|ptsbi|airtel|freecharge|ikwik|jio|kotak|icici|hdfcbank|sbi|axisbank|barodampay|yesbank|idfcbank|pnb|unionbank|boi|cnrb|federal|rbl|aubank|dbs|citi|hsbc)\b";
    "iban", Pii, 0, validate::iban, true, Partial::Last4Digits, Locate::CapsDigit, any_context,
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b";
    "credit_card", Pii, 0, card, true, Partial::Last4Digits, Locate::Digits, no_digit_group_before,
        r"\b(?:[0-9](?:[ -]?[0-9]){12,18}|[0-9]{4}\.[0-9]{4}\.[0-9]{4}\.[0-9]{1,7})\b";
    "us_ssn", Pii, 0, validate::ssn, true, Partial::Last4Digits, Locate::Digits, any_context,
        r"\b[0-9]{3}(?:-[0-9]{2}-|\x20[0-9]{2}\x20)[0-9]{4}\b";
    // Nine digits alone are an SSN only under its name.
    "us_ssn", Pii, 1, validate::ssn, false, Partial::Last4Digits, Locate::Keyword(&["ssn", "social"]), any_context,
        r#"(?i:ssn|social[ _-]?security(?:[ _-]?(?:number|no\.?|num|#))?)["']?[ \t]*[:=#]?[ \t]*["']?([0-9]{9}|[0-9]{3}[ -][0-9]{2}[ -][0-9]{4})\b"#;
    "aadhaar", Pii, 0, aadhaar, true, Partial::Last4Digits, Locate::Digits, aadhaar_context,
        r"\b[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}\b";
    "pan_india", Pii, 0, any, true, Partial::Nothing, Locate::CapsDigit, any_context,
        r"\b[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z]\b";
    "ifsc", Pii, 0, any, true, Partial::Nothing, Locate::CapsDigit, any_context,
        r"\b[A-Z]{4}0[A-Z0-9]{6}\b";
    "passport_number", Pii, 1, any, false, Partial::Nothing, Locate::Keyword(&["passport"]), any_context,
        r"(?i:passport)(?:[ _-]?(?i:no\.?|number|num|#|id))?[\x22']?[ \t]*[:=#]?[ \t]*[\x22']?([A-Z0-9]{6,9})\b";
    // The second line of a passport's machine-readable zone (ICAO 9303 TD3), masked whole: the
    // document number, its check digit, nationality, birth date and check digit, sex, expiry
    // and check digit, optional data; the check digits must hold.
    "passport_number", Pii, 0, validate::mrz_line, false, Partial::Nothing, Locate::CapsDigit, any_context,
        r"\b[A-Z0-9<]{9}[0-9][A-Z<]{3}[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]";
    "phone", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, alone_in_digit_groups,
        r"\+91[ -]?[6-9][0-9]{4}[ -]?[0-9]{5}\b", "in";
    "phone", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, alone_in_digit_groups,
        r"(?:\+44 ?(?:\(0\) ?)?|\b0)(?:7[0-9]{3} ?[0-9]{3} ?[0-9]{3}|[1-9][0-9]{1,3} ?[0-9]{3,4} ?[0-9]{3,4})\b", "gb";
    "phone", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, alone_in_digit_groups,
        r"(?:\+49|\b0049)[ -]?(?:\(0\))?[ -]?[1-9][0-9]{1,4}[ /-]?[0-9]{3,9}\b", "de";
    "phone", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, alone_in_digit_groups,
        r"(?:\+1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}\b", "us";
    "phone", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, alone_in_digit_groups,
        r"\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){1,2}(?:[ .-]?[0-9]{2,4}){1,4}\b";
    "ipv4", Pii, 0, ipv4, true, Partial::Nothing, Locate::Digits, not_a_version,
        r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b";
    "ipv6", Pii, 0, ipv6, true, Partial::Nothing, Locate::HexColons, any_context,
        r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|(?i)(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b)?";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ends_with_word` reads the run of word bytes a line ends with, which finds a listed word
    /// only if the word is all word bytes.
    #[test]
    fn version_and_address_words_are_word_bytes() {
        for w in VERSION.iter().chain(ADDRESS) {
            assert!(w.bytes().all(is_word), "{w}");
        }
        assert!(ends_with_word(b"BIOS", VERSION) && !ends_with_word(b"my-bios2", VERSION));
    }
}
