//! How a tool's name marks it as reading or writing: the prefixes the `read_only` and
//! `business_hours` presets (and the `destructive` capability) go by, matched on the name
//! normalised to lower-case `snake_case`, so `deleteFile` and `Delete-File` count as
//! `delete_file`. Annotations (`readOnlyHint`, `destructiveHint`) are read elsewhere, in
//! `compiled.rs`.

/// Name prefixes that mark a reading tool.
pub const READ_PREFIXES: &[&str] = &["read_", "get_", "list_", "search_", "find_", "describe_"];
/// Name prefixes that mark a writing (destructive) tool.
pub const WRITE_PREFIXES: &[&str] = &[
    "write_",
    "delete_",
    "update_",
    "create_",
    "remove_",
    "drop_",
    "insert_",
    "move_",
    "rename_",
    "set_",
    "exec_",
    "execute_",
    "run_",
    "kill_",
    "send_",
    "post_",
    "put_",
    "patch_",
    "deploy_",
    "terminate_",
    "purge_",
    "truncate_",
    "reset_",
    "revoke_",
    "grant_",
    "transfer_",
    "pay_",
    "upload_",
    "edit_",
    "modify_",
    "replace_",
    "append_",
    "destroy_",
    "erase_",
    "wipe_",
];

/// A tool name in `snake_case` and lower case (`deleteFile`, `Delete-File` → `delete_file`),
/// so name-based preset rules cannot be sidestepped by spelling.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if c == '-' || c == '.' || c == ' ' {
            out.push('_');
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

pub(super) fn has_prefix(name: &str, prefixes: &[&str]) -> bool {
    let n = normalise_name(name);
    prefixes.iter().any(|p| n.starts_with(p))
}
