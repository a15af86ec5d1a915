//! `/etc/passwd` lookups, read as runc reads them: the file only, no NSS module or nscd socket
//! (so nothing of the host's name service runs on the create path or inside the container).

/// The fields of the `/etc/passwd` line (in `text`) of `uid` (at least six).
pub fn entry(text: &str, uid: u32) -> Option<Vec<&str>> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then_some(f)
    })
}

/// Name of the user with `uid` from the host's /etc/passwd, else `#<uid>`: runc's reading (its
/// `list` shows the owner that way).
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| entry(&text, uid).map(|f| f[0].to_string()))
        .unwrap_or_else(|| format!("#{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_etc_passwd() {
        // Root is in every /etc/passwd; an unknown uid is its number, as runc shows it.
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_007), "#4000000007");
    }

    #[test]
    fn entries_need_six_fields_and_a_matching_uid() {
        let text = "root:x:0:0:root:/root:/bin/sh\nshort:x:5\nbob:x:1000:1000::/home/bob:/bin/sh\n";
        assert_eq!(entry(text, 1000).map(|f| f[5]), Some("/home/bob"));
        assert_eq!(entry(text, 5), None);
        assert_eq!(entry(text, 7), None);
    }
}
