//! Code generation for `#[trace]`. Parsing lives in `attr.rs`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::attr::TraceArgs;

/// Checks that the item can be traced with these arguments.
pub(crate) fn validate(args: &TraceArgs, item: &ItemFn) -> syn::Result<()> {
    if let Some(constness) = &item.sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "`#[trace]` cannot be used on a `const fn`: tracing reads clocks at run time",
        ));
    }
    let params: Vec<String> = item
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.to_string()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    for arg in args.args.iter().flatten() {
        if let Some(param) = &arg.param
            && !params.contains(&param.to_string())
        {
            return Err(syn::Error::new(
                param.span(),
                format!(
                    "`{param}` is not a parameter of this function; to record an expression \
                     write `args({param} = EXPR)`"
                ),
            ));
        }
    }
    Ok(())
}

/// The `static` holding `tags(..)`, named `__SENTINEL_TAGS`.
fn gen_consts(args: &TraceArgs) -> Option<TokenStream> {
    let tags = args.tags.as_ref()?;
    let pairs = tags.iter().map(|t| {
        let (key, json) = (&t.key, &t.json);
        quote!((#key, #json))
    });
    Some(quote! {
        static __SENTINEL_TAGS: ::sentinel::__private::ConstTags =
            ::sentinel::__private::ConstTags::new(&[#(#pairs),*]);
    })
}

/// Records each of `args(..)` on the span, when it is recorded at all.
fn gen_capture(args: &TraceArgs) -> TokenStream {
    let Some(entries) = args.args.as_ref().filter(|a| !a.is_empty()) else {
        return TokenStream::new();
    };
    let records = entries.iter().map(|a| {
        let (key, expr) = (&a.key, &a.expr);
        quote_spanned! {expr.span()=>
            ::sentinel::__private::record_value(#key, {
                #[allow(unused_imports)]
                use ::sentinel::__private::tag_probe::*;
                (&&&TagProbe(&(#expr))).__sentinel_tag()
            });
        }
    });
    quote! {
        if ::sentinel::__private::recording() {
            #(#records)*
        }
    }
}

/// The whole traced function: signature, visibility, docs and other
/// attributes kept; the body wrapped.
pub(crate) fn gen_function(args: &TraceArgs, item: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let name = match &args.label {
        Some(label) => format!("{}[{}]", sig.ident, label.value()),
        None => sig.ident.to_string(),
    };
    let sample = args.sample.unwrap_or(1.0);
    let slow = match args.slow_ms {
        Some(ms) => quote!(#ms),
        None => quote!(::core::primitive::f64::INFINITY),
    };
    let ret = return_type(&sig.output);
    let body = if sig.asyncness.is_some() {
        gen_async_body(args, &name, sample, &slow, &ret, &block)
    } else {
        gen_sync_body(args, &name, sample, &slow, &ret, &block)
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// A guard as the first statement; the body runs in a closure so `return`
/// and `?` keep their meaning and a panic is seen (then resumed).
fn gen_sync_body(
    args: &TraceArgs,
    name: &str,
    sample: f64,
    slow: &TokenStream,
    ret: &Type,
    block: &syn::Block,
) -> TokenStream {
    let start = match &args.logger {
        Some(expr) => quote_spanned! {expr.span()=>
            ::sentinel::__private::SyncSpan::start_on(&(#expr), #name, #sample, #slow)
        },
        None => quote!(::sentinel::__private::SyncSpan::start(#name, #sample, #slow)),
    };
    let consts = gen_consts(args);
    let start = match &consts {
        Some(_) => quote!(#start.consts(&__SENTINEL_TAGS)),
        None => start,
    };
    let capture = gen_capture(args);
    quote_spanned! {block.span()=>
        #consts
        let __sentinel_span = #start;
        #capture
        #[allow(clippy::redundant_closure_call)]
        let __sentinel_ret = ::sentinel::__private::catch_unwind(
            ::sentinel::__private::AssertUnwindSafe(|| -> #ret #block),
        );
        match __sentinel_ret {
            ::core::result::Result::Ok(__sentinel_value) => {
                __sentinel_span.finish({
                    #[allow(unused_imports)]
                    use ::sentinel::__private::probe::*;
                    (&&&&Probe(&__sentinel_value)).__sentinel_error()
                });
                __sentinel_value
            }
            ::core::result::Result::Err(__sentinel_panic) => {
                __sentinel_span.finish_panic(&*__sentinel_panic);
                ::sentinel::__private::resume_unwind(__sentinel_panic)
            }
        }
    }
}

/// The body becomes `async move { body }` wrapped in an instrumenting future,
/// so no guard is held across `.await`.
fn gen_async_body(
    args: &TraceArgs,
    name: &str,
    sample: f64,
    slow: &TokenStream,
    ret: &Type,
    block: &syn::Block,
) -> TokenStream {
    // Pins the async block's output to the declared return type, so `?` and
    // bare `return` infer as in the original fn (as tracing-attributes does).
    let fake_return = quote_spanned! {block.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::let_unit_value,
            clippy::unreachable,
            clippy::let_with_type_underscore,
            clippy::empty_loop
        )]
        if false {
            let __sentinel_fake_return: #ret = loop {};
            return __sentinel_fake_return;
        }
    };
    let classify = quote! {
        |__sentinel_value: &_| {
            #[allow(unused_imports)]
            use ::sentinel::__private::probe::*;
            (&&&&Probe(__sentinel_value)).__sentinel_error()
        }
    };
    let capture = gen_capture(args);
    let inner = quote_spanned! {block.span()=>
        async move {
            #fake_return
            #capture
            #block
        }
    };
    let consts = gen_consts(args);
    let with_consts = match &consts {
        Some(_) => quote!(.consts(&__SENTINEL_TAGS)),
        None => TokenStream::new(),
    };
    match &args.logger {
        Some(expr) => {
            let logger = quote_spanned! {expr.span()=>
                let __sentinel_logger: &::sentinel::__private::AsyncLogger = &(#expr);
                let __sentinel_logger = ::core::clone::Clone::clone(__sentinel_logger);
            };
            quote! {
                #consts
                #logger
                ::sentinel::__private::Instrumented::function_on(
                    __sentinel_logger, #name, #sample, #slow, #classify, #inner,
                )#with_consts.await
            }
        }
        None => quote! {
            #consts
            ::sentinel::__private::Instrumented::function(
                #name, #sample, #slow, #classify, #inner,
            )#with_consts.await
        },
    }
}

/// The declared return type with every `impl Trait` replaced by `_`, usable as
/// a closure's or a `let`'s annotation.
fn return_type(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            ImplToInfer.visit_type_mut(&mut ty);
            ty
        }
    }
}

struct ImplToInfer;

impl VisitMut for ImplToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](it.span()),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
