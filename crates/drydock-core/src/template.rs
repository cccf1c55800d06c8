//! Notification templates: text with `${...}` expressions, as drydock and What's Up Docker write
//! them (`SIMPLETITLE`, `SIMPLEBODY`, `BATCHTITLE`, `BATCHBODY`).
//!
//! ```text
//! Container ${container.name} can be updated to ${container.updateKind.remoteValue}${container.result && container.result.link ? "\n" + container.result.link : ""}
//! ```
//!
//! Expressions are a small, safe subset of JavaScript: property paths (`a.b`, `a["b"]`, `a[0]`),
//! string and number literals, `true`/`false`/`null`, `!`, `+` (concatenation or addition), `-`,
//! comparisons (`==`, `!=`, `===`, `!==`, `<`, `<=`, `>`, `>=`), `&&`, `||` (returning an operand, as
//! in JavaScript), `? :`, parentheses, `.length`, and a fixed list of string methods. Nothing else
//! runs: no assignment, no function definition, no access outside the given values. Templates are
//! compiled once (a bad one is a configuration error naming its position) and rendering never
//! fails; lengths and nesting are bounded.

use std::collections::BTreeMap;
use std::fmt;

/// The longest template accepted, in bytes.
pub const MAX_TEMPLATE: usize = 16 * 1024;
/// The deepest expression nesting accepted.
pub const MAX_DEPTH: usize = 48;
/// The most operands, member accesses and method calls one `${...}` expression may hold.
///
/// Rendering walks the expression recursively, and a chain such as `a + a + ... + a` or
/// `a.b.c...` nests one level per link without nesting in the text; bounding the links bounds
/// the stack rendering needs, whatever the template.
pub const MAX_OPERANDS: usize = 256;
/// The longest string a rendering may produce, in bytes (longer results are cut).
pub const MAX_OUTPUT: usize = 256 * 1024;

/// A value templates read: the JSON data model.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null`, and anything missing.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(BTreeMap<String, Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Bool(b) => *b,
            Self::Number(n) => *n != 0.0 && !n.is_nan(),
            Self::String(s) => !s.is_empty(),
            Self::Array(_) | Self::Object(_) => true,
        }
    }

    fn get(&self, key: &str) -> Value {
        match (self, key) {
            (Self::Object(map), _) => map.get(key).cloned().unwrap_or_default(),
            (Self::Array(items), "length") => Self::Number(items.len() as f64),
            (Self::String(s), "length") => Self::Number(s.chars().count() as f64),
            (Self::Array(items), index) => index
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or_default(),
            _ => Self::Null,
        }
    }

    fn number(&self) -> f64 {
        match self {
            Self::Null => 0.0,
            Self::Bool(b) => f64::from(u8::from(*b)),
            Self::Number(n) => *n,
            Self::String(s) => s.trim().parse().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
            Self::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
            Self::Object(_) => f.write_str("[object Object]"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

/// Why a template does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("template error at byte {position}: {message}")]
pub struct TemplateError {
    /// Byte offset in the template.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// The string methods templates may call.
const METHODS: &[&str] = &[
    "toLowerCase",
    "toUpperCase",
    "trim",
    "trimStart",
    "trimEnd",
    "substring",
    "slice",
    "replace",
    "split",
    "indexOf",
    "lastIndexOf",
    "startsWith",
    "endsWith",
    "includes",
    "charAt",
    "padStart",
    "padEnd",
    "repeat",
    "toString",
];

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Literal(Value),
    Ident(String),
    Member(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, String, Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

/// A compiled template.
///
/// ```
/// use std::collections::BTreeMap;
/// use drydock_core::template::{Template, Value};
///
/// let t = Template::compile(r#"${count} update${count === 1 ? "" : "s"} for ${name.toUpperCase()}"#).unwrap();
/// let mut vars = BTreeMap::new();
/// vars.insert("count".to_owned(), Value::Number(2.0));
/// vars.insert("name".to_owned(), Value::from("web"));
/// assert_eq!(t.render(&Value::Object(vars)), "2 updates for WEB");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Compiles a template.
    pub fn compile(source: &str) -> Result<Self, TemplateError> {
        if source.len() > MAX_TEMPLATE {
            return Err(TemplateError {
                position: MAX_TEMPLATE,
                message: format!("template longer than {MAX_TEMPLATE} bytes"),
            });
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                let mut parser = Parser {
                    src: source,
                    pos: i + 2,
                    depth: 0,
                    operands: 0,
                };
                let expr = parser.expression()?;
                parser.skip_space();
                if parser.peek() != Some(b'}') {
                    return Err(parser.error("expected `}` to close `${`"));
                }
                parts.push(Part::Expr(expr));
                i = parser.pos + 1;
            } else {
                let ch = source[i..].chars().next().unwrap_or_default();
                text.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// Renders the template against `scope` (an object whose keys are the top-level names).
    pub fn render(&self, scope: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => out.push_str(&eval(expr, scope).to_string()),
            }
            if out.len() > MAX_OUTPUT {
                let mut cut = MAX_OUTPUT;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                break;
            }
        }
        out
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    depth: usize,
    /// Operands and postfix links read so far in this expression (see [`MAX_OPERANDS`]).
    operands: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> TemplateError {
        TemplateError {
            position: self.pos,
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.src[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Counts one more operand or postfix link against [`MAX_OPERANDS`].
    fn operand(&mut self) -> Result<(), TemplateError> {
        self.operands += 1;
        if self.operands > MAX_OPERANDS {
            return Err(self.error(&format!(
                "expression longer than {MAX_OPERANDS} operands and accesses"
            )));
        }
        Ok(())
    }

    fn nest<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply"));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expression(&mut self) -> Result<Expr, TemplateError> {
        self.nest(|p| {
            let condition = p.or()?;
            if p.eat("?") {
                let yes = p.expression()?;
                if !p.eat(":") {
                    return Err(p.error("expected `:` in `? :`"));
                }
                let no = p.expression()?;
                return Ok(Expr::Ternary(
                    Box::new(condition),
                    Box::new(yes),
                    Box::new(no),
                ));
            }
            Ok(condition)
        })
    }

    fn or(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.equality()?;
        while self.eat("&&") {
            let right = self.equality()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.comparison()?;
        loop {
            let op = if self.eat("===") || self.eat("==") {
                Op::Eq
            } else if self.eat("!==") || self.eat("!=") {
                Op::Ne
            } else {
                return Ok(left);
            };
            let right = self.comparison()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn comparison(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.additive()?;
        loop {
            let op = if self.eat("<=") {
                Op::Le
            } else if self.eat(">=") {
                Op::Ge
            } else if self.eat("<") {
                Op::Lt
            } else if self.eat(">") {
                Op::Gt
            } else {
                return Ok(left);
            };
            let right = self.additive()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn additive(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat("+") {
                Op::Add
            } else if self.eat("-") {
                Op::Sub
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, TemplateError> {
        self.nest(|p| {
            if p.eat("!") {
                return Ok(Expr::Not(Box::new(p.unary()?)));
            }
            if p.eat("-") {
                return Ok(Expr::Neg(Box::new(p.unary()?)));
            }
            p.postfix()
        })
    }

    fn postfix(&mut self) -> Result<Expr, TemplateError> {
        let mut expr = self.primary()?;
        loop {
            // Each link wraps the expression so far one level deeper.
            if self.eat(".") {
                self.operand()?;
                let name = self
                    .identifier()
                    .ok_or_else(|| self.error("expected a name after `.`"))?;
                if self.eat("(") {
                    if !METHODS.contains(&name.as_str()) {
                        return Err(self.error(&format!("method `{name}` is not allowed")));
                    }
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expression()?);
                            if self.eat(")") {
                                break;
                            }
                            if !self.eat(",") {
                                return Err(self.error("expected `,` or `)`"));
                            }
                        }
                    }
                    expr = Expr::Call(Box::new(expr), name, args);
                } else {
                    expr =
                        Expr::Member(Box::new(expr), Box::new(Expr::Literal(Value::String(name))));
                }
            } else if self.eat("[") {
                self.operand()?;
                let index = self.expression()?;
                if !self.eat("]") {
                    return Err(self.error("expected `]`"));
                }
                expr = Expr::Member(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    fn identifier(&mut self) -> Option<String> {
        self.skip_space();
        let rest = &self.src[self.pos..];
        let len = rest
            .char_indices()
            .take_while(|(i, c)| {
                c.is_ascii_alphabetic() || *c == '_' || *c == '$' || (*i > 0 && c.is_ascii_digit())
            })
            .count();
        (len > 0).then(|| {
            self.pos += len;
            rest[..len].to_owned()
        })
    }

    fn primary(&mut self) -> Result<Expr, TemplateError> {
        self.operand()?;
        self.skip_space();
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let expr = self.expression()?;
                if !self.eat(")") {
                    return Err(self.error("expected `)`"));
                }
                Ok(expr)
            }
            Some(quote @ (b'"' | b'\'' | b'`')) => self.string(quote),
            Some(b) if b.is_ascii_digit() => {
                let rest = &self.src[self.pos..];
                let len = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_digit() || *b == b'.')
                    .count();
                let number = rest[..len]
                    .parse::<f64>()
                    .map_err(|_| self.error("bad number"))?;
                self.pos += len;
                Ok(Expr::Literal(Value::Number(number)))
            }
            _ => match self.identifier().as_deref() {
                Some("true") => Ok(Expr::Literal(Value::Bool(true))),
                Some("false") => Ok(Expr::Literal(Value::Bool(false))),
                Some("null" | "undefined") => Ok(Expr::Literal(Value::Null)),
                Some(name) => Ok(Expr::Ident(name.to_owned())),
                None => Err(self.error("expected a value")),
            },
        }
    }

    fn string(&mut self, quote: u8) -> Result<Expr, TemplateError> {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c as u32 == u32::from(quote) => {
                    self.pos += i + 1;
                    return Ok(Expr::Literal(Value::String(out)));
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }
}

fn eval(expr: &Expr, scope: &Value) -> Value {
    match expr {
        Expr::Literal(value) => value.clone(),
        Expr::Ident(name) => scope.get(name),
        Expr::Member(object, key) => {
            let key = eval(key, scope).to_string();
            eval(object, scope).get(&key)
        }
        Expr::Not(inner) => Value::Bool(!eval(inner, scope).truthy()),
        Expr::Neg(inner) => Value::Number(-eval(inner, scope).number()),
        Expr::And(a, b) => {
            let left = eval(a, scope);
            if left.truthy() { eval(b, scope) } else { left }
        }
        Expr::Or(a, b) => {
            let left = eval(a, scope);
            if left.truthy() { left } else { eval(b, scope) }
        }
        Expr::Ternary(c, yes, no) => {
            if eval(c, scope).truthy() {
                eval(yes, scope)
            } else {
                eval(no, scope)
            }
        }
        Expr::Binary(a, op, b) => binary(&eval(a, scope), *op, &eval(b, scope)),
        Expr::Call(target, method, args) => {
            let args: Vec<Value> = args.iter().map(|a| eval(a, scope)).collect();
            call(&eval(target, scope), method, &args)
        }
    }
}

fn binary(a: &Value, op: Op, b: &Value) -> Value {
    let compare = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => a.number().partial_cmp(&b.number()),
        }
    };
    match op {
        Op::Add => match (a, b) {
            (Value::String(_), _) | (_, Value::String(_)) => {
                let mut s = a.to_string();
                if s.len() + b.to_string().len() <= MAX_OUTPUT {
                    s.push_str(&b.to_string());
                }
                Value::String(s)
            }
            _ => Value::Number(a.number() + b.number()),
        },
        Op::Sub => Value::Number(a.number() - b.number()),
        Op::Eq => Value::Bool(a == b),
        Op::Ne => Value::Bool(a != b),
        Op::Lt => Value::Bool(compare(a, b) == Some(std::cmp::Ordering::Less)),
        Op::Le => Value::Bool(matches!(
            compare(a, b),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        )),
        Op::Gt => Value::Bool(compare(a, b) == Some(std::cmp::Ordering::Greater)),
        Op::Ge => Value::Bool(matches!(
            compare(a, b),
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        )),
    }
}

fn call(target: &Value, method: &str, args: &[Value]) -> Value {
    let Value::String(s) = target else {
        return if method == "toString" {
            Value::String(target.to_string())
        } else {
            Value::Null
        };
    };
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as f64;
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let index = |v: Value, default: f64| -> usize {
        let n = if matches!(v, Value::Null) {
            default
        } else {
            v.number()
        };
        let n = if n.is_nan() { 0.0 } else { n };
        let n = if n < 0.0 {
            (len + n).max(0.0)
        } else {
            n.min(len)
        };
        n as usize
    };
    let string = |v: Value| v.to_string();
    match method {
        "toLowerCase" => Value::String(s.to_lowercase()),
        "toUpperCase" => Value::String(s.to_uppercase()),
        "trim" => Value::String(s.trim().to_owned()),
        "trimStart" => Value::String(s.trim_start().to_owned()),
        "trimEnd" => Value::String(s.trim_end().to_owned()),
        "toString" => Value::String(s.clone()),
        "substring" | "slice" => {
            let (mut from, mut to) = (index(arg(0), 0.0), index(arg(1), len));
            if method == "substring" && from > to {
                std::mem::swap(&mut from, &mut to);
            }
            Value::String(if from < to {
                chars[from..to].iter().collect()
            } else {
                String::new()
            })
        }
        "charAt" => Value::String(
            chars
                .get(index(arg(0), 0.0))
                .map(char::to_string)
                .unwrap_or_default(),
        ),
        "replace" => Value::String(s.replacen(&string(arg(0)), &string(arg(1)), 1)),
        "split" => {
            let separator = string(arg(0));
            let parts: Vec<Value> = if separator.is_empty() {
                chars.iter().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(separator.as_str()).map(Value::from).collect()
            };
            Value::Array(parts)
        }
        "indexOf" => Value::Number(
            s.find(&string(arg(0)))
                .map_or(-1.0, |b| s[..b].chars().count() as f64),
        ),
        "lastIndexOf" => Value::Number(
            s.rfind(&string(arg(0)))
                .map_or(-1.0, |b| s[..b].chars().count() as f64),
        ),
        "startsWith" => Value::Bool(s.starts_with(&string(arg(0)))),
        "endsWith" => Value::Bool(s.ends_with(&string(arg(0)))),
        "includes" => Value::Bool(s.contains(&string(arg(0)))),
        "padStart" | "padEnd" => {
            let width = arg(0).number();
            let width = if width.is_nan() {
                0
            } else {
                width.clamp(0.0, 1024.0) as usize
            };
            let fill = match arg(1) {
                Value::Null => " ".to_owned(),
                v => string(v),
            };
            if chars.len() >= width || fill.is_empty() {
                return Value::String(s.clone());
            }
            let pad: String = fill.chars().cycle().take(width - chars.len()).collect();
            Value::String(if method == "padStart" {
                format!("{pad}{s}")
            } else {
                format!("{s}{pad}")
            })
        }
        "repeat" => {
            let times = arg(0).number();
            if times.is_nan() || times < 0.0 || s.len() as f64 * times > MAX_OUTPUT as f64 {
                Value::Null
            } else {
                Value::String(s.repeat(times as usize))
            }
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn container(link: Option<&str>) -> Value {
        let mut result = vec![("tag", Value::from("2021.6.5"))];
        if let Some(link) = link {
            result.push(("link", Value::from(link)));
        }
        object(vec![
            (
                "container",
                object(vec![
                    ("name", Value::from("homeassistant")),
                    (
                        "updateKind",
                        object(vec![
                            ("kind", Value::from("tag")),
                            ("localValue", Value::from("2021.6.4")),
                            ("remoteValue", Value::from("2021.6.5")),
                        ]),
                    ),
                    ("result", object(result)),
                ]),
            ),
            ("kind", Value::from("tag")),
            ("name", Value::from("homeassistant")),
        ])
    }

    /// The seed's own `simplebody` and `simpletitle`.
    #[test]
    fn renders_the_seed_example() {
        let body = Template::compile(r#"Container ${container.name} running with ${container.updateKind.kind} ${container.updateKind.localValue} can be updated to ${container.updateKind.kind} ${container.updateKind.remoteValue}${container.result && container.result.link ? "\n" + container.result.link : ""}"#).unwrap();
        assert_eq!(
            body.render(&container(Some("https://example.com/r/2021.6.5"))),
            "Container homeassistant running with tag 2021.6.4 can be updated to tag 2021.6.5\nhttps://example.com/r/2021.6.5"
        );
        assert_eq!(
            body.render(&container(None)),
            "Container homeassistant running with tag 2021.6.4 can be updated to tag 2021.6.5"
        );
        let title = Template::compile("New ${kind} found for container ${name}").unwrap();
        assert_eq!(
            title.render(&container(None)),
            "New tag found for container homeassistant"
        );
        let batch = Template::compile("${containers.length} updates available").unwrap();
        let scope = object(vec![(
            "containers",
            Value::Array(vec![Value::Null, Value::Null]),
        )]);
        assert_eq!(batch.render(&scope), "2 updates available");
    }

    #[test]
    fn operators_behave_like_javascript() {
        let scope = object(vec![
            ("a", Value::Number(3.0)),
            ("s", Value::from("Web-1")),
            ("empty", Value::from("")),
        ]);
        let cases = [
            ("${a + 2}", "5"),
            ("${'x' + a}", "x3"),
            ("${a > 2 && 'big' || 'small'}", "big"),
            ("${empty || 'fallback'}", "fallback"),
            ("${missing.deep.path}", ""),
            ("${!missing}", "true"),
            ("${a === 3 ? 'three' : 'other'}", "three"),
            ("${s.toLowerCase().replace('-', '_')}", "web_1"),
            ("${s.substring(0, 3)}${s.slice(-1)}", "Web1"),
            ("${s.split('-')[1]}", "1"),
            ("${s.padStart(7, '.')}", "..Web-1"),
            ("${\"a\\\"b\"}", "a\"b"),
            ("${s.length}", "5"),
            ("${(a - 1) * 2}", ""),
        ];
        for (source, want) in cases {
            match Template::compile(source) {
                Ok(t) => assert_eq!(t.render(&scope), want, "{source}"),
                Err(e) => assert_eq!(want, "", "{source}: {e}"),
            }
        }
    }

    #[test]
    fn unsafe_or_broken_templates_are_refused_at_compile_time() {
        for bad in [
            "${",
            "${a +}",
            "${'open}",
            "${a.constructor('x')()}",
            "${(((a}",
            "${a ? b}",
            "${a.eval()}",
        ] {
            assert!(Template::compile(bad).is_err(), "{bad}");
        }
        let deep = format!("${{{}a{}}}", "(".repeat(100), ")".repeat(100));
        assert!(Template::compile(&deep).is_err());
        assert!(Template::compile(&"x".repeat(MAX_TEMPLATE + 1)).is_err());
    }

    /// Found with the `template` fuzz target (`fuzz/regressions/template/`): a chain of operators
    /// or accesses nests one level per link without nesting in the text, so a template within
    /// `MAX_TEMPLATE` overflowed the stack when rendered (and when cloned or compared).
    #[test]
    fn long_chains_are_refused_and_the_longest_accepted_renders_on_a_small_stack() {
        let chains: [fn(usize) -> String; 6] = [
            |n: usize| vec!["a"; n].join(" + "),
            |n: usize| vec!["a"; n].join(" || "),
            |n: usize| vec!["a"; n].join(" == "),
            |n: usize| format!("a{}", ".b".repeat(n - 1)),
            |n: usize| format!("a{}", "[0]".repeat((n - 1) / 2)),
            |n: usize| format!("s{}", ".trim()".repeat(n - 1)),
        ];
        for chain in chains {
            let too_long = format!("${{{}}}", chain(MAX_OPERANDS + 1));
            assert!(Template::compile(&too_long).is_err(), "{too_long}");
            let longest = format!("${{{}}}", chain(MAX_OPERANDS));
            let template = Template::compile(&longest).unwrap();
            // Tokio's worker threads, where notifications render, have 2 MiB stacks.
            let rendered = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let scope = object(vec![("a", Value::from("x")), ("s", Value::from(" y "))]);
                    template.render(&scope)
                })
                .unwrap()
                .join();
            assert!(rendered.is_ok(), "{longest}");
        }
        // The template the fuzz target overflowed with: 8,151 additions.
        let deep = format!("${{{}a}}", "a+".repeat(8150));
        assert!(deep.len() <= MAX_TEMPLATE);
        let error = Template::compile(&deep).unwrap_err();
        assert!(error.message.contains("operands"), "{error}");
    }

    #[test]
    fn output_is_bounded() {
        let t = Template::compile("${'ab'.repeat(10000000)}${s.repeat(200000)}").unwrap();
        let scope = object(vec![("s", Value::from("xyz"))]);
        assert!(t.render(&scope).len() <= MAX_OUTPUT);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(source in ".{0,200}", s in ".{0,20}") {
            if let Ok(t) = Template::compile(&source) {
                let scope = object(vec![("s", Value::from(s.as_str())), ("n", Value::Number(1.5))]);
                let _ = t.render(&scope);
            }
        }

        #[test]
        fn expressions_never_panic(expr in "[a-z0-9.+\\-!?:()'\"\\[\\]&|=<> ]{0,60}") {
            if let Ok(t) = Template::compile(&format!("${{{expr}}}")) {
                let _ = t.render(&object(vec![("a", Value::Array(vec![Value::from("x")]))]));
            }
        }
    }
}
