//! `xregion regions`, `xregion instances`: what can be enrolled, and where.

use xregion_proto::xregion::v1 as pb;

use crate::api::{answer, Api};
use crate::args::EngineArg;
use crate::render::{self, Output};
use crate::views::{InstanceView, RegionView};

pub async fn regions(mut api: Api, out: Output) -> anyhow::Result<()> {
    let r = answer(api.list_regions(pb::ListRegionsRequest {}).await)?;
    let rows: Vec<RegionView> = r.regions.into_iter().map(Into::into).collect();
    render::list(&rows, out);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct InstancesArgs {
    #[arg(long, value_enum)]
    engine: EngineArg,
    #[arg(long)]
    region: String,
}

pub async fn instances(mut api: Api, args: InstancesArgs, out: Output) -> anyhow::Result<()> {
    let req = pb::ListEligibleInstancesRequest {
        engine: pb::Engine::from(args.engine).into(),
        source_region: args.region,
    };
    let r = answer(api.list_eligible_instances(req).await)?;
    let rows: Vec<InstanceView> = r.instances.into_iter().map(Into::into).collect();
    render::list(&rows, out);
    Ok(())
}
