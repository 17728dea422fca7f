//! The zone-file lexer: splits a file into entries (one record or directive, which parentheses
//! may spread over several lines) made of tokens, and remembers the line of each.
//!
//! It handles `;` comments, parentheses, quoted strings and backslash escapes only as far as
//! token boundaries go: a token keeps its escapes as written (`\.` means one thing in a name
//! and another in a string), and the caller decodes it.

/// One token: its bytes as written (quotes removed, escapes kept) and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub raw: &'a [u8],
    pub quoted: bool,
    pub line: usize,
    /// Byte column (1-based) where the token starts (its opening quote when quoted).
    pub col: usize,
}

impl Token<'_> {
    /// The RFC 3597 generic RDATA marker `\#`, unquoted.
    pub fn is_generic_marker(&self) -> bool {
        !self.quoted && self.raw == b"\\#"
    }
}

/// One record or directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    /// Line of the first token.
    pub line: usize,
    /// The entry starts with blank space: the owner is the previous record's.
    pub blank_owner: bool,
    /// Never empty.
    pub tokens: Vec<Token<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LexError {
    pub line: usize,
    pub reason: String,
}

pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    /// Offset where the current line starts (for columns).
    line_start: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The next non-empty entry, or `None` at the end of the text.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        loop {
            if self.pos >= self.src.len() {
                return Ok(None);
            }
            // Every call starts at the beginning of a physical line.
            let blank_owner = matches!(self.src[self.pos], b' ' | b'\t');
            let mut tokens = Vec::new();
            let mut open_paren: Option<usize> = None;
            loop {
                let Some(&c) = self.src.get(self.pos) else {
                    if let Some(line) = open_paren {
                        return Err(self.error_at(
                            line,
                            "unbalanced parentheses: '(' is never closed".to_string(),
                        ));
                    }
                    break;
                };
                match c {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.line_start = self.pos;
                        if open_paren.is_none() {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while self.src.get(self.pos).is_some_and(|&b| b != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if let Some(line) = open_paren {
                            return Err(self.error(format!(
                                "nested parentheses: '(' inside the '(' opened on line {line}"
                            )));
                        }
                        open_paren = Some(self.line);
                        self.pos += 1;
                    }
                    b')' => {
                        if open_paren.is_none() {
                            return Err(
                                self.error("unbalanced parentheses: ')' without '('".to_string())
                            );
                        }
                        open_paren = None;
                        self.pos += 1;
                    }
                    b'"' => tokens.push(self.quoted()?),
                    _ => tokens.push(self.bare()?),
                }
            }
            if let Some(first) = tokens.first() {
                return Ok(Some(Entry {
                    line: first.line,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let line = self.line;
        let col = self.pos - self.line_start + 1;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.src.get(self.pos) {
                None | Some(b'\n') => {
                    return Err(self.error_at(
                        line,
                        "unbalanced quotes: quoted string not closed on its line".to_string(),
                    ));
                }
                Some(b'"') => break,
                Some(b'\\') => self.escape()?,
                Some(_) => self.pos += 1,
            }
        }
        let raw = &self.src[start..self.pos];
        self.pos += 1;
        Ok(Token {
            raw,
            quoted: true,
            line,
            col,
        })
    }

    fn bare(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        while let Some(&c) = self.src.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => self.escape()?,
                _ => self.pos += 1,
            }
        }
        Ok(Token {
            raw: &self.src[start..self.pos],
            quoted: false,
            line: self.line,
            col: start - self.line_start + 1,
        })
    }

    /// Steps over a backslash and the byte it escapes (digits of `\DDD` need no care: they
    /// are ordinary token bytes).
    fn escape(&mut self) -> Result<(), LexError> {
        match self.src.get(self.pos + 1) {
            None | Some(b'\n') => Err(self.error("backslash at the end of a line".to_string())),
            Some(_) => {
                self.pos += 2;
                Ok(())
            }
        }
    }

    fn error(&self, reason: String) -> LexError {
        self.error_at(self.line, reason)
    }

    fn error_at(&self, line: usize, reason: String) -> LexError {
        LexError { line, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tok = (String, bool, usize);
    type Ent = (usize, bool, Vec<Tok>);

    fn entries(src: &str) -> Result<Vec<Ent>, LexError> {
        let mut lexer = Lexer::new(src.as_bytes());
        let mut out = Vec::new();
        while let Some(e) = lexer.next_entry()? {
            let toks = e
                .tokens
                .iter()
                .map(|t| (String::from_utf8(t.raw.to_vec()).unwrap(), t.quoted, t.line))
                .collect();
            out.push((e.line, e.blank_owner, toks));
        }
        Ok(out)
    }

    fn t(s: &str, quoted: bool, line: usize) -> Tok {
        (s.to_string(), quoted, line)
    }

    #[test]
    fn lines_comments_blank_owner() {
        let got = entries("; comment\n\nwww  IN A 1.2.3.4 ; trailing\n\tA 5.6.7.8\r\n   ; only\n")
            .unwrap();
        assert_eq!(
            got,
            vec![
                (
                    3,
                    false,
                    vec![
                        t("www", false, 3),
                        t("IN", false, 3),
                        t("A", false, 3),
                        t("1.2.3.4", false, 3)
                    ]
                ),
                (4, true, vec![t("A", false, 4), t("5.6.7.8", false, 4)]),
            ]
        );
    }

    #[test]
    fn parentheses_span_lines() {
        let got = entries("@ SOA ns host (\n 1 ; serial\n 2 3\n 4 5 )\nnext A 1.1.1.1").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 1);
        let words: Vec<&str> = got[0].2.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(words, ["@", "SOA", "ns", "host", "1", "2", "3", "4", "5"]);
        assert_eq!(got[0].2[6].2, 3);
        assert_eq!(got[1].0, 5);
        // Parentheses also separate tokens.
        let got = entries("a TXT(x)y").unwrap();
        let words: Vec<&str> = got[0].2.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(words, ["a", "TXT", "x", "y"]);
    }

    #[test]
    fn quotes_and_escapes() {
        let got = entries(r#"a TXT "x \" ; (y)" b\ c\;d "" e"f""#).unwrap();
        assert_eq!(
            got[0].2,
            vec![
                t("a", false, 1),
                t("TXT", false, 1),
                t(r#"x \" ; (y)"#, true, 1),
                t(r"b\ c\;d", false, 1),
                t("", true, 1),
                t("e", false, 1),
                t("f", true, 1),
            ]
        );
        let got = entries("a TXT \\#").unwrap();
        assert!(got[0].2[2].0 == "\\#");
    }

    #[test]
    fn errors_carry_lines() {
        let e = entries("a A 1.1.1.1\nb TXT ( \"x\"\n\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("never closed"), "{}", e.reason);
        let e = entries("\n\nb TXT x )").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("')' without '('"), "{}", e.reason);
        let e = entries("a\nb TXT \"abc\nd\"").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("unbalanced quotes"), "{}", e.reason);
        let e = entries("b TXT \"abc").unwrap_err();
        assert!(e.reason.contains("unbalanced quotes"), "{}", e.reason);
        let e = entries("a ( ( b ) )").unwrap_err();
        assert!(e.reason.contains("nested"), "{}", e.reason);
        let e = entries("a TXT abc\\\nb").unwrap_err();
        assert!(e.reason.contains("backslash"), "{}", e.reason);
        let e = entries("a TXT abc\\").unwrap_err();
        assert!(e.reason.contains("backslash"), "{}", e.reason);
    }
}
