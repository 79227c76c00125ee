//! Parsing and validation of `#[trace(...)]` arguments. No code generation.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Token};

mod kw {
    syn::custom_keyword!(label);
    syn::custom_keyword!(logger);
    syn::custom_keyword!(slow_ms);
    syn::custom_keyword!(sample);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(args);
    syn::custom_keyword!(skip_all);
}

const EXPECTED: &str =
    "expected one of `label`, `logger`, `slow_ms`, `sample`, `tags`, `args`, `skip_all`";

/// The arguments of one `#[trace]` attribute.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub(crate) label: Option<LitStr>,
    pub(crate) logger: Option<Expr>,
    pub(crate) slow_ms: Option<f64>,
    pub(crate) sample: Option<f64>,
    /// `tags(key = literal, ..)`: the same on every call.
    pub(crate) tags: Option<Vec<ConstTag>>,
    /// `args(name, key = expr, ..)`: captured when each call starts.
    pub(crate) args: Option<Vec<ArgTag>>,
    /// `skip_all`: record no arguments (the default, said out loud).
    pub(crate) skip_all: Option<Span>,
}

/// One `key = literal` of `tags(..)`, its value as JSON text.
pub(crate) struct ConstTag {
    pub(crate) key: String,
    pub(crate) json: String,
}

/// One entry of `args(..)`: a parameter by name, or `key = expr`.
pub(crate) struct ArgTag {
    pub(crate) key: String,
    pub(crate) expr: Expr,
    /// Set for a bare parameter name, which must name a parameter.
    pub(crate) param: Option<Ident>,
}

/// A tag key: an identifier or a string literal (for keys like `"http.route"`).
struct Key {
    name: String,
    span: Span,
}

impl Parse for Key {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a tag key must not be empty"));
            }
            return Ok(Key {
                name: lit.value(),
                span: lit.span(),
            });
        }
        if input.peek(Ident::peek_any) {
            let ident = Ident::parse_any(input)?;
            return Ok(Key {
                name: ident.unraw().to_string(),
                span: ident.span(),
            });
        }
        Err(input.error("expected a tag key: an identifier or a string literal"))
    }
}

/// The keys seen so far in `tags(..)` and `args(..)` together.
#[derive(Default)]
struct Keys(Vec<String>);

impl Keys {
    fn insert(&mut self, key: &Key) -> syn::Result<()> {
        if self.0.contains(&key.name) {
            return Err(syn::Error::new(
                key.span,
                format!("duplicate tag key `{}`", key.name),
            ));
        }
        self.0.push(key.name.clone());
        Ok(())
    }
}

/// `key = literal`, one entry of `tags(..)`.
struct ConstEntry {
    key: Key,
    json: String,
}

impl Parse for ConstEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Key = input.parse()?;
        input.parse::<Token![=]>()?;
        let json = literal_json(input, &key.name)?;
        Ok(ConstEntry { key, json })
    }
}

/// `name` or `key = expr`, one entry of `args(..)`.
struct ArgEntry {
    key: Key,
    expr: Expr,
    param: Option<Ident>,
}

impl Parse for ArgEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Ident) && !input.peek2(Token![=]) {
            let ident: Ident = input.parse()?;
            if !(input.is_empty() || input.peek(Token![,])) {
                return Err(input.error(format!(
                    "expected `,` or `)` after `{ident}`; to record an expression write \
                     `args(key = EXPR)`"
                )));
            }
            return Ok(ArgEntry {
                key: Key {
                    name: ident.unraw().to_string(),
                    span: ident.span(),
                },
                expr: syn::parse_quote!(#ident),
                param: Some(ident),
            });
        }
        let key: Key = input.parse()?;
        input.parse::<Token![=]>()?;
        if input.is_empty() || input.peek(Token![,]) {
            return Err(input.error(format!(
                "expected an expression for `{}`, e.g. `{} = user.id`",
                key.name, key.name
            )));
        }
        let expr: Expr = input.parse()?;
        Ok(ArgEntry {
            key,
            expr,
            param: None,
        })
    }
}

/// A literal tag value (string, number, bool) as JSON text.
fn literal_json(input: ParseStream<'_>, key: &str) -> syn::Result<String> {
    let negative = input.peek(Token![-]);
    if negative {
        input.parse::<Token![-]>()?;
    }
    let not_literal = || {
        format!(
            "expected a literal (string, number or bool) for tag `{key}`; to record a value \
             computed per call use `args({key} = EXPR)`"
        )
    };
    if !input.peek(Lit) {
        let span = input.span();
        // Consume the expression so the error names it, not what follows.
        let _ = input.parse::<Expr>();
        return Err(syn::Error::new(span, not_literal()));
    }
    let lit: Lit = input.parse()?;
    let sign = if negative { "-" } else { "" };
    match &lit {
        Lit::Str(s) if !negative => Ok(json_string(&s.value())),
        Lit::Bool(b) if !negative => Ok(b.value.to_string()),
        Lit::Int(i) => {
            let v: i128 = format!("{sign}{}", i.base10_digits())
                .parse()
                .map_err(|_| syn::Error::new(i.span(), "integer out of range"))?;
            if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
                return Err(syn::Error::new(
                    i.span(),
                    "a tag integer must fit in an i64 or a u64",
                ));
            }
            Ok(v.to_string())
        }
        Lit::Float(f) => {
            let v: f64 = f.base10_parse()?;
            Ok(format!("{sign}{v:?}"))
        }
        _ => Err(syn::Error::new(lit.span(), not_literal())),
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The entries of `name(..)`, comma-separated.
fn list<T: Parse>(input: ParseStream<'_>) -> syn::Result<Punctuated<T, Token![,]>> {
    let content;
    syn::parenthesized!(content in input);
    Punctuated::parse_terminated(&content)
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
        let mut keys = Keys::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::label) {
                let key = input.parse::<kw::label>()?;
                input.parse::<Token![=]>()?;
                let value: Lit = input.parse()?;
                let Lit::Str(s) = value else {
                    return Err(syn::Error::new_spanned(
                        value,
                        "expected a string literal for `label`, e.g. `label = \"checkout\"`",
                    ));
                };
                if s.value().is_empty() {
                    return Err(syn::Error::new(s.span(), "`label` must not be empty"));
                }
                set(&mut args.label, s, key.span, "label")?;
            } else if lookahead.peek(kw::logger) {
                let key = input.parse::<kw::logger>()?;
                input.parse::<Token![=]>()?;
                let expr: Expr = input.parse()?;
                set(&mut args.logger, expr, key.span, "logger")?;
            } else if lookahead.peek(kw::slow_ms) {
                let key = input.parse::<kw::slow_ms>()?;
                input.parse::<Token![=]>()?;
                let value = number(input, "slow_ms")?;
                if value.0 < 0.0 {
                    return Err(syn::Error::new(value.1, "`slow_ms` must not be negative"));
                }
                set(&mut args.slow_ms, value.0, key.span, "slow_ms")?;
            } else if lookahead.peek(kw::sample) {
                let key = input.parse::<kw::sample>()?;
                input.parse::<Token![=]>()?;
                let value = number(input, "sample")?;
                if !(0.0..=1.0).contains(&value.0) {
                    return Err(syn::Error::new(
                        value.1,
                        "`sample` must be between 0 and 1 (a probability)",
                    ));
                }
                set(&mut args.sample, value.0, key.span, "sample")?;
            } else if lookahead.peek(kw::tags) {
                let key = input.parse::<kw::tags>()?;
                if !input.peek(syn::token::Paren) {
                    return Err(input.error("expected `tags(key = \"value\", ..)`"));
                }
                let mut tags = Vec::new();
                for entry in list::<ConstEntry>(input)? {
                    keys.insert(&entry.key)?;
                    tags.push(ConstTag {
                        key: entry.key.name,
                        json: entry.json,
                    });
                }
                set(&mut args.tags, tags, key.span, "tags")?;
            } else if lookahead.peek(kw::args) {
                let key = input.parse::<kw::args>()?;
                if !input.peek(syn::token::Paren) {
                    return Err(input.error("expected `args(name, key = EXPR, ..)`"));
                }
                let mut tags = Vec::new();
                for entry in list::<ArgEntry>(input)? {
                    keys.insert(&entry.key)?;
                    tags.push(ArgTag {
                        key: entry.key.name,
                        expr: entry.expr,
                        param: entry.param,
                    });
                }
                if let Some(skip) = args.skip_all {
                    return Err(conflict(skip));
                }
                set(&mut args.args, tags, key.span, "args")?;
            } else if lookahead.peek(kw::skip_all) {
                let key = input.parse::<kw::skip_all>()?;
                if args.args.is_some() {
                    return Err(conflict(key.span));
                }
                set(&mut args.skip_all, key.span, key.span, "skip_all")?;
            } else if input.peek(syn::Ident) {
                let ident: syn::Ident = input.parse()?;
                let hint = match ident.to_string().as_str() {
                    "skip" => {
                        " (`skip(..)` is not needed: `#[trace]` records no arguments \
                               unless `args(..)` names them)"
                    }
                    "fields" => {
                        " (`tracing`'s `fields(..)` is `tags(key = \"literal\")` for \
                                 constants or `args(key = EXPR)` for values computed per call)"
                    }
                    _ => "",
                };
                return Err(syn::Error::new(
                    ident.span(),
                    format!("unknown argument `{ident}`{hint}; {EXPECTED}"),
                ));
            } else {
                let mut err = lookahead.error();
                err.combine(syn::Error::new(input.span(), EXPECTED));
                return Err(err);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// `skip_all` with `args(..)`: reported at whichever came second.
fn conflict(at: Span) -> syn::Error {
    syn::Error::new(
        at,
        "`skip_all` and `args(..)` conflict: `skip_all` records no arguments",
    )
}

fn set<T>(slot: &mut Option<T>, value: T, key: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(key, format!("duplicate `{name}` argument")));
    }
    *slot = Some(value);
    Ok(())
}

/// An integer or float literal, optionally negative.
fn number(input: ParseStream<'_>, name: &str) -> syn::Result<(f64, Span)> {
    let negative = input.peek(Token![-]);
    if negative {
        input.parse::<Token![-]>()?;
    }
    let lit: Lit = input.parse()?;
    let span = lit.span();
    let value = match &lit {
        Lit::Int(i) => i.base10_parse::<f64>()?,
        Lit::Float(f) => f.base10_parse::<f64>()?,
        _ => {
            return Err(syn::Error::new(
                span,
                format!("expected a number for `{name}`, e.g. `{name} = 0.5`"),
            ));
        }
    };
    Ok((if negative { -value } else { value }, span))
}
