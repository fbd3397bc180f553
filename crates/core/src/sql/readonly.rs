//! Deciding, without running it, that a SQLite statement cannot write.
//!
//! D1 has no read-only transactions or roles, so for keys that may only read,
//! every statement is checked here before D1 sees it, and this check is the
//! only line. It works in two layers, and fails closed in both.
//!
//! **Tokens exactly as SQLite cuts them.** `scan` reproduces, token for
//! token, the boundaries of SQLite's own tokenizer (`sqlite3GetToken` in
//! `tokenize.c`, with the character classes of `sqlite3CtypeMap`); it is a
//! rewrite, not a copy. A check that cuts tokens differently from the database
//! can be made to see a comment or a string where SQLite sees code: SQLite
//! reads `$a(--)`, `:a(/*)`, `@a(')`, `#a(")` and `$a::b(;)` as one TCL-style
//! variable each, and a lexer that stops at the `(` takes the rest of the line
//! for a comment and misses a `DELETE` after it. So the rules are SQLite's:
//!
//! * whitespace is space, `\t`, `\n`, `\f`, `\r` (and `\v` inside a run, but
//!   not at its start — that is SQLite's table), plus a UTF-8 byte-order mark;
//! * `--` runs to the newline, `/* … */` does not nest and, unterminated,
//!   runs to the end; a `/*` that ends the text is a `/`;
//! * `'…'` (a string), `"…"` and `` `…` `` (names) escape their quote by
//!   doubling it; `[…]` runs to the first `]`;
//! * `x'…'` blobs need an even number of hex digits;
//! * numbers: decimal, `.5`, exponents, `0x` hex, `_` digit separators, and a
//!   number running straight into an identifier character is illegal;
//! * variables: `?` with digits; `$`, `@`, `#`, `:` with identifier
//!   characters and `::` pairs, where a `(` after at least one identifier
//!   character runs to the next `)` — or makes the token illegal if
//!   whitespace or the end comes first;
//! * identifiers are runs of `[A-Za-z0-9_$]` and bytes ≥ 0x80; a keyword is
//!   such a run made of letters and `_` only, compared ASCII-case-insensitively;
//! * operators include `->`, `->>`, `||`, `<<`, `>>`, `==`, `!=`, `<>`.
//!
//! Whatever SQLite would call an illegal token (a lone `!`, `\`, `^`, `{`,
//! an unterminated quote or bracket, `$(…)`, `1a`, `x'0'`, …) and any NUL byte
//! is refused as `400 syntax_error`, before anything is classified.
//!
//! **A conservative rule on top.** Spaces and comments dropped, in order:
//!
//! * it starts with `SELECT`, `WITH`, `VALUES` or `EXPLAIN` (so also
//!   `EXPLAIN QUERY PLAN`; `EXPLAIN` never runs its statement, and what
//!   follows it is held to the word rule below anyway), else `403 read_only`;
//! * exactly one statement: after the first `;` only more `;` may follow,
//!   else `400 invalid_request`;
//! * no word anywhere — in CTEs and subqueries too — is a keyword of a
//!   statement that writes or changes the session (`WRITE_WORDS` below), else
//!   `403 read_only`; the one exception is `replace` followed by `(`, the
//!   string function (the `REPLACE` statement is always followed by `INTO`).
//!
//! The word rule is stricter than the grammar needs — a statement that
//! starts as a read can only turn into a write as `WITH … INSERT/UPDATE/
//! DELETE/REPLACE`, and SQLite nests statements only in `CREATE TRIGGER` —
//! but it is cheap and does not depend on knowing that grammar; the price is
//! that a column named like one of the words (`analyze`) must be quoted.
//! `END` is not in the list: it also closes `CASE`, and the `END` statement
//! is excluded by the start rule. Table-valued pragma functions
//! (`select * from pragma_table_info('t')`) are reads — SQLite offers them
//! only for pragmas without side effects — and the word `pragma_table_info`
//! is not `PRAGMA`, so they pass.
//!
//! `crates/core/tests/readonly_sqlite.rs` proves this against real SQLite:
//! every statement of a large generated corpus that this check accepts must
//! prepare as one statement that `sqlite3_stmt_readonly` calls read-only and
//! that leaves the database and session unchanged when run.

use crate::error::{ApiError, ErrorCode};

/// Keywords that only statements which write or change the connection's
/// state contain. `UPSERT` is absent because it is not an SQLite keyword (an
/// upsert is `INSERT … ON CONFLICT`); `END` is absent for the reason in the
/// module doc.
const WRITE_WORDS: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "RETURNING",
    "CREATE",
    "DROP",
    "ALTER",
    "ATTACH",
    "DETACH",
    "PRAGMA",
    "VACUUM",
    "REINDEX",
    "ANALYZE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
];

/// The words a statement this check accepts may start with.
const READ_STARTS: &[&str] = &["SELECT", "WITH", "VALUES", "EXPLAIN"];

/// What a token is, in as much detail as the check needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Whitespace or a byte-order mark.
    Space,
    /// `-- …` or `/* … */`.
    Comment,
    /// An unquoted identifier or keyword.
    Word,
    /// `"…"`, `` `…` `` or `[…]`: always a name, never a keyword.
    QuotedName,
    /// A string, blob or number literal.
    Literal,
    /// A bound parameter in any of its forms.
    Variable,
    /// `(`.
    LeftParen,
    /// `;`.
    Semicolon,
    /// Any other operator or punctuation.
    Operator,
    /// What SQLite would refuse as an unrecognized token.
    Illegal(Flaw),
}

/// Why a token is illegal; only chooses the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    UnterminatedQuote,
    UnterminatedBracket,
    Blob,
    Number,
    Variable,
    Character,
}

impl Flaw {
    fn message(self) -> &'static str {
        match self {
            Flaw::UnterminatedQuote => "unterminated quoted string or identifier",
            Flaw::UnterminatedBracket => "unterminated [identifier]",
            Flaw::Blob => "malformed blob literal",
            Flaw::Number => "malformed number",
            Flaw::Variable => "malformed parameter",
            Flaw::Character => "character not allowed here",
        }
    }
}

/// SQLite's `sqlite3Isspace`: what continues a run of whitespace. (A run may
/// only *start* with the subset in [`scan`]: `\v` is not among them.)
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// SQLite's `IdChar`: what continues an identifier. Every byte of a multi-byte
/// UTF-8 character counts, so a non-ASCII name is one token.
fn is_id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// A digit, or `_`, which recent SQLite accepts between digits (the parser,
/// not the tokenizer, rejects a misplaced one).
fn is_digit_or_separator(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

fn is_hex_or_separator(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b'_'
}

/// The kind and length of the token starting at `sql[start]`, cut where
/// SQLite cuts it. Past the end reads as NUL, as in SQLite's C string, which
/// is exact because text with a NUL in it never gets here. Every length is at
/// least 1 when `start` is inside the text, so lexing always advances.
fn scan(sql: &[u8], start: usize) -> (Kind, usize) {
    let at = |i: usize| sql.get(start + i).copied().unwrap_or(0);
    let c = at(0);
    match c {
        b' ' | b'\t' | b'\n' | 0x0c | b'\r' => {
            let mut i = 1;
            while is_space(at(i)) {
                i += 1;
            }
            (Kind::Space, i)
        }
        0xEF if at(1) == 0xBB && at(2) == 0xBF => (Kind::Space, 3),
        b'-' => match at(1) {
            b'-' => {
                let mut i = 2;
                while at(i) != 0 && at(i) != b'\n' {
                    i += 1;
                }
                (Kind::Comment, i)
            }
            b'>' if at(2) == b'>' => (Kind::Operator, 3),
            b'>' => (Kind::Operator, 2),
            _ => (Kind::Operator, 1),
        },
        b'/' if at(1) == b'*' && at(2) != 0 => {
            // Not nested: the first `*/` ends it; without one, the text does.
            let mut i = 2;
            loop {
                if at(i) == 0 {
                    return (Kind::Comment, i);
                }
                if at(i) == b'*' && at(i + 1) == b'/' {
                    return (Kind::Comment, i + 2);
                }
                i += 1;
            }
        }
        b'(' => (Kind::LeftParen, 1),
        b';' => (Kind::Semicolon, 1),
        b'/' | b')' | b'+' | b'*' | b'%' | b',' | b'&' | b'~' => (Kind::Operator, 1),
        b'=' if at(1) == b'=' => (Kind::Operator, 2),
        b'=' => (Kind::Operator, 1),
        b'<' if matches!(at(1), b'=' | b'>' | b'<') => (Kind::Operator, 2),
        b'<' => (Kind::Operator, 1),
        b'>' if matches!(at(1), b'=' | b'>') => (Kind::Operator, 2),
        b'>' => (Kind::Operator, 1),
        b'!' if at(1) == b'=' => (Kind::Operator, 2),
        b'|' if at(1) == b'|' => (Kind::Operator, 2),
        b'|' => (Kind::Operator, 1),
        b'\'' | b'"' | b'`' => {
            let mut i = 1;
            loop {
                match at(i) {
                    0 => return (Kind::Illegal(Flaw::UnterminatedQuote), i),
                    q if q == c && at(i + 1) == c => i += 2,
                    q if q == c && c == b'\'' => return (Kind::Literal, i + 1),
                    q if q == c => return (Kind::QuotedName, i + 1),
                    _ => i += 1,
                }
            }
        }
        b'[' => {
            let mut i = 1;
            loop {
                match at(i) {
                    0 => return (Kind::Illegal(Flaw::UnterminatedBracket), i),
                    b']' => return (Kind::QuotedName, i + 1),
                    _ => i += 1,
                }
            }
        }
        b'.' if at(1).is_ascii_digit() => number(at),
        b'.' => (Kind::Operator, 1),
        b'0'..=b'9' => number(at),
        b'?' => {
            let mut i = 1;
            while at(i).is_ascii_digit() {
                i += 1;
            }
            (Kind::Variable, i)
        }
        b'$' | b'@' | b'#' | b':' => variable(at),
        b'x' | b'X' if at(1) == b'\'' => {
            let mut i = 2;
            while at(i).is_ascii_hexdigit() {
                i += 1;
            }
            if at(i) == b'\'' && i % 2 == 0 {
                return (Kind::Literal, i + 1);
            }
            // SQLite swallows up to the next quote before giving up.
            while at(i) != 0 && at(i) != b'\'' {
                i += 1;
            }
            if at(i) != 0 {
                i += 1;
            }
            (Kind::Illegal(Flaw::Blob), i)
        }
        _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
            let mut i = 1;
            while is_id_char(at(i)) {
                i += 1;
            }
            (Kind::Word, i)
        }
        // A lone `!`, `\`, `]`, `^`, `{`, `}`, `\v`, control characters, DEL.
        _ => (Kind::Illegal(Flaw::Character), 1),
    }
}

/// A number starting with a digit, or with `.` and a digit.
fn number(at: impl Fn(usize) -> u8) -> (Kind, usize) {
    let mut i;
    if at(0) == b'0' && matches!(at(1), b'x' | b'X') && at(2).is_ascii_hexdigit() {
        i = 3;
        while is_hex_or_separator(at(i)) {
            i += 1;
        }
    } else {
        i = 0;
        while is_digit_or_separator(at(i)) {
            i += 1;
        }
        if at(i) == b'.' {
            i += 1;
            while is_digit_or_separator(at(i)) {
                i += 1;
            }
        }
        let exponent = matches!(at(i), b'e' | b'E')
            && (at(i + 1).is_ascii_digit()
                || (matches!(at(i + 1), b'+' | b'-') && at(i + 2).is_ascii_digit()));
        if exponent {
            i += 2;
            while is_digit_or_separator(at(i)) {
                i += 1;
            }
        }
    }
    if is_id_char(at(i)) {
        while is_id_char(at(i)) {
            i += 1;
        }
        return (Kind::Illegal(Flaw::Number), i);
    }
    (Kind::Literal, i)
}

/// A `$`, `@`, `#` or `:` variable, with SQLite's TCL forms: `::` pairs may
/// sit anywhere in the name, and a `(` after at least one identifier character
/// swallows everything up to and including the next `)` — comment markers,
/// quotes and `;` included.
fn variable(at: impl Fn(usize) -> u8) -> (Kind, usize) {
    let mut i = 1;
    let mut name_chars = 0;
    loop {
        let c = at(i);
        if is_id_char(c) {
            name_chars += 1;
            i += 1;
        } else if c == b'(' && name_chars > 0 {
            i += 1;
            while at(i) != 0 && !is_space(at(i)) && at(i) != b')' {
                i += 1;
            }
            if at(i) == b')' {
                return (Kind::Variable, i + 1);
            }
            return (Kind::Illegal(Flaw::Variable), i);
        } else if c == b':' && at(i + 1) == b':' {
            i += 2;
        } else {
            break;
        }
    }
    if name_chars == 0 {
        return (Kind::Illegal(Flaw::Variable), i);
    }
    (Kind::Variable, i)
}

/// The tokens that matter (no spaces or comments), each with its text; or the
/// syntax error for the first illegal token, which names only its offset.
fn significant_tokens(sql: &str) -> Result<Vec<(Kind, &[u8])>, ApiError> {
    let syntax = |message: String| ApiError::new(ErrorCode::SyntaxError, message);
    if let Some(at) = sql.bytes().position(|b| b == 0) {
        // SQLite would stop reading at the NUL; what follows must not hide.
        return Err(syntax(format!("NUL character at byte {at}")));
    }
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let (kind, len) = scan(b, pos);
        let end = (pos + len.max(1)).min(b.len());
        match kind {
            Kind::Space | Kind::Comment => {}
            Kind::Illegal(flaw) => {
                return Err(syntax(format!("{} at byte {pos}", flaw.message())));
            }
            _ => out.push((kind, &b[pos..end])),
        }
        pos = end;
    }
    Ok(out)
}

fn is_word(token: &(Kind, &[u8]), word: &str) -> bool {
    token.0 == Kind::Word && token.1.eq_ignore_ascii_case(word.as_bytes())
}

/// `Ok` if the statement can only read. Otherwise, in this order: `400
/// syntax_error` for text SQLite would not tokenize, `403 read_only` for a
/// statement that does not start as a read (so a trigger body's `;` does not
/// make `CREATE TRIGGER` look like several statements), `400 invalid_request`
/// for more than one statement, `403 read_only` naming a keyword that writes.
pub fn ensure_read_only(sql: &str) -> Result<(), ApiError> {
    let tokens = significant_tokens(sql)?;
    let end = tokens
        .iter()
        .position(|t| t.0 == Kind::Semicolon)
        .unwrap_or(tokens.len());
    let statement = &tokens[..end];
    let denied = |what: &str| {
        ApiError::new(
            ErrorCode::ReadOnly,
            format!("this key may only read, and the statement can write ({what})"),
        )
        .with_hint("use a key with the store's write scope or sql")
    };
    let write_word = |i: usize| {
        let token = statement.get(i)?;
        let word = WRITE_WORDS.iter().find(|w| is_word(token, w))?;
        let is_function =
            *word == "REPLACE" && statement.get(i + 1).map(|t| t.0) == Some(Kind::LeftParen);
        (!is_function).then_some(*word)
    };
    match statement.first() {
        Some(t) if READ_STARTS.iter().any(|w| is_word(t, w)) => {}
        // Name the keyword only when it is ours: never echo the caller's text.
        _ => return Err(denied(write_word(0).unwrap_or("not a SELECT"))),
    }
    if tokens[end..].iter().any(|t| t.0 != Kind::Semicolon) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "exactly one statement per query (use a batch for several)",
        ));
    }
    if let Some(word) = (0..statement.len()).find_map(write_word) {
        return Err(denied(word));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source text of every token, spaces and comments included.
    fn cut(sql: &str) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < sql.len() {
            let (kind, len) = scan(sql.as_bytes(), pos);
            out.push((kind, &sql[pos..pos + len]));
            pos += len;
        }
        out
    }

    fn status(sql: &str) -> u16 {
        match ensure_read_only(sql) {
            Ok(()) => 200,
            Err(e) => e.status(),
        }
    }

    #[test]
    fn tcl_variables_are_one_token_to_the_closing_paren() {
        for (sql, token) in [
            ("$a(--) x", "$a(--)"),
            (":a(/*) x", ":a(/*)"),
            ("@a(') x", "@a(')"),
            ("#a(\") x", "#a(\")"),
            ("$a::b(;) x", "$a::b(;)"),
            ("$::a(`) x", "$::a(`)"),
            ("$a(b)c x", "$a(b)"),
            ("$a::(x) x", "$a::(x)"),
            ("$a:b", "$a"),
            ("@ä(x) x", "@ä(x)"),
        ] {
            assert_eq!(cut(sql)[0], (Kind::Variable, token), "{sql}");
        }
    }

    #[test]
    fn malformed_variables_are_illegal() {
        for sql in [
            "$a(-- x)", "$a(", "$a(\t)", "$(x)", "$", ":", "@ ", "#", "$::", "$::(x)",
        ] {
            assert!(
                matches!(cut(sql)[0].0, Kind::Illegal(Flaw::Variable)),
                "{sql}: {:?}",
                cut(sql)
            );
        }
    }

    #[test]
    fn tokens_are_cut_where_sqlite_cuts_them() {
        use Kind::*;
        for (sql, want) in [
            (
                "/* /* */ */",
                vec![
                    (Comment, "/* /* */"),
                    (Space, " "),
                    (Operator, "*"),
                    (Operator, "/"),
                ],
            ),
            ("/**/x", vec![(Comment, "/**/"), (Word, "x")]),
            ("/*/ x", vec![(Comment, "/*/ x")]),
            (
                "1/*",
                vec![(Literal, "1"), (Operator, "/"), (Operator, "*")],
            ),
            ("a/", vec![(Word, "a"), (Operator, "/")]),
            ("--x\ny", vec![(Comment, "--x"), (Space, "\n"), (Word, "y")]),
            ("'it''s'x", vec![(Literal, "'it''s'"), (Word, "x")]),
            ("\"a\"\"b\"", vec![(QuotedName, "\"a\"\"b\"")]),
            ("`a``b`", vec![(QuotedName, "`a``b`")]),
            (
                "[a]]",
                vec![(QuotedName, "[a]"), (Illegal(Flaw::Character), "]")],
            ),
            ("x'0aFF'", vec![(Literal, "x'0aFF'")]),
            ("X''", vec![(Literal, "X''")]),
            ("xyz", vec![(Word, "xyz")]),
            ("0x1F_2a", vec![(Literal, "0x1F_2a")]),
            ("1_000.5e-3", vec![(Literal, "1_000.5e-3")]),
            (".5E+2", vec![(Literal, ".5E+2")]),
            ("1e", vec![(Illegal(Flaw::Number), "1e")]),
            ("1.e", vec![(Illegal(Flaw::Number), "1.e")]),
            ("1e+", vec![(Illegal(Flaw::Number), "1e"), (Operator, "+")]),
            ("0xg", vec![(Illegal(Flaw::Number), "0xg")]),
            ("1.2.3", vec![(Literal, "1.2"), (Literal, ".3")]),
            ("?12a", vec![(Variable, "?12"), (Word, "a")]),
            ("? ", vec![(Variable, "?"), (Space, " ")]),
            (
                "a->>b->c",
                vec![
                    (Word, "a"),
                    (Operator, "->>"),
                    (Word, "b"),
                    (Operator, "->"),
                    (Word, "c"),
                ],
            ),
            (
                "a||b<>c!=d==e<<f>>g",
                vec![
                    (Word, "a"),
                    (Operator, "||"),
                    (Word, "b"),
                    (Operator, "<>"),
                    (Word, "c"),
                    (Operator, "!="),
                    (Word, "d"),
                    (Operator, "=="),
                    (Word, "e"),
                    (Operator, "<<"),
                    (Word, "f"),
                    (Operator, ">>"),
                    (Word, "g"),
                ],
            ),
            ("délete", vec![(Word, "délete")]),
            ("a$b1", vec![(Word, "a$b1")]),
            ("\u{feff}x", vec![(Space, "\u{feff}"), (Word, "x")]),
            (" \x0b\x0cx", vec![(Space, " \x0b\x0c"), (Word, "x")]),
            (
                "\x0bx",
                vec![(Illegal(Flaw::Character), "\x0b"), (Word, "x")],
            ),
            ("!x", vec![(Illegal(Flaw::Character), "!"), (Word, "x")]),
        ] {
            assert_eq!(cut(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn reads_pass() {
        for sql in [
            "select 1",
            "SELECT * FROM t WHERE name = 'delete from t'",
            "select \"update\" from t",
            "select [drop], `insert` from t -- delete",
            "select /* drop table t */ 1;",
            "select 1;  -- trailing comment\n",
            "select 1;;",
            "select 1 /* unterminated comment runs to the end; delete from t",
            "with x as (select 1 as a) select a from x",
            "values (1), (2)",
            "select replace(name, 'a', 'b') from t",
            "select REPLACE /* c */ (name, 'a', 'b') from t",
            "select 'delete'",
            "select * from pragma_table_info('t')",
            "select 'it''s'",
            "explain select 1",
            "explain query plan select 1",
            "select case when a then 1 else 2 end from t",
            "select ?1, ?, :name, @x, $y, #z, $a(b), $a::b(c), :a::b",
            "select 0x1F, 1_000, 1.5e3, .5, x'00ff'",
            "select j->'a', j->>'$.b' from t",
            "select ünïcode from t",
            "\u{feff}select 1",
        ] {
            assert_eq!(status(sql), 200, "{sql}: {:?}", ensure_read_only(sql));
        }
    }

    #[test]
    fn known_escapes_are_refused() {
        // Each hid a write behind a variable the old lexer cut at its `(`.
        for sql in [
            "with x as (select $a(--)) delete from t",
            "with x as (select :a(--)) delete from t",
            "with x as (select @a(--)) delete from t",
            "with x as (select #a(--)) delete from t",
            "with x as (select $a::b(--)) delete from t",
            "with x as (select $a(/*)) delete from t --*/",
            "with x as (select :a(')) delete from t where b <> ')'",
            "with x as (select @a(\")) update t set a = 1 where \"\" = \"\"",
            "select $a(--); delete from t",
            "select $a(/*); drop table t --*/",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert!(matches!(e.status(), 400 | 403), "{sql}: {}", e.message);
        }
    }

    #[test]
    fn writes_are_refused() {
        for sql in [
            "insert into t values (1)",
            "INSERT INTO t SELECT 1",
            "update t set a = 1",
            "delete from t",
            "replace into t values (1)",
            "with x as (select 1) delete from t",
            "with x as (select 1) insert into t select * from x",
            "with x as (select 1) replace into t select * from x",
            "with x as (select 1) update t set a = 1 returning a",
            "create table x (a)",
            "drop table t",
            "alter table t add column b",
            "attach database 'x' as y",
            "detach y",
            "pragma foreign_keys = off",
            "PRAGMA user_version = 5",
            "vacuum",
            "vacuum into 'x.db'",
            "reindex",
            "analyze",
            "begin",
            "commit",
            "end",
            "rollback",
            "savepoint a",
            "release a",
            "create trigger tr after insert on t begin delete from u; end",
            "explain delete from t",
            "explain query plan insert into t values (1)",
            "select * from t where exists (delete from t returning 1)",
            "  \n insert into t values (1)",
            "/* c */ update t set a = 1",
            "",
            ";",
            "-- nothing",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.status(), 403, "{sql}: {}", e.message);
            assert_eq!(e.code, ErrorCode::ReadOnly, "{sql}");
        }
    }

    #[test]
    fn refusals_do_not_echo_the_statement() {
        let e = ensure_read_only("frobnicate_secret_table").unwrap_err();
        assert!(!e.message.contains("frobnicate"), "{}", e.message);
        let e = ensure_read_only("delete from t").unwrap_err();
        assert!(e.message.contains("DELETE"), "{}", e.message);
    }

    #[test]
    fn more_than_one_statement_is_refused() {
        for sql in [
            "select 1; delete from t",
            "select 1; select 2",
            "select 1;;select 2",
            "select $a(;); delete from t",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{sql}: {}", e.message);
        }
    }

    #[test]
    fn what_sqlite_cannot_tokenize_is_a_syntax_error() {
        for sql in [
            "select 'abc",
            "select \"abc",
            "select `abc",
            "select [abc",
            "select $a(-- x)",
            "select $a(",
            "select $(x)",
            "select 1a",
            "select 0x",
            "select x'0'",
            "select x'zz'",
            "select !1",
            "select 1 \\ 2",
            "select {1}",
            "select\x0b1",
            "select 1\0; delete from t",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.code, ErrorCode::SyntaxError, "{sql:?}: {}", e.message);
            assert_eq!(e.status(), 400, "{sql:?}");
        }
    }
}
