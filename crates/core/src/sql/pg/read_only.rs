//! What a read-only Postgres batch may contain, decided from the SQL text.
//!
//! A read-only request runs as one `START TRANSACTION … READ ONLY` on Neon.
//! Postgres refuses every write to tables and sequences inside it — but a
//! statement of the batch could *leave* it (`COMMIT`, `END`, `ROLLBACK` then
//! `START TRANSACTION READ WRITE`) or switch it (`SET TRANSACTION READ
//! WRITE`), and the statements after it would write. The real fence is the
//! database role behind `DATABASE_URL_READ` (it has `SELECT` only); this
//! check is the second one, and the only one when that setting is absent:
//!
//! * **An allow-list of first keywords**: `SELECT`, `WITH`, `VALUES`,
//!   `TABLE`, `EXPLAIN`, `SHOW`. It fails closed: transaction control
//!   (`BEGIN`, `START`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`, `SAVEPOINT`,
//!   `RELEASE`, `PREPARE TRANSACTION`, `COMMIT PREPARED`), session state
//!   (`SET` of any kind — `SET ROLE`, `SET SESSION AUTHORIZATION`, `SET
//!   SESSION CHARACTERISTICS`, `SET default_transaction_read_only` outlive the
//!   statement — `RESET`, `DISCARD`, `PREPARE`/`EXECUTE`, `LISTEN`,
//!   `NOTIFY`), and statements Postgres itself allows in a read-only
//!   transaction although they lock or rewrite (`LOCK` in any mode, even
//!   `ACCESS EXCLUSIVE`; `CLUSTER`, `REINDEX`, `VACUUM`, `ANALYZE`), are all
//!   refused, and so are `CALL` and `DO` (procedures and anonymous blocks
//!   exist to change things; Postgres would refuse their writes, but a
//!   reader has no use for them and an allow-list needs no exceptions).
//! * **The first keyword decides**: Neon runs each statement as one
//!   extended-protocol query, which holds exactly one statement (`a; b` is
//!   SQLSTATE 42601). Anything but comments after a top-level `;` is refused
//!   here as well, so the check does not lean on that alone.
//! * **[`SNAPSHOT_SQL`] runs first** in every read-only batch: once a
//!   transaction has taken its snapshot, Postgres refuses to make it read-write
//!   (`SET TRANSACTION READ WRITE`, `set_config('transaction_read_only', …)`
//!   fail with SQLSTATE 25001), so not even a statement this check misjudged
//!   can switch it.
//!
//! The lexer follows Postgres's rules where they decide what the first word
//! is: `--` comments end at `\n` *or* `\r`, `/* */` comments nest, leading
//! `(` are skipped (`(SELECT 1)`), keywords are case-insensitive; to find a
//! top-level `;` it skips `'…'` strings (`''` escapes), `E'…'` strings
//! (backslash escapes too), `"…"` identifiers and `$tag$…$tag$` strings.
//!
//! What neither this check nor a `READ ONLY` transaction stops are side
//! effects Postgres permits any role inside one — functions such as
//! `lo_create`/`lo_from_bytea` (a new large object), `pg_notify`, advisory
//! locks — which a function call can reach in ways no lexer sees
//! (`query_to_xml('…')` runs SQL from a string). A Neon read replica as
//! `DATABASE_URL_READ` refuses those too (docs/api.md, "SQL over HTTP",
//! "Scopes").

use crate::error::{ApiError, ErrorCode};

/// The statement every read-only batch starts with (its result is dropped):
/// it takes the transaction's snapshot, after which Postgres keeps the
/// transaction read-only whatever a later statement asks.
pub const SNAPSHOT_SQL: &str = "SELECT 1";

/// First keywords of statements that cannot change anything by themselves.
const READ_STARTS: &[&str] = &["SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW"];

/// The lexemes the check needs; everything else is [`Token::Other`].
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// An unquoted word (keyword or identifier), as written.
    Word(&'a str),
    /// `(`.
    Open,
    /// `;`.
    Semicolon,
    /// A string, quoted identifier, number, operator or other punctuation.
    Other,
}

/// A lexeme that does not end (unterminated string, comment or identifier).
#[derive(Debug, PartialEq, Eq)]
struct Unterminated(&'static str);

/// Postgres's whitespace (`space` in its lexer).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Can start an unquoted identifier or keyword (bytes ≥ 0x80 are letters to Postgres).
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Can continue one (`$` too: `a$b` is one identifier).
fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Splits `sql` into the tokens above, skipping whitespace and comments.
fn tokens(sql: &str) -> Result<Vec<Token<'_>>, Unterminated> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_space(c) {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            // To the end of the line; Postgres ends it at \r as well as \n.
            while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i)?;
        } else if c == b'(' {
            out.push(Token::Open);
            i += 1;
        } else if c == b';' {
            out.push(Token::Semicolon);
            i += 1;
        } else if c == b'\'' {
            i = skip_quoted(b, i, b'\'', false).ok_or(Unterminated("string"))?;
            out.push(Token::Other);
        } else if c == b'"' {
            i = skip_quoted(b, i, b'"', false).ok_or(Unterminated("quoted identifier"))?;
            out.push(Token::Other);
        } else if c == b'$' {
            match dollar_tag(b, i) {
                Some(tag_end) => {
                    let tag = &b[i..tag_end];
                    let body = &b[tag_end..];
                    let close = body
                        .windows(tag.len())
                        .position(|w| w == tag)
                        .ok_or(Unterminated("dollar-quoted string"))?;
                    i = tag_end + close + tag.len();
                }
                // `$1`, a parameter (or a stray `$`: Postgres rejects it).
                None => i += 1,
            }
            out.push(Token::Other);
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident_cont(b[i]) {
                i += 1;
            }
            let word = &sql[start..i];
            if b.get(i) == Some(&b'\'') && word.eq_ignore_ascii_case("e") {
                // E'…': backslash escapes as well as ''.
                i = skip_quoted(b, i, b'\'', true).ok_or(Unterminated("string"))?;
                out.push(Token::Other);
            } else if b.get(i) == Some(&b'\'')
                && ["b", "x", "n"].iter().any(|p| word.eq_ignore_ascii_case(p))
            {
                // B'…', X'…', N'…': a prefixed string (skipped next round),
                // not a word. Any other word may touch a quote: `select'x'`.
                out.push(Token::Other);
            } else {
                out.push(Token::Word(word));
            }
        } else {
            out.push(Token::Other);
            // Whole UTF-8 characters only, so the slices above stay valid.
            i += sql[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    Ok(out)
}

/// The index after the block comment opening at `start`; comments nest.
fn skip_block_comment(b: &[u8], start: usize) -> Result<usize, Unterminated> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err(Unterminated("comment"))
}

/// The index after the quoted lexeme opening at `start` (a doubled quote is
/// one quote; with `backslash`, `\x` is an escape too); `None` if it never ends.
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// When `$` at `start` opens a dollar quote (`$$` or `$tag$`, the tag an
/// identifier without `$`), the index after its opening delimiter.
fn dollar_tag(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if b.get(i).is_some_and(|&c| is_ident_start(c)) {
        while b
            .get(i)
            .is_some_and(|&c| is_ident_start(c) || c.is_ascii_digit())
        {
            i += 1;
        }
    }
    (b.get(i) == Some(&b'$')).then_some(i + 1)
}

/// The first keyword of `sql`, upper-cased, after whitespace, comments and
/// opening parentheses; `None` when the statement does not start with a word
/// (or cannot be lexed).
pub fn first_keyword(sql: &str) -> Option<String> {
    let tokens = tokens(sql).ok()?;
    match tokens.into_iter().find(|t| *t != Token::Open) {
        Some(Token::Word(w)) => Some(w.to_ascii_uppercase()),
        _ => None,
    }
}

/// `Ok` when `sql` may run in a read-only batch: one statement whose first
/// keyword is on the allow-list. Otherwise 403 `read_only` (400 for an
/// unterminated string or comment, or a second statement).
pub fn ensure_read_only(sql: &str) -> Result<(), ApiError> {
    let tokens = tokens(sql).map_err(|Unterminated(what)| {
        ApiError::new(
            ErrorCode::SyntaxError,
            format!("unterminated {what} in the statement"),
        )
    })?;
    let end = tokens
        .iter()
        .position(|t| *t == Token::Semicolon)
        .unwrap_or(tokens.len());
    if tokens[end..].iter().any(|t| *t != Token::Semicolon) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "exactly one statement per query (use a batch for several)",
        ));
    }
    let first = tokens[..end].iter().find(|t| **t != Token::Open);
    let refused = |what: String| {
        ApiError::new(
            ErrorCode::ReadOnly,
            format!(
                "this request may only read: statements must start with SELECT, WITH, VALUES, \
                 TABLE, EXPLAIN or SHOW ({what})"
            ),
        )
        .with_hint("transaction control and SET are not available to read-only requests")
    };
    match first {
        Some(Token::Word(w)) if READ_STARTS.iter().any(|k| k.eq_ignore_ascii_case(w)) => Ok(()),
        Some(Token::Word(w)) => {
            // The client's own word, shortened: it is their SQL, not ours.
            let word: String = w.chars().take(32).collect();
            Err(refused(format!("not {}", word.to_ascii_uppercase())))
        }
        _ => Err(refused("no statement keyword found".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(sql: &str) -> bool {
        ensure_read_only(sql).is_ok()
    }

    #[test]
    fn reads_pass() {
        for sql in [
            "select 1",
            "SELECT * FROM t",
            "  \n\tSeLeCt 1",
            "with x as (select 1) select * from x",
            "values (1), (2)",
            "table t",
            "explain select 1",
            "show search_path",
            "(select 1)",
            "((select 1) union (select 2))",
            "/* hi */ select 1",
            "/* a /* nested */ still comment */ select 1",
            "-- note\nselect 1",
            "-- note\rselect 1",
            "select 1;",
            "select 1; -- trailing\n /* comment */ ;",
            "select 'commit; rollback'",
            "select E'it\\'s; commit'",
            "select e'\\\\'; ",
            "select $$; commit$$",
            "select $fn$ $$ ; $fn$",
            "select $1::text",
            "select a$b from t",
            "select \"commit;\" from t",
            "select U&'d\\0061t\\+000061'",
            "select x'1F', b'101'",
            "select 'é'; -- ü",
            "select'x'",
            "select\"x\" from t",
            "select n'x', B'1'",
        ] {
            assert!(allowed(sql), "{sql:?}: {:?}", ensure_read_only(sql));
        }
    }

    #[test]
    fn transaction_control_and_session_statements_are_refused() {
        for sql in [
            "commit",
            "COMMIT",
            "end",
            "end transaction",
            "rollback",
            "abort",
            "begin",
            "start transaction read write",
            "savepoint a",
            "release savepoint a",
            "rollback to savepoint a",
            "prepare transaction 'x'",
            "commit prepared 'x'",
            "rollback prepared 'x'",
            "set transaction read write",
            "set session characteristics as transaction read write",
            "set default_transaction_read_only = off",
            "set role postgres",
            "set session authorization postgres",
            "set local statement_timeout = 0",
            "reset all",
            "discard all",
            "lock table t in access exclusive mode",
            "call p()",
            "do $$ begin perform 1; end $$",
            "listen c",
            "notify c",
            "prepare p as select 1",
            "execute p",
            "copy t to stdout",
            "create temp table t (a int)",
            "insert into t values (1)",
            "analyze t",
            "vacuum t",
            "cluster t",
            "reindex table t",
            "declare c cursor for select 1",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.code, ErrorCode::ReadOnly, "{sql:?}: {}", e.message);
            assert_eq!(e.status(), 403);
        }
    }

    #[test]
    fn adversarial_spellings_are_refused() {
        for sql in [
            "/**/commit",
            "/* select */ commit",
            "-- select\ncommit",
            // Postgres ends a -- comment at a carriage return.
            "-- select\rcommit",
            "--\rcommit --\nselect 1",
            // Nested: the first */ does not end the comment, so `select` is inside it.
            "/* /* */ select */ commit",
            "(commit)",
            "((rollback))",
            "\u{000b}commit",
            "CoMmIt",
            "\tend;",
            "set/**/transaction read write",
            // Not a word at all.
            "'select'",
            "\"select\" from t",
            "$$select$$",
            "",
            "   ",
            "-- only a comment",
            "/* only */",
            ";",
            "1",
            "selectx 1",
            "select$ 1",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.code, ErrorCode::ReadOnly, "{sql:?}: {}", e.message);
        }
    }

    #[test]
    fn a_second_statement_or_an_unterminated_lexeme_is_refused() {
        for sql in [
            "select 1; commit",
            "select 1;commit",
            "select 1; /* */ insert into t values (1)",
            "select '';select 1",
            "select $$x$$; end",
            "select E'\\''; commit",
        ] {
            assert_eq!(
                ensure_read_only(sql).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{sql:?}"
            );
        }
        for sql in [
            "select 'open",
            "select E'open\\'",
            "select \"open",
            "select $$open",
            "select $a$ open $b$",
            "select 1 /* open",
            "select 1 /* /* */",
        ] {
            assert_eq!(
                ensure_read_only(sql).unwrap_err().code,
                ErrorCode::SyntaxError,
                "{sql:?}"
            );
        }
    }

    #[test]
    fn first_keyword_skips_what_postgres_skips() {
        assert_eq!(first_keyword("  (( Select 1))").as_deref(), Some("SELECT"));
        assert_eq!(
            first_keyword("/* /* x */ */ commit").as_deref(),
            Some("COMMIT")
        );
        assert_eq!(first_keyword("-- a\r\nend").as_deref(), Some("END"));
        assert_eq!(first_keyword("'x'"), None);
        assert_eq!(first_keyword("/* open"), None);
        assert_eq!(first_keyword("ünïcode"), Some("üNïCODE".to_string()));
    }

    #[test]
    fn the_message_names_the_word_but_not_much_of_it() {
        let e = ensure_read_only("commit").unwrap_err();
        assert!(e.message.contains("not COMMIT"), "{}", e.message);
        let long = format!("{} 1", "x".repeat(1000));
        let e = ensure_read_only(&long).unwrap_err();
        assert!(e.message.len() < 300, "{}", e.message);
    }
}
