//! Checks that the README's tables say what the command-line parsers do: the commands table
//! against the subcommands and their flags, the configuration table against `serve`'s flags,
//! environment variables and defaults. Used by the tests of both binaries; returns every
//! problem found as a sentence (no panics), so a test can print them all.

use clap::Command;

/// The section of `readme` under the heading `## {title}` (to the next `## `).
pub fn section<'a>(readme: &'a str, title: &str) -> &'a str {
    let heading = format!("## {title}\n");
    let Some(start) = readme.find(&heading) else {
        return "";
    };
    let body = &readme[start + heading.len()..];
    match body.find("\n## ") {
        Some(end) => &body[..end],
        None => body,
    }
}

/// The cells of a Markdown table row (`\|` stays inside its cell).
fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(cell) = out.last_mut() {
                    cell.push('|');
                }
            }
            '|' => out.push(String::new()),
            c => {
                if let Some(cell) = out.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The `code` spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Table rows of a section (lines starting with `|`, the header and rule left out).
fn rows(section: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(cells)
        .filter(|c| c.first().is_some_and(|first| first.contains('`')))
}

fn find_sub<'c>(command: &'c Command, name: &str) -> Option<&'c Command> {
    command.get_subcommands().find(|s| s.get_name() == name)
}

fn has_flag(root: &Command, command: &Command, flag: &str) -> bool {
    let named = |a: &clap::Arg| match flag.strip_prefix("--") {
        Some(long) => a.get_long() == Some(long),
        None => flag
            .strip_prefix('-')
            .and_then(|s| s.chars().next())
            .is_some_and(|short| a.get_short() == Some(short)),
    };
    command.get_arguments().any(named)
        || root.get_arguments().any(|a| a.is_global_set() && named(a))
}

/// Every leaf subcommand path (`["org", "add"]`, …), `help` left out.
fn leaves(command: &Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let subs: Vec<&Command> = command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() && !prefix.is_empty() {
        out.push(prefix.to_vec());
    }
    for sub in subs {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        leaves(sub, &path, out);
    }
}

/// Problems with the rows of `table_section` that document `program` (rows whose first code
/// span starts with another program are someone else's): every command named must exist with
/// every flag written beside it, and every command of the parser must be in the table.
pub fn commands_table_problems(table_section: &str, program: &str, root: &Command) -> Vec<String> {
    let mut problems = Vec::new();
    let mut documented: Vec<Vec<String>> = Vec::new();
    for row in rows(table_section) {
        let spans = code_spans(&row[0]);
        let row_program = spans
            .first()
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("");
        if row_program != program {
            continue;
        }
        for span in spans {
            let words: Vec<&str> = span.split_whitespace().collect();
            let words = match words.first() {
                Some(first) if *first == program => &words[1..],
                _ => &words[..],
            };
            let mut command = root;
            let mut path = Vec::new();
            let mut rest = words.iter();
            for word in rest.by_ref() {
                match find_sub(command, word) {
                    Some(sub) => {
                        command = sub;
                        path.push(word.to_string());
                    }
                    None => {
                        if !command.has_subcommands() {
                            check_token(root, command, word, span, &mut problems);
                        } else {
                            problems.push(format!("`{span}`: `{word}` is not a subcommand"));
                        }
                        break;
                    }
                }
            }
            for word in rest {
                check_token(root, command, word, span, &mut problems);
            }
            if command.has_subcommands() {
                problems.push(format!("`{span}` names no command"));
            }
            documented.push(path);
        }
    }
    let mut all = Vec::new();
    leaves(root, &[], &mut all);
    for path in all {
        if !documented.contains(&path) {
            problems.push(format!(
                "`{program} {}` is not in the commands table",
                path.join(" ")
            ));
        }
    }
    problems
}

fn check_token(root: &Command, command: &Command, word: &str, span: &str, out: &mut Vec<String>) {
    let flag = word
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split('=')
        .next()
        .unwrap_or("");
    if flag.starts_with('-') && flag.len() > 1 && !has_flag(root, command, flag) {
        out.push(format!("`{span}`: {flag} is not a flag of this command"));
    }
}

/// Problems with the configuration table in `table_section` for the flags of `command` (and
/// the global flags of `root`): each flag written there must exist, with its environment
/// variable and its default as the parser has them, and each of the parser's flags must be
/// there.
pub fn configuration_table_problems(
    table_section: &str,
    root: &Command,
    command: &Command,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut documented = Vec::new();
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .chain(root.get_arguments().filter(|a| a.is_global_set()))
        .filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version"))
        .collect();
    for row in rows(table_section) {
        let (Some(env_cell), Some(default_cell)) = (row.get(1), row.get(2)) else {
            continue;
        };
        let env_spans = code_spans(env_cell);
        let default_spans = code_spans(default_cell);
        for flag in code_spans(&row[0]) {
            let Some(long) = flag.strip_prefix("--") else {
                continue;
            };
            let Some(arg) = args.iter().find(|a| a.get_long() == Some(long)) else {
                problems.push(format!("{flag} is not a flag of `{}`", command.get_name()));
                continue;
            };
            documented.push(long.to_string());
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                if !env_spans.contains(&env.as_ref()) {
                    problems.push(format!(
                        "{flag}: the table does not give its variable {env}"
                    ));
                }
            }
            for default in arg.get_default_values() {
                let default = default.to_string_lossy();
                if !default_spans.contains(&default.as_ref()) {
                    problems.push(format!(
                        "{flag}: the table does not give its default `{default}`"
                    ));
                }
            }
        }
    }
    for arg in args {
        if let Some(long) = arg.get_long() {
            if !documented.iter().any(|d| d == long) {
                problems.push(format!("--{long} is not in the configuration table"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn readme() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        std::fs::read_to_string(path).expect("the README")
    }

    #[test]
    fn the_parser_is_consistent() {
        super::super::Cli::command().debug_assert();
    }

    #[test]
    fn the_commands_table_matches_the_parser() {
        let readme = readme();
        let problems = commands_table_problems(
            section(&readme, "Commands"),
            "izport",
            &super::super::Cli::command(),
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_configuration_table_matches_serve() {
        let readme = readme();
        let root = super::super::Cli::command();
        let serve = root.find_subcommand("serve").expect("serve").clone();
        let problems =
            configuration_table_problems(section(&readme, "Configuration"), &root, &serve);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The checker finds what it is for: a table that drifted from a parser.
    #[test]
    fn drift_is_reported() {
        let root = Command::new("tool")
            .arg(clap::Arg::new("db").long("db").global(true))
            .subcommand(
                Command::new("serve").arg(
                    clap::Arg::new("port")
                        .long("port")
                        .env("TOOL_PORT")
                        .default_value("80"),
                ),
            )
            .subcommand(Command::new("org").subcommand(Command::new("add")));
        let commands = "| command | what |\n|---|---|\n\
                        | `tool serve --port N --db U` | ok |\n\
                        | `tool org add --name X` / `org remove` | drifted |\n\
                        | `other thing` | not ours |\n";
        let problems = commands_table_problems(commands, "tool", &root);
        assert_eq!(
            problems,
            vec![
                "`tool org add --name X`: --name is not a flag of this command".to_string(),
                "`org remove`: `remove` is not a subcommand".to_string(),
                "`org remove` names no command".to_string(),
            ]
        );
        let serve = root.find_subcommand("serve").expect("serve").clone();
        let config = "| flag | env | default | meaning |\n|---|---|---|---|\n\
                      | `--port` | `TOOL_PORTS` | `8080` | wrong |\n\
                      | `--gone` | | | removed |\n";
        assert_eq!(
            configuration_table_problems(config, &root, &serve),
            vec![
                "--port: the table does not give its variable TOOL_PORT".to_string(),
                "--port: the table does not give its default `80`".to_string(),
                "--gone is not a flag of `serve`".to_string(),
                "--db is not in the configuration table".to_string(),
            ]
        );
        assert!(commands_table_problems("", "tool", &root)
            .contains(&"`tool serve` is not in the commands table".to_string()));
    }
}
