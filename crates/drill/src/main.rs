fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-drill",
            about: "The xregion drill role: restores each service's latest point from its target store alone, on a schedule.",
            flags: &[],
        },
        xregion_drill::run,
    )
}
