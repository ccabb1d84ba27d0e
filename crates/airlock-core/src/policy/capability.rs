//! Capabilities: what a tool may do (read files, reach the network, run programs, …), which a
//! policy grants or denies and a tool needs (by its `[tools]` rule and its annotations). The
//! `capabilities` check refuses a call whose tool needs something not granted. A [`CapSet`] is
//! a small bit set; composites (`dangerous`, `safe_read`, `all`) expand when parsed.

macro_rules! capabilities {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ),+ $(,)?) => {
        /// Something a tool may do that a policy grants or denies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum Capability {
            $( $(#[$doc])* $variant, )+
        }

        impl Capability {
            /// Every capability.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant),+];

            /// The config name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Capability::$variant => $name, )+
                }
            }
        }
    };
}

capabilities! {
    /// Read files.
    FsRead = "fs_read",
    /// Write or create files.
    FsWrite = "fs_write",
    /// Delete files.
    FsDelete = "fs_delete",
    /// Plain HTTP requests.
    NetHttp = "net_http",
    /// HTTPS requests.
    NetHttps = "net_https",
    /// Any network access (also implied by `openWorldHint: true`).
    NetAny = "net_any",
    /// Run programs.
    ProcessExec = "process_exec",
    /// Run shell commands.
    ProcessShell = "process_shell",
    /// Handle personal data.
    DataPii = "data_pii",
    /// Handle secrets.
    DataSecrets = "data_secrets",
    /// Read a database.
    DbRead = "db_read",
    /// Write a database.
    DbWrite = "db_write",
    /// Destroy or change things irreversibly (implied by `destructiveHint: true`).
    Destructive = "destructive",
}

/// A set of capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u32);

impl CapSet {
    /// No capability.
    pub const EMPTY: CapSet = CapSet(0);

    /// Every capability.
    pub fn all() -> CapSet {
        Capability::ALL
            .iter()
            .fold(CapSet::EMPTY, |s, c| s.with(*c))
    }

    /// This set plus `c`.
    #[must_use]
    pub fn with(self, c: Capability) -> CapSet {
        CapSet(self.0 | (1 << c as u8))
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Capability) -> bool {
        self.0 & (1 << c as u8) != 0
    }

    /// The union.
    #[must_use]
    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// The members of `self` not in `other`.
    #[must_use]
    pub fn minus(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }

    /// Parse a capability name or composite: `fs_read`, …, `dangerous`, `safe_read`, `all`.
    /// `net_any` as a grant also grants `net_http` and `net_https`.
    pub fn parse(name: &str, as_grant: bool) -> Option<CapSet> {
        use Capability::*;
        let set = |caps: &[Capability]| caps.iter().fold(CapSet::EMPTY, |s, c| s.with(*c));
        match name {
            "all" => Some(CapSet::all()),
            "dangerous" => Some(set(&[
                FsWrite,
                FsDelete,
                ProcessExec,
                ProcessShell,
                DbWrite,
                DataSecrets,
                Destructive,
            ])),
            "safe_read" => Some(set(&[FsRead, DbRead])),
            "net_any" if as_grant => Some(set(&[NetAny, NetHttp, NetHttps])),
            other => Capability::ALL
                .iter()
                .find(|c| c.as_str() == other)
                .map(|c| CapSet::EMPTY.with(*c)),
        }
    }

    /// Every accepted name, for error hints.
    pub fn names() -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        v.extend(["dangerous", "safe_read", "all"]);
        v
    }
}
