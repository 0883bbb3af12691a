//! The subcommands that use the tenant API: one `async fn` each, grouped by
//! what they are about. Each makes one or a few calls and renders a view.

pub mod backups;
pub mod regions;
pub mod services;
pub mod usage;
pub mod watch;
mod watch_bars;
mod watch_view;
