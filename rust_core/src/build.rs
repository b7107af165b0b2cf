//! What was built: version and target, reported by `_core.build_info()`.

/// The crate version, kept equal to the Python package version (maturin reads it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build facts a user needs when reporting a bug: version, target, profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub target_arch: &'static str,
    pub target_os: &'static str,
    pub profile: &'static str,
}

/// The facts of this build.
#[must_use]
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: VERSION,
        target_arch: std::env::consts::ARCH,
        target_os: std::env::consts::OS,
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_names_this_target() {
        let info = build_info();
        assert_eq!(info.version, VERSION);
        assert_eq!(info.target_arch, std::env::consts::ARCH);
        assert!(!info.version.is_empty());
    }
}
