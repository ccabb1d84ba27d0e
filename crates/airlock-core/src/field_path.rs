//! Paths to values inside the arguments, written the way a model reads them:
//! `amount`, `options.depth`, `items[2].name`, `headers["content-type"]`.

use std::fmt;

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path from the arguments object to a value inside it. Empty means the arguments themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The path of the arguments object itself.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path with a key appended.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.to_owned()));
        FieldPath(v)
    }

    /// This path with an index appended.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Index(i));
        FieldPath(v)
    }

    /// Whether this is the arguments object itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse a JSON pointer into `root`: a segment is an index only where the value it steps
    /// into is an array, so an object key `"1"` stays a key.
    pub fn from_pointer_in(pointer: &str, root: &serde_json::Value) -> Self {
        Self::parse(pointer, Some(root))
    }

    /// Split a JSON pointer. Inside `root`, a segment is an index exactly where it steps into an
    /// array; with no instance to consult, canonical numbers (`0`, `12`, not `07`) are indices.
    fn parse(pointer: &str, root: Option<&serde_json::Value>) -> Self {
        let guess = root.is_none();
        let mut out = Vec::new();
        let mut cur = root;
        for raw in pointer.split('/').skip(1) {
            let seg = raw.replace("~1", "/").replace("~0", "~");
            let index = match seg.parse::<usize>() {
                Ok(i) if !seg.starts_with('+') && (seg == "0" || !seg.starts_with('0')) => Some(i),
                _ => None,
            };
            let segment = match (cur, index) {
                (Some(serde_json::Value::Array(items)), Some(i)) => {
                    cur = items.get(i);
                    Segment::Index(i)
                }
                (Some(serde_json::Value::Object(map)), _) => {
                    cur = map.get(&seg);
                    Segment::Key(seg)
                }
                (None, Some(i)) if guess => Segment::Index(i),
                _ => {
                    cur = None;
                    Segment::Key(seg)
                }
            };
            out.push(segment);
        }
        FieldPath(out)
    }

    /// Parse a JSON pointer (`/items/2/name`) into a path. Numeric segments become indices.
    pub fn from_pointer(pointer: &str) -> Self {
        Self::parse(pointer, None)
    }
}

/// Decode `%XX` escapes (as in JSON-pointer fragments and `file:` URIs); invalid escapes are
/// kept as written and invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

/// The bytes `%XX` escapes stand for (two hex digits exactly; anything else is kept as
/// written), which may not be UTF-8.
pub fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (
                (bytes[i + 1] as char).to_digit(16),
                (bytes[i + 2] as char).to_digit(16),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(arguments)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::Value::from(k.as_str()))?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_keys_stay_keys_inside_objects() {
        let v = serde_json::json!({"labels": {"1": 5}, "items": [0, {"a": 1}]});
        assert_eq!(
            FieldPath::from_pointer_in("/labels/1", &v).to_string(),
            "labels.1"
        );
        assert_eq!(
            FieldPath::from_pointer_in("/items/1/a", &v).to_string(),
            "items[1].a"
        );
    }

    #[test]
    fn displays_like_a_model_reads() {
        let cases = [
            ("", "(arguments)"),
            ("/amount", "amount"),
            ("/options/depth", "options.depth"),
            ("/items/2/name", "items[2].name"),
            ("/headers/content.type", "headers[\"content.type\"]"),
            ("/a~1b", "[\"a/b\"]"),
            ("/07", "07"),
        ];
        for (pointer, shown) in cases {
            assert_eq!(
                FieldPath::from_pointer(pointer).to_string(),
                shown,
                "{pointer}"
            );
        }
    }
}
