//! What an executable says it is: its ELF header, interpreter and ABI note,
//! read back after every build and compared with what the cell's target
//! triple demands, so that a binary linked for the wrong OS, architecture or
//! float ABI fails its cell instead of reaching a test runner.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadCache, ReadRef};
use target_lexicon::{Architecture, Environment, OperatingSystem, PointerWidth, Triple};

/// The facts of one ELF file that matter for running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub bits: u8,
    pub big_endian: bool,
    pub machine: u16,
    pub os_abi: u8,
    pub flags: u32,
    /// `PT_INTERP`: the dynamic loader the kernel starts.
    pub interpreter: Option<String>,
    /// The OS ABI note (`FreeBSD`, `NetBSD`, `OpenBSD`, or GNU's ABI tag).
    pub abi_note: Option<AbiNote>,
}

/// An ABI tag note: which OS the executable was linked for, and from which release on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiNote {
    /// `freebsd`, `netbsd`, `openbsd`, `linux`: target-lexicon's names.
    pub os: &'static str,
    /// The release it needs, when the note says (`14.0`; Linux: the minimum kernel).
    pub version: Option<(u32, u32)>,
    /// The note's raw value, as the OS defines it (`__FreeBSD_version` …).
    pub raw: String,
}

impl Identity {
    /// Reads the headers of the file at `path` (only the bytes needed, not the whole file).
    pub fn read(path: &Path) -> Result<Identity> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let cache = ReadCache::new(file);
        Identity::parse(&cache)
            .with_context(|| format!("{} is not a readable ELF executable", path.display()))
    }

    pub fn parse<'data, R: ReadRef<'data>>(data: R) -> Result<Identity> {
        let ident = data
            .read_bytes_at(0, 16)
            .map_err(|()| anyhow::anyhow!("shorter than an ELF identification"))?;
        if ident[..4] != elf::ELFMAG {
            anyhow::bail!("no ELF magic number");
        }
        // e_ident[EI_CLASS]: the header layout depends on it.
        match ident[4] {
            elf::ELFCLASS32 => parse_as::<elf::FileHeader32<Endianness>, R>(data),
            elf::ELFCLASS64 => parse_as::<elf::FileHeader64<Endianness>, R>(data),
            other => anyhow::bail!("unknown ELF class {other}"),
        }
    }

    /// The OS this file says it is for, and what says so (note, OS ABI byte, interpreter).
    pub fn os_evidence(&self) -> Vec<(&'static str, &'static str)> {
        let mut evidence = Vec::new();
        if let Some(note) = &self.abi_note {
            evidence.push(("ABI note", note.os));
        }
        let by_abi = match self.os_abi {
            elf::ELFOSABI_FREEBSD => Some("freebsd"),
            elf::ELFOSABI_NETBSD => Some("netbsd"),
            elf::ELFOSABI_OPENBSD => Some("openbsd"),
            elf::ELFOSABI_GNU => Some("linux"),
            _ => None,
        };
        if let Some(os) = by_abi {
            evidence.push(("OS ABI", os));
        }
        if let Some(os) = self.interpreter.as_deref().and_then(interpreter_os) {
            evidence.push(("interpreter", os));
        }
        evidence
    }

    /// As stored with the cell's artifact.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        map.insert("class".into(), format!("ELF{}", self.bits));
        map.insert(
            "endian".into(),
            if self.big_endian { "big" } else { "little" }.into(),
        );
        map.insert("machine".into(), machine_name(self.machine).into());
        map.insert("os-abi".into(), os_abi_name(self.os_abi));
        if self.flags != 0 {
            map.insert("flags".into(), format!("{:#x}", self.flags));
        }
        if let Some(interp) = &self.interpreter {
            map.insert("interpreter".into(), interp.clone());
        }
        if let Some(note) = &self.abi_note {
            map.insert("abi-note".into(), note.describe());
        }
        if let Some((_, os)) = self.os_evidence().first() {
            map.insert("os".into(), (*os).into());
        }
        map
    }
}

impl AbiNote {
    /// `FreeBSD 14.0 (1400097)`, `OpenBSD`, `Linux ≥ 3.2.0`.
    pub fn describe(&self) -> String {
        let name = os_display(self.os);
        match (self.os, self.version) {
            ("linux", Some(_)) => format!("{name} ≥ {}", self.raw),
            (_, Some((major, minor))) => format!("{name} {major}.{minor} ({})", self.raw),
            _ => name.to_string(),
        }
    }
}

fn parse_as<'data, H: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
) -> Result<Identity> {
    let header = H::parse(data).map_err(|e| anyhow::anyhow!("bad ELF header: {e}"))?;
    let endian = header
        .endian()
        .map_err(|e| anyhow::anyhow!("bad ELF header: {e}"))?;
    let mut identity = Identity {
        bits: if header.is_type_64() { 64 } else { 32 },
        big_endian: header.is_big_endian(),
        machine: header.e_machine(endian),
        os_abi: header.e_ident().os_abi,
        flags: header.e_flags(endian),
        interpreter: None,
        abi_note: None,
    };
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|e| anyhow::anyhow!("bad program headers: {e}"))?;
    for ph in phdrs {
        if let Some(interp) = ph
            .interpreter(endian, data)
            .map_err(|e| anyhow::anyhow!("bad PT_INTERP: {e}"))?
        {
            identity.interpreter = Some(String::from_utf8_lossy(interp).into_owned());
        }
        let Some(mut notes) = ph
            .notes(endian, data)
            .map_err(|e| anyhow::anyhow!("bad PT_NOTE: {e}"))?
        else {
            continue;
        };
        while let Some(note) = notes.next().map_err(|e| anyhow::anyhow!("bad note: {e}"))? {
            if identity.abi_note.is_none() {
                identity.abi_note = abi_note(
                    note.name(),
                    note.n_type(endian),
                    note.desc(),
                    identity.big_endian,
                );
            }
        }
    }
    Ok(identity)
}

fn abi_note(name: &[u8], kind: u32, desc: &[u8], big_endian: bool) -> Option<AbiNote> {
    let word = |i: usize| -> Option<u32> {
        let bytes: [u8; 4] = desc.get(i * 4..i * 4 + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    // Each OS's ABI tag is note type 1 under its own name; other notes
    // (NetBSD's PaX and MARCH, GNU's build id and properties) are not about the OS.
    if kind != 1 {
        return None;
    }
    match name {
        b"FreeBSD" => {
            let v = word(0)?;
            Some(AbiNote {
                os: "freebsd",
                version: Some((v / 100_000, (v / 1000) % 100)),
                raw: v.to_string(),
            })
        }
        b"NetBSD" => {
            let v = word(0)?;
            Some(AbiNote {
                os: "netbsd",
                version: Some((v / 100_000_000, (v / 1_000_000) % 100)),
                raw: v.to_string(),
            })
        }
        b"OpenBSD" => Some(AbiNote {
            os: "openbsd",
            version: None,
            raw: word(0).unwrap_or(0).to_string(),
        }),
        b"GNU" if word(0)? == elf::ELF_NOTE_OS_LINUX => {
            let (major, minor, patch) = (word(1)?, word(2)?, word(3)?);
            Some(AbiNote {
                os: "linux",
                version: Some((major, minor)),
                raw: format!("{major}.{minor}.{patch}"),
            })
        }
        _ => None,
    }
}

/// The OS a dynamic loader path belongs to, for the loaders this project meets.
fn interpreter_os(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match path {
        "/libexec/ld-elf.so.1" | "/libexec/ld-elf32.so.1" => Some("freebsd"),
        "/usr/libexec/ld.elf_so" | "/libexec/ld.elf_so" => Some("netbsd"),
        "/usr/libexec/ld.so" => Some("openbsd"),
        _ if (path.starts_with("/lib")
            && (name.starts_with("ld-linux")
                || name.starts_with("ld64.so")
                || name == "ld.so.1"))
            || name.starts_with("ld-musl-") =>
        {
            Some("linux")
        }
        _ => None,
    }
}

/// What an executable for a target must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub bits: u8,
    pub big_endian: bool,
    pub machine: u16,
    /// target-lexicon's name of the OS.
    pub os: String,
    /// ARM: whether the hard-float ABI flag must be set (`gnueabihf`) or clear.
    pub arm_hard_float: Option<bool>,
}

impl Expected {
    pub fn for_target(target: &str) -> Result<Expected> {
        let triple: Triple = target
            .parse()
            .map_err(|e| anyhow::anyhow!("`{target}` is not a target triple: {e}"))?;
        Expected::for_triple(&triple)
    }

    pub fn for_triple(triple: &Triple) -> Result<Expected> {
        let machine = match triple.architecture {
            Architecture::X86_64 | Architecture::X86_64h => elf::EM_X86_64,
            Architecture::X86_32(_) => elf::EM_386,
            Architecture::Aarch64(_) => elf::EM_AARCH64,
            Architecture::Arm(_) => elf::EM_ARM,
            Architecture::Powerpc => elf::EM_PPC,
            Architecture::Powerpc64 | Architecture::Powerpc64le => elf::EM_PPC64,
            Architecture::S390x => elf::EM_S390,
            Architecture::Mips32(_) | Architecture::Mips64(_) => elf::EM_MIPS,
            Architecture::Riscv32(_) | Architecture::Riscv64(_) => elf::EM_RISCV,
            Architecture::Sparc64 | Architecture::Sparcv9 => elf::EM_SPARCV9,
            Architecture::LoongArch64 => elf::EM_LOONGARCH,
            other => anyhow::bail!("no ELF machine known for architecture {other}"),
        };
        let bits = match triple.pointer_width() {
            Ok(PointerWidth::U64) => 64,
            Ok(PointerWidth::U32) => 32,
            _ => anyhow::bail!("no ELF class known for {triple}"),
        };
        // x32 and other ILP32 ABIs on 64-bit machines keep 32-bit ELF files.
        let big_endian = matches!(triple.endianness(), Ok(target_lexicon::Endianness::Big));
        let os = match triple.operating_system {
            OperatingSystem::Linux
            | OperatingSystem::Freebsd
            | OperatingSystem::Netbsd
            | OperatingSystem::Openbsd => triple.operating_system.to_string(),
            other => anyhow::bail!("no ELF identification known for OS {other}"),
        };
        let arm_hard_float = matches!(triple.architecture, Architecture::Arm(_)).then(|| {
            matches!(
                triple.environment,
                Environment::Gnueabihf | Environment::Musleabihf | Environment::Eabihf
            )
        });
        Ok(Expected {
            bits,
            big_endian,
            machine,
            os,
            arm_hard_float,
        })
    }

    /// Every way `identity` differs from this expectation; empty when it fits.
    /// `release` is the platform's release (`14.3`): an executable that needs
    /// a newer FreeBSD or NetBSD than that would not start there.
    pub fn mismatches(&self, identity: &Identity, release: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        if identity.bits != self.bits {
            out.push(format!(
                "ELF{} where ELF{} was expected",
                identity.bits, self.bits
            ));
        }
        if identity.big_endian != self.big_endian {
            let name = |big: bool| if big { "big-endian" } else { "little-endian" };
            out.push(format!(
                "{} where {} was expected",
                name(identity.big_endian),
                name(self.big_endian)
            ));
        }
        if identity.machine != self.machine {
            out.push(format!(
                "machine {} where {} was expected",
                machine_name(identity.machine),
                machine_name(self.machine)
            ));
        }
        let evidence = identity.os_evidence();
        if evidence.is_empty() {
            out.push(format!("nothing in the file says it is for {} (no ABI note, OS ABI byte or known interpreter)", os_display(&self.os)));
        }
        for (what, os) in &evidence {
            if *os != self.os {
                out.push(format!(
                    "its {what} says {} where {} was expected",
                    os_display(os),
                    os_display(&self.os)
                ));
            }
        }
        if let Some(hard) = self.arm_hard_float {
            let has = identity.flags & elf::EF_ARM_ABI_FLOAT_HARD != 0;
            if has != hard {
                out.push(format!(
                    "{} float ABI where {} was expected",
                    if has { "hard" } else { "soft" },
                    if hard { "hard" } else { "soft" }
                ));
            }
        }
        let needed = identity
            .abi_note
            .as_ref()
            .filter(|n| n.os == self.os && matches!(n.os, "freebsd" | "netbsd"));
        if let (Some(note), Some(release)) = (needed, release.and_then(parse_release)) {
            if let Some(needs) = note.version {
                if needs > release {
                    out.push(format!(
                        "linked for {} {}.{}, newer than the platform's {}.{}",
                        os_display(note.os),
                        needs.0,
                        needs.1,
                        release.0,
                        release.1
                    ));
                }
            }
        }
        out
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ELF{} {}-endian {} for {}",
            self.bits,
            if self.big_endian { "big" } else { "little" },
            machine_name(self.machine),
            os_display(&self.os)
        )
    }
}

/// `14.3` → (14, 3); release names that are not versions (`debian12`) → None.
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    Some((major, minor))
}

pub fn os_display(os: &str) -> &str {
    match os {
        "freebsd" => "FreeBSD",
        "netbsd" => "NetBSD",
        "openbsd" => "OpenBSD",
        "linux" => "Linux",
        other => other,
    }
}

fn os_abi_name(abi: u8) -> String {
    match abi {
        elf::ELFOSABI_SYSV => "SYSV".into(),
        elf::ELFOSABI_NETBSD => "NetBSD".into(),
        elf::ELFOSABI_GNU => "GNU/Linux".into(),
        elf::ELFOSABI_FREEBSD => "FreeBSD".into(),
        elf::ELFOSABI_OPENBSD => "OpenBSD".into(),
        other => format!("{other}"),
    }
}

pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        elf::EM_X86_64 => "x86-64",
        elf::EM_386 => "i386",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_ARM => "ARM",
        elf::EM_PPC => "PowerPC",
        elf::EM_PPC64 => "PowerPC64",
        elf::EM_S390 => "S/390",
        elf::EM_MIPS => "MIPS",
        elf::EM_RISCV => "RISC-V",
        elf::EM_SPARCV9 => "SPARC V9",
        elf::EM_LOONGARCH => "LoongArch",
        _ => "unknown machine",
    }
}

/// What a dynamically linked file asks of the loader: its `DT_NEEDED`
/// sonames and its `DT_RUNPATH` (or `DT_RPATH`) directories, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicDeps {
    pub needed: Vec<String>,
    pub runpath: Vec<String>,
}

impl DynamicDeps {
    /// Reads the dynamic section of the 64-bit ELF file at `path` (empty
    /// for a static executable).
    pub fn read(path: &Path) -> Result<DynamicDeps> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        DynamicDeps::parse(&data[..])
            .with_context(|| format!("cannot read the dynamic section of {}", path.display()))
    }

    fn parse(data: &[u8]) -> Result<DynamicDeps> {
        let header = elf::FileHeader64::<Endianness>::parse(data)?;
        let endian = header.endian()?;
        let sections = header.sections(endian, data)?;
        let mut deps = DynamicDeps::default();
        let Some((entries, link)) = sections.dynamic(endian, data)? else {
            return Ok(deps);
        };
        let strings = sections.strings(endian, data, link)?;
        for entry in entries {
            let list = match entry.tag32(endian) {
                Some(elf::DT_NEEDED) => &mut deps.needed,
                Some(elf::DT_RUNPATH | elf::DT_RPATH) => &mut deps.runpath,
                _ => continue,
            };
            let text = entry.string(endian, strings)?;
            list.extend(
                String::from_utf8_lossy(text)
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
        Ok(deps)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF executable header with a PT_INTERP and a PT_NOTE, built
    /// by hand: enough for [`Identity::parse`] and nothing more.
    pub(crate) struct Fake<'a> {
        pub bits: u8,
        pub big_endian: bool,
        pub machine: u16,
        pub os_abi: u8,
        pub flags: u32,
        pub interpreter: Option<&'a str>,
        /// (name, type, desc words)
        pub note: Option<(&'a str, u32, Vec<u32>)>,
    }

    impl Fake<'_> {
        pub(crate) fn bytes(&self) -> Vec<u8> {
            let wide = self.bits == 64;
            let (ehsize, phentsize) = if wide { (64usize, 56usize) } else { (52, 32) };
            let phnum = 2usize;
            let data_start = ehsize + phentsize * phnum;
            let interp = self.interpreter.map(|s| {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                b
            });
            let mut note_bytes = Vec::new();
            let mut out = Vec::new();
            let u16b = |v: u16, out: &mut Vec<u8>| {
                out.extend(if self.big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                })
            };
            let u32b = |v: u32, out: &mut Vec<u8>| {
                out.extend(if self.big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                })
            };
            let u64b = |v: u64, out: &mut Vec<u8>| {
                out.extend(if self.big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                })
            };
            let word = |v: u64, out: &mut Vec<u8>| {
                if wide {
                    u64b(v, out)
                } else {
                    u32b(v as u32, out)
                }
            };
            if let Some((name, kind, desc)) = &self.note {
                let mut name = name.as_bytes().to_vec();
                name.push(0);
                u32b(name.len() as u32, &mut note_bytes);
                u32b((desc.len() * 4) as u32, &mut note_bytes);
                u32b(*kind, &mut note_bytes);
                note_bytes.extend(&name);
                while note_bytes.len() % 4 != 0 {
                    note_bytes.push(0);
                }
                for w in desc {
                    u32b(*w, &mut note_bytes);
                }
            }
            let interp_len = interp.as_ref().map_or(0, Vec::len);
            let interp_off = data_start;
            let note_off = (interp_off + interp_len).next_multiple_of(4);
            // e_ident
            out.extend(elf::ELFMAG);
            out.push(if wide {
                elf::ELFCLASS64
            } else {
                elf::ELFCLASS32
            });
            out.push(if self.big_endian {
                elf::ELFDATA2MSB
            } else {
                elf::ELFDATA2LSB
            });
            out.push(elf::EV_CURRENT);
            out.push(self.os_abi);
            out.extend([0u8; 8]);
            u16b(elf::ET_EXEC, &mut out);
            u16b(self.machine, &mut out);
            u32b(1, &mut out);
            word(0, &mut out); // entry
            word(ehsize as u64, &mut out); // phoff
            word(0, &mut out); // shoff
            u32b(self.flags, &mut out);
            u16b(ehsize as u16, &mut out);
            u16b(phentsize as u16, &mut out);
            u16b(phnum as u16, &mut out);
            u16b(if wide { 64 } else { 40 }, &mut out);
            u16b(0, &mut out);
            u16b(0, &mut out);
            assert_eq!(out.len(), ehsize);
            let phdr = |kind: u32, off: usize, len: usize, align: u64, out: &mut Vec<u8>| {
                if wide {
                    u32b(kind, out);
                    u32b(4, out); // flags
                    u64b(off as u64, out);
                    u64b(0, out);
                    u64b(0, out);
                    u64b(len as u64, out);
                    u64b(len as u64, out);
                    u64b(align, out);
                } else {
                    u32b(kind, out);
                    u32b(off as u32, out);
                    u32b(0, out);
                    u32b(0, out);
                    u32b(len as u32, out);
                    u32b(len as u32, out);
                    u32b(4, out);
                    u32b(align as u32, out);
                }
            };
            phdr(
                if interp.is_some() {
                    elf::PT_INTERP
                } else {
                    elf::PT_NULL
                },
                interp_off,
                interp_len,
                1,
                &mut out,
            );
            phdr(
                if self.note.is_some() {
                    elf::PT_NOTE
                } else {
                    elf::PT_NULL
                },
                note_off,
                note_bytes.len(),
                4,
                &mut out,
            );
            out.extend(interp.unwrap_or_default());
            out.resize(note_off, 0);
            out.extend(note_bytes);
            out
        }
    }

    fn freebsd_x86_64() -> Fake<'static> {
        Fake {
            bits: 64,
            big_endian: false,
            machine: elf::EM_X86_64,
            os_abi: elf::ELFOSABI_FREEBSD,
            flags: 0,
            interpreter: Some("/libexec/ld-elf.so.1"),
            note: Some(("FreeBSD", 1, vec![1_400_097])),
        }
    }

    fn check(target: &str, fake: &Fake<'_>, release: Option<&str>) -> String {
        let identity = Identity::parse(fake.bytes().as_slice()).unwrap();
        let expected = Expected::for_target(target).unwrap();
        let mismatches = expected.mismatches(&identity, release);
        let map = identity
            .to_map()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        if mismatches.is_empty() {
            format!("ok: {map}")
        } else {
            format!("MISMATCH: {}\n  {map}", mismatches.join("; "))
        }
    }

    #[test]
    fn elf_files_are_identified_and_checked_against_their_platform() {
        let freebsd = freebsd_x86_64();
        let netbsd = Fake {
            machine: elf::EM_AARCH64,
            os_abi: 0,
            interpreter: Some("/usr/libexec/ld.elf_so"),
            note: Some(("NetBSD", 1, vec![1_001_000_000])),
            ..freebsd_x86_64()
        };
        let openbsd = Fake {
            os_abi: 0,
            interpreter: Some("/usr/libexec/ld.so"),
            note: Some(("OpenBSD", 1, vec![0])),
            ..freebsd_x86_64()
        };
        let s390x = Fake {
            big_endian: true,
            machine: elf::EM_S390,
            os_abi: 0,
            interpreter: Some("/lib/ld64.so.1"),
            note: Some(("GNU", 1, vec![0, 3, 2, 0])),
            ..freebsd_x86_64()
        };
        let armhf = Fake {
            bits: 32,
            machine: elf::EM_ARM,
            os_abi: 0,
            flags: 0x0500_0400,
            interpreter: Some("/lib/ld-linux-armhf.so.3"),
            note: None,
            ..freebsd_x86_64()
        };
        let i686_freebsd = Fake {
            bits: 32,
            machine: elf::EM_386,
            ..freebsd_x86_64()
        };
        let cases = [
            ("x86_64-unknown-freebsd", &freebsd, Some("14.3")),
            ("x86_64-unknown-freebsd", &freebsd, Some("13.5")),
            ("aarch64-unknown-freebsd", &freebsd, None),
            ("x86_64-unknown-linux-gnu", &freebsd, None),
            ("aarch64-unknown-netbsd", &netbsd, Some("10.1")),
            ("x86_64-unknown-openbsd", &openbsd, Some("7.8")),
            ("s390x-unknown-linux-gnu", &s390x, Some("debian12")),
            ("powerpc64le-unknown-linux-gnu", &s390x, None),
            ("armv7-unknown-linux-gnueabihf", &armhf, None),
            ("armv7-unknown-linux-gnueabi", &armhf, None),
            ("i686-unknown-freebsd", &i686_freebsd, Some("14.3")),
            ("x86_64-unknown-freebsd", &i686_freebsd, None),
        ];
        let out = cases
            .iter()
            .map(|(target, fake, release)| {
                format!("{target} @ {release:?}: {}", check(target, fake, *release))
            })
            .collect::<Vec<_>>()
            .join("\n");
        expect_test::expect![[r#"
            x86_64-unknown-freebsd @ Some("14.3"): ok: abi-note=FreeBSD 14.0 (1400097) class=ELF64 endian=little interpreter=/libexec/ld-elf.so.1 machine=x86-64 os=freebsd os-abi=FreeBSD
            x86_64-unknown-freebsd @ Some("13.5"): MISMATCH: linked for FreeBSD 14.0, newer than the platform's 13.5
              abi-note=FreeBSD 14.0 (1400097) class=ELF64 endian=little interpreter=/libexec/ld-elf.so.1 machine=x86-64 os=freebsd os-abi=FreeBSD
            aarch64-unknown-freebsd @ None: MISMATCH: machine x86-64 where AArch64 was expected
              abi-note=FreeBSD 14.0 (1400097) class=ELF64 endian=little interpreter=/libexec/ld-elf.so.1 machine=x86-64 os=freebsd os-abi=FreeBSD
            x86_64-unknown-linux-gnu @ None: MISMATCH: its ABI note says FreeBSD where Linux was expected; its OS ABI says FreeBSD where Linux was expected; its interpreter says FreeBSD where Linux was expected
              abi-note=FreeBSD 14.0 (1400097) class=ELF64 endian=little interpreter=/libexec/ld-elf.so.1 machine=x86-64 os=freebsd os-abi=FreeBSD
            aarch64-unknown-netbsd @ Some("10.1"): ok: abi-note=NetBSD 10.1 (1001000000) class=ELF64 endian=little interpreter=/usr/libexec/ld.elf_so machine=AArch64 os=netbsd os-abi=SYSV
            x86_64-unknown-openbsd @ Some("7.8"): ok: abi-note=OpenBSD class=ELF64 endian=little interpreter=/usr/libexec/ld.so machine=x86-64 os=openbsd os-abi=SYSV
            s390x-unknown-linux-gnu @ Some("debian12"): ok: abi-note=Linux ≥ 3.2.0 class=ELF64 endian=big interpreter=/lib/ld64.so.1 machine=S/390 os=linux os-abi=SYSV
            powerpc64le-unknown-linux-gnu @ None: MISMATCH: big-endian where little-endian was expected; machine S/390 where PowerPC64 was expected
              abi-note=Linux ≥ 3.2.0 class=ELF64 endian=big interpreter=/lib/ld64.so.1 machine=S/390 os=linux os-abi=SYSV
            armv7-unknown-linux-gnueabihf @ None: ok: class=ELF32 endian=little flags=0x5000400 interpreter=/lib/ld-linux-armhf.so.3 machine=ARM os=linux os-abi=SYSV
            armv7-unknown-linux-gnueabi @ None: MISMATCH: hard float ABI where soft was expected
              class=ELF32 endian=little flags=0x5000400 interpreter=/lib/ld-linux-armhf.so.3 machine=ARM os=linux os-abi=SYSV
            i686-unknown-freebsd @ Some("14.3"): ok: abi-note=FreeBSD 14.0 (1400097) class=ELF32 endian=little interpreter=/libexec/ld-elf.so.1 machine=i386 os=freebsd os-abi=FreeBSD
            x86_64-unknown-freebsd @ None: MISMATCH: ELF32 where ELF64 was expected; machine i386 where x86-64 was expected
              abi-note=FreeBSD 14.0 (1400097) class=ELF32 endian=little interpreter=/libexec/ld-elf.so.1 machine=i386 os=freebsd os-abi=FreeBSD"#]]
        .assert_eq(&out);
    }

    #[test]
    fn a_file_without_os_marker_is_a_mismatch() {
        let bare = Fake {
            os_abi: 0,
            interpreter: None,
            note: None,
            ..freebsd_x86_64()
        };
        let identity = Identity::parse(bare.bytes().as_slice()).unwrap();
        let expected = Expected::for_target("x86_64-unknown-freebsd").unwrap();
        assert_eq!(
            expected.mismatches(&identity, None),
            ["nothing in the file says it is for FreeBSD (no ABI note, OS ABI byte or known interpreter)"]
        );
    }

    #[test]
    fn rejects_what_is_not_elf() {
        let err = Identity::parse(&b"#!/bin/sh\necho hi\n"[..]).unwrap_err();
        assert_eq!(err.to_string(), "no ELF magic number");
        let err = Identity::parse(&b"\x7fELF"[..]).unwrap_err();
        assert_eq!(err.to_string(), "shorter than an ELF identification");
    }

    #[test]
    fn every_platform_target_has_elf_expectations() {
        let model =
            crate::model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let lines: Vec<String> = model
            .platforms
            .iter()
            .filter(|p| seen.insert(p.target.clone()))
            .map(|p| format!("{}: {}", p.target, Expected::for_target(&p.target).unwrap()))
            .collect();
        expect_test::expect![[r#"
            aarch64-unknown-freebsd: ELF64 little-endian AArch64 for FreeBSD
            i686-unknown-freebsd: ELF32 little-endian i386 for FreeBSD
            x86_64-unknown-freebsd: ELF64 little-endian x86-64 for FreeBSD
            aarch64-unknown-linux-gnu: ELF64 little-endian AArch64 for Linux
            armv7-unknown-linux-gnueabihf: ELF32 little-endian ARM for Linux
            i686-unknown-linux-gnu: ELF32 little-endian i386 for Linux
            mips64el-unknown-linux-gnuabi64: ELF64 little-endian MIPS for Linux
            powerpc64le-unknown-linux-gnu: ELF64 little-endian PowerPC64 for Linux
            s390x-unknown-linux-gnu: ELF64 big-endian S/390 for Linux
            x86_64-unknown-linux-gnu: ELF64 little-endian x86-64 for Linux
            riscv64gc-unknown-linux-gnu: ELF64 little-endian RISC-V for Linux
            aarch64-unknown-netbsd: ELF64 little-endian AArch64 for NetBSD
            x86_64-unknown-netbsd: ELF64 little-endian x86-64 for NetBSD
            aarch64-unknown-openbsd: ELF64 little-endian AArch64 for OpenBSD
            x86_64-unknown-openbsd: ELF64 little-endian x86-64 for OpenBSD"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn reads_this_test_executable() {
        // The one real ELF file every test run has: the test binary itself.
        let exe = std::env::current_exe().unwrap();
        let identity = Identity::read(&exe).unwrap();
        let host = target_lexicon::HOST;
        let expected = Expected::for_triple(&host).unwrap();
        assert_eq!(
            expected.mismatches(&identity, None),
            Vec::<String>::new(),
            "{:?}",
            identity.to_map()
        );
    }
}
