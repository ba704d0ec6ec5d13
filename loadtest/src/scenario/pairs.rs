//! 1:1 conversations between fresh sessions (`chat`, `history`, `baseline`).

use crate::api::Api;
use crate::run::Run;

/// Two sessions and their conversation.
pub struct Pair {
    pub a: String,
    pub b: String,
    pub token_a: String,
    pub token_b: String,
    pub conv: String,
}

/// `count` pairs of sessions named after the run, each with its 1:1 conversation.
pub async fn create(api: &Api, run: &Run, count: u32, quiet: bool) -> anyhow::Result<Vec<Pair>> {
    let names: Vec<String> = (0..count)
        .flat_map(|i| [format!("{}-p{i}a", run.id), format!("{}-p{i}b", run.id)])
        .collect();
    let tokens = super::tokens(api, &names, quiet).await?;
    let asks: Vec<(String, String)> = (0..count as usize)
        .map(|i| (tokens[2 * i].clone(), names[2 * i + 1].clone()))
        .collect();
    let convs = api.create_singles(&asks).await?;
    Ok(convs
        .into_iter()
        .enumerate()
        .map(|(i, conv)| Pair {
            a: names[2 * i].clone(),
            b: names[2 * i + 1].clone(),
            token_a: tokens[2 * i].clone(),
            token_b: tokens[2 * i + 1].clone(),
            conv,
        })
        .collect())
}
