//! Generates the contracts from `proto/` with a vendored protoc, so building
//! never needs a system protoc.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "rds/v1/events.proto",
        "xregion/v1/types.proto",
        "xregion/v1/events.proto",
        "xregion/v1/catalog.proto",
        "xregion/v1/api.proto",
    ]
    .map(|f| root.join(f));
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_build::configure()
        .file_descriptor_set_path(out.join("xregion_descriptor.bin"))
        .compile_protos(&files, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
