fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-cleanup",
            about: "The xregion cleanup: removes data in target regions.",
            flags: &[],
        },
        xregion_cleanup::run,
    )
}
