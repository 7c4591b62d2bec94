//! What a statement's text asks to be bound, read without a database: its placeholders
//! (`$1`; on SQLite also `?1` and `?`) and whether it holds more than one statement. Quoted
//! text, quoted names, comments and PostgreSQL's dollar-quoted bodies are skipped, so a
//! `'$1'` or `-- ?` is not a placeholder. `check` uses it to say, with the line, that a
//! statement's `params` do not fit it.

use super::target::Backend;
use std::collections::BTreeSet;

/// The placeholders of one statement.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Numbered placeholders used (`$1`, `?2`).
    pub numbered: BTreeSet<usize>,
    /// Bare `?` placeholders (SQLite).
    pub anonymous: usize,
    /// Placeholders that cannot be bound by position (`:name`, `@name`, `$name`).
    pub named: Vec<String>,
    /// Text follows a `;`: more than one statement.
    pub several: bool,
}

impl Scan {
    /// Whether `count` parameters fit the placeholders; if not, why.
    pub fn check(&self, count: usize) -> Result<(), String> {
        if self.several {
            return Err("one statement per `sql`: list each statement on its own".into());
        }
        if let Some(name) = self.named.first() {
            return Err(format!(
                "placeholder `{name}` cannot be bound: number them, $1, $2, …"
            ));
        }
        if self.anonymous > 0 && !self.numbered.is_empty() {
            return Err("`?` and numbered placeholders are mixed: use one or the other".into());
        }
        let used = if self.anonymous > 0 {
            self.anonymous
        } else {
            self.numbered.last().copied().unwrap_or(0)
        };
        if used != count {
            return Err(format!(
                "the statement takes {used} parameter{} but `params` has {count}",
                if used == 1 { "" } else { "s" }
            ));
        }
        if let Some(missing) =
            (1..=used).find(|n| self.anonymous == 0 && !self.numbered.contains(n))
        {
            return Err(format!(
                "${missing} is not used: number the placeholders from $1 without gaps"
            ));
        }
        Ok(())
    }
}

/// Read `sql` as `backend` reads it.
pub fn scan(sql: &str, backend: Backend) -> Scan {
    let sqlite = backend == Backend::Sqlite;
    let chars: Vec<char> = sql.chars().collect();
    let mut scan = Scan::default();
    let mut ended = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // A comment is not text after a `;`.
        if c == '-' && next == Some('-') {
            i = skip_until(&chars, i + 2, "\n");
            continue;
        }
        if c == '/' && next == Some('*') {
            i = skip_until(&chars, i + 2, "*/");
            continue;
        }
        if ended {
            scan.several = true;
        }
        i = match c {
            ';' => {
                ended = true;
                i + 1
            }
            '\'' | '"' => skip_quoted(&chars, i, c),
            '`' if sqlite => skip_quoted(&chars, i, '`'),
            '[' if sqlite => skip_until(&chars, i + 1, "]"),
            '$' => dollar(&chars, i, sqlite, &mut scan),
            '?' if sqlite => {
                let (number, end) = digits(&chars, i + 1);
                match number {
                    Some(n) => scan.numbered.insert(n),
                    None => {
                        scan.anonymous += 1;
                        true
                    }
                };
                end
            }
            ':' | '@' if sqlite && next.is_some_and(is_ident_start) => {
                let end = ident_end(&chars, i + 1);
                scan.named.push(chars[i..end].iter().collect());
                end
            }
            c if is_ident_char(c) => ident_end(&chars, i),
            _ => i + 1,
        };
    }
    scan
}

/// At a `$`: a numbered placeholder, a dollar-quoted body (PostgreSQL) or a named
/// placeholder (SQLite). Returns where to go on.
fn dollar(chars: &[char], at: usize, sqlite: bool, scan: &mut Scan) -> usize {
    let (number, end) = digits(chars, at + 1);
    if let Some(n) = number {
        scan.numbered.insert(n);
        return end;
    }
    // A tag (`$body$`) or a name (`$id`) holds no `$` of its own.
    let tag_end = chars[at + 1..]
        .iter()
        .position(|&c| !(c.is_alphanumeric() || c == '_'))
        .map_or(chars.len(), |n| at + 1 + n);
    if sqlite {
        if tag_end > at + 1 {
            scan.named.push(chars[at..tag_end].iter().collect());
        }
        return tag_end.max(at + 1);
    }
    if chars.get(tag_end) == Some(&'$') {
        let delimiter: String = chars[at..=tag_end].iter().collect();
        return skip_until(chars, tag_end + 1, &delimiter);
    }
    at + 1
}

fn digits(chars: &[char], from: usize) -> (Option<usize>, usize) {
    let end = chars[from..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(chars.len(), |n| from + n);
    let text: String = chars[from..end].iter().collect();
    (text.parse().ok(), end)
}

/// Past a quoted run opened at `at` by `quote`; a doubled quote stays inside.
fn skip_quoted(chars: &[char], at: usize, quote: char) -> usize {
    let mut i = at + 1;
    while i < chars.len() {
        if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

/// Past the first `end` at or after `from` (or the end of the text).
fn skip_until(chars: &[char], from: usize, end: &str) -> usize {
    let end: Vec<char> = end.chars().collect();
    let mut i = from;
    while i + end.len() <= chars.len() {
        if chars[i..i + end.len()] == end[..] {
            return i + end.len();
        }
        i += 1;
    }
    chars.len()
}

fn ident_end(chars: &[char], from: usize) -> usize {
    chars[from..]
        .iter()
        .position(|&c| !is_ident_char(c))
        .map_or(chars.len(), |n| from + n)
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Names may hold `$` after their first character (`a$1` is a name, not a placeholder).
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(sql: &str, backend: Backend) -> Vec<usize> {
        scan(sql, backend).numbered.into_iter().collect()
    }

    #[test]
    fn numbered_placeholders_on_both_backends() {
        let sql = "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $2";
        assert_eq!(numbered(sql, Backend::Postgres), [1, 2]);
        assert_eq!(numbered(sql, Backend::Sqlite), [1, 2]);
        assert_eq!(numbered("SELECT ?1, ?2", Backend::Sqlite), [1, 2]);
        assert_eq!(scan("SELECT ?, ?", Backend::Sqlite).anonymous, 2);
        assert!(scan("SELECT ?, ?1", Backend::Sqlite).check(1).is_err());
    }

    #[test]
    fn quoted_text_comments_and_dollar_bodies_hold_no_placeholder() {
        let sql =
            "SELECT '$1 ''?''', \"$2\", x::text, a$3 -- $4 ?\n /* $5 ; */ FROM t WHERE b = $1";
        assert_eq!(numbered(sql, Backend::Postgres), [1]);
        let body = "SELECT $fn$ SELECT $2; $fn$, $$ $3 $$, $1";
        assert_eq!(numbered(body, Backend::Postgres), [1]);
        assert!(!scan(body, Backend::Postgres).several);
        // On PostgreSQL `?` is a jsonb operator, not a placeholder.
        assert_eq!(
            scan("SELECT data ? 'key' FROM t", Backend::Postgres),
            Scan::default()
        );
        assert_eq!(numbered("SELECT `?1`, [$2], ?3", Backend::Sqlite), [3]);
    }

    #[test]
    fn several_statements_are_refused_but_a_final_semicolon_is_fine() {
        assert!(!scan("DELETE FROM t WHERE id = $1;  -- done\n", Backend::Postgres).several);
        let two = scan("DELETE FROM a; DELETE FROM b", Backend::Sqlite);
        assert!(two.several);
        assert!(two.check(0).unwrap_err().contains("one statement"));
    }

    #[test]
    fn params_must_fit_the_placeholders() {
        let check = |sql: &str, count| scan(sql, Backend::Postgres).check(count);
        assert_eq!(check("SELECT $1, $2", 2), Ok(()));
        assert_eq!(check("SELECT 1", 0), Ok(()));
        assert!(check("SELECT $1, $3", 2).unwrap_err().contains("takes 3"));
        assert!(
            check("SELECT $1, $3", 3)
                .unwrap_err()
                .contains("$2 is not used")
        );
        assert!(
            check("SELECT $1", 2)
                .unwrap_err()
                .contains("`params` has 2")
        );
        let named = scan("SELECT :id, @x, $name", Backend::Sqlite);
        assert_eq!(named.named, [":id", "@x", "$name"]);
        assert!(
            named
                .check(0)
                .unwrap_err()
                .contains("`:id` cannot be bound")
        );
    }
}
