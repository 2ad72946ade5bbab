//! `izport rules`: the validation rule catalogue (needs no database).

use clap::Args;

use crate::registry::validate::{render_rules, RulesFormat};

#[derive(Args, Debug)]
pub struct RulesArgs {
    /// A Markdown table instead of text
    #[arg(long)]
    pub markdown: bool,
}

pub fn run(args: RulesArgs) {
    let format = if args.markdown {
        RulesFormat::Markdown
    } else {
        RulesFormat::Text
    };
    print!("{}", render_rules(format));
}
