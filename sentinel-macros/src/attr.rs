//! Parsing and validation of `#[trace(...)]` arguments. No code generation.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Lit, LitStr, Token};

mod kw {
    syn::custom_keyword!(label);
    syn::custom_keyword!(logger);
    syn::custom_keyword!(slow_ms);
    syn::custom_keyword!(sample);
}

const EXPECTED: &str = "expected one of `label`, `logger`, `slow_ms`, `sample`";

/// The arguments of one `#[trace]` attribute.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub(crate) label: Option<LitStr>,
    pub(crate) logger: Option<Expr>,
    pub(crate) slow_ms: Option<f64>,
    pub(crate) sample: Option<f64>,
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
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
            } else if input.peek(syn::Ident) {
                let ident: syn::Ident = input.parse()?;
                return Err(syn::Error::new(
                    ident.span(),
                    format!("unknown argument `{ident}`; {EXPECTED}"),
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
