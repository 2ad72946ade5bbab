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

/// The text of the first fenced code block of `section` (the Layout section's tree).
pub fn code_block(section: &str) -> &str {
    let Some(start) = section.find("```") else {
        return "";
    };
    let body = &section[start + 3..];
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    body.find("```").map_or(body, |end| &body[..end])
}

/// The entries of a layout tree: each line that starts in the first column opens an entry,
/// whose paths are written before the first run of two spaces (`src/main.rs, lib.rs`: a later
/// name is in the first one's folder); indented lines continue its description.
fn layout_entries(block: &str) -> Vec<(Vec<String>, String)> {
    let mut entries: Vec<(Vec<String>, String)> = Vec::new();
    for line in block.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some((_, text)) = entries.last_mut() {
                text.push(' ');
                text.push_str(line.trim());
            }
            continue;
        }
        let (head, text) = line.split_once("  ").unwrap_or((line, ""));
        let mut paths: Vec<String> = Vec::new();
        for name in head.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let path = match paths.first() {
                Some(first)
                    if !name.contains('/')
                        || name.ends_with('/') && !name[..name.len() - 1].contains('/') =>
                {
                    let folder = first.rsplit_once('/').map_or("", |(f, _)| f);
                    if folder.is_empty() {
                        name.to_string()
                    } else {
                        format!("{folder}/{name}")
                    }
                }
                _ => name.to_string(),
            };
            paths.push(path);
        }
        entries.push((paths, text.trim().to_string()));
    }
    entries
}

/// The words of a description that may name a file or folder (`matching.rs,` → `matching.rs`).
fn named(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
        .map(|w| w.trim_end_matches(['.', '-']))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Problems with the layout tree `block` for the repository at `root`: every path an entry
/// opens with must exist, and every module file of `src/` must be named: by an entry of its
/// own, or (as `name.rs`) in the entry of its folder; a deeper folder (`src/registry/query/`)
/// is named as `query/` in its parent's entry or by an entry of its own. `mod.rs` goes with its
/// folder's entry and `tests.rs` files (unit tests) are not asked for.
pub fn layout_problems(block: &str, root: &std::path::Path) -> Vec<String> {
    let entries = layout_entries(block);
    let mut problems = Vec::new();
    if entries.is_empty() {
        problems.push("the layout tree is empty".to_string());
    }
    for path in entries.iter().flat_map(|(paths, _)| paths) {
        if !root.join(path).exists() {
            problems.push(format!("{path} is in the layout but not in the repository"));
        }
    }
    let entry_of = |path: &str| {
        entries
            .iter()
            .find(|(paths, _)| paths.iter().any(|p| p == path))
    };
    let names = |folder: &str, name: &str| {
        entry_of(folder).is_some_and(|(_, text)| named(text).contains(&name))
    };
    let src = root.join("src");
    let mut queue = std::collections::VecDeque::from([src]);
    while let Some(dir) = queue.pop_front() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            problems.push(format!("{} cannot be read", dir.display()));
            continue;
        };
        let mut children: Vec<std::path::PathBuf> = read.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            let Ok(relative) = child.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            let Some(name) = child.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let (folder, _) = relative.rsplit_once('/').unwrap_or(("", ""));
            let depth = relative.matches('/').count();
            if child.is_dir() {
                let here = format!("{relative}/");
                if depth == 1 {
                    // src/hl7: an entry of its own
                    if entry_of(&here).is_none() {
                        problems.push(format!("{here} has no entry in the layout"));
                    }
                } else if depth == 2
                    && entry_of(&here).is_none()
                    && !names(&format!("{folder}/"), &format!("{name}/"))
                {
                    problems.push(format!(
                        "{here} is not named in the layout (as {name}/ in {folder}/)"
                    ));
                }
                if depth == 1 {
                    queue.push_back(child);
                }
                continue;
            }
            if !name.ends_with(".rs") || name == "tests.rs" {
                continue;
            }
            let shown = if depth == 1 {
                entry_of(&relative).is_some()
            } else {
                name == "mod.rs"
                    || entry_of(&relative).is_some()
                    || names(&format!("{folder}/"), &name)
                    || named(block).contains(&relative.as_str())
            };
            if !shown {
                problems.push(format!(
                    "{relative} is not named in the layout (as {name} in {folder}/)"
                ));
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

    #[test]
    fn the_layout_names_every_module_file_and_nothing_missing() {
        let readme = readme();
        let block = code_block(section(&readme, "Layout"));
        let problems = layout_problems(block, std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The layout checker finds a missing file, a file nobody names and a path that is gone.
    #[test]
    fn layout_drift_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in [
            "src/main.rs",
            "src/lib.rs",
            "src/a/mod.rs",
            "src/a/one.rs",
            "src/a/two.rs",
            "src/a/deep/x.rs",
            "src/a/tests.rs",
            "src/b.rs",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
            std::fs::write(&path, "").expect("file");
        }
        let block = "src/main.rs, lib.rs   the binary\n\
                     src/a/   module a: one.rs and\n           \
                     deep/ for the rest\n\
                     src/gone.rs  removed\n";
        assert_eq!(
            layout_problems(block, dir.path()),
            vec![
                "src/gone.rs is in the layout but not in the repository".to_string(),
                "src/b.rs is not named in the layout (as b.rs in src/)".to_string(),
                "src/a/two.rs is not named in the layout (as two.rs in src/a/)".to_string(),
            ]
        );
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
