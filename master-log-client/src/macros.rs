//! The [`event!`](crate::event) and [`mlog!`](crate::mlog) macros.

/// Builds an [`Event`](crate::Event) the way `print` builds a line: the values' `Display`
/// forms joined by a separator (one space unless `sep` says otherwise).
///
/// An optional head, ended by `;`, sets the severity (a bare lowercase
/// [`Severity`](crate::Severity) name such as `warn`; default `info`) and options as `name = value`. The options are
/// the [`Event`](crate::Event) setters (`title`, `tags`, `tag`, `metadata`, `ttl_seconds`,
/// `expires_at`, `created_at`, `echo`), plus `severity` (a [`Severity`](crate::Severity)),
/// `body` (replaces the rendered values), `sep` and `end` (appended to the body unless it is
/// `"\n"`).
///
/// ```
/// use master_log_client::{event, Severity};
/// use serde_json::json;
///
/// let (frame_id, target) = (42, "M31");
/// let e = event!("Captured frame", frame_id, "for", target);
/// assert_eq!(e.body(), "Captured frame 42 for M31");
/// assert_eq!(e.severity(), Severity::Info);
///
/// let e = event!(warn, tags = ["dome", "weather"], metadata = json!({"wind": 14.2}); "Wind", 14.2);
/// assert_eq!(e.severity(), Severity::Warn);
/// assert_eq!(e.body(), "Wind 14.2");
///
/// let e = event!(sep = ", ", end = "!"; "a", "b");
/// assert_eq!(e.body(), "a, b!");
/// ```
///
/// It expands to a block that fills a hidden draft, roughly
/// `{ let mut d = Draft::new(Severity::Warn); d.tags(["dome", "weather"]); d.finish(&[&"Wind", &14.2]) }`;
/// an unknown option is a "no method named ..." error.
#[macro_export]
macro_rules! event {
    ($level:ident $(, $key:ident = $value:expr)* ; $($arg:expr),* $(,)?) => {{
        let mut __mlc_draft =
            $crate::__private::Draft::new($crate::__private::level::$level());
        $( __mlc_draft.$key($value); )*
        __mlc_draft.finish(&[$( &$arg as &dyn ::core::fmt::Display ),*])
    }};
    ($($key:ident = $value:expr),+ ; $($arg:expr),* $(,)?) => {{
        let mut __mlc_draft = $crate::__private::Draft::new($crate::Severity::Info);
        $( __mlc_draft.$key($value); )+
        __mlc_draft.finish(&[$( &$arg as &dyn ::core::fmt::Display ),*])
    }};
    ($($arg:expr),* $(,)?) => {
        $crate::__private::Draft::new($crate::Severity::Info)
            .finish(&[$( &$arg as &dyn ::core::fmt::Display ),*])
    };
}

/// Logs through the default client: `mlog!(...)` is `master_log_client::log(event!(...))`,
/// a future to `.await` that resolves to `Result<`[`Receipt`](crate::Receipt)`>`.
///
/// Takes the same arguments as [`event!`](crate::event). To log through a particular
/// client, write `client.log(event!(...)).await`.
///
/// ```no_run
/// use master_log_client::mlog;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> master_log_client::Result<()> {
/// let (frame_id, target) = (42, "M31");
/// mlog!("Captured frame", frame_id, "for", target).await?;
/// mlog!(warn, tags = ["dome", "weather"]; "Dome slit wind threshold approaching").await?;
/// master_log_client::flush(std::time::Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! mlog {
    ($($tokens:tt)*) => {
        $crate::log($crate::event!($($tokens)*))
    };
}

/// Support for the macros; not public API.
#[doc(hidden)]
pub mod private {
    use std::fmt::{Display, Write as _};

    use serde_json::Value;

    use crate::event::{Event, Severity, Timestamp};

    /// Bare severity names accepted at the head of `event!`, one function per [`Severity`].
    pub mod level {
        macro_rules! level_fns {
            ($($variant:ident $name:ident $doc:literal;)*) => {$(
                #[doc = concat!("`", stringify!($name), "`")]
                pub fn $name() -> crate::event::Severity {
                    crate::event::Severity::$variant
                }
            )*};
        }
        crate::event::with_severities!(level_fns);
    }

    /// An event under construction by `event!`.
    #[derive(Debug)]
    pub struct Draft {
        event: Event,
        body: Option<String>,
        sep: String,
        end: String,
    }

    macro_rules! forward {
        ($($name:ident($ty:ty)),* $(,)?) => {$(
            /// Forwards to the [`Event`] setter of the same name.
            pub fn $name(&mut self, value: $ty) {
                self.event = std::mem::replace(&mut self.event, Event::info("")).$name(value);
            }
        )*};
    }

    impl Draft {
        /// A draft at `severity`.
        pub fn new(severity: Severity) -> Self {
            Draft {
                event: Event::new(severity, String::new()),
                body: None,
                sep: " ".to_owned(),
                end: "\n".to_owned(),
            }
        }

        forward!(ttl_seconds(u64), echo(bool));

        /// Sets the severity.
        pub fn severity(&mut self, severity: Severity) {
            self.event =
                std::mem::replace(&mut self.event, Event::info("")).with_severity(severity);
        }

        /// Sets the title.
        pub fn title(&mut self, title: impl Into<String>) {
            self.event = std::mem::replace(&mut self.event, Event::info("")).title(title);
        }

        /// Adds tags.
        pub fn tags<I>(&mut self, tags: I)
        where
            I: IntoIterator,
            I::Item: AsRef<str>,
        {
            self.event = std::mem::replace(&mut self.event, Event::info("")).tags(tags);
        }

        /// Adds a tag or a comma-separated list.
        pub fn tag(&mut self, tag: impl Into<String>) {
            self.event = std::mem::replace(&mut self.event, Event::info("")).tag(tag);
        }

        /// Sets the metadata.
        pub fn metadata(&mut self, metadata: impl Into<Value>) {
            self.event = std::mem::replace(&mut self.event, Event::info("")).metadata(metadata);
        }

        /// Sets `expires_at`.
        pub fn expires_at(&mut self, at: impl Into<Timestamp>) {
            self.event = std::mem::replace(&mut self.event, Event::info("")).expires_at(at);
        }

        /// Sets `created_at`.
        pub fn created_at(&mut self, at: impl Into<Timestamp>) {
            self.event = std::mem::replace(&mut self.event, Event::info("")).created_at(at);
        }

        /// Replaces the rendered values as the body.
        pub fn body(&mut self, body: impl Into<String>) {
            self.body = Some(body.into());
        }

        /// Sets the separator between values.
        pub fn sep(&mut self, sep: impl Into<String>) {
            self.sep = sep.into();
        }

        /// Sets the ending, appended unless it is a newline.
        pub fn end(&mut self, end: impl Into<String>) {
            self.end = end.into();
        }

        /// Renders the values and returns the event.
        pub fn finish(self, values: &[&dyn Display]) -> Event {
            let body = self.body.unwrap_or_else(|| {
                let mut text = String::new();
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        text.push_str(&self.sep);
                    }
                    // Writing into a String cannot fail.
                    let _ = write!(text, "{value}");
                }
                if self.end != "\n" {
                    text.push_str(&self.end);
                }
                text
            });
            self.event.with_body(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::Severity;

    #[test]
    fn values_are_joined_with_spaces() {
        let n = 3;
        let e = crate::event!("a", n, 4.5, 'c');
        assert_eq!(e.body(), "a 3 4.5 c");
        assert_eq!(e.severity(), Severity::Info);
        assert_eq!(crate::event!().body(), "");
    }

    #[test]
    fn head_sets_level_and_options() {
        let e = crate::event!(error, title = "T", tag = "x, y", ttl_seconds = 5; "boom");
        assert_eq!(e.severity(), Severity::Error);
        let v = e.to_json();
        assert_eq!(v["title"], "T");
        assert_eq!(v["tags"], json!(["x", "y"]));
        assert_eq!(v["ttl_seconds"], 5);
        let e = crate::event!(severity = Severity::Fatal, body = "explicit"; "ignored");
        assert_eq!(e.severity(), Severity::Fatal);
        assert_eq!(e.body(), "explicit");
    }

    #[test]
    fn newline_ending_is_not_appended_but_others_are() {
        assert_eq!(crate::event!(end = "\n"; "a").body(), "a");
        assert_eq!(crate::event!(sep = "-", end = "."; 1, 2).body(), "1-2.");
    }

    #[test]
    fn a_lone_variable_is_a_value_not_a_level() {
        let warn = "just text";
        assert_eq!(crate::event!(warn).body(), "just text");
        let (a, b) = (1, 2);
        assert_eq!(crate::event!(a, b).body(), "1 2");
    }
}
