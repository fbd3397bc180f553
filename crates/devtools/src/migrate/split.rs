//! Cutting a migration file into statements, for the migrations that run outside a
//! transaction.
//!
//! A transactional file goes to the server whole, and the server splits it. A
//! `-- strata:no-transaction` file cannot: Postgres runs a multi-statement query string as one
//! implicit transaction, which `CREATE INDEX CONCURRENTLY` refuses. So those files are cut
//! here and sent one statement at a time, which also lets a failed run resume at the statement
//! that failed. The lexer knows what can hide a `;` in Postgres SQL: quoted strings (with
//! `''` and, in `E'…'`, backslash escapes), quoted identifiers, dollar quotes (`$$…$$`,
//! `$tag$…$tag$`), `--` comments and nested `/* */` comments. SQL-standard function bodies
//! (`BEGIN ATOMIC … END`) are not understood; such a function belongs in a transactional file.

/// One statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, from its first token to its `;` (excluded), trimmed.
    pub sql: &'a str,
    /// 1-based line of the statement's first token in the file.
    pub line: usize,
}

/// The statements of `sql`, in order, without empty or comment-only pieces.
pub fn statements(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    // Byte offset of the first token of the current statement, if one has started.
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let token_end = match b {
            b'-' if next == Some(b'-') => {
                // A comment is not a token: it neither starts a statement nor ends one.
                i = find_byte(bytes, i, b'\n').map_or(bytes.len(), |n| n + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = block_comment_end(bytes, i);
                continue;
            }
            b';' => {
                if let Some(s) = start.take() {
                    push(&mut out, sql, s, i);
                }
                i += 1;
                continue;
            }
            _ if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !ident_before(bytes, i - 1);
                quoted_end(bytes, i, b'\'', escapes)
            }
            b'"' => quoted_end(bytes, i, b'"', false),
            b'$' => dollar_quote_end(bytes, i).unwrap_or(i + 1),
            _ => i + 1,
        };
        start.get_or_insert(i);
        i = token_end;
    }
    if let Some(s) = start {
        push(&mut out, sql, s, bytes.len());
    }
    out
}

fn push<'a>(out: &mut Vec<Statement<'a>>, sql: &'a str, start: usize, end: usize) {
    // `start` and `end` sit on ASCII bytes (a token's first byte, `;`, or the end), so they
    // are char boundaries; `get` keeps that an assumption that cannot panic.
    let Some(text) = sql.get(start..end) else {
        return;
    };
    let line = sql.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    out.push(Statement {
        sql: text.trim_end(),
        line,
    });
}

fn find_byte(bytes: &[u8], from: usize, wanted: u8) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == wanted)
        .map(|p| p + from)
}

/// Whether the byte before `at` continues an identifier (so `e'…'` in `some'…'` is not an
/// escape-string prefix).
fn ident_before(bytes: &[u8], at: usize) -> bool {
    at > 0 && is_ident_byte(bytes[at - 1])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// End (exclusive) of a `/* … */` comment starting at `at`; Postgres nests them.
fn block_comment_end(bytes: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// End (exclusive) of a quoted string or identifier opened at `at`; a doubled quote is an
/// escaped one, and with `backslash` a `\` escapes the next byte.
fn quoted_end(bytes: &[u8], at: usize, quote: u8, backslash: bool) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// End (exclusive) of a dollar-quoted string opened at `at`, or `None` when the `$` opens no
/// dollar quote (`$1`, or a `$` inside an identifier such as `a$b`).
fn dollar_quote_end(bytes: &[u8], at: usize) -> Option<usize> {
    if ident_before(bytes, at) {
        return None;
    }
    let tag_len = bytes[at + 1..].iter().position(|&b| b == b'$')?;
    let tag = &bytes[at + 1..at + 1 + tag_len];
    // A tag is an identifier without `$`; it cannot start with a digit (`$1` is a parameter).
    if tag.first().is_some_and(u8::is_ascii_digit) || !tag.iter().all(|&b| is_ident_byte(b)) {
        return None;
    }
    let delimiter = &bytes[at..at + tag_len + 2];
    let body = at + delimiter.len();
    let close = bytes[body..]
        .windows(delimiter.len())
        .position(|w| w == delimiter)?;
    Some(body + close + delimiter.len())
}

/// The index a `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] <name> ON [ONLY] <table>`
/// statement builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTarget {
    /// The index name as Postgres stores it: folded to lower case unless quoted.
    pub name: String,
    /// The table as written (`public."Users"`), for `to_regclass`, which parses it the same way.
    pub table: String,
}

/// What `sql` builds, if it is a named concurrent index build; `None` for anything else,
/// including an unnamed build (Postgres picks a fresh name each time, so no earlier leftover
/// can be found by it; prefer-robust-stmts asks for a name in no-transaction files anyway).
pub fn concurrent_index(sql: &str) -> Option<IndexTarget> {
    let words = words(sql);
    let mut rest: Vec<&str> = words.iter().map(String::as_str).collect();
    if !rest
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("create"))
    {
        return None;
    }
    rest.remove(0);
    if rest
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("unique"))
    {
        rest.remove(0);
    }
    let mut rest = rest.into_iter();
    let keyword = |w: Option<&str>, k: &str| w.is_some_and(|w| w.eq_ignore_ascii_case(k));
    if !keyword(rest.next(), "index") || !keyword(rest.next(), "concurrently") {
        return None;
    }
    let mut name = rest.next()?;
    if name.eq_ignore_ascii_case("if") {
        if !keyword(rest.next(), "not") || !keyword(rest.next(), "exists") {
            return None;
        }
        name = rest.next()?;
    }
    if name.eq_ignore_ascii_case("on") {
        return None;
    }
    if !keyword(rest.next(), "on") {
        return None;
    }
    let mut table = rest.next()?;
    if table.eq_ignore_ascii_case("only") {
        table = rest.next()?;
    }
    Some(IndexTarget {
        name: identifier_value(name),
        table: table.to_string(),
    })
}

/// The words of a statement: identifiers and keywords (a qualified name `a."B".c` is one word),
/// with comments and punctuation dropped. Enough for the head of a `CREATE INDEX`.
pub(crate) fn words(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    // Whether the previous word ended in `.`, so the next part joins it.
    let mut joining = false;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let end = if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            i = find_byte(bytes, i, b'\n').map_or(bytes.len(), |n| n + 1);
            joining = false;
            continue;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = block_comment_end(bytes, i);
            joining = false;
            continue;
        } else if b == b'"' {
            quoted_end(bytes, i, b'"', false)
        } else if is_ident_byte(b) {
            let len = bytes[i..]
                .iter()
                .take_while(|&&c| is_ident_byte(c) || c == b'$')
                .count();
            i + len
        } else if b.is_ascii_whitespace() {
            // `s . t` is still one qualified name.
            i += 1;
            continue;
        } else if b == b'.' {
            if let Some(last) = out.last_mut() {
                last.push('.');
                joining = true;
            }
            i += 1;
            continue;
        } else {
            i += 1;
            joining = false;
            continue;
        };
        let Some(word) = sql.get(start..end) else {
            return out;
        };
        match out.last_mut() {
            Some(last) if joining => last.push_str(word),
            _ => out.push(word.to_string()),
        }
        joining = false;
        i = end;
    }
    out
}

/// The stored name of an identifier as written: quoted keeps its case (with `""` → `"`),
/// unquoted folds to lower case.
fn identifier_value(word: &str) -> String {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => word.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(&str, usize)> {
        statements(sql).iter().map(|s| (s.sql, s.line)).collect()
    }

    #[test]
    fn splits_on_semicolons_with_lines() {
        assert_eq!(
            texts("-- header\nCREATE TABLE a (id int);\n\nSELECT 1;SELECT 2\n"),
            vec![
                ("CREATE TABLE a (id int)", 2),
                ("SELECT 1", 4),
                ("SELECT 2", 4)
            ]
        );
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_do_not_split() {
        let sql = "INSERT INTO t VALUES ('a;b', 'it''s;', E'x\\';y');\n\
                   SELECT \"we;ird\" FROM t; -- trailing; comment\n\
                   /* outer /* nested; */ still; */ SELECT 3;\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n\
                   DO $body$ BEGIN PERFORM 1; END $body$;\n\
                   SELECT $1, a$b FROM t;";
        let got = texts(sql);
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(
            got[0].0,
            "INSERT INTO t VALUES ('a;b', 'it''s;', E'x\\';y')"
        );
        assert_eq!(got[1].0, "SELECT \"we;ird\" FROM t");
        assert_eq!(got[2], ("SELECT 3", 3));
        assert!(got[3].0.ends_with("$$ SELECT 1; $$"), "{got:?}");
        assert_eq!(got[4].0, "DO $body$ BEGIN PERFORM 1; END $body$");
        assert_eq!(got[5].0, "SELECT $1, a$b FROM t");
    }

    #[test]
    fn comment_only_and_empty_pieces_are_dropped() {
        assert!(texts("-- only a comment\n;;\n/* and this */\n").is_empty());
        assert_eq!(
            texts("SELECT 1 -- no semicolon"),
            vec![("SELECT 1 -- no semicolon", 1)]
        );
    }

    #[test]
    fn concurrent_index_targets_are_found() {
        let target = |name: &str, table: &str| {
            Some(IndexTarget {
                name: name.into(),
                table: table.into(),
            })
        };
        assert_eq!(
            concurrent_index("CREATE INDEX CONCURRENTLY Users_Email ON users (email)"),
            target("users_email", "users")
        );
        assert_eq!(
            concurrent_index(
                "create unique index concurrently if not exists \"Odd \"\"Name\" on only public.\"T\" using btree (a)"
            ),
            target("Odd \"Name", "public.\"T\"")
        );
        assert_eq!(
            concurrent_index("CREATE /* c */ INDEX -- x\n CONCURRENTLY i ON s . t (a)"),
            target("i", "s.t")
        );
        for other in [
            "CREATE INDEX i ON t (a)",
            "CREATE INDEX CONCURRENTLY ON t (a)",
            "CREATE TABLE i (a int)",
            "DROP INDEX CONCURRENTLY i",
            "REINDEX INDEX CONCURRENTLY i",
        ] {
            assert_eq!(concurrent_index(other), None, "{other}");
        }
    }

    #[test]
    fn unterminated_quotes_run_to_the_end_without_panicking() {
        assert_eq!(
            texts("SELECT 'open; still"),
            vec![("SELECT 'open; still", 1)]
        );
        assert_eq!(texts("SELECT $x$ open;"), vec![("SELECT $x$ open", 1)]);
        assert_eq!(texts("SELECT /* open;"), vec![("SELECT /* open;", 1)]);
        assert_eq!(
            texts("SELECT 'é;' ; SELECT 2"),
            vec![("SELECT 'é;'", 1), ("SELECT 2", 1)]
        );
    }
}
