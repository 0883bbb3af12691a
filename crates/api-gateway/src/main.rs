fn main() -> std::process::ExitCode {
    xregion_runtime::service_main(
        xregion_runtime::Binary {
            name: "xregion-api-gateway",
            about: "The xregion gRPC gateway.",
            flags: &[
                xregion_runtime::Flag {
                    long: "grpc-listen",
                    key: "gateway.listen",
                    help: "gRPC listen address (overrides `gateway.listen`)",
                },
                xregion_runtime::Flag {
                    long: "dashboard-listen",
                    key: "gateway.dashboard_listen",
                    help: "web dashboard listen address, empty for none \
                           (overrides `gateway.dashboard_listen`)",
                },
            ],
        },
        xregion_api_gateway::run,
    )
}
