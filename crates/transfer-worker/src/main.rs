fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-transfer-worker",
            about: "The xregion transfer-worker: moves backup bytes between regions.",
            flags: &[],
        },
        xregion_transfer_worker::run,
    )
}
