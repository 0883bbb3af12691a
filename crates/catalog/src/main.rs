fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-catalog",
            about: "The xregion catalog: the SQL catalog and its event outbox.",
            flags: &[],
        },
        xregion_catalog::run,
    )
}
