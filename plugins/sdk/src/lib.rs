//! Write Threadline conversion plugins in Rust.
//!
//! A plugin is a WebAssembly component that exports one or more hooks of the
//! `threadline:plugin@0.2.0` WIT package (carried in this crate, `wit/`).
//! This crate binds the contract for you: one trait and one export macro per
//! hook, the chat a hook reads, typed settings, the workspace's clock,
//! logging, the built-in rules to start from, and a test harness that runs
//! a hook natively under plain `cargo test`. Plugin code never names
//! wit-bindgen:
//!
//! ```ignore
//! use threadline_plugin_sdk::{Chat, Context, Error, rules, setting, subject};
//!
//! struct Prefixed;
//!
//! impl subject::Hook for Prefixed {
//!     fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error> {
//!         let prefix: String = setting(ctx, "prefix")?.unwrap_or_else(|| "[Chat]".into());
//!         Ok(format!("{prefix} {}", rules::default_subject(chat)))
//!     }
//! }
//!
//! threadline_plugin_sdk::export_subject_hook!(Prefixed);
//! ```
//!
//! The hooks: [`subject`] (`export_subject_hook!`), [`transcript`]
//! (`export_transcript_hook!`), [`assignment`] (`export_assignment_hook!`),
//! [`summary`] (`export_summary_hook!`), [`fields`] (`export_fields_hook!`);
//! and [`describe`] (`export_describe!`), what the plugin says of itself
//! and its settings. [`http`] calls the hosts a workspace allowed (contract
//! 0.4.0; a plugin that never calls it does not import it). Build with
//! `threadline plugin build`, try with
//! `threadline plugin run`, install with `threadline plugin install`.

mod bindings {
    wit_bindgen::generate!({
        path: "wit/0.2.0",
        world: "threadline:plugin/sdk@0.2.0",
    });
}

mod chat;
pub mod http;
pub mod rules;
pub mod testing;

pub use bindings::threadline::plugin::clock::WallTime;
pub use bindings::threadline::plugin::types::{
    Agent, Author, Candidate, Context, Error, Message, SettingError, Visitor,
};
pub use chat::Chat;

#[doc(hidden)]
pub use bindings::threadline::plugin::{clock as __clock, log as __log, types as __types};

// The generated code names this crate by its name, from plugins and from
// inside it alike.
extern crate self as threadline_plugin_sdk;

/// The runtime the export macros' code calls, so that plugins need no
/// wit-bindgen dependency of their own.
#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

/// The bindings of one hook's world, sharing this crate's types.
macro_rules! hook_bindings {
    ($bindings:literal, $world:literal, $macro_name:literal) => {
        wit_bindgen::generate!({
            path: "wit/0.2.0",
            world: $world,
            with: {
                "threadline:plugin/types@0.2.0": crate::__types,
                "threadline:plugin/log@0.2.0": crate::__log,
                "threadline:plugin/clock@0.2.0": crate::__clock,
            },
            default_bindings_module: $bindings,
            pub_export_macro: true,
            export_macro_name: $macro_name,
            runtime_path: "threadline_plugin_sdk::__rt",
        });
    };
}

/// The subject a ticket gets when the agent leaves it blank: implement
/// `subject::Hook`, then `export_subject_hook!(YourType)`.
pub mod subject {
    use crate::{Chat, Context, Error};

    #[doc(hidden)]
    pub mod bindings {
        hook_bindings!(
            "threadline_plugin_sdk::subject::bindings",
            "threadline:plugin/subject-hook@0.2.0",
            "__export_subject_hook"
        );
    }

    pub trait Hook {
        /// At most 255 characters on one line.
        fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error>;
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Hook> bindings::exports::threadline::plugin::subject::Guest for Export<T> {
        fn default_subject(ctx: Context, chat: &crate::__types::Chat) -> Result<String, Error> {
            T::default_subject(&ctx, &Chat::lent(chat))
        }
    }
}

/// The ticket's description, made from the chat: implement
/// `transcript::Hook`, then `export_transcript_hook!(YourType)`.
pub mod transcript {
    use crate::{Chat, Context, Error};

    #[doc(hidden)]
    pub mod bindings {
        hook_bindings!(
            "threadline_plugin_sdk::transcript::bindings",
            "threadline:plugin/transcript-hook@0.2.0",
            "__export_transcript_hook"
        );
    }

    pub trait Hook {
        /// At most 1 MiB, without NUL characters.
        fn format(ctx: &Context, chat: &Chat) -> Result<String, Error>;
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Hook> bindings::exports::threadline::plugin::transcript::Guest for Export<T> {
        fn format(ctx: Context, chat: &crate::__types::Chat) -> Result<String, Error> {
            T::format(&ctx, &Chat::lent(chat))
        }
    }
}

/// Who gets the new ticket: implement `assignment::Hook`, then
/// `export_assignment_hook!(YourType)`.
pub mod assignment {
    use crate::{Agent, Candidate, Chat, Context, Error};

    #[doc(hidden)]
    pub mod bindings {
        hook_bindings!(
            "threadline_plugin_sdk::assignment::bindings",
            "threadline:plugin/assignment-hook@0.2.0",
            "__export_assignment_hook"
        );
    }

    pub trait Hook {
        /// The id of one of `candidates`; anything else is refused.
        fn assign(
            ctx: &Context,
            chat: &Chat,
            converting_agent: &Agent,
            candidates: &[Candidate],
        ) -> Result<String, Error>;
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Hook> bindings::exports::threadline::plugin::assignment::Guest for Export<T> {
        fn assign(
            ctx: Context,
            chat: &crate::__types::Chat,
            converting_agent: Agent,
            candidates: Vec<Candidate>,
        ) -> Result<String, Error> {
            T::assign(&ctx, &Chat::lent(chat), &converting_agent, &candidates)
        }
    }
}

/// The summary stored with a chat when it closes: implement
/// `summary::Hook`, then `export_summary_hook!(YourType)`.
pub mod summary {
    use crate::{Chat, Context, Error};

    #[doc(hidden)]
    pub mod bindings {
        hook_bindings!(
            "threadline_plugin_sdk::summary::bindings",
            "threadline:plugin/summary-hook@0.2.0",
            "__export_summary_hook"
        );
    }

    pub trait Hook {
        /// At most 10,000 characters; `None` when there is nothing to say.
        fn summarize(ctx: &Context, chat: &Chat) -> Result<Option<String>, Error>;
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Hook> bindings::exports::threadline::plugin::summary::Guest for Export<T> {
        fn summarize(ctx: Context, chat: &crate::__types::Chat) -> Result<Option<String>, Error> {
            T::summarize(&ctx, &Chat::lent(chat))
        }
    }
}

/// The new ticket's priority, tags and custom fields: implement
/// `fields::Hook`, then `export_fields_hook!(YourType)`.
pub mod fields {
    use crate::{Chat, Context, Error};

    #[doc(hidden)]
    pub mod bindings {
        hook_bindings!(
            "threadline_plugin_sdk::fields::bindings",
            "threadline:plugin/fields-hook@0.2.0",
            "__export_fields_hook"
        );
    }

    pub use bindings::exports::threadline::plugin::fields::{Priority, TicketFields};

    pub trait Hook {
        /// At most 20 tags and 20 custom fields; see the contract for their
        /// form.
        fn fields(ctx: &Context, chat: &Chat) -> Result<TicketFields, Error>;
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Hook> bindings::exports::threadline::plugin::fields::Guest for Export<T> {
        fn fields(ctx: Context, chat: &crate::__types::Chat) -> Result<TicketFields, Error> {
            T::fields(&ctx, &Chat::lent(chat))
        }
    }
}

/// What the plugin says of itself: name, version, hooks and the settings
/// it takes, read by the server at upload. Implement `describe::Describe`,
/// then `export_describe!(YourType)`.
pub mod describe {
    #[doc(hidden)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit/0.2.0",
            world: "threadline:plugin/describe-plugin@0.2.0",
            default_bindings_module: "threadline_plugin_sdk::describe::bindings",
            pub_export_macro: true,
            export_macro_name: "__export_describe",
            runtime_path: "threadline_plugin_sdk::__rt",
        });
    }

    pub use bindings::exports::threadline::plugin::describe::{Info, Setting, SettingKind};

    /// What a plugin says of itself. With [`export_plugin!`](crate::export_plugin)
    /// the name, version and hooks are filled in from the crate and the
    /// macro's hook list, so a plugin says only what else it has: its
    /// settings. Without settings, the default says nothing more.
    pub trait Describe {
        fn describe() -> Info {
            info("", "", &[])
        }
    }

    #[doc(hidden)]
    pub struct Export<T>(core::marker::PhantomData<T>);

    impl<T: Describe> bindings::exports::threadline::plugin::describe::Guest for Export<T> {
        fn describe() -> Info {
            T::describe()
        }
    }

    /// A description that says only which settings the plugin takes; with
    /// `export_plugin!` the rest is filled in.
    pub fn settings(settings: Vec<Setting>) -> Info {
        let mut info = info("", "", &[]);
        info.settings = settings;
        info
    }

    /// The plugin's name and version (pass `env!("CARGO_PKG_NAME")` and
    /// `env!("CARGO_PKG_VERSION")`) and the hooks it exports.
    pub fn info(name: &str, version: &str, hooks: &[&str]) -> Info {
        Info {
            name: name.into(),
            version: version.into(),
            hooks: hooks.iter().map(|h| h.to_string()).collect(),
            settings: Vec::new(),
        }
    }

    fn setting(key: &str, kind: SettingKind, default: Option<&str>, description: &str) -> Setting {
        Setting {
            key: key.into(),
            kind,
            default: default.map(str::to_owned),
            description: description.into(),
            choices: Vec::new(),
        }
    }

    pub fn text(key: &str, default: Option<&str>, description: &str) -> Setting {
        setting(key, SettingKind::Text, default, description)
    }

    pub fn integer(key: &str, default: Option<i64>, description: &str) -> Setting {
        setting(
            key,
            SettingKind::Integer,
            default.map(|d| d.to_string()).as_deref(),
            description,
        )
    }

    pub fn boolean(key: &str, default: Option<bool>, description: &str) -> Setting {
        setting(
            key,
            SettingKind::Boolean,
            default.map(|d| d.to_string()).as_deref(),
            description,
        )
    }

    pub fn choice(key: &str, choices: &[&str], default: Option<&str>, description: &str) -> Setting {
        Setting {
            choices: choices.iter().map(|c| c.to_string()).collect(),
            ..setting(key, SettingKind::Choice, default, description)
        }
    }
}

/// The value of `key` in the workspace's settings for this plugin.
pub fn config<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The setting `key` read as a `T` (a number, `true`/`false`, any
/// `FromStr` type): `Ok(None)` when it is not set, and an error naming the
/// setting when it does not read as one. Return that error from the hook
/// with `?`, and the operator sees which setting to fix:
///
/// ```ignore
/// let max: usize = setting(ctx, "max_chars")?.unwrap_or(80);
/// ```
pub fn setting<T: core::str::FromStr>(ctx: &Context, key: &str) -> Result<Option<T>, Error> {
    match config(ctx, key) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
            let wanted = core::any::type_name::<T>().rsplit("::").next().unwrap_or("value");
            Error::Setting(SettingError {
                key: key.into(),
                reason: format!("{raw:?} is not a valid {wanted}"),
            })
        }),
    }
}

/// `at` (milliseconds since the epoch) on the workspace's wall clock, with
/// the zone's offset at that moment (so right on both sides of a
/// daylight-saving change). Under `cargo test`, where there is no server,
/// the zone is UTC.
pub fn local_time(at: i64) -> WallTime {
    #[cfg(target_arch = "wasm32")]
    {
        bindings::threadline::plugin::clock::local_time(at)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        testing::utc_wall_time(at)
    }
}

/// Logs a line through the host (kept with the workspace, plugin and
/// hook); under `cargo test`, on standard error.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit(__log::Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit(__log::Level::Warn, message, fields);
}

fn emit(level: __log::Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        __log::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?} {message} {fields:?}");
}

// The export macros, at the crate root where plugins call them. Built for
// the host (a plugin's own `cargo test`) they export nothing: there is no
// component to export to, and the hook's logic is tested as a function.

/// Exports a type implementing `subject::Hook` as the component's subject hook.
#[macro_export]
macro_rules! export_subject_hook {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::subject::Export<$ty>;
            $crate::subject::bindings::__export_subject_hook!(__ThreadlineExport);
        };
    };
}

/// Exports a type implementing `transcript::Hook` as the component's transcript hook.
#[macro_export]
macro_rules! export_transcript_hook {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::transcript::Export<$ty>;
            $crate::transcript::bindings::__export_transcript_hook!(__ThreadlineExport);
        };
    };
}

/// Exports a type implementing `assignment::Hook` as the component's assignment hook.
#[macro_export]
macro_rules! export_assignment_hook {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::assignment::Export<$ty>;
            $crate::assignment::bindings::__export_assignment_hook!(__ThreadlineExport);
        };
    };
}

/// Exports a type implementing `summary::Hook` as the component's summary hook.
#[macro_export]
macro_rules! export_summary_hook {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::summary::Export<$ty>;
            $crate::summary::bindings::__export_summary_hook!(__ThreadlineExport);
        };
    };
}

/// Exports a type implementing `fields::Hook` as the component's fields hook.
#[macro_export]
macro_rules! export_fields_hook {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::fields::Export<$ty>;
            $crate::fields::bindings::__export_fields_hook!(__ThreadlineExport);
        };
    };
}

/// Exports a plugin: each hook it names (the type implements that hook's
/// `Hook` trait) and its `describe`, whose name, version and hook list are
/// filled in here from the crate and the hooks named, so they cannot
/// disagree with what the component exports. The type implements
/// `describe::Describe` for its settings (the default says none).
///
/// ```ignore
/// threadline_plugin_sdk::export_plugin!(Plugin, hooks: [subject, fields]);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty, hooks: [$($hook:ident),+ $(,)?]) => {
        $( $crate::__export_hook!($hook, $ty); )+
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __ThreadlineDescribe;
            impl $crate::describe::Describe for __ThreadlineDescribe {
                fn describe() -> $crate::describe::Info {
                    let mut info = <$ty as $crate::describe::Describe>::describe();
                    if info.name.is_empty() {
                        info.name = env!("CARGO_PKG_NAME").into();
                    }
                    if info.version.is_empty() {
                        info.version = env!("CARGO_PKG_VERSION").into();
                    }
                    info.hooks = ::std::vec![$(::std::string::String::from(stringify!($hook))),+];
                    info
                }
            }
            type __ThreadlineExport = $crate::describe::Export<__ThreadlineDescribe>;
            $crate::describe::bindings::__export_describe!(__ThreadlineExport);
        };
    };
}

/// One hook of [`export_plugin!`], by its name in the contract.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hook {
    (subject, $ty:ty) => {
        $crate::export_subject_hook!($ty);
    };
    (transcript, $ty:ty) => {
        $crate::export_transcript_hook!($ty);
    };
    (assignment, $ty:ty) => {
        $crate::export_assignment_hook!($ty);
    };
    (summary, $ty:ty) => {
        $crate::export_summary_hook!($ty);
    };
    (fields, $ty:ty) => {
        $crate::export_fields_hook!($ty);
    };
}

/// Exports a type implementing `describe::Describe`: what the server shows
/// of the plugin and checks its settings against.
#[macro_export]
macro_rules! export_describe {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ThreadlineExport = $crate::describe::Export<$ty>;
            $crate::describe::bindings::__export_describe!(__ThreadlineExport);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::{Error, config, local_time, setting, testing};

    #[test]
    fn settings_read_as_text_or_as_typed_values() {
        let ctx = testing::context(&[
            ("prefix", "[VIP]"),
            ("max_chars", " 80 "),
            ("loud", "true"),
            ("bad", "eighty"),
        ]);
        assert_eq!(config(&ctx, "prefix"), Some("[VIP]"));
        assert_eq!(setting::<usize>(&ctx, "max_chars").ok(), Some(Some(80)));
        assert_eq!(setting::<bool>(&ctx, "loud").ok(), Some(Some(true)));
        assert_eq!(setting::<usize>(&ctx, "missing").ok(), Some(None));
        match setting::<usize>(&ctx, "bad") {
            Err(Error::Setting(e)) => assert!(e.key == "bad" && e.reason.contains("usize"), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn native_local_time_is_utc() {
        let t = local_time(testing::STARTED_AT_MS);
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute), (2026, 11, 25, 10, 0));
        assert_eq!(t.utc_offset_minutes, 0);
    }

    #[test]
    fn a_test_chat_reads_in_ranges() {
        let chat = testing::chat(
            "Ada",
            None,
            &[
                (super::Author::Visitor, "Ada", "one"),
                (super::Author::Agent, "Bob", "two"),
                (super::Author::Visitor, "Ada", "three"),
            ],
        );
        assert_eq!(chat.message_count(), 3);
        let bodies: Vec<String> = chat.messages(1, 5).into_iter().map(|m| m.body).collect();
        assert_eq!(bodies, ["two", "three"]);
        assert!(chat.messages(9, 1).is_empty());
        assert_eq!(chat.all_messages().len(), 3);
        assert_eq!(chat.first_visitor_message().unwrap().body, "one");
    }
}
