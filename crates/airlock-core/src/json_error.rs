//! What was wrong with JSON text, in plain words: serde_json's terse errors (`expected ident at
//! line 1 column 2`) turned into sentences a model or a person can act on, keeping the line and
//! column.
//!
//! Used wherever text from a caller is parsed: a call's arguments given as text (intake, before
//! any check) and, in the proxies, each JSON-RPC message. It only rewords an error; it decides
//! nothing.
//!
//! ```
//! let e = serde_json::from_str::<serde_json::Value>("{to: 1}").unwrap_err();
//! assert_eq!(
//!     airlock_core::json_error::explain(&e),
//!     "at line 1, column 2, an object key must be a string in double quotes, e.g. {\"to\": 1}"
//! );
//! ```

/// `e` in plain words: `at line L, column C, <what was wrong>` (without the position when
/// serde_json gives none).
pub fn explain(e: &serde_json::Error) -> String {
    let what = what(e);
    if e.line() == 0 {
        what
    } else {
        format!("at line {}, column {}, {what}", e.line(), e.column())
    }
}

/// serde_json's message without its ` at line L column C` suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    if e.line() == 0 {
        return full;
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        Some(m) => m.to_owned(),
        None => full,
    }
}

/// What was wrong, by serde_json's message; an unknown message is kept as it is.
fn what(e: &serde_json::Error) -> String {
    let message = bare_message(e);
    let plain = match message.as_str() {
        "expected ident" | "expected value" => {
            "expected a value such as a string in double quotes, a number, true, false, null, an object or an array"
        }
        "EOF while parsing a value" => {
            "the text ends where a value was expected (send an object, e.g. {})"
        }
        "EOF while parsing a list" => "the text ends before the array is closed with `]`",
        "EOF while parsing an object" => "the text ends before the object is closed with `}`",
        "EOF while parsing a string" => {
            "the text ends inside a string: its closing `\"` is missing"
        }
        "expected `:`" => "expected `:` between an object key and its value",
        "expected `,` or `]`" => {
            "expected `,` before the next item of the array, or `]` to close it"
        }
        "expected `,` or `}`" => {
            "expected `,` before the next member of the object, or `}` to close it"
        }
        "expected `\"`" => "expected a string in double quotes",
        "key must be a string" => {
            "an object key must be a string in double quotes, e.g. {\"to\": 1}"
        }
        "trailing comma" => "a `,` is followed by no item: remove the trailing comma",
        "trailing characters" => "more text follows the end of the JSON value: send one value",
        "invalid escape" => {
            "a string holds an invalid escape: after `\\` only \", \\, /, b, f, n, r, t or u and four hex digits may follow"
        }
        "unexpected end of hex escape" => "a `\\u` escape needs four hex digits",
        "invalid unicode code point" | "lone leading surrogate in hex escape" => {
            "a `\\u` escape names no valid character"
        }
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "a string holds a raw control character such as a line break or a tab: write it escaped (\\n, \\t, \\u0000)"
        }
        "invalid number" => "a number is malformed: write numbers like 42, -1.5 or 2e10",
        "number out of range" => "a number is too large to read",
        "recursion limit exceeded" => "the value is nested too deeply to read",
        _ => return message,
    };
    plain.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => panic!("{text:?} parsed as {v}"),
            Err(e) => explain(&e),
        }
    }

    /// Issue 14: `expected ident at line 1 column 2` said nothing a caller could act on.
    #[test]
    fn issue_14_bad_json_is_explained_in_plain_words() {
        for (text, want) in [
            (
                "nope",
                "at line 1, column 2, expected a value such as a string in double quotes, a number, true, false, null, an object or an array",
            ),
            (
                "{\"to\": DE89}",
                "at line 1, column 8, expected a value such as a string in double quotes, a number, true, false, null, an object or an array",
            ),
            (
                "{'to': 1}",
                "at line 1, column 2, an object key must be a string in double quotes, e.g. {\"to\": 1}",
            ),
            (
                "{\"a\": 1",
                "at line 1, column 7, the text ends before the object is closed with `}`",
            ),
            (
                "{\"a\": [1, 2}",
                "at line 1, column 12, expected `,` before the next item of the array, or `]` to close it",
            ),
            (
                "{\"a\": 1,}",
                "at line 1, column 9, a `,` is followed by no item: remove the trailing comma",
            ),
            (
                "{\"a\" 1}",
                "at line 1, column 6, expected `:` between an object key and its value",
            ),
            (
                "",
                "at line 1, column 0, the text ends where a value was expected (send an object, e.g. {})",
            ),
            (
                "{}\n{}",
                "at line 2, column 1, more text follows the end of the JSON value: send one value",
            ),
        ] {
            assert_eq!(plain(text), want, "{text:?}");
        }
    }

    #[test]
    fn data_errors_keep_their_message() {
        let e = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        assert!(explain(&e).contains("invalid type"), "{}", explain(&e));
    }
}
