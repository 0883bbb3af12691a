//! The public gRPC API as tests call it: the client type, requests of
//! tenant A, and the status of a call that must fail.

use tonic::Code;
use xregion_proto::xregion::v1 as pb;

use crate::stack::{authed, TOKEN_A};

pub type Api = pb::cross_region_backup_service_client::CrossRegionBackupServiceClient<
    tonic::transport::Channel,
>;

/// `message` as tenant A sends it.
pub fn as_a<T>(message: T) -> tonic::Request<T> {
    authed(TOKEN_A, message)
}

/// CreateSyncService of MySQL `instance` from r1 to r2, with defaults.
pub fn create_request(instance: &str) -> pb::CreateSyncServiceRequest {
    pb::CreateSyncServiceRequest {
        engine: pb::Engine::Mysql as i32,
        source_instance_id: instance.into(),
        source_region: "r1".into(),
        target_region: "r2".into(),
        ..Default::default()
    }
}

/// The ids of the instances `token`'s tenant may enrol.
pub async fn eligible(
    api: &Api,
    token: &str,
    engine: pb::Engine,
    region: &str,
) -> anyhow::Result<Vec<String>> {
    let req = pb::ListEligibleInstancesRequest {
        engine: engine as i32,
        source_region: region.into(),
    };
    let listed = api
        .clone()
        .list_eligible_instances(authed(token, req))
        .await?;
    Ok(listed
        .into_inner()
        .instances
        .into_iter()
        .map(|i| i.id)
        .collect())
}

/// The code and message of a call that must fail; an error if it did not.
pub fn refused<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
) -> anyhow::Result<(Code, String)> {
    match r {
        Ok(v) => anyhow::bail!("expected an error, got {v:?}"),
        Err(s) => Ok((s.code(), s.message().to_string())),
    }
}
