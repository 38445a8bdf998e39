// Generates the etcd v3 API subset (proto/) with tonic-build. The .proto files are parsed by
// protox, in Rust, so that building needs no `protoc` on the machine.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(
        ["proto/rpc.proto", "proto/kv.proto", "proto/raftnode.proto"],
        ["proto"],
    )?;
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
