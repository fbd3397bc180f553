//! Entity tags (RFC 9110 §8.8.3) and the lists `If-Match` and
//! `If-None-Match` carry.
//!
//! R2's etags are always strong (an MD5, or `<md5>-<parts>` after a
//! multipart upload); the `ETag` header is that value in double quotes.
//! Client-sent tags may be weak (`W/"…"`), which matters for comparison:
//! `If-Match` and `If-Range` compare strongly (a weak tag never matches),
//! `If-None-Match` weakly (the opaque values alone).

/// One entity tag: its opaque value (without quotes) and whether it is weak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` prefix present.
    pub weak: bool,
    /// The characters between the quotes.
    pub opaque: String,
}

impl EntityTag {
    /// A strong tag, as R2 makes them.
    pub fn strong(opaque: impl Into<String>) -> EntityTag {
        EntityTag {
            weak: false,
            opaque: opaque.into(),
        }
    }

    /// Parses one `entity-tag`; `None` unless it is exactly `"…"` or
    /// `W/"…"` with legal characters (no `"`, no controls, no spaces).
    pub fn parse(text: &str) -> Option<EntityTag> {
        let (weak, rest) = match text.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let opaque = rest.strip_prefix('"')?.strip_suffix('"')?;
        opaque.chars().all(is_etagc).then(|| EntityTag {
            weak,
            opaque: opaque.to_string(),
        })
    }

    /// The header form: `"…"` or `W/"…"`.
    pub fn to_header(&self) -> String {
        if self.weak {
            format!("W/\"{}\"", self.opaque)
        } else {
            format!("\"{}\"", self.opaque)
        }
    }

    /// Strong comparison: both strong and the same value.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: the same value, whatever the strength.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }
}

/// `etagc` of RFC 9110: `!`, `#`–`~`, and obs-text (which the Fetch API
/// hands over as the Latin-1 characters U+0080–U+00FF).
fn is_etagc(c: char) -> bool {
    c == '!' || ('#'..='~').contains(&c) || ('\u{80}'..='\u{ff}').contains(&c)
}

/// The value of `If-Match` or `If-None-Match`: `*` or a list of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagCondition {
    /// `*`: any current representation.
    Any,
    /// One or more tags.
    Tags(Vec<EntityTag>),
}

impl EtagCondition {
    /// Parses `*` or `1#entity-tag` (commas with optional whitespace; empty
    /// list elements are allowed, as RFC 9110 §5.6.1 asks). `None` for
    /// anything else, including an empty list or `*` mixed with tags.
    pub fn parse(text: &str) -> Option<EtagCondition> {
        let text = text.trim_matches([' ', '\t']);
        if text == "*" {
            return Some(EtagCondition::Any);
        }
        let mut tags = Vec::new();
        let mut rest = text;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            // A tag ends at its closing quote (commas may occur inside one).
            // Only ASCII is sliced at, so every index is a char boundary.
            let open = if rest.starts_with("W/\"") {
                3
            } else if rest.starts_with('"') {
                1
            } else {
                return None;
            };
            let close = open + rest[open..].find('"')?;
            tags.push(EntityTag::parse(&rest[..=close])?);
            rest = &rest[close + 1..];
            let after = rest.trim_start_matches([' ', '\t']);
            if !(after.is_empty() || after.starts_with(',')) {
                return None;
            }
            rest = after;
        }
        (!tags.is_empty()).then_some(EtagCondition::Tags(tags))
    }

    /// Whether the condition names `current` under strong comparison
    /// (`If-Match`). `*` names any existing representation.
    pub fn matches_strong(&self, current: &EntityTag) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Tags(tags) => tags.iter().any(|t| t.strong_eq(current)),
        }
    }

    /// Whether the condition names `current` under weak comparison
    /// (`If-None-Match`).
    pub fn matches_weak(&self, current: &EntityTag) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Tags(tags) => tags.iter().any(|t| t.weak_eq(current)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strong(s: &str) -> EntityTag {
        EntityTag::strong(s)
    }

    fn weak(s: &str) -> EntityTag {
        EntityTag {
            weak: true,
            opaque: s.into(),
        }
    }

    #[test]
    fn parses_single_tags() {
        assert_eq!(EntityTag::parse("\"abc\""), Some(strong("abc")));
        assert_eq!(EntityTag::parse("W/\"abc\""), Some(weak("abc")));
        assert_eq!(EntityTag::parse("\"\""), Some(strong("")));
        for bad in [
            "abc",
            "\"abc",
            "abc\"",
            "w/\"abc\"",
            "W/abc",
            "\"a\"b\"",
            "\"a b\"",
            "\"a\u{1}\"",
        ] {
            assert_eq!(EntityTag::parse(bad), None, "{bad}");
        }
        assert_eq!(weak("x").to_header(), "W/\"x\"");
        assert_eq!(strong("x").to_header(), "\"x\"");
    }

    #[test]
    fn comparison_functions_follow_rfc_9110_table() {
        // RFC 9110 §8.8.3.2's example table.
        assert!(!weak("1").strong_eq(&weak("1")));
        assert!(weak("1").weak_eq(&weak("1")));
        assert!(!weak("1").strong_eq(&weak("2")));
        assert!(!weak("1").weak_eq(&weak("2")));
        assert!(!weak("1").strong_eq(&strong("1")));
        assert!(weak("1").weak_eq(&strong("1")));
        assert!(strong("1").strong_eq(&strong("1")));
        assert!(strong("1").weak_eq(&strong("1")));
    }

    #[test]
    fn parses_lists() {
        assert_eq!(EtagCondition::parse("*"), Some(EtagCondition::Any));
        assert_eq!(EtagCondition::parse(" * "), Some(EtagCondition::Any));
        assert_eq!(
            EtagCondition::parse("\"a\", W/\"b\",\"c,d\" ,, \"e\""),
            Some(EtagCondition::Tags(vec![
                strong("a"),
                weak("b"),
                strong("c,d"),
                strong("e")
            ]))
        );
        for bad in [
            "",
            ",",
            "*, \"a\"",
            "\"a\" \"b\"",
            "a",
            "\"a\", b",
            "\"a",
            "W/",
            "**",
            "é",
            "\"a\", é",
        ] {
            assert_eq!(EtagCondition::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn list_matching() {
        let current = strong("abc");
        let list = EtagCondition::parse("\"x\", W/\"abc\"").unwrap();
        assert!(!list.matches_strong(&current));
        assert!(list.matches_weak(&current));
        let list = EtagCondition::parse("\"x\", \"abc\"").unwrap();
        assert!(list.matches_strong(&current));
        assert!(EtagCondition::Any.matches_strong(&current));
        assert!(EtagCondition::Any.matches_weak(&current));
    }
}
