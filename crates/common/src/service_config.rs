//! The shape of every service's configuration, written once: the common
//! sections flattened at the top level beside the service's own section.

/// Declares a service's configuration type: the common sections (`bus`,
/// `telemetry`, `http`, `regions`) flattened beside one section of its own,
/// and the [`crate::HasCommon`] impl the service host reads them through.
///
/// ```ignore
/// xregion_common::service_config! {
///     /// The watcher's configuration.
///     pub struct WatcherConfig { watcher: WatcherSettings }
/// }
/// ```
///
/// The calling crate needs `serde`; the section type brings its own defaults and its own
/// `deny_unknown_fields`, the loader checks the top level ([`crate::keys`]).
/// The type's limits stay in its own `Validate` impl: the common sections'
/// are checked by [`crate::load`] before it.
/// What the service host needs of any service's configuration.
pub trait HasCommon {
    fn common(&self) -> &crate::CommonConfig;
}

#[macro_export]
macro_rules! service_config {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $section:ident: $settings:ty $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        $vis struct $name {
            #[serde(flatten)]
            pub common: $crate::CommonConfig,
            pub $section: $settings,
        }

        impl $crate::HasCommon for $name {
            fn common(&self) -> &$crate::CommonConfig {
                &self.common
            }
        }
    };
}
