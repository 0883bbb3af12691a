//! `xregion usage`: what a service moved and stores, per day, and its price.

use xregion_proto::xregion::v1 as pb;

use crate::api::{answer, Api};
use crate::render::{self, say, Output};
use crate::views::UsageView;

pub async fn usage(mut api: Api, service_id: String, out: Output) -> anyhow::Result<()> {
    let req = pb::GetUsageRequest {
        service_id,
        from: None,
        to: None,
    };
    let u = UsageView::from(answer(api.get_usage(req).await)?);
    if out == Output::Json {
        render::json(&u);
        return Ok(());
    }
    render::list(&u.days, out);
    say!("plan {}: {:.2} {}", u.price_plan, u.amount, u.currency);
    Ok(())
}
