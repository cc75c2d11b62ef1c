//! The xtask's architecture as a test: every module of `xtask/src` belongs to
//! one layer, and a module may import (`crate::…`) only from its own layer
//! or the layers below it. Subcommands are leaves: no module imports one
//! (only `main.rs` does, through `xtask::`). ARCHITECTURE.md says why each
//! layer is where it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Each top-level module of `xtask/src` (a file
/// `x.rs` or a directory `x/`) is named in exactly one of them; items of the
/// crate root (`lib.rs`: `BadInput`, `exit`, `repo_root`) are `lib`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "utilities",
        &["lib", "cmd", "paths", "digest", "host", "budget", "testing"],
    ),
    ("data", &["model", "results", "history"]),
    ("vocabulary", &["requirements"]),
    (
        "outside knowledge",
        &["apt", "elf", "platform_data", "vm", "workspace", "libtest"],
    ),
    ("resolution", &["toolchain", "runner", "plan"]),
    ("execution", &["lanes", "fingerprint", "exec", "progress"]),
    ("provisioning", &["needs"]),
    ("output", &["render"]),
    (
        "subcommands",
        &[
            "matrix",
            "report",
            "doctor",
            "setup",
            "test",
            "platforms",
            "msrv",
            "ci",
            "vm_images",
            "bench",
            "fuzz",
            "dist",
        ],
    ),
];

/// The layer whose modules nobody but `main.rs` imports.
const LEAVES: &str = "subcommands";

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// The top-level module a source file belongs to: `lanes/vm.rs` → `lanes`,
/// `exec.rs` → `exec`, `lib.rs` → `lib`; `None` for `main.rs` (the binary,
/// which sees the library from outside).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "main").then_some(name)
}

/// The file modules `lib.rs` declares (`pub mod x;`, `mod x;`).
fn declared_modules(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// Every `crate::<name>` a file names, with its 1-based line: plain paths
/// (`crate::apt::cache_root()`, `use crate::model::Model;`) and each member
/// of a group (`use crate::{exit, model::{self, Lane}};`), which may span
/// lines. Comment lines are left out.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    // Blank comment lines, keeping offsets (and so line numbers) intact.
    let code: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_start().starts_with("//") {
                " ".repeat(l.len() - 1) + if l.ends_with('\n') { "\n" } else { "" }
            } else {
                l.to_string()
            }
        })
        .collect();
    let line_at = |offset: usize| code[..offset].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find("crate::") {
        let at = from + pos;
        from = at + "crate::".len();
        // `xtask::crate::` cannot occur; `$crate::` is macro hygiene, not an import.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level members of the group, up to its closing brace.
            let mut depth = 0usize;
            let mut member_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        let member = &group[member_start..i];
                        let name = ident(member);
                        if !name.is_empty() {
                            let lead = member.len() - member.trim_start().len();
                            out.push((line_at(from + 1 + member_start + lead), name));
                        }
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let member = &group[member_start..i];
                        let name = ident(member);
                        if !name.is_empty() {
                            let lead = member.len() - member.trim_start().len();
                            out.push((line_at(from + 1 + member_start + lead), name));
                        }
                        member_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push((line_at(at), name));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import in `src` that breaks the layering, one message each, and
/// every top-level module that has no layer. Files are shown relative to `base`.
fn violations(src: &Path, base: &Path) -> Vec<String> {
    let lib_rs = std::fs::read_to_string(src.join("lib.rs"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.join("lib.rs").display()));
    let modules = declared_modules(&lib_rs);
    let mut out = Vec::new();
    for m in &modules {
        if layer_of(m).is_none() {
            out.push(format!(
                "module `{m}` (declared in lib.rs) has no layer: add it to LAYERS in {}",
                file!()
            ));
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let shown_file = file.strip_prefix(base).unwrap_or(&file).display();
        let Some(from) = module_of(src, &file) else {
            continue;
        };
        let Some((from_rank, from_layer)) = layer_of(&from) else {
            out.push(format!(
                "{shown_file}: module `{from}` has no layer: add it to LAYERS in {}",
                file!()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, name) in crate_paths(&text) {
            if name == from {
                continue;
            }
            // Names that are not file modules are the crate root's own items.
            let to = if modules.contains(&name) {
                name.as_str()
            } else {
                "lib"
            };
            let Some((to_rank, to_layer)) = layer_of(to) else {
                continue; // reported above
            };
            let shown = format!("{shown_file}:{line}");
            if to_rank > from_rank {
                out.push(format!(
                    "{shown}: `{from}` ({from_layer}) imports `crate::{name}` ({to_layer}), a higher layer"
                ));
            } else if to_layer == LEAVES && to != from {
                out.push(format!(
                    "{shown}: `{from}` imports the subcommand `crate::{name}`; subcommands are leaves that only main.rs uses"
                ));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_from_a_higher_layer_or_a_subcommand() {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(&xtask.join("src"), xtask.parent().unwrap());
    assert!(
        found.is_empty(),
        "{} layering violation{}:\n{}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        found.join("\n")
    );
}

#[test]
fn every_layer_names_modules_that_exist_and_none_twice() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared = declared_modules(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (layer, modules) in LAYERS {
        for m in *modules {
            assert!(
                *m == "lib" || declared.iter().any(|d| d == m),
                "LAYERS names `{m}` ({layer}), which lib.rs does not declare"
            );
            if let Some(other) = seen.insert(m, layer) {
                panic!("`{m}` is in two layers: {other} and {layer}");
            }
        }
    }
}

/// The checker itself finds an upward import (plain and inside a group), an
/// import of a subcommand, and a module without a layer.
#[test]
fn the_layer_check_reports_upward_imports_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("lanes")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod apt;\npub mod lanes;\npub mod plan;\npub mod report;\npub mod mystery;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("apt.rs"),
        "// crate::plan in a comment is not an import\nuse crate::cmd::Cmd;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("plan.rs"),
        "use crate::{\n    apt,\n    lanes::Payload,\n};\nfn f() { crate::report::write(); }\n",
    )
    .unwrap();
    std::fs::write(src.join("lanes/mod.rs"), "use crate::plan::Plan;\n").unwrap();
    std::fs::write(src.join("report.rs"), "use crate::lanes::run_cell;\n").unwrap();
    std::fs::write(src.join("mystery.rs"), "").unwrap();
    let found = violations(src, src);
    expect_test::expect![[r#"
        module `mystery` (declared in lib.rs) has no layer: add it to LAYERS in xtask/tests/it/layers.rs
        mystery.rs: module `mystery` has no layer: add it to LAYERS in xtask/tests/it/layers.rs
        plan.rs:3: `plan` (resolution) imports `crate::lanes` (execution), a higher layer
        plan.rs:5: `plan` (resolution) imports `crate::report` (subcommands), a higher layer"#]]
    .assert_eq(&found.join("\n"));
}
