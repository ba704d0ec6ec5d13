//! A parser of exactly the CQL subset the store uses (the module comment of `check` lists it);
//! anything else is refused.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Literal,
    Marker,
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated string".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => i += 2,
                    Some('\'') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            out.push(Token::Literal);
        } else if c.is_ascii_digit() {
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            out.push(Token::Literal);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '?' {
            i += 1;
            out.push(Token::Marker);
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = ["<=", ">="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["(", ")", ",", "=", "<", ">", "*"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| format!("unexpected {c:?}"))?;
            i += symbol.len();
            out.push(Token::Symbol(symbol));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Select,
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Condition {
    None,
    Exists,
    NotExists,
    Columns(Vec<String>),
}

/// What a statement names.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    pub(super) verb: Verb,
    pub(super) table: String,
    pub(super) distinct: bool,
    pub(super) star: bool,
    pub(super) selected: Vec<String>,
    pub(super) written: Vec<String>,
    /// (column, operator) of the WHERE clause.
    pub(super) restrictions: Vec<(String, &'static str)>,
    pub(super) order_by: Option<String>,
    pub(super) condition: Condition,
    pub(super) using_timestamp: bool,
    pub(super) markers: usize,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    markers: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
        self.at += 1;
        if token == Token::Marker {
            self.markers += 1;
        }
        Ok(token)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(format!("expected {keyword}, found {other:?}")),
        }
    }

    fn eat(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn symbol(&mut self, symbol: &str) -> Result<(), String> {
        match self.next()? {
            Token::Symbol(s) if s == symbol => Ok(()),
            other => Err(format!("expected {symbol}, found {other:?}")),
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.at += 1;
        }
        found
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Word(w) if !is_reserved(&w) => Ok(w),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// A bind marker, a literal, `true`/`false`, or a function call of those.
    fn term(&mut self) -> Result<(), String> {
        match self.next()? {
            Token::Marker | Token::Literal => Ok(()),
            Token::Word(w) if w == "true" || w == "false" => Ok(()),
            Token::Word(_) => {
                self.symbol("(")?;
                if !self.eat_symbol(")") {
                    loop {
                        self.term()?;
                        if self.eat_symbol(")") {
                            break;
                        }
                        self.symbol(",")?;
                    }
                }
                Ok(())
            }
            other => Err(format!("expected a value, found {other:?}")),
        }
    }

    fn name_list(&mut self) -> Result<Vec<String>, String> {
        let mut list = vec![self.name()?];
        while self.eat_symbol(",") {
            list.push(self.name()?);
        }
        Ok(list)
    }

    fn relation(&mut self) -> Result<(String, &'static str), String> {
        let column = self.name()?;
        if self.eat("IN") {
            self.term()?;
            return Ok((column, "IN"));
        }
        let op = match self.next()? {
            Token::Symbol(op @ ("=" | "<" | ">" | "<=" | ">=")) => op,
            other => return Err(format!("expected an operator, found {other:?}")),
        };
        self.term()?;
        Ok((column, op))
    }

    fn relations(&mut self) -> Result<Vec<(String, &'static str)>, String> {
        let mut list = vec![self.relation()?];
        while self.eat("AND") {
            list.push(self.relation()?);
        }
        Ok(list)
    }

    /// `USING TIMESTAMP ? [AND TTL ?]` and the like; true when a timestamp is given.
    fn using(&mut self) -> Result<bool, String> {
        let mut timestamp = false;
        if self.eat("USING") {
            loop {
                if self.eat("TIMESTAMP") {
                    timestamp = true;
                } else {
                    self.keyword("TTL")?;
                }
                self.term()?;
                if !self.eat("AND") {
                    break;
                }
            }
        }
        Ok(timestamp)
    }

    fn condition(&mut self) -> Result<Condition, String> {
        if !self.eat("IF") {
            return Ok(Condition::None);
        }
        if self.eat("EXISTS") {
            return Ok(Condition::Exists);
        }
        if self.eat("NOT") {
            self.keyword("EXISTS")?;
            return Ok(Condition::NotExists);
        }
        Ok(Condition::Columns(
            self.relations()?.into_iter().map(|(column, _)| column).collect(),
        ))
    }

    fn statement(&mut self) -> Result<Parsed, String> {
        let mut parsed = Parsed {
            verb: Verb::Select,
            table: String::new(),
            distinct: false,
            star: false,
            selected: Vec::new(),
            written: Vec::new(),
            restrictions: Vec::new(),
            order_by: None,
            condition: Condition::None,
            using_timestamp: false,
            markers: 0,
        };
        if self.eat("SELECT") {
            parsed.distinct = self.eat("DISTINCT");
            if self.eat_symbol("*") {
                parsed.star = true;
            } else {
                parsed.selected = self.name_list()?;
            }
            self.keyword("FROM")?;
            parsed.table = self.name()?;
            if self.eat("WHERE") {
                parsed.restrictions = self.relations()?;
            }
            if self.eat("ORDER") {
                self.keyword("BY")?;
                parsed.order_by = Some(self.name()?);
                if !self.eat("ASC") {
                    self.keyword("DESC")?;
                }
            }
            if self.eat("LIMIT") {
                self.term()?;
            }
        } else if self.eat("INSERT") {
            parsed.verb = Verb::Insert;
            self.keyword("INTO")?;
            parsed.table = self.name()?;
            self.symbol("(")?;
            parsed.written = self.name_list()?;
            self.symbol(")")?;
            self.keyword("VALUES")?;
            self.symbol("(")?;
            let mut values = 1;
            self.term()?;
            while self.eat_symbol(",") {
                self.term()?;
                values += 1;
            }
            self.symbol(")")?;
            if values != parsed.written.len() {
                return Err(format!("{} columns, {values} values", parsed.written.len()));
            }
            parsed.condition = self.condition()?;
            parsed.using_timestamp = self.using()?;
        } else if self.eat("UPDATE") {
            parsed.verb = Verb::Update;
            parsed.table = self.name()?;
            parsed.using_timestamp = self.using()?;
            self.keyword("SET")?;
            loop {
                parsed.written.push(self.name()?);
                self.symbol("=")?;
                self.term()?;
                if !self.eat_symbol(",") {
                    break;
                }
            }
            self.keyword("WHERE")?;
            parsed.restrictions = self.relations()?;
            parsed.condition = self.condition()?;
        } else if self.eat("DELETE") {
            parsed.verb = Verb::Delete;
            self.keyword("FROM")?;
            parsed.table = self.name()?;
            parsed.using_timestamp = self.using()?;
            self.keyword("WHERE")?;
            parsed.restrictions = self.relations()?;
            parsed.condition = self.condition()?;
        } else {
            return Err("not SELECT, INSERT, UPDATE or DELETE".into());
        }
        if let Some(extra) = self.peek() {
            return Err(format!("unexpected {extra:?} after the statement"));
        }
        parsed.markers = self.markers;
        Ok(parsed)
    }
}

fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "IF", "IN", "USING",
        "ORDER", "BY", "LIMIT", "DISTINCT", "EXISTS", "NOT",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

pub(super) fn parse(text: &str) -> Result<Parsed, String> {
    Parser {
        tokens: tokens(text)?,
        at: 0,
        markers: 0,
    }
    .statement()
}
