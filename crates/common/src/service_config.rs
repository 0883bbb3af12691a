//! The shape of every service's configuration, written once: the common
//! sections flattened at the top level beside the service's own section.

/// Declares a service's configuration type: the common sections (`bus`,
/// `telemetry`, `http`, `regions`) flattened beside one section of its own,
/// and the `xregion_runtime::HasCommon` impl the service host reads them
/// through.
///
/// ```ignore
/// xregion_common::service_config! {
///     /// The watcher's configuration.
///     pub struct WatcherConfig { watcher: WatcherSettings }
/// }
/// ```
///
/// The calling crate needs `serde` and `xregion_runtime` (every service
/// binary has both); the section type brings its own defaults and its own
/// `deny_unknown_fields`, the loader checks the top level ([`crate::keys`]).
/// The type's limits stay in its own `Validate` impl: the common sections'
/// are checked by [`crate::load`] before it.
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

        impl ::xregion_runtime::HasCommon for $name {
            fn common(&self) -> &$crate::CommonConfig {
                &self.common
            }
        }
    };
}
