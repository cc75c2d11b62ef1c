//! `cargo xtask vm-images`: the guest images of the VM lane — list them,
//! build or download them ahead of a run, and pin a downloaded image's checksum.

use anyhow::{bail, Context, Result};

use crate::model::{self, Model, VmImage};
use crate::vm::{bsd, debian, download};
use crate::{exit, BadInput};

/// The guest images of the VM lane (`vm-images/`).
///
/// Linux images are assembled from Debian packages; BSD images are
/// downloaded, checked against their pinned SHA-256 and provisioned once over
/// the serial console. Everything goes to the cache (`$XTASK_CACHE_DIR`, or
/// `~/.cache/vhu-matrix`); `cargo xtask matrix` builds what it needs itself.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR", global = true)]
    pub data: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Each image, where it comes from and what the cache holds of it.
    List,
    /// Build (Linux) or download and provision (BSD) images; ids may use `*`.
    Build {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Update the Debian package lists first (newer kernels and libraries make new images).
        #[arg(long)]
        refresh: bool,
    },
    /// Download an image into the cache and check it against its pinned checksum.
    Fetch {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Run test executables (any harness, built for the guest's target) in a
    /// guest and print their results: the VM lane without cargo.
    Run {
        #[arg(value_name = "ID")]
        id: String,
        /// Test executables; each is run with libtest's JSON arguments.
        #[arg(required = true, value_name = "EXE")]
        tests: Vec<std::path::PathBuf>,
        /// Binaries the tests run as siblings (MATRIX_BIN_DIR in the guest).
        #[arg(long = "bin", value_name = "EXE")]
        bins: Vec<std::path::PathBuf>,
        /// Stop the guest after this long.
        #[arg(long, default_value = "10m", value_parser = crate::model::matrix::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Download an image and record its SHA-256 in its `vm-images/` file,
    /// trusting the first download (TOFU): for releases newer than the
    /// official checksums the recipes pin.
    Pin {
        #[arg(value_name = "ID")]
        id: String,
        /// Replace a checksum that is already pinned.
        #[arg(long)]
        force: bool,
    },
    /// Unpack QEMU from the host release's backports suite into the cache
    /// (what the real-QEMU tests of vhost-user-input and -rng run; the
    /// host's own QEMU is left alone). `cargo xtask setup` runs this.
    QemuBackport,
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    let progress = |m: &str| eprintln!("  {m}");
    match args.command {
        Command::List => {
            for (id, image) in &model.vm_images {
                println!("{id:<28} {}", describe(id, image));
            }
            Ok(exit::OK)
        }
        Command::Build { ids, refresh } => {
            let chosen = select(&model, &ids)?;
            let mut failed = 0;
            for (id, image) in chosen {
                eprintln!("{id}:");
                let result = if image.debian.is_some() {
                    debian::build(id, image, refresh, &progress).map(|b| {
                        format!(
                            "kernel {}, {} modules, initramfs {} KiB, in {}",
                            b.meta.kernel_release,
                            b.meta.modules.len(),
                            b.meta.initrd_bytes / 1024,
                            b.dir.display()
                        )
                    })
                } else {
                    bsd::prepare(id, image, &progress)
                        .map(|d| format!("ready disk {}", d.path.display()))
                };
                match result {
                    Ok(what) => println!("{id}: {what}"),
                    Err(err) => {
                        failed += 1;
                        println!("{id}: FAILED: {err:#}");
                    }
                }
            }
            Ok(if failed > 0 { exit::FAILURES } else { exit::OK })
        }
        Command::QemuBackport => {
            let qemu = crate::vm::backport::install(&progress)?;
            println!("{}", qemu.binary.display());
            Ok(exit::OK)
        }
        Command::Fetch { id } => {
            let image = one(&model, &id)?;
            let src = image.download.as_ref().ok_or_else(|| {
                BadInput(format!(
                    "image `{id}` is built from Debian packages, not downloaded"
                ))
            })?;
            let pin = bsd::pin(&id, image).map_err(|e| {
                BadInput(format!(
                    "{e:#}; `cargo xtask vm-images pin {id}` records one, trusting the first download"
                ))
            })?;
            let (path, _) =
                download::fetch_pinned(&src.url, Some(&pin), &downloads_dir(), &progress)?;
            let verification = bsd::verify_signature(src, &pin, &path, &progress)?;
            println!("{id}: {} ({verification})", path.display());
            Ok(exit::OK)
        }
        Command::Run {
            id,
            tests,
            bins,
            timeout,
        } => {
            let image = one(&model, &id)?;
            let spec = crate::runner::vm::resolve_image(&id, image).map_err(|m| {
                anyhow::anyhow!(
                    "cannot boot {id}: {}{}",
                    m.reason,
                    m.enable
                        .map(|e| format!(" (enable: {e})"))
                        .unwrap_or_default()
                )
            })?;
            let tests: Vec<crate::vm::payload::Test> = tests
                .iter()
                .map(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("test");
                    // cargo names test executables `<target>-<hash>`.
                    let name = name
                        .rsplit_once('-')
                        .filter(|(_, h)| h.len() == 16)
                        .map(|(n, _)| n)
                        .unwrap_or(name);
                    crate::vm::payload::Test {
                        package: "payload".into(),
                        name: name.to_string(),
                        path: p.clone(),
                    }
                })
                .collect();
            let memory = crate::budget::Budget::new(crate::budget::default_memory_mib());
            let deadline = std::time::Instant::now() + timeout;
            let outcome =
                crate::lanes::vm::run_payload(&spec, &tests, &bins, deadline, &memory, &progress)?;
            let mut failed = 0;
            for run in &outcome.runs {
                for t in crate::libtest::parse(&run.package, &run.name, &run.stdout, run.ending) {
                    if matches!(
                        t.outcome,
                        crate::results::TestOutcome::Fail | crate::results::TestOutcome::Timeout
                    ) {
                        failed += 1;
                    }
                    println!(
                        "{:<10} {}::{}{}",
                        t.outcome_label(),
                        t.binary,
                        t.name,
                        t.duration_secs
                            .map(|d| format!(" ({d:.3}s)"))
                            .unwrap_or_default()
                    );
                }
            }
            for (k, v) in &outcome.details {
                println!("{k}: {v}");
            }
            if let Some((status, reason)) = &outcome.fault {
                println!("{status}: {reason}");
                if let Some(tail) = &outcome.console_tail {
                    println!("--- console tail ---\n{tail}");
                }
                return Ok(exit::FAILURES);
            }
            Ok(if failed > 0 { exit::FAILURES } else { exit::OK })
        }
        Command::Pin { id, force } => {
            let image = one(&model, &id)?;
            let src = image.download.as_ref().ok_or_else(|| {
                BadInput(format!(
                    "image `{id}` is built from Debian packages: nothing to pin"
                ))
            })?;
            if src.pin().is_some() && !force {
                return Err(BadInput(format!(
                    "image `{id}` already has a pinned checksum (use --force to replace it)"
                ))
                .into());
            }
            eprintln!(
                "{id}: trusting on first use: the SHA-256 of this download is recorded as the pin, \
                 with nothing official to check it against; prefer the checksum the OS project publishes"
            );
            let (path, sha) = download::fetch(&src.url, None, &downloads_dir(), &progress)?;
            let file = dirs.root.join(&image.source);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let pinned = pin_in_toml(&text, &id, &src.url, &sha)?;
            crate::paths::write_atomic(&file, pinned.as_bytes())?;
            // Keep the download where a pinned fetch looks for it.
            let verified = download::cached_path(&downloads_dir(), &src.url, &sha);
            if let Some(parent) = verified.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&path, &verified)
                .with_context(|| format!("cannot move the download to {}", verified.display()))?;
            println!(
                "{id}: sha256 {sha} recorded in {} (trusted on first use)",
                image.source
            );
            Ok(exit::OK)
        }
    }
}

fn downloads_dir() -> std::path::PathBuf {
    crate::paths::cache_dir().join("vm").join("downloads")
}

fn one<'m>(model: &'m Model, id: &str) -> Result<&'m VmImage> {
    model.vm_images.get(id).ok_or_else(|| {
        BadInput(format!(
            "no image `{id}` in vm-images/ (images: {})",
            model
                .vm_images
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()
    })
}

fn select<'m>(model: &'m Model, patterns: &[String]) -> Result<Vec<(&'m String, &'m VmImage)>> {
    let chosen: Vec<_> = model
        .vm_images
        .iter()
        .filter(|(id, _)| patterns.iter().any(|p| model::glob_match(p, id)))
        .collect();
    if chosen.is_empty() {
        bail!(BadInput(format!(
            "no image matches {}; `cargo xtask vm-images list` shows them",
            patterns.join(", ")
        )));
    }
    Ok(chosen)
}

fn describe(id: &str, image: &VmImage) -> String {
    if let Some(d) = &image.debian {
        let state = match debian::resolve_offline(id, image) {
            None => "package lists not fetched yet".to_string(),
            Some(r) => match debian::find_built(id, &r.key) {
                Some(b) => format!("built ({}, kernel {})", &r.key[..16], b.meta.kernel_release),
                None => format!("not built (would be {})", &r.key[..16]),
            },
        };
        format!(
            "debian {} {} linux-image-{}: {state}",
            d.suite, d.arch, d.kernel_flavour
        )
    } else {
        let state = if bsd::pinned(id, image).is_err() {
            "no pinned checksum".to_string()
        } else if bsd::find_ready(id, image).is_some() {
            "ready".to_string()
        } else if bsd::is_downloaded(id, image) {
            "downloaded, not provisioned".to_string()
        } else {
            "not downloaded".to_string()
        };
        let checks = image
            .download
            .as_ref()
            .and_then(|d| {
                let pin = d.pin()?;
                let signify = d
                    .signify
                    .as_ref()
                    .map(|s| format!(", signify {}", s.key_name))
                    .unwrap_or_default();
                Some(format!(" ({} pin{signify})", pin.algo.as_str()))
            })
            .unwrap_or_default();
        format!(
            "download {}: {state}{checks}",
            image
                .download
                .as_ref()
                .map(|d| d.url.as_str())
                .unwrap_or("")
        )
    }
}

/// Records `sha256` in the `download = { url = … }` line of `[image."<id>"]`,
/// leaving the rest of the file as it was.
pub fn pin_in_toml(text: &str, id: &str, url: &str, sha256: &str) -> Result<String> {
    let header = format!("[image.\"{id}\"]");
    let mut out = String::with_capacity(text.len() + 80);
    let mut in_section = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_section = trimmed.trim_end() == header;
        }
        if in_section
            && !done
            && trimmed.starts_with("download")
            && line.contains(&format!("url = \"{url}\""))
        {
            let new = if let Some(start) = line.find("sha256 = \"") {
                let value = start + "sha256 = \"".len();
                let end = line[value..]
                    .find('"')
                    .map(|e| value + e)
                    .context("unterminated sha256 value")?;
                format!("{}{sha256}{}", &line[..value], &line[end..])
            } else {
                line.replacen(
                    &format!("url = \"{url}\""),
                    &format!("url = \"{url}\", sha256 = \"{sha256}\""),
                    1,
                )
            };
            // A replaced SHA-512 pin goes: one pin per image.
            let new = match new.find(", sha512 = \"") {
                Some(start) => {
                    let value = start + ", sha512 = \"".len();
                    let end = new[value..]
                        .find('"')
                        .map(|e| value + e + 1)
                        .context("unterminated sha512 value")?;
                    format!("{}{}", &new[..start], &new[end..])
                }
                None => new,
            };
            out.push_str(&new);
            done = true;
            continue;
        }
        out.push_str(line);
    }
    if !done {
        bail!("cannot find `download = {{ url = \"{url}\" … }}` under {header} to record the checksum in");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_into_the_right_section_only() {
        let text = "\
[image.\"a\"]
qemu = \"q\"
download = { url = \"https://h.example/x.img\", format = \"raw\" }

[image.\"b\"]
download = { url = \"https://h.example/x.img\", sha256 = \"00\", format = \"raw\" }
";
        let a = pin_in_toml(text, "a", "https://h.example/x.img", "ab12").unwrap();
        expect_test::expect![[r#"
            [image."a"]
            qemu = "q"
            download = { url = "https://h.example/x.img", sha256 = "ab12", format = "raw" }

            [image."b"]
            download = { url = "https://h.example/x.img", sha256 = "00", format = "raw" }
        "#]]
        .assert_eq(&a);
        let b = pin_in_toml(text, "b", "https://h.example/x.img", "cd34").unwrap();
        assert!(b.contains("sha256 = \"cd34\""), "{b}");
        assert!(pin_in_toml(text, "c", "https://h.example/x.img", "ef").is_err());
    }

    #[test]
    fn a_forced_pin_replaces_a_sha512_pin() {
        let text = "[image.\"n\"]\ndownload = { url = \"https://h.example/n.iso\", sha512 = \"77\", format = \"raw\" }\n";
        let got = pin_in_toml(text, "n", "https://h.example/n.iso", "ab12").unwrap();
        assert_eq!(
            got,
            "[image.\"n\"]\ndownload = { url = \"https://h.example/n.iso\", sha256 = \"ab12\", format = \"raw\" }\n"
        );
    }
}
