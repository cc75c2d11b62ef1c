//! Tidy checks on the repository's own data.

use super::*;

fn repo_model() -> Model {
    Model::load(&DataDirs::under(&crate::repo_root())).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_platform_with_a_vm_image_names_one_that_boots_its_architecture() {
    let model = repo_model();
    for p in model.platforms.iter().filter(|p| p.vm_image.is_some()) {
        let image = &model.vm_images[p.vm_image.as_ref().unwrap()];
        let qemu_arch = image.qemu.trim_start_matches("qemu-system-");
        let ok = match p.arch.as_str() {
            "x86_64" => qemu_arch == "x86_64",
            "i686" => qemu_arch == "i386",
            "aarch64" => qemu_arch == "aarch64",
            "armv7" => qemu_arch == "arm",
            "powerpc64le" => qemu_arch == "ppc64",
            other => qemu_arch == other,
        };
        assert!(
            ok,
            "{} runs on {} but its image {} boots {}",
            p.id,
            p.arch,
            p.vm_image.as_ref().unwrap(),
            image.qemu
        );
        if let Some(d) = &image.debian {
            assert_eq!(
                Some(&d.arch),
                p.debian_arch.as_ref(),
                "{}: the image's Debian architecture",
                p.id
            );
        }
    }
}

#[test]
fn vm_image_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::repo_root();
    for sub in ["platforms", "matrix"] {
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let images = dir.path().join("vm-images");
    std::fs::create_dir_all(&images).unwrap();
    for e in std::fs::read_dir(root.join("vm-images")).unwrap() {
        let e = e.unwrap();
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        if e.file_name() == "openbsd.toml" {
            text = text.replace("session = \"openbsd\"\nprovision = { script = \"openbsd-install\", disk-gib = 8 }\ndownload = { url = \"https://cdn.openbsd.org/pub/OpenBSD/7.8/arm64/", "session = \"no-such-script\"\ndownload = { url = \"https://cdn.openbsd.org/pub/OpenBSD/7.8/arm64/");
            text.push_str("\n[script.empty-step]\nsteps = [{ timeout = \"1m\" }]\n");
        }
        std::fs::write(images.join(e.file_name()), text).unwrap();
    }
    let errors = Model::load(&DataDirs::under(dir.path()))
        .unwrap_err()
        .to_string();
    expect_test::expect![[r#"
        vm-images/openbsd.toml: key `script.empty-step.steps[0]`: needs `expect`, `send` or `wait-exit`
        vm-images/openbsd.toml: key `image.openbsd-7.8-arm64.session`: no script `no-such-script` in vm-images/ (`[script.no-such-script]`)"#]]
    .assert_eq(&errors);
}
