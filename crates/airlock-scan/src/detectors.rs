//! The built-in detectors: one entry per type, each a pattern, the part of the match that is
//! the value, a validator, and how a partial mask keeps a safe tail.
//!
//! Patterns are ASCII (`(?-u)` semantics: `\b`, `\s` and `(?i)` are ASCII-only). Detectors
//! that share a [`Locate`] are compiled together into one automaton, which reads only where
//! their matches can be. Where a bare match would be ambiguous, the context is part of
//! the pattern (`passport no. X`, `password = X`, `Authorization: Bearer X`) and only the value
//! group is masked.

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
    /// What must come right before a match (the text, and where the match starts): context
    /// a pattern that starts at its anchor cannot hold.
    pub before: fn(&[u8], usize) -> bool,
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
    /// Around an `@`: at most 64 bytes before it, then the domain.
    At,
    /// Inside a run of digits and `+-.()/ ` with four digits within some 8 bytes.
    Digits,
    /// Within 5 bytes before and 45 after two capitals followed by a digit.
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

pub(crate) fn any(_: &str) -> bool {
    true
}
pub(crate) fn anything_before(_: &[u8], _: usize) -> bool {
    true
}
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
/// ` --password=…`: one or two dashes after whitespace.
fn dashes_after_space(t: &[u8], at: usize) -> bool {
    let dashes = t[..at].iter().rev().take(2).take_while(|&&b| b == b'-').count();
    dashes > 0 && at > dashes && t[at - dashes - 1].is_ascii_whitespace()
}
/// `postgres://`: a scheme that can carry credentials, as a word of its own, before the `://`.
fn credential_scheme(t: &[u8], at: usize) -> bool {
    const SCHEMES: &[&str] = &[
        "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis",
        "rediss", "amqp", "amqps", "mssql", "sqlserver", "http", "https", "ftp", "smtp", "ldap",
    ];
    let head = &t[..at];
    let alone = |len: usize| len == head.len() || !word(head[head.len() - len - 1]);
    let ends_with = |s: &[u8]| head.len() >= s.len() && head[head.len() - s.len()..].eq_ignore_ascii_case(s);
    if SCHEMES.iter().any(|s| ends_with(s.as_bytes()) && alone(s.len())) {
        return true;
    }
    // `jdbc:<driver>`: letters after `jdbc:`.
    let letters = head.iter().rev().take_while(|b| b.is_ascii_alphabetic()).count();
    letters > 0 && {
        let rest = &head[..head.len() - letters];
        rest.len() >= 5
            && rest[rest.len() - 5..].eq_ignore_ascii_case(b"jdbc:")
            && (rest.len() == 5 || !word(rest[rest.len() - 6]))
    }
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
    let d = validate::digits(v);
    d.len() == 12 && validate::verhoeff(&d)
}
fn phone(v: &str) -> bool {
    (8..=15).contains(&validate::digits(v).len())
}
fn high_entropy(v: &str) -> bool {
    // Only ever matched next to a secret-like key, so a hex digest there is a key too.
    !validate::placeholder(v) && validate::entropy(v) >= 3.5
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
    locate: Locate::Anywhere,
    before: anything_before,
};

macro_rules! detectors {
    ($( $kind:literal, $cat:ident, $group:literal, $validate:expr, $bounded:literal, $partial:expr, $locate:expr, $before:expr, $pattern:literal; )*) => {
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
                before: $before,
            }, )*
        ];
    };
}

detectors! {
    // ── secrets with a recognisable shape ─────────────────────────────────────────────────
    "private_key", Secret, 0, any, false, Partial::Nothing, Locate::Anywhere, anything_before,
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";
    "aws_access_key_id", Secret, 0, not_example, true, Partial::Prefix(4), Locate::Anywhere, anything_before,
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16}\b";
    "aws_secret_access_key", Secret, 1, not_example, true, Partial::Nothing, Locate::Keyword(&["aws", "secret"]), anything_before,
        r#"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?\s*(?:=|:|=>)\s*["']?([A-Za-z0-9/+]{40})\b"#;
    "github_token", Secret, 0, any, true, Partial::Prefix(4), Locate::Anywhere, anything_before,
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b";
    "github_fine_grained_token", Secret, 0, any, true, Partial::Prefix(11), Locate::Anywhere, anything_before,
        r"\bgithub_pat_[A-Za-z0-9_]{82}\b";
    "gitlab_token", Secret, 0, any, true, Partial::Prefix(6), Locate::Anywhere, anything_before,
        r"\bgl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9]+)*";
    "slack_token", Secret, 0, any, true, Partial::Prefix(5), Locate::Anywhere, anything_before,
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}";
    "slack_webhook", Secret, 0, any, false, Partial::Nothing, Locate::Anywhere, anything_before,
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}";
    "stripe_key", Secret, 0, any, true, Partial::Prefix(8), Locate::Anywhere, anything_before,
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}";
    "google_api_key", Secret, 0, any, true, Partial::Prefix(4), Locate::Anywhere, anything_before,
        r"\bAIza[0-9A-Za-z_-]{35}";
    "anthropic_key", Secret, 0, any, true, Partial::Prefix(7), Locate::Anywhere, anything_before,
        r"\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{32,}";
    "openai_key", Secret, 0, any, true, Partial::Prefix(3), Locate::Anywhere, anything_before,
        r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})";
    "huggingface_token", Secret, 0, any, true, Partial::Prefix(3), Locate::Anywhere, anything_before,
        r"\bhf_[A-Za-z0-9]{34,}";
    "npm_token", Secret, 0, any, true, Partial::Prefix(4), Locate::Anywhere, anything_before,
        r"\bnpm_[A-Za-z0-9]{36}\b";
    "pypi_token", Secret, 0, any, true, Partial::Prefix(5), Locate::Anywhere, anything_before,
        r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}";
    "sendgrid_key", Secret, 0, any, true, Partial::Prefix(3), Locate::Anywhere, anything_before,
        r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}";
    "twilio_api_key", Secret, 0, any, true, Partial::Prefix(2), Locate::Literal(&["SK"]), anything_before,
        r"\bSK[0-9a-fA-F]{32}\b";
    "shopify_token", Secret, 0, any, true, Partial::Prefix(6), Locate::Anywhere, anything_before,
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b";
    "digitalocean_token", Secret, 0, any, true, Partial::Prefix(7), Locate::Anywhere, anything_before,
        r"\bdo[opr]_v1_[a-f0-9]{64}\b";
    "azure_storage_key", Secret, 1, any, false, Partial::Nothing, Locate::Keyword(&["accountkey"]), anything_before,
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)";
    "jwt", Secret, 0, jwt, true, Partial::Nothing, Locate::Anywhere, anything_before,
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}";
    // ── secrets found by their context ────────────────────────────────────────────────────
    "bearer_token", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["bearer"]), anything_before,
        r"(?i:\bbearer)\s+([A-Za-z0-9._~+/-]{16,}=*)";
    "basic_auth", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["authorization"]), anything_before,
        r#"(?i:\bauthorization["']?\s*:\s*["']?basic)\s+([A-Za-z0-9+/]{8,}=*)"#;
    "connection_string", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Literal(&["://"]), credential_scheme,
        r"://[^\s:/@]{0,64}:([^\s/@]{1,128})@";
    "password_argument", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["pass", "token", "api", "secret", "client"]), dashes_after_space,
        r"(?i:password|passwd|pass|token|api-key|secret|client-secret)(?:=|\s+)([^\s\x22']{4,})";
    "password_assignment", Secret, 1, not_placeholder, false, Partial::Nothing, Locate::Keyword(&["pass", "pwd", "secret", "api", "access", "auth", "refresh", "private"]), anything_before,
        r#"(?i:password|passwd|passphrase|pwd|pass|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key)["']?\s*(?:=|:|=>)\s*["']?([^\s"',;&<>]{4,})"#;
    "high_entropy_secret", Secret, 1, high_entropy, false, Partial::Nothing, Locate::Keyword(&["key", "secret", "token", "credential", "signature", "salt", "auth"]), anything_before,
        r#"(?i:(?:key|secret|token|credential|signature|salt|auth)[a-z0-9_.-]{0,32})["']?\s*(?:=|:|=>)\s*["']?([A-Za-z0-9+/=_-]{20,})"#;
    // ── personal data ─────────────────────────────────────────────────────────────────────
    "email", Pii, 0, any, false, Partial::EmailDomain, Locate::At, anything_before,
        r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b";
    "upi_id", Pii, 0, any, false, Partial::Nothing, Locate::At, anything_before,
        r"\b[A-Za-z0-9._-]{2,64}@(?:okaxis|oksbi|okhdfcbank|okicici|ybl|ibl|axl|paytm|upi|apl|ptyes|ptaxis|pthdfc|ptsbi|airtel|freecharge|ikwik|jio|kotak|icici|hdfcbank|sbi|axisbank|barodampay|yesbank|idfcbank|pnb|unionbank|boi|cnrb|federal|rbl|aubank|dbs|citi|hsbc)\b";
    "iban", Pii, 0, validate::iban, true, Partial::Last4Digits, Locate::CapsDigit, anything_before,
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b";
    "credit_card", Pii, 0, card, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"\b[0-9](?:[ -]?[0-9]){12,18}\b";
    "us_ssn", Pii, 0, validate::ssn, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b";
    "aadhaar", Pii, 0, aadhaar, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"\b[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}\b";
    "pan_india", Pii, 0, any, true, Partial::Nothing, Locate::CapsDigit, anything_before,
        r"\b[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z]\b";
    "ifsc", Pii, 0, any, true, Partial::Nothing, Locate::CapsDigit, anything_before,
        r"\b[A-Z]{4}0[A-Z0-9]{6}\b";
    "passport_number", Pii, 1, any, false, Partial::Nothing, Locate::Keyword(&["passport"]), anything_before,
        r"(?i:passport)(?:[ _-]?(?i:no\.?|number|num|#|id))?\s*[:=#]?\s*[\x22']?([A-Z0-9]{6,9})\b";
    "phone_india", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"\+91[ -]?[6-9][0-9]{4}[ -]?[0-9]{5}\b";
    "phone_uk", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"(?:\+44 ?(?:\(0\) ?)?|\b0)(?:7[0-9]{3} ?[0-9]{3} ?[0-9]{3}|[1-9][0-9]{1,3} ?[0-9]{3,4} ?[0-9]{3,4})\b";
    "phone_germany", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"(?:\+49|\b0049)[ -]?(?:\(0\))?[ -]?[1-9][0-9]{1,4}[ /-]?[0-9]{3,9}\b";
    "phone_us", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"(?:\+1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}\b";
    "phone_international", Pii, 0, phone, true, Partial::Last4Digits, Locate::Digits, anything_before,
        r"\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){1,2}(?:[ .-]?[0-9]{2,4}){1,4}\b";
    "ipv4", Pii, 0, validate::ipv4, true, Partial::Nothing, Locate::Digits, anything_before,
        r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b";
    "ipv6", Pii, 0, ipv6, true, Partial::Nothing, Locate::HexColons, anything_before,
        r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|(?i)(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b)?";
}
