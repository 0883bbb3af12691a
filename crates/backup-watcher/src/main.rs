fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-backup-watcher",
            about: "The xregion backup-watcher: decides what must be copied.",
            flags: &[],
        },
        xregion_backup_watcher::run,
    )
}
