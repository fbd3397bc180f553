//! Deciding, without running it, that a SQLite statement cannot write.
//!
//! D1 has no read-only transactions, so for keys that may only read, every
//! statement is checked here first. The check is deliberately conservative
//! (it fails closed):
//!
//! * the statement must start with `SELECT`, `WITH`, `VALUES` or `EXPLAIN`;
//! * no unquoted word anywhere in it — inside CTEs and subqueries too — may
//!   be a keyword that writes or changes the session (`INSERT`, `UPDATE`,
//!   `DELETE`, `REPLACE` other than the `replace()` function, `CREATE`,
//!   `DROP`, `ALTER`, `ATTACH`, `DETACH`, `PRAGMA`, `VACUUM`, `REINDEX`,
//!   `ANALYZE`, `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`);
//! * exactly one statement (nothing but comments after a `;`).
//!
//! Strings, quoted identifiers and comments are skipped by a tokenizer that
//! follows SQLite's lexical rules, so `select 'delete'` is a read and
//! `select 1; delete from t` is not. SQLite functions cannot write, so a
//! statement that passes can only read. A column unquoted-named like one of
//! those keywords is refused too (quote it).

use crate::error::{ApiError, ErrorCode};

const WRITE_WORDS: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "UPSERT",
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

const READ_STARTS: &[&str] = &["SELECT", "WITH", "VALUES", "EXPLAIN"];

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Open,
    Semicolon,
    Other,
}

fn lex_error(message: &str) -> ApiError {
    ApiError::new(ErrorCode::SyntaxError, message.to_string())
}

fn tokens(sql: &str) -> Result<Vec<Token<'_>>, ApiError> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // SQLite accepts an unterminated block comment at the end.
                match sql[i + 2..].find("*/") {
                    Some(end) => i = i + 2 + end + 2,
                    None => i = b.len(),
                }
            }
            b'\'' | b'"' | b'`' => {
                // Quoted string or identifier; a doubled quote escapes it.
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => return Err(lex_error("unterminated quoted string or identifier")),
                        Some(&q) if q == c => {
                            if b.get(j + 1) == Some(&c) {
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => j += 1,
                    }
                }
                out.push(Token::Other);
                i = j + 1;
            }
            b'[' => {
                let end = sql[i..]
                    .find(']')
                    .ok_or_else(|| lex_error("unterminated [identifier]"))?;
                out.push(Token::Other);
                i += end + 1;
            }
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b';' => {
                out.push(Token::Semicolon);
                i += 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Token::Word(&sql[start..i]));
            }
            _ => {
                // Numbers, operators, parameters (`?1`, `:name`, `@x`, `$y`).
                if matches!(c, b':' | b'@' | b'$' | b'?') {
                    i += 1;
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                    {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
                out.push(Token::Other);
            }
        }
    }
    Ok(out)
}

/// `Ok` if the statement can only read; otherwise 403 `read_only` naming
/// what would write (or 400 for more than one statement).
pub fn ensure_read_only(sql: &str) -> Result<(), ApiError> {
    let toks = tokens(sql)?;
    let end = toks
        .iter()
        .position(|t| *t == Token::Semicolon)
        .unwrap_or(toks.len());
    if toks[end..].iter().any(|t| *t != Token::Semicolon) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "exactly one statement per query (use a batch for several)",
        ));
    }
    let toks = &toks[..end];
    let denied = |what: &str| {
        ApiError::new(
            ErrorCode::ReadOnly,
            format!("this key may only read, and the statement can write ({what})"),
        )
        .with_hint("use a key with the store's write scope or sql")
    };
    match toks.first() {
        Some(Token::Word(w)) if READ_STARTS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {}
        Some(Token::Word(w)) => return Err(denied(&w.to_ascii_uppercase())),
        _ => return Err(denied("not a SELECT")),
    }
    for (i, t) in toks.iter().enumerate() {
        if let Token::Word(w) = t {
            if let Some(word) = WRITE_WORDS.iter().find(|k| k.eq_ignore_ascii_case(w)) {
                let is_function = *word == "REPLACE" && toks.get(i + 1) == Some(&Token::Open);
                if !is_function {
                    return Err(denied(word));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass() {
        for sql in [
            "select 1",
            "SELECT * FROM t WHERE name = 'delete from t'",
            "select \"update\" from t",
            "select [drop], `insert` from t -- delete",
            "select /* drop table t */ 1;",
            "select 1;  -- trailing comment\n",
            "with x as (select 1 as a) select a from x",
            "values (1), (2)",
            "select replace(name, 'a', 'b') from t",
            "select * from pragma_table_info('t')",
            "select 'it''s'",
            "explain query plan select 1",
            "select ?1, :name, @x, $y",
        ] {
            assert!(ensure_read_only(sql).is_ok(), "{sql}");
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
            "create table x (a)",
            "drop table t",
            "alter table t add column b",
            "attach database 'x' as y",
            "detach y",
            "pragma foreign_keys = off",
            "PRAGMA user_version = 5",
            "vacuum",
            "reindex",
            "analyze",
            "begin",
            "savepoint a",
            "select * from t where exists (delete from t returning 1)",
            "  \n insert into t values (1)",
            "/* c */ update t set a = 1",
        ] {
            let e = ensure_read_only(sql).unwrap_err();
            assert_eq!(e.status(), 403, "{sql}: {}", e.message);
        }
    }

    #[test]
    fn more_than_one_statement_is_refused() {
        for sql in [
            "select 1; delete from t",
            "select 1; select 2",
            "select 1;;select 2",
        ] {
            assert_eq!(ensure_read_only(sql).unwrap_err().status(), 400, "{sql}");
        }
    }

    #[test]
    fn broken_quoting_is_a_syntax_error() {
        for sql in ["select 'abc", "select \"abc", "select [abc"] {
            assert_eq!(ensure_read_only(sql).unwrap_err().status(), 400, "{sql}");
        }
    }
}
