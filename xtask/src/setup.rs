//! Machine set-up the builds need: RocksDB's build (bindgen) needs libclang.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

const INSTALL: &str = "apt-get install -y libclang-dev";

fn libclang_present() -> bool {
    if let Ok(dir) = std::env::var("LIBCLANG_PATH")
        && Path::new(&dir).is_dir()
    {
        return true;
    }
    let roots = ["/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"];
    roots.iter().any(|root| has_libclang(Path::new(root), 2))
}

fn has_libclang(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("libclang") && name.contains(".so") && !name.starts_with("libclang-cpp") {
            return true;
        }
        depth > 0 && entry.path().is_dir() && (name.starts_with("llvm") || name == "lib") && has_libclang(&entry.path(), depth - 1)
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Makes sure libclang is installed: installs it with apt when running as root,
/// otherwise says exactly what to run.
pub fn ensure_libclang() -> Result<()> {
    if libclang_present() {
        return Ok(());
    }
    let has_apt = Command::new("apt-get").arg("--version").output().is_ok();
    if is_root() && has_apt {
        eprintln!("xtask: libclang is missing (RocksDB's build needs it); installing libclang-dev with apt");
        let update = Command::new("apt-get").args(["update", "-qq"]).status()?;
        let install = Command::new("apt-get").args(["install", "-y", "-qq", "libclang-dev"]).status()?;
        if update.success() && install.success() && libclang_present() {
            return Ok(());
        }
        bail!("installing libclang-dev failed; run `{INSTALL}` and try again");
    }
    bail!(
        "RocksDB's build needs libclang, which is not installed. Run:\n    sudo {INSTALL}\n(or set LIBCLANG_PATH to the folder that holds libclang.so)"
    )
}
